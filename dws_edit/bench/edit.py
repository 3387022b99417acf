"""``dws-edit bench edit``: every shipped image edit on held-out INRs, all methods measured in one run
(``--domain sdf|field``: the 3-D edits, :mod:`dws_edit.bench.edit3d`).

For each shipped image edit model: the MSE on the pixel grid (values in [0, 1]) between the edited INR
and the edit's exact functional target, and the wall time, of
- identity (no edit), the ``FlatMLPEditNet`` baseline trained with the same data and budget, the DWS
  model (its forward passes, no fine-tuning);
- fine-tuning: Adam on the functional target from the input weights, at several step budgets (how
  render-and-finetune tools such as 3-D Neural Sculpting edit), giving an error-vs-time curve;
- the hybrid: the DWS model, then k fine-tuning steps from its output;
times exclude computing the edit's target on the grid, which fine-tuning and a model that takes the loss
gradient (``--gradient``) both need (``dws_edit.edit`` computes it, the same target, before such a model);
on the zoo's test split and on INRs fitted by the anchors' per-image loop (random initialisation),
which is what users who bring INRs fitted by other code have. The MNIST dilation is also measured
against the dilated original image, in [0, 1] and on the NFN scale [-1, 1] (4x the MSE).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from rich.table import Table

from dws_edit.bench.cards import plot_error_vs_time, write_index, write_quality
from dws_edit.bench.common import finetune, mse_at, seconds_text, speed_at_equal_mse, speedup_text, timed
from dws_edit.checkpoints import available_models, checkpoint_dir, load_checkpoint, trained_fixed
from dws_edit.console import console
from dws_edit.data import load_zoo
from dws_edit.edits import domain_of, get_edit
from dws_edit.inr import grid_coords
from dws_edit.inr.domains import get_domain
from dws_edit.records import atomic_write_json, run_record
from dws_edit.render import render_images, save_image_grid
from dws_edit.runner import DEFAULT_LR, edit_targets, run_edit_model


def baseline_path(model_name: str) -> Path:
    """Where the FlatMLPEditNet baseline of a shipped model lives."""
    return checkpoint_dir() / "baselines" / f"{model_name}-mlp.safetensors"


@dataclass
class BenchEdit:
    """Shipped image edits on held-out INRs: identity, MLP baseline, DWS, fine-tuning and the hybrid, same run."""

    domain: Literal["image", "sdf", "field"] = "image"
    """Which shipped models: image, sdf or field edits (3-D: see dws_edit.bench.edit3d for what is measured)."""
    models: tuple[str, ...] = ()
    """Shipped edit models of the domain to measure (default: all in checkpoints/)."""
    count: int | None = None
    """Test INRs per edit (default 256 for images, 64 for 3-D)."""
    points: int = 4096
    """3-D: evaluation points per INR (half near its surface), where MSE and fine-tuning are measured."""
    iou_resolution: int = 128
    """3-D: grid points per axis of the volumetric IoU (smooth: 32, with a 7^3-point quadrature of its target)."""
    mesh_count: int = 8
    """3-D: INRs meshed at 64^3 for Chamfer distances, figures and (fields) rendered views."""
    mesh_fit_steps: int = 1000
    """3-D: Adam steps fitting an INR (width 32, SDF or colored field as the domain; ``fit_shape``'s rate) to each
    held-out mesh of dws_edit.data.mesh_set."""
    other_fit_steps: int = 1500
    """3-D, SDF: Adam steps of the SDF SIRENs fitted to the held-out meshes by other code
    (:mod:`dws_edit.bench.other_fits`: the SIREN paper's eikonal recipe and DeepSDF's), on which the edits are also
    measured as they are and after ``dws_edit.runner.refit`` (``mesh_fit_steps`` steps); 0: not measured."""
    held_out_draws: int = 1
    """3-D: edit parameters drawn per held-out mesh (each a separate edit of the same INR; more draws, a steadier
    mean over the 8 meshes). Cost grows with it; most for field-smooth, whose target views take a 7^3-point
    quadrature per sample (with 4 draws, most of the field bench's 55 minutes here)."""
    loop_count: int = 64
    """INRs fitted by the anchors' per-image loop (random init, Adam lr 5e-4, early stop at 40 dB), per edit."""
    finetune_steps: tuple[int, ...] = (5, 10, 20, 50, 100, 200, 500)
    """Fine-tuning budgets (Adam steps on the functional target)."""
    finetune_lr: float = 1e-3
    """Fine-tuning's Adam learning rate."""
    other_widths: tuple[int, ...] = (16, 64)
    """Hidden widths (both layers) of extra INRs fitted to the same test images: quality off the trained width."""
    hybrid_steps: tuple[int, ...] = (5, 20, 50)
    """Fine-tuning steps after the DWS model (the hybrid)."""
    hybrid_lr: float | None = None
    """The hybrid's Adam learning rate (default: the one ``edit(..., refine=N)`` uses, dws_edit.runner.DEFAULT_LR
    of the domain: images 1e-3, 3-D 3e-4)."""
    threads: int = 2
    """torch CPU threads."""
    seed: int = 0
    """Seed of the edit parameters drawn for each test INR."""
    out: Path = Path("outputs/bench_edit")
    """Folder for results.json, the error-vs-time PNGs and before/after figures."""
    write_cards: bool = False
    """Write each model's measured test quality into its card (checkpoints/<name>.json and header)."""

    def run(self) -> dict:
        """Raises ValueError, naming the option, for a count, size or step number below 1 (``iou_resolution``: 2)
        or not an integer."""
        from dws_edit.checks import at_least

        lowest = {"count": 1, "points": 1, "iou_resolution": 2, "mesh_count": 1, "mesh_fit_steps": 1,
                  "other_fit_steps": 0, "held_out_draws": 1, "loop_count": 1, "finetune_steps": 1,
                  "hybrid_steps": 1}  # fmt: skip
        for name, low in lowest.items():
            value = getattr(self, name)  # a number, a tuple of step numbers, or None (count: the domain's default)
            for v in value if isinstance(value, tuple | list) else (value,):
                if v is not None:
                    at_least(f"--{name.replace('_', '-')}", v, low)
        started = time.time()
        torch.set_num_threads(self.threads)
        has_surface = get_domain(self.domain).has_surface  # 3-D: dws_edit.bench.edit3d
        if self.count is None:
            self.count = 64 if has_surface else 256
        if has_surface:
            from dws_edit.bench.edit3d import run_3d

            rows = run_3d(self)
        else:
            shipped = {n: c for n, c in available_models().items() if c.get("domain") == self.domain}
            names = list(self.models) or list(shipped)
            unknown = [n for n in names if n not in shipped]
            if unknown or not names:
                available = ", ".join(shipped) or "none"
                raise ValueError(f"no shipped image edit model {unknown or ''}; available: {available}")
            rows = {name: self._bench_one(name, shipped[name]) for name in names}
            self._print(rows)
        for name, row in rows.items():
            plot_error_vs_time(self.out / f"{name}-error-vs-time.png", name, row, self.finetune_lr)
            if self.write_cards:
                write_quality(name, row)
        result = run_record("dws-edit", self.seed, started, bench="edit", domain=self.domain, results=rows)
        if self.write_cards:
            write_index()
        atomic_write_json(self.out / "results.json", result)
        console.print(f"wrote {self.out / 'results.json'} and figures in {self.out}")
        return result

    # ------------------------------------------------------------------ one model
    def _bench_one(self, name: str, card: dict) -> dict:
        model = load_checkpoint(checkpoint_dir() / f"{name}.safetensors")
        base_file = baseline_path(name)
        baseline = load_checkpoint(base_file) if base_file.exists() else None
        edit = get_edit(card["edit"])
        fixed = trained_fixed(card)  # the model's trained mode, for every draw of its parameters below
        zoo = load_zoo(card["data"]["zoo"], "test")
        ws = zoo.ws[: self.count]
        domain = domain_of(ws.spec)
        coords = grid_coords(28, 28)
        console.print(f"[bold]{name}[/]: {ws.batch_size} test INRs of {card['data']['zoo']}")
        g = torch.Generator().manual_seed(self.seed)
        params = edit.sample(ws.batch_size, g, domain, fixed=fixed)
        target = edit_targets(edit, ws, coords, params, domain)
        cond = edit.encode(params, domain, batch=ws.batch_size) if edit.cond_dim(domain) else None
        out = {"edit": card["edit"], "zoo": card["data"]["zoo"], "inrs": ws.batch_size}

        out["identity_mse"] = mse_at(ws, coords, target)
        with torch.no_grad():
            dws_ws, dws_s = timed(lambda: run_edit_model(model, ws, cond, coords=coords, target=target))
        out["dws_mse"], out["dws_seconds"] = mse_at(dws_ws, coords, target), dws_s
        if baseline is not None:
            with torch.no_grad():
                mlp_ws, mlp_s = timed(lambda: baseline(ws, cond))
            out["mlp_mse"], out["mlp_seconds"] = mse_at(mlp_ws, coords, target), mlp_s
        curve = []
        for steps in self.finetune_steps:
            tuned, secs = finetune(ws, coords, target, steps, self.finetune_lr)
            curve.append((secs, mse_at(tuned, coords, target)))
        out["finetune"] = [{"steps": k, "seconds": s, "mse": m} for k, (s, m) in zip(self.finetune_steps, curve)]
        hybrid, out["hybrid_lr"] = [], self.hybrid_lr or DEFAULT_LR[domain]
        for steps in self.hybrid_steps:
            tuned, secs = finetune(dws_ws, coords, target, steps, out["hybrid_lr"])
            hybrid.append({"steps": steps, "seconds": dws_s + secs, "mse": mse_at(tuned, coords, target)})
        out["hybrid"] = hybrid
        out |= speed_at_equal_mse(curve, out["dws_mse"], out["identity_mse"], dws_s)
        out["removed"] = 1 - out["dws_mse"] / out["identity_mse"]
        images = self._source_images(zoo, zoo.index[: max(self.loop_count, ws.batch_size)])
        out["loop_fitted"] = self._loop_fitted(images[: self.loop_count], edit, domain, model, baseline, coords, fixed)
        out["other_widths"] = self._other_widths(images[: self.loop_count], edit, domain, model, coords, fixed)
        if edit.on_pixels is not None:  # against the edit of the original images, as published (dilate)
            out["vs_dilated_original"] = self._vs_original(edit, images[: ws.batch_size], ws, dws_ws, coords)
        self._figure(name, ws, target, dws_ws, mlp_ws if baseline is not None else None)
        return out

    def _source_images(self, zoo, index) -> torch.Tensor:
        from dws_edit.data.sources import ImageSource

        src = zoo.manifest["source"]  # the source's own fields (describe()), with the fit options beside them
        kept = {f.name: src[f.name] for f in dataclasses.fields(ImageSource) if f.name in src and f.name != "root"}
        source = ImageSource(**kept, root=Path(src["root"]) if src.get("root") else None)
        batch = source.batch(index)
        return batch.targets.reshape(len(index), 28, 28)

    def _loop_fitted(self, images, edit, domain, model, baseline, coords, fixed) -> dict:
        from dws_edit.bench.fit import fit_one_module_per_image
        from dws_edit.inr import image_spec

        console.print(f"  fitting {len(images)} INRs with the per-image loop (random init) ...")
        psnr, ws = fit_one_module_per_image(images, image_spec(), 40.0, 1000, 5e-4, self.seed + 1)
        g = torch.Generator().manual_seed(self.seed + 2)
        params = edit.sample(ws.batch_size, g, domain, fixed=fixed)
        target = edit_targets(edit, ws, coords, params, domain)
        cond = edit.encode(params, domain, batch=ws.batch_size) if edit.cond_dim(domain) else None
        out = {"inrs": ws.batch_size, "mean_psnr_db": psnr.mean().item(), "identity_mse": mse_at(ws, coords, target)}
        with torch.no_grad():
            out["dws_mse"] = mse_at(run_edit_model(model, ws, cond, coords=coords, target=target), coords, target)
            if baseline is not None:
                out["mlp_mse"] = mse_at(baseline(ws, cond), coords, target)
        out["removed"] = 1 - out["dws_mse"] / out["identity_mse"]
        return out

    def _other_widths(self, images, edit, domain, model, coords, fixed) -> dict:
        import warnings

        from dws_edit.inr import fit_images, image_spec

        out = {}
        for width in self.other_widths:
            ws, psnr = fit_images(images, spec=image_spec(hidden=(width, width)), seed=self.seed + 3)
            g = torch.Generator().manual_seed(self.seed + 4)
            params = edit.sample(ws.batch_size, g, domain, fixed=fixed)
            target = edit_targets(edit, ws, coords, params, domain)
            cond = edit.encode(params, domain, batch=ws.batch_size) if edit.cond_dim(domain) else None
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dws = mse_at(run_edit_model(model, ws, cond, coords=coords, target=target), coords, target)
            ident = mse_at(ws, coords, target)
            out[str(width)] = {"mean_psnr_db": psnr.mean().item(), "identity_mse": ident, "dws_mse": dws,
                               "removed": 1 - dws / ident}  # fmt: skip
        return out

    def _vs_original(self, edit, images, ws, dws_ws, coords) -> dict:
        """MSE of the edited INRs against the edit applied to the original images ([0, 1], and x4: NFN's [-1, 1])."""
        target = edit.on_pixels(images).reshape(len(images), -1, 1)
        mse = mse_at(dws_ws, coords, target)
        return {"mse_01": mse, "mse_nfn_scale": 4 * mse, "identity_mse_01": mse_at(ws, coords, target)}

    # ------------------------------------------------------------------ output
    def _figure(self, name, ws, target, dws_ws, mlp_ws) -> None:
        n = 8
        rows = [render_images(ws[:n]), target[:n].reshape(n, 1, 28, 28).clamp(0, 1), render_images(dws_ws[:n])]
        if mlp_ws is not None:
            rows.append(render_images(mlp_ws[:n]))
        save_image_grid(torch.cat(rows), self.out / f"{name}-before-after.png", columns=n, scale=3)

    def _print(self, rows: dict) -> None:
        table = Table(title="image edits, test split: MSE on the pixel grid in [0, 1] (lower is better)")
        cols = ("model", "identity", "MLP", "DWS", "removed", "DWS/MLP", "fine-tune best", "hybrid best",
                "DWS s", "FT s to DWS MSE", "speed-up", "loop-fitted: id / DWS")  # fmt: skip
        for c in cols:
            table.add_column(c, justify="left" if c == "model" else "right")
        for name, r in rows.items():
            ft = min(f["mse"] for f in r["finetune"])
            hy = min(h["mse"] for h in r["hybrid"])
            lf = r["loop_fitted"]
            table.add_row(
                name, f"{r['identity_mse']:.2e}", f"{r['mlp_mse']:.2e}" if "mlp_mse" in r else "-",
                f"{r['dws_mse']:.2e}", f"{100 * r['removed']:.0f}%",
                f"{r['dws_mse'] / r['mlp_mse']:.2f}" if "mlp_mse" in r else "-", f"{ft:.2e}", f"{hy:.2e}",
                f"{r['dws_seconds']:.3f}", seconds_text(r),
                speedup_text(r),
                f"{lf['identity_mse']:.2e} / {lf['dws_mse']:.2e}",
            )  # fmt: skip
        console.print(table)
        for name, r in rows.items():
            if "vs_dilated_original" in r:
                d = r["vs_dilated_original"]
                console.print(
                    f"{name} against the dilated original image: MSE {d['mse_01']:.3e} on [0, 1] "
                    f"({100 * d['mse_01']:.2f}e-2), {d['mse_nfn_scale']:.3f} on the NFN scale [-1, 1]"
                )


__all__ = ["BenchEdit", "baseline_path"]
