"""``dws-edit bench mesh-fit``: how wide an SDF INR must be to give a user's mesh back faithfully.

Each held-out mesh of :mod:`dws_edit.data.mesh_set` (shapes the generator cannot make) is fitted by
:func:`dws_edit.fit_mesh` at several hidden widths; the Chamfer distance between the fitted INR's 64^3
marching-cubes mesh and the input mesh, and the fit time, are reported with their ratios to the width the shipped
SDF edit models were trained on (32). The sampling floor (the Chamfer distance of the input mesh to itself with
independent samples) is printed alongside.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from dws_edit.console import console
from dws_edit.records import atomic_write_json, run_record


@dataclass
class BenchMeshFit:
    """Fit the held-out meshes at several SDF INR widths: Chamfer distance to the input mesh and fit time."""

    widths: tuple[int, ...] = (32, 64, 128)
    """Hidden widths (both layers) to try; the first is the reference of the ratios."""
    max_steps: int = 2000
    """Adam steps per fit (fit_mesh's default)."""
    points: int = 32768
    """Sample points per mesh (fit_mesh's default)."""
    threads: int = 2
    """torch CPU threads."""
    seed: int = 0
    """Seed of the sample points and initialisations."""
    out: Path | None = None
    """Optional JSON file for the results."""

    def run(self) -> dict:
        from dws_edit.api import fit_mesh
        from dws_edit.data.mesh_set import held_out_meshes
        from dws_edit.metrics import chamfer_distance
        from dws_edit.render import inr_to_mesh

        started = time.time()
        torch.set_num_threads(self.threads)
        meshes = held_out_meshes()
        floor = sum(chamfer_distance(m, m, seed=self.seed + 7) for m in meshes.values()) / len(meshes)
        rows = []
        for width in self.widths:
            chamfers, seconds = {}, 0.0
            for name, mesh in meshes.items():
                t = time.perf_counter()
                ws = fit_mesh(mesh, hidden=width, points=self.points, max_steps=self.max_steps, seed=self.seed)
                seconds += time.perf_counter() - t
                chamfers[name] = chamfer_distance(inr_to_mesh(ws), mesh)
            mean = sum(chamfers.values()) / len(chamfers)
            rows.append({"width": width, "mean_chamfer": mean, "fit_seconds_per_mesh": seconds / len(meshes),
                         "chamfer": chamfers})  # fmt: skip
            console.print(f"width {width}: mean Chamfer {mean:.4f}, {seconds / len(meshes):.1f} s per mesh")
        ref = rows[0]
        table = Table(title=f"SDF INR width vs fidelity on {len(meshes)} held-out meshes ({self.max_steps} steps)")
        for col in ("width", "mean Chamfer", "Chamfer / width " + str(ref["width"]), "s per mesh", "time ratio"):
            table.add_column(col, justify="right")
        for r in rows:
            r["chamfer_ratio"] = r["mean_chamfer"] / ref["mean_chamfer"]
            r["time_ratio"] = r["fit_seconds_per_mesh"] / ref["fit_seconds_per_mesh"]
            table.add_row(str(r["width"]), f"{r['mean_chamfer']:.4f}", f"{r['chamfer_ratio']:.2f}",
                          f"{r['fit_seconds_per_mesh']:.1f}", f"{r['time_ratio']:.1f}")  # fmt: skip
        console.print(table)
        console.print(f"sampling floor (a mesh against itself, 30,000 points each side): {floor:.4f}")
        result = run_record("dws-edit", self.seed, started, bench="mesh-fit", rows=rows, sampling_floor=floor)
        if self.out:
            atomic_write_json(self.out, result)
        return result
