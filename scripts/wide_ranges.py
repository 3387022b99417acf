"""What users get for parameters beyond the shipped models' trained ranges (issue 32): slabs, halves and the whole cube
for ``remove``, big balls for ``remove_sphere``, and symmetrize's union and intersection (no model trained on them:
the average model's pass refined by the guard toward the mode's target).

    .venv/bin/python scripts/wide_ranges.py [--fit-steps 500] [--digits 16] [--only TEXT]

INRs: the held-out meshes of :mod:`dws_edit.data.mesh_set` fitted as ``fit_shape`` fits a user's mesh (SDF and colored
field, ``--fit-steps`` steps, 16,384 points) and ``--digits`` digits of the zoos/mnist5k test split. Each edit runs
one INR at a time with the default guard (``report=True``); printed per case: the guard's outcomes, the mean loss (the
guard's: MSE for images, the surface loss for SDFs, the MSE of rendered views for fields; against the exact target)
with no edit and as returned, how many came back worse than no edit by it, seconds per INR (2 CPU threads), and for
3-D the occupancy IoU (64^3) against the exact edit, no edit / returned, with how many came back worse by it.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import torch

import dws_edit
from dws_edit.bench.common import worse_count
from dws_edit.data import load_zoo
from dws_edit.data.mesh_set import held_out_shapes
from dws_edit.edits import get_edit
from dws_edit.inr import evaluate
from dws_edit.inr.domains import get_domain
from dws_edit.metrics import occupancy_iou
from dws_edit.runner import edit_targets
from dws_edit.weights import WeightSpace

CUBE = {
    "remove: thin slab |y| < 0.1": ("remove", {"box": (-1, -0.1, -1, 1, 0.1, 1)}),
    "remove: half x > 0": ("remove", {"box": (0, -1, -1, 1, 1, 1)}),
    "remove: slab |z| < 0.5": ("remove", {"box": (-1, -1, -0.5, 1, 1, 0.5)}),
    "remove: whole cube": ("remove", {"box": (-1, -1, -1, 1, 1, 1)}),
    "remove_sphere: r 1.0 at 0": ("remove_sphere", {"center": (0, 0, 0), "radius": 1.0}),
    "remove_sphere: r 0.8 at (0.6, 0, 0)": ("remove_sphere", {"center": (0.6, 0, 0), "radius": 0.8}),
    "remove_sphere: r 1.0 at corner (1, 1, 1)": ("remove_sphere", {"center": (1, 1, 1), "radius": 1.0}),
    "remove_sphere: r sqrt 3 at 0 (all)": ("remove_sphere", {"center": (0, 0, 0), "radius": math.sqrt(3)}),
    "symmetrize x: union": ("symmetrize", {"axis": "x", "mode": "union"}),
    "symmetrize x: intersection": ("symmetrize", {"axis": "x", "mode": "intersection"}),
}
IMAGE = {
    "remove: top half": ("remove", {"box": (-1, -1, 1, 0)}),
    "remove: slab |y| < 0.2": ("remove", {"box": (-1, -0.2, 1, 0.2)}),
    "remove: whole image": ("remove", {"box": (-1, -1, 1, 1)}),
    "symmetrize x: union": ("symmetrize", {"axis": "x", "mode": "union"}),
    "symmetrize x: intersection": ("symmetrize", {"axis": "x", "mode": "intersection"}),
}


def iou_text(ws: WeightSpace, edited: list[WeightSpace], name: str, params: dict) -> str:
    """3-D: "no edit / returned (worse on k)", the occupancy IoU (64^3) against the exact edit, means over the INRs;
    an independent check of the guard, which judges by its own loss at its points. "-" for images."""
    domain = get_domain(ws.spec)
    if not domain.has_surface:
        return "-"
    returned, edit = WeightSpace.cat(edited), get_edit(name)
    target = lambda p: edit_targets(edit, ws, p, params, domain.name, **edit.target_options(domain.name, "grid"))  # noqa: E731
    before, after = (occupancy_iou(lambda p, w=w: evaluate(w, p), target, domain, 64) for w in (ws, returned))
    worse = worse_count(after, before)
    return f"{before.mean().item():.3f} / {after.mean().item():.3f} (worse on {worse})"


def measure(ws: WeightSpace, name: str, params: dict) -> dict:
    outcomes, no_edit, out, worse, seconds, edited = [], [], [], 0, 0.0, []
    for i in range(ws.batch_size):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            returned, report = dws_edit.edit(ws[i : i + 1], name, report=True, **params)
            edited.append(returned)
        seconds += time.perf_counter() - started
        outcomes.append(report.outcome[0])
        no_edit.append(report.loss_no_edit[0])
        out.append(report.loss_out[0])
        worse += report.loss_out[0] > report.loss_no_edit[0] * (1 + 1e-5) + 1e-12
    counts = ", ".join(f"{outcomes.count(o)} {o}" for o in dict.fromkeys(outcomes))
    n = ws.batch_size
    return {"outcomes": counts, "no_edit": sum(no_edit) / n, "out": sum(out) / n, "worse": worse, "n": n,
            "seconds": seconds / n, "iou": iou_text(ws, edited, name, params)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-steps", type=int, default=500)
    parser.add_argument("--digits", type=int, default=16)
    parser.add_argument("--only", default="", help="only the rows whose INRs and case contain this text, e.g. 'sdf'")
    args = parser.parse_args()
    torch.set_num_threads(2)
    shapes = list(held_out_shapes().values())

    def fits(field: bool) -> WeightSpace:
        return WeightSpace.cat([dws_edit.fit_shape(s, max_steps=args.fit_steps, points=16384, field=field)
                                for s in shapes])  # fmt: skip

    sets = {  # the INRs of each set made only when one of its rows runs
        "image (mnist5k test)": (lambda: load_zoo("zoos/mnist5k", "test").ws[: args.digits], IMAGE),
        "sdf (held-out meshes)": (lambda: fits(False), CUBE),
        "field (held-out meshes)": (lambda: fits(True), CUBE),
    }
    print(
        "| INRs | case | guard outcomes | loss no edit | loss returned | worse than no edit | s / INR "
        "| IoU no edit / returned |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, (make, cases) in sets.items():
        rows = {case: c for case, c in cases.items() if args.only in f"{label} {case}"}
        ws = make() if rows else None
        for case, (name, params) in rows.items():
            r = measure(ws, name, params)
            print(f"| {label} | {case} | {r['outcomes']} | {r['no_edit']:.3g} | {r['out']:.3g} | {r['worse']} of "
                  f"{r['n']} | {r['seconds']:.2f} | {r['iou']} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
