"""Measurements shared by the edit benches (images and 3-D): wall time, MSE, fine-tuning, time to an error."""

from __future__ import annotations

import time
import warnings

import torch

from dws_edit.inr import evaluate, fit
from dws_edit.weights import WeightSpace


def timed(fn, repeats: int = 3):
    """(result, median seconds) of ``fn()`` run ``repeats`` times."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, sorted(times)[len(times) // 2]


def mse_at(ws: WeightSpace, coords, target) -> float:
    with torch.no_grad():
        return (evaluate(ws, coords) - target).square().mean().item()


def finetune(ws: WeightSpace, coords, target, steps: int, lr: float) -> tuple[WeightSpace, float]:
    """Adam on the functional target from ``ws`` for ``steps`` steps (every INR of the batch at once)."""
    t = time.perf_counter()
    result = fit(ws.spec, coords, target, 0.0, steps, lr, init=ws, chunk=ws.batch_size)
    return result.ws, time.perf_counter() - t


def time_to_reach(curve: list[tuple[float, float]], goal: float) -> float | None:
    """First time (s) at which the (time, MSE) curve reaches ``goal``, interpolated linearly; None if never."""
    prev = (0.0, float("inf"))
    for t, mse in curve:
        if mse <= goal:
            if prev[1] == float("inf"):
                return t
            return prev[0] + (t - prev[0]) * (prev[1] - goal) / (prev[1] - mse)
        prev = (t, mse)
    return None


def speed_at_equal_mse(
    curve: list[tuple[float, float]], dws_mse: float, identity_mse: float, dws_seconds: float
) -> dict:
    """How much faster the DWS pass is than fine-tuning from the source INR to the same MSE.

    ``curve``: fine-tuning's (seconds, MSE) points in step order; the other arguments in seconds and MSE units.
    Returns ``finetune_seconds_to_dws_mse``, ``speedup_at_equal_mse`` (that time / ``dws_seconds``; None if
    fine-tuning never got there) and ``speedup_kind``: "interpolated" (between two measured points),
    "at_most" (the first point already beat the DWS pass, so its time and the ratio are upper bounds), "never",
    or "no_edit_closer" (the DWS output is farther from the target than the unedited source: zero fine-tuning
    steps reach its MSE, the ratio is 0)."""
    if dws_mse >= identity_mse:
        return {"finetune_seconds_to_dws_mse": 0.0, "speedup_at_equal_mse": 0.0, "speedup_kind": "no_edit_closer"}
    reach = time_to_reach(curve, dws_mse)
    kind = "never" if reach is None else "at_most" if curve[0][1] <= dws_mse else "interpolated"
    ratio = reach / dws_seconds if reach is not None else None
    return {"finetune_seconds_to_dws_mse": reach, "speedup_at_equal_mse": ratio, "speedup_kind": kind}


def seconds_text(row: dict) -> str:
    """A bench row's fine-tuning time to the DWS pass's MSE as printed: "0.40", "<= 0.40" (an upper bound), "never"."""
    reach = row["finetune_seconds_to_dws_mse"]
    if reach is None:
        return "never"
    return ("<= " if row.get("speedup_kind") == "at_most" else "") + f"{reach:.2f}"


def speedup_text(row: dict) -> str:
    """A bench row's or card's speed-up at equal MSE as printed: "12x", "<= 3x" (an upper bound), "never" (fine-tuning
    did not reach the DWS pass's MSE) or "0x (no edit is closer)"; rows measured before ``speedup_kind`` existed
    print their ratio."""
    kind, ratio = row.get("speedup_kind"), row.get("speedup_at_equal_mse")
    if kind == "no_edit_closer":
        return "0x (no edit is closer)"
    if ratio is None:
        return "never"
    return f"<= {ratio:.0f}x" if kind == "at_most" else f"{ratio:.0f}x"


def mlp_text(row: dict, key: str, fmt: str = ".3f") -> str:
    """`` (MLP 0.812)``: the FlatMLPEditNet baseline's ``mlp_<key>`` in ``row`` formatted with ``fmt`` (PSNR: with
    dB), or "" where there is none."""
    value = row.get(f"mlp_{key}")
    if value is None:
        return ""
    return f" (MLP {value:.1f} dB)" if key == "psnr" else f" (MLP {value:{fmt}})"


def default_edit(model, ws: WeightSpace, edit, params: dict) -> WeightSpace:
    """What ``dws_edit.edit(ws, edit, model=model, **params)`` returns with its defaults (the model's pass, an SDF's
    100 refine steps by its surface loss, the never-worse guard), its warnings silenced."""
    from dws_edit.api import edit as api_edit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return api_edit(ws, edit.name, model=model, **params)


def worse_count(returned: torch.Tensor, no_edit: torch.Tensor) -> int:
    """How many INRs came back with a lower IoU than no edit's (``[B]`` each), by more than 0.001."""
    return int((returned < no_edit - 1e-3).sum())
