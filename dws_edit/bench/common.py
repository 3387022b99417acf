"""Measurements shared by the edit benches (images and 3-D): wall time, MSE, fine-tuning, time to an error."""

from __future__ import annotations

import time

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
