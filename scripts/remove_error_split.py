"""Where a learned SDF remove(box) edit loses IoU: outside the box (the shape it should keep) or inside (the carve).

For each checkpoint, on the first COUNT test-split INRs of zoos/sdf with boxes drawn from the edit's ranges
(``edit.sample``, seed 0; the loss gradient at 4,096 points as ``run_edit_model`` draws them), on a
RESOLUTION^3 grid over [-1, 1]^3 (occupancy: SDF < 0): volumetric IoU against the exact edit max(f, -box) for
no edit and for the model; the same IoU counted only outside the box (1 for no edit, where the target is the
source); the voxels inside the box still occupied (no edit: the source's); the voxels outside the box whose sign
flipped and the median / 90% / 99% quantiles of |target SDF| there (small: the surface moved by that much, not a
spurious blob).

    .venv/bin/python scripts/remove_error_split.py checkpoints/sdf-remove.safetensors runs/x/best.safetensors
"""

from __future__ import annotations

import argparse

import torch

from dws_edit.checkpoints import load_checkpoint
from dws_edit.data import load_zoo
from dws_edit.edits import get_edit
from dws_edit.inr import evaluate
from dws_edit.inr.siren import cube_grid
from dws_edit.metrics import iou as metrics_iou
from dws_edit.runner import edit_targets, run_edit_model


def iou(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over INRs of the IoU of the occupancies (SDF < 0) of ``pred`` and ``target`` [B, N] within ``mask``."""
    return metrics_iou((pred < 0) & mask, (target < 0) & mask).mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="sdf remove models (.safetensors)")
    parser.add_argument("--zoo", default="zoos/sdf", help="zoo folder (its test split is used)")
    parser.add_argument("--count", type=int, default=16, help="test INRs")
    parser.add_argument("--resolution", type=int, default=64, help="grid points per axis")
    args = parser.parse_args()
    torch.set_num_threads(2)
    ws = load_zoo(args.zoo, "test").ws[: args.count]
    n, edit = ws.batch_size, get_edit("remove")
    params = edit.sample(n, torch.Generator().manual_seed(0), "sdf")
    grid = cube_grid(args.resolution).reshape(-1, 3).to(torch.float32)
    box = params["box"]
    outside = ~((grid[None] >= box[:, None, :3]) & (grid[None] <= box[:, None, 3:])).all(-1)
    with torch.no_grad():
        source = evaluate(ws, grid)[..., 0]
        target = edit_targets(edit, ws, grid, params, "sdf")[..., 0]
    everywhere = torch.ones_like(outside)
    print(f"{n} test INRs of {args.zoo}, {args.resolution}^3 grid")
    print(f"no edit: IoU {iou(source, target, everywhere):.3f}, occupied in the box {((source < 0) & ~outside).sum()}")
    for path in args.checkpoints:
        model = load_checkpoint(path).eval()
        with torch.no_grad():
            edited = run_edit_model(model, ws, edit.encode(params, "sdf", batch=n), edit, params)
            values = evaluate(edited.to(torch.float32), grid)[..., 0]
        flipped = ((values < 0) != (target < 0)) & outside
        q = target[flipped].abs().quantile(torch.tensor([0.5, 0.9, 0.99])).tolist() if flipped.any() else []
        print(f"{path}: IoU {iou(values, target, everywhere):.3f}, outside the box {iou(values, target, outside):.3f}, "
              f"occupied in the box {((values < 0) & ~outside).sum()}, flipped outside {flipped.sum()} "
              f"(|target| quantiles 50/90/99%: {', '.join(f'{x:.4f}' for x in q)})")  # fmt: skip


if __name__ == "__main__":
    main()
