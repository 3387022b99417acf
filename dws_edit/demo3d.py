"""The 3-D part of ``dws-edit demo``: a built-in shape (a mug of the procedural generator) as a mesh, fitted as an
SDF INR through the same path as a user's mesh, then edited in weight space by every shipped SDF edit and the
exact mirror symmetrization; before/after meshes (.glb) and shaded renders (PNG), IoU against the exact edit."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from rich.table import Table

from dws_edit.api import edit, fit_shape
from dws_edit.checkpoints import available_models
from dws_edit.console import console
from dws_edit.data.shapes import sample_shape
from dws_edit.edits import EDITS, get_edit
from dws_edit.inr import evaluate
from dws_edit.metrics import occupancy_iou
from dws_edit.render import inr_to_mesh, render_mesh_views, save_image_grid, save_mesh


def demo_3d(out: Path, seed: int = 0, steps: int = 1500, refine: int = 100) -> list[dict]:
    """Fit and edit the demo mug; write ``out/mug-<edit>.glb`` and ``out/mug-<edit>.png``; return the table rows.
    Learned edits whose target is a function of the INR (not remove_part: see dws_edit.runner.refine) are also shown
    with ``refine`` steps after the pass, and the closed forms where they exist."""
    shape = sample_shape("mug", torch.Generator().manual_seed(seed))
    console.print(f"fitting an SDF SIREN (3->32->32->1) to a built-in mug ({steps} steps) ...")
    t = time.time()
    ws = fit_shape(shape, max_steps=steps, seed=seed)
    source = inr_to_mesh(ws)
    save_mesh(source, out / "mug.glb")
    console.print(f"  fitted in {time.time() - t:.1f} s; mesh of {len(source.faces)} faces -> {out / 'mug.glb'}")
    learned = sorted({c["edit"] for c in available_models().values() if c.get("domain") == "sdf"})
    runs = [(name, False, 0) for name in learned if "sdf" in get_edit(name).examples]
    runs += [(name, False, refine) for name, _, _ in runs if refine and not get_edit(name).from_generator]
    runs += [(name, True, 0) for name, e in EDITS.items() if e.exact_form and "sdf" in e.domains]  # closed forms
    if not learned:
        console.print("no shipped SDF edit models in checkpoints/: showing the exact edits only")
    table = Table(title="3-D edits of the fitted mug: IoU (64^3) against the exact edit")
    for col in ("edit", "kind", "parameters", "IoU no edit", "IoU edited", "seconds"):
        table.add_column(col, justify="left" if col in ("edit", "kind", "parameters") else "right")
    rows = []
    for name, exact, refined in runs:
        definition = get_edit(name)
        params = definition.examples["sdf"]  # inside the trained ranges
        options = definition.target_options("sdf", "grid", [shape])

        def target(p, params=params, definition=definition, options=options):
            with torch.no_grad():
                return definition.target(lambda c: evaluate(ws, c), p, params, "sdf", **options)

        t = time.perf_counter()
        edited = edit(ws, name, exact=exact, refine=refined, **params)
        seconds = time.perf_counter() - t
        before = occupancy_iou(lambda p: evaluate(ws, p), target, "sdf", 64).item()
        after = occupancy_iou(lambda p, e=edited: evaluate(e, p), target, "sdf", 64).item()
        kind = "exact" if exact else f"DWS + {refined} refine steps" if refined else "DWS model"
        rows.append(dict(edit=name, kind=kind, params=params, identity_iou=before, iou=after, seconds=seconds))
        table.add_row(name, kind, str(params), f"{before:.3f}", f"{after:.3f}", f"{seconds:.3f}")
        stem = f"mug-{name}{'-exact' if exact else f'-refined{refined}' if refined else ''}"
        try:
            mesh = inr_to_mesh(edited)
        except ValueError as err:
            console.print(f"  {name}: {err}")
            continue
        save_mesh(mesh, out / f"{stem}.glb")
        views = torch.cat([render_mesh_views(source, 2, 128), render_mesh_views(mesh, 2, 128)])
        save_image_grid(views, out / f"{stem}.png", columns=2, scale=1)
    console.print(table)
    console.print("each 3-D PNG: top row the fitted mug from two sides, bottom row the edited one; meshes in .glb")
    return rows
