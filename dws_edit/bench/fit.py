"""``dws-edit bench fit``: the batched fitter against one nn.Module per image, measured in the same run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from dws_edit.console import console
from dws_edit.records import atomic_write_json, run_record
from dws_edit.weights import WeightSpace


@dataclass
class BenchFit:
    """Fitting INRs to the same Fashion-MNIST images: the batched fitter vs one nn.Module per image."""

    count: int = 256
    """Fashion-MNIST training images to fit."""
    target_psnr: float = 40.0
    """Early stop at this PSNR (dB)."""
    max_steps: int = 1000
    """Most Adam steps per INR."""
    loop_lr: float = 5e-4
    """The anchors' recipe for the per-image loop (Adam, MSE, early stop at the target)."""
    batched_lr: float = 5e-3
    """Adam learning rate of the batched fitter."""
    threads: int = 2
    """torch CPU threads."""
    seed: int = 0
    """Seed of the SIREN initialisations."""
    out: Path | None = None
    """Optional JSON file for the results."""

    def run(self) -> dict:
        from dws_edit.data.images import load_fashion_mnist
        from dws_edit.inr import fit_images, image_spec

        started = time.time()
        torch.set_num_threads(self.threads)
        images = load_fashion_mnist("train")[0][: self.count]
        console.print(
            f"[bold]bench fit[/]: {self.count} Fashion-MNIST images, SIREN 2->32->32->1, target {self.target_psnr} dB"
        )
        rows = []

        def add(name, seconds, psnr):
            reached = int((psnr >= self.target_psnr - 1e-6).sum())
            rows.append(
                {
                    "method": name,
                    "seconds": seconds,
                    "reached": reached,
                    "mean_psnr_db": psnr.mean().item(),
                    "inrs_per_s_reaching_target": reached / seconds,
                }
            )
            console.print(f"  {name}: {seconds:.1f} s, {reached}/{self.count} reached, {reached / seconds:.1f} INRs/s")

        for lr in (self.batched_lr, self.loop_lr):
            t = time.perf_counter()
            _, psnr = fit_images(images, target_psnr=self.target_psnr, max_steps=self.max_steps, seed=self.seed, lr=lr)
            add(f"batched fitter, lr {lr:g}", time.perf_counter() - t, psnr)
        t = time.perf_counter()
        psnr, _ = fit_one_module_per_image(
            images, image_spec(), self.target_psnr, self.max_steps, self.loop_lr, self.seed
        )
        add(f"loop of nn.Module per image, lr {self.loop_lr:g}", time.perf_counter() - t, psnr)

        base = rows[-1]["inrs_per_s_reaching_target"]
        table = Table(title=f"INRs/s reaching {self.target_psnr} dB")
        for col in ("method", "seconds", "reached", "mean PSNR", "INRs/s", "x loop (same run)"):
            table.add_column(col, justify="left" if col == "method" else "right")
        for r in rows:
            r["ratio_to_loop"] = r["inrs_per_s_reaching_target"] / base
            table.add_row(
                r["method"],
                f"{r['seconds']:.1f}",
                f"{r['reached']}/{self.count}",
                f"{r['mean_psnr_db']:.2f}",
                f"{r['inrs_per_s_reaching_target']:.1f}",
                f"{r['ratio_to_loop']:.1f}",
            )
        console.print(table)
        result = run_record("dws-edit", self.seed, started, bench="fit", rows=rows)
        if self.out:
            atomic_write_json(self.out, result)
        return result


def fit_one_module_per_image(images, spec, target_psnr, max_steps, lr, seed) -> tuple[torch.Tensor, WeightSpace]:
    """The anchors' recipe: a fresh SIREN nn.Module and Adam per image, early stop at the target.

    ``images`` [N, H, W] in [0, 1]. Returns (PSNR [N] in dB, the fitted INRs as a WeightSpace [N])."""
    from dws_edit.inr import grid_coords, init_siren, psnr_from_mse
    from dws_edit.inr.fitting import mse_from_psnr

    coords = grid_coords(*images.shape[-2:])
    init = init_siren(spec, len(images), torch.Generator().manual_seed(seed))
    target_mse = mse_from_psnr(target_psnr)
    out, nets = [], []
    for k, image in enumerate(images):
        linears = init[k].to_linears()
        model = torch.nn.Sequential(*[m for lin in linears[:-1] for m in (lin, Sine(spec.w0))], linears[-1])
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        target = image.reshape(-1, 1)
        for _ in range(max_steps + 1):
            loss = torch.nn.functional.mse_loss(model(coords) + spec.output_offset, target)
            if loss.item() <= target_mse:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
        out.append(psnr_from_mse(loss.detach()))
        nets.append(WeightSpace.from_linears(linears, spec))
    return torch.stack(out), WeightSpace.cat(nets)


class Sine(torch.nn.Module):
    def __init__(self, w0: float):
        super().__init__()
        self.w0 = w0

    def forward(self, x):
        return torch.sin(self.w0 * x)
