"""``dws-edit bench chain``: chains of 1 to N learned edits on real INRs, each edit's output kept wide (the model's
widths x 2, until the next would pass ``--wide-cap``, at most ``dws_edit.api.MAX_HIDDEN``) against compacted back to
the input's widths (``width="input"``, :mod:`dws_edit.compact`), in the same run, as a user runs them (one INR at a
time, with the never-worse guard).

Chains whose exact result is known in closed form, so every length has its reference:

- dilate n times: the 3x3 grey dilation repeated is one (2n+1)x(2n+1) grey dilation on the 28x28 pixel grid;
- symmetrize on alternating axes (x, y for images; x, z for 3-D, y up): after the first step symmetric in one axis,
  from the second on in both (the four mirror images averaged);
- smooth n times with sigma: Gaussians compose, one smooth with sigma sqrt(n) (its exact target; 3-D by the
  domain's quadrature).

Images: the test split of an image zoo (default zoos/mnist5k), loss the MSE on the pixel grid; 3-D: the app's
built-in shapes (mug, table, chair, car) fitted as the app fits them, loss the MSE at 4,096 points, half near the
source's surface (the guard's measure).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table
from torch import Tensor

from dws_edit.console import console
from dws_edit.records import atomic_write_json, run_record
from dws_edit.weights import WeightSpace


def _dilated(ws: WeightSpace, coords: Tensor, n: int) -> Tensor:
    from dws_edit.inr import evaluate
    from dws_edit.inr.domains import IMAGE_GRID

    g = IMAGE_GRID  # coords: the pixel grid, row-major
    img = evaluate(ws, coords).permute(0, 2, 1).reshape(ws.batch_size, -1, g, g)
    out = torch.nn.functional.max_pool2d(img, 2 * n + 1, stride=1, padding=n)  # -inf padding: outside pixels ignored
    return out.reshape(ws.batch_size, -1, g * g).permute(0, 2, 1)


def _symmetric(axes: tuple[int, int]) -> Callable[[WeightSpace, Tensor, int], Tensor]:
    def reference(ws: WeightSpace, coords: Tensor, n: int) -> Tensor:
        from dws_edit.inr import evaluate

        flips = [()] + [(axes[0],)] + ([(axes[1],), axes] if n >= 2 else [])
        values = []
        for flip in flips:
            c = coords.clone()
            c[..., list(flip)] *= -1
            values.append(evaluate(ws, c))
        return torch.stack(values).mean(0)

    return reference


def _smoothed(sigma: float) -> Callable[[WeightSpace, Tensor, int], Tensor]:
    def reference(ws: WeightSpace, coords: Tensor, n: int) -> Tensor:
        from dws_edit.edits import get_edit
        from dws_edit.inr.domains import get_domain
        from dws_edit.runner import edit_targets

        smooth, domain = get_edit("smooth"), get_domain(ws.spec).name
        params = {"sigma": sigma * math.sqrt(n)}
        return edit_targets(smooth, ws, coords, params, domain, **smooth.target_options(domain))

    return reference


@dataclass(frozen=True)
class Chain:
    """A chain of one shipped model's edits: the parameters of step i (from 0) and the exact result after n steps
    at ``coords`` (``reference(source, coords, n)`` -> [B, M, dL])."""

    model: str
    params: Callable[[int], dict]
    reference: Callable[[WeightSpace, Tensor, int], Tensor]


CHAINS = {
    "image-dilate": Chain("image-dilate", lambda i: {}, _dilated),
    "image-symmetrize": Chain("image-symmetrize", lambda i: {"axis": "xy"[i % 2]}, _symmetric((0, 1))),
    "image-smooth": Chain("image-smooth", lambda i: {"sigma": 0.05}, _smoothed(0.05)),
    "sdf-smooth": Chain("sdf-smooth", lambda i: {"sigma": 0.03}, _smoothed(0.03)),
    "sdf-symmetrize": Chain("sdf-symmetrize", lambda i: {"axis": "xz"[i % 2]}, _symmetric((0, 2))),
}
"""The chains measured (sigma: image 0.05, 3-D 0.03 a step, so that sigma sqrt(8) stays in the edit's range)."""
MODES = ("wide", "input")


@dataclass
class BenchChain:
    """Chains of 1 to N learned edits, kept wide against compacted back to the input's widths each step.

    Per length: widths, loss against the chain's exact result, no-edit loss and time per edit."""

    chains: tuple[str, ...] = ("image-dilate", "image-symmetrize", "sdf-smooth")
    """Chains to measure (image-dilate, image-symmetrize, image-smooth, sdf-smooth, sdf-symmetrize)."""
    length: int = 8
    """Edits per chain: lengths 1 to this."""
    count: int = 2
    """Image INRs per chain (the zoo's test split; a wide edit at width 1,024 took 11 s an INR here)."""
    zoo: Path = Path("zoos/mnist5k")
    """The image zoo whose test INRs the image chains edit."""
    shapes: tuple[str, ...] = ("mug",)
    """3-D: built-in shapes (dws_edit.session.EXAMPLES: mug, table, chair, car) the 3-D chains edit."""
    wide_cap: int = 512
    """Widest hidden layer the wide chains go to (the API's cap, 2,048, runs to it: a sdf-smooth edit at 1,024 ->
    2,048 took 207 s here, the whole default run 6.5 min instead of under 2)."""
    threads: int = 2
    """torch CPU threads."""
    out: Path | None = None
    """Optional JSON file for the results."""

    def run(self) -> dict:
        from dws_edit.checks import at_least

        at_least("--length", self.length, 1)
        at_least("--count", self.count, 1)
        at_least("--wide-cap", self.wide_cap, 1)
        if unknown := [c for c in self.chains if c not in CHAINS]:
            raise ValueError(f"--chains: unknown {unknown}; accepted: {', '.join(CHAINS)}")
        torch.set_num_threads(self.threads)
        started, rows = time.time(), []
        for name in self.chains:
            ws = self._inrs(CHAINS[name].model.split("-")[0])
            rows += self._measure(name, CHAINS[name], ws)
        ratios = self._print(rows)
        result = run_record("dws-edit", 0, started, bench="chain", rows=rows, ratios=ratios)
        if self.out:
            atomic_write_json(self.out, result)
        return result

    def _inrs(self, domain: str) -> WeightSpace:
        if domain == "image":
            from dws_edit.data import load_zoo

            return load_zoo(self.zoo, "test").ws[: self.count]
        from dws_edit.session import EXAMPLES, example

        shapes = [name for name in EXAMPLES if not name.startswith("digit")]
        if unknown := [s for s in self.shapes if s not in shapes]:
            raise ValueError(f"--shapes: unknown {unknown}; accepted: {', '.join(shapes)}")
        fits = [example(s)[0] for s in self.shapes]  # fitted as the app fits them (its MESH_FIT)
        return WeightSpace.cat(fits)

    def _measure(self, name: str, chain: Chain, ws: WeightSpace) -> list[dict]:
        from dws_edit.api import MAX_HIDDEN, edit
        from dws_edit.checkpoints import shipped_model
        from dws_edit.compact import function_points
        from dws_edit.inr import evaluate

        net = shipped_model(chain.model)
        edit_name = net.card["edit"]
        coords = function_points(ws, 4096, 5) if ws.spec.layer_sizes[0] == 3 else function_points(ws, 0, 5)
        with torch.no_grad():
            refs = [chain.reference(ws, coords, n) for n in range(1, self.length + 1)]
            source = evaluate(ws, coords)

        def mse(w: WeightSpace, ref: Tensor) -> float:
            with torch.no_grad():
                return (evaluate(w, coords) - ref).square().mean().item()

        rows = []
        for mode in MODES:
            current, stopped = [ws[i : i + 1] for i in range(ws.batch_size)], False
            for n in range(1, self.length + 1):
                widths = current[0].spec.hidden_sizes
                if stopped or max(widths) * net.widening > min(self.wide_cap, MAX_HIDDEN):
                    stopped = True
                    rows.append({"chain": name, "mode": mode, "length": n, "widths": None, "stopped": True})
                    continue
                seconds, outcomes = 0.0, []
                for i, one in enumerate(current):
                    t = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        current[i], report = edit(one, edit_name, model=net, width=mode, report=True,
                                                  **chain.params(n - 1))  # fmt: skip
                    seconds += time.perf_counter() - t
                    outcomes.append(report.outcome[0])
                out, ref = WeightSpace.cat(current), refs[n - 1]
                console.print(f"{name}, {mode}: edit {n}, widths {out.spec.hidden_sizes}, "
                              f"{seconds / len(current):.2f} s an edit")  # fmt: skip
                rows.append({"chain": name, "mode": mode, "length": n, "widths": list(out.spec.hidden_sizes),
                             "loss": mse(out, ref), "loss_no_edit": (source - ref).square().mean().item(),
                             "seconds_per_edit": seconds / len(current), "outcomes": outcomes})  # fmt: skip
        return rows

    def _print(self, rows: list[dict]) -> dict:
        table = Table(title="chains of learned edits: loss (MSE) against the chain's exact result, kept wide or "
                      "compacted to the input's widths each step (width='input')")  # fmt: skip
        for col in ("chain", "edits", "widths wide", "loss wide", "widths compacted", "loss compacted",
                    "loss no edit", "s/edit wide", "s/edit compacted"):  # fmt: skip
            table.add_column(col, justify="left" if col == "chain" else "right")
        by = {(r["chain"], r["mode"], r["length"]): r for r in rows}
        ratios = {}
        for name in dict.fromkeys(r["chain"] for r in rows):
            loss_ratio, time_ratio = [], []
            for n in range(1, self.length + 1):
                w, c = by[(name, "wide", n)], by[(name, "input", n)]
                cells = [name, str(n)]
                for r in (w, c):
                    cells += (
                        ["stopped (cap)", "-"] if r.get("stopped") else [str(tuple(r["widths"])), f"{r['loss']:.3g}"]
                    )
                cells.insert(6, f"{c['loss_no_edit']:.3g}")
                cells += ["-" if w.get("stopped") else f"{w['seconds_per_edit']:.2f}", f"{c['seconds_per_edit']:.2f}"]
                table.add_row(*cells)
                if not w.get("stopped"):
                    loss_ratio.append(c["loss"] / max(w["loss"], 1e-12))
                    time_ratio.append(c["seconds_per_edit"] / max(w["seconds_per_edit"], 1e-9))
            ratios[name] = {"loss_compacted_over_wide": loss_ratio, "time_compacted_over_wide": time_ratio}
        console.print(table)
        for name, r in ratios.items():
            lr = ", ".join(f"{x:.2f}" for x in r["loss_compacted_over_wide"])
            tr = ", ".join(f"{x:.2f}" for x in r["time_compacted_over_wide"])
            console.print(f"{name}: compacted / wide, same run, by length: loss {lr}; time per edit {tr}")
        return ratios
