"""``dws-edit bench evaluate``: INR evaluation and fitting in slices bounded by memory (:data:`dws_edit.inr.evaluate.
EVAL_ELEMENTS`, :data:`dws_edit.inr.fitting.FIT_ELEMENTS`) against one call over the whole batch, as before the
slicing, on the same INRs and points in one run, from one evaluation up to a whole guarded learned edit.

On 2 CPU cores a layer of 2^21 points x 32 hidden values (268 MB) costs about three times what the same points
cost in slices of 8 MB: the time goes to memory traffic, not arithmetic. Only same-run ratios compare.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from dws_edit.console import console
from dws_edit.records import atomic_write_json, run_record

WAYS = ("one call", "sliced")


@contextlib.contextmanager
def _way(way: str):
    """Evaluation and fitting as ``way`` says: "one call" (no slicing: the code before it) or "sliced" (the
    defaults)."""
    ev, fitting = (importlib.import_module(f"dws_edit.inr.{m}") for m in ("evaluate", "fitting"))  # not the functions
    kept = ev.EVAL_ELEMENTS, fitting.FIT_ELEMENTS
    if way == "one call":
        ev.EVAL_ELEMENTS, fitting.FIT_ELEMENTS = 0, 1 << 62
    try:
        yield
    finally:
        ev.EVAL_ELEMENTS, fitting.FIT_ELEMENTS = kept


@dataclass
class BenchEvaluate:
    """INR evaluation, fitting and a guarded learned edit, sliced by memory against one call, same run."""

    zoo: Path = Path("zoos/sdf")
    """SDF zoo whose test split gives the INRs (not on this machine: SIREN initialisations of the 3-D spec)."""
    count: int = 32
    """SDFs per case (the batch; image SIRENs: 8 times as many)."""
    models: tuple[str, ...] = ("sdf-smooth", "sdf-remove")
    """Shipped models whose whole guarded edit (dws_edit.edit) is timed on the batch."""
    steps: int = 100
    """Adam steps of the fitting cases."""
    repeats: int = 2
    """Timed repeats per case and way (the two ways alternate; the fastest repeat counts)."""
    threads: int = 2
    """torch CPU threads."""
    out: Path | None = None
    """Optional JSON file for the results."""

    def run(self) -> dict:
        from dws_edit.checkpoints import available_models
        from dws_edit.checks import at_least

        at_least("--count", self.count, 1)
        at_least("--repeats", self.repeats, 1)
        at_least("--steps", self.steps, 1)
        if unknown := [m for m in self.models if m not in available_models()]:
            raise ValueError(f"no shipped model {unknown}; accepted: {', '.join(available_models())}")
        torch.set_num_threads(self.threads)
        started, ws = time.time(), self._inrs()
        rows = [self._case(name, fn) for name, fn in self._cases(ws)]
        table = Table(title=f"{ws.batch_size} INRs at once: one call vs slices of at most 8 MB (evaluate) / 4 MB (fit)")
        for col in ("case", "s one call", "s sliced", "speed-up", "max |difference|"):
            table.add_column(col, justify="left" if col == "case" else "right")
        for r in rows:
            table.add_row(r["case"], f"{r['one call']:.3f}", f"{r['sliced']:.3f}", f"{r['speedup']:.2f}x",
                          f"{r['max_difference']:.2g}")  # fmt: skip
        console.print(table)
        result = run_record("dws-edit", 0, started, bench="evaluate", inrs=ws.batch_size, rows=rows)
        if self.out:
            atomic_write_json(self.out, result)
        return result

    def _inrs(self):
        from dws_edit.data import load_zoo
        from dws_edit.inr.siren import init_siren, sdf_spec

        if (self.zoo / "manifest.json").exists():
            return load_zoo(self.zoo, "test").ws[: self.count]
        console.print(f"{self.zoo} is not on this machine (bash scripts/fit_zoos.sh): SIREN initialisations instead")
        return init_siren(sdf_spec(), self.count, torch.Generator().manual_seed(0))

    def _cases(self, ws):
        import warnings

        from dws_edit.api import edit
        from dws_edit.checkpoints import available_models
        from dws_edit.edits import get_edit
        from dws_edit.guard import GUARD_GRID
        from dws_edit.inr import evaluate, fit
        from dws_edit.inr.siren import grid_coords, image_spec, init_siren
        from dws_edit.metrics import occupancy
        from dws_edit.runner import edit_targets

        g = torch.Generator().manual_seed(0)
        points = torch.rand(ws.batch_size, 65536, 3, generator=g) * 2 - 1
        near = torch.rand(ws.batch_size, 4096, 3) * 2 - 1
        smooth = get_edit("smooth")
        sigma, options = smooth.sample(ws.batch_size, g, "sdf"), smooth.target_options("sdf")
        values = evaluate(ws, near, 0) * 0.9
        n = f"{ws.batch_size} SDFs"
        yield f"evaluate, {n} x 65,536 points", lambda: evaluate(ws, points)
        yield (f"smooth target (9^3 quadrature), {n} x 4,096 points",
               lambda: edit_targets(smooth, ws, near, sigma, "sdf", **options))  # fmt: skip
        yield (f"occupancy at a jittered {GUARD_GRID}^3 grid (the guard's IoU), {n}",
               lambda: occupancy(lambda p: evaluate(ws, p), "sdf", GUARD_GRID, jitter=1).float())  # fmt: skip
        steps = self.steps
        yield (f"fit, {n} x 4,096 points, {steps} Adam steps",
               lambda: fit(ws.spec, near, values, 0.0, steps, 3e-4, init=ws, chunk=ws.batch_size).ws)  # fmt: skip
        images = init_siren(image_spec(), 8 * ws.batch_size, g)
        pixels, intensities = grid_coords(28, 28), torch.rand(images.batch_size, 784, 1, generator=g)
        yield (f"fit, {images.batch_size} image SIRENs x 784 pixels, {steps} Adam steps (fit's default chunk of 64)",
               lambda: fit(images.spec, pixels, intensities, 0.0, steps, 1e-3, init=images).ws)  # fmt: skip
        cards = available_models()
        for model in self.models:
            definition = get_edit(cards[model]["edit"])
            params = definition.sample(ws.batch_size, torch.Generator().manual_seed(1), "sdf")

            def guarded(model=model, definition=definition, params=params):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return edit(ws, definition.name, model=model, **params)

            yield f"dws_edit.edit with {model} (pass, compaction, refine, guard), {n}", guarded

    def _case(self, name: str, fn) -> dict:
        from dws_edit.weights import WeightSpace

        seconds, outs = {w: float("inf") for w in WAYS}, {}
        for _ in range(self.repeats):
            for way in WAYS:
                with _way(way):
                    t = time.perf_counter()
                    out = fn()
                    seconds[way] = min(seconds[way], time.perf_counter() - t)
                outs[way] = torch.cat([t.flatten(1) for t in out.tensors()], 1) if isinstance(out, WeightSpace) else out
        diff = (outs["one call"].float() - outs["sliced"].float()).abs().max().item()
        console.print(f"{name}: one call {seconds['one call']:.3f} s, sliced {seconds['sliced']:.3f} s")
        return {"case": name, **seconds, "speedup": seconds["one call"] / seconds["sliced"], "max_difference": diff}
