"""Why fit_shape / fit_mesh fit at the 3-D zoos' learning rate: the demo mug fitted as the demo fits it (1,500 Adam
steps, 32,768 points) at lr 1e-3 and 3e-3. Prints, per rate, how far each weight tensor lies from the shipped
sdf-remove model's training zoo (RMS of the tensor in the model's per-tensor normalization: about 1 for the zoo's
own INRs) and sdf-remove's IoU (64^3) against the exact edit with the demo's box, with no edit's.

    .venv/bin/python scripts/fit_rate_check.py [--steps 1500]
"""

import argparse

import torch

from dws_edit.api import edit, fit_shape, load_model
from dws_edit.data.shapes import sample_shape
from dws_edit.demo3d import DEMO_PARAMS_3D
from dws_edit.edits import get_edit
from dws_edit.inr import evaluate
from dws_edit.metrics import occupancy_iou


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    torch.set_num_threads(2)
    mug = sample_shape("mug", torch.Generator().manual_seed(0))  # the demo's mug (dws_edit.demo3d, seed 0)
    model, definition, params = load_model("sdf-remove"), get_edit("remove"), DEMO_PARAMS_3D["remove"]
    for lr in (1e-3, 3e-3):
        ws = fit_shape(mug, max_steps=args.steps, seed=0, lr=lr)
        rms = [t.square().mean().sqrt().item() for t in model.normalize(ws).tensors()]

        def target(p, ws=ws):
            with torch.no_grad():
                return definition.target(lambda c: evaluate(ws, c), p, params, "sdf")

        edited = edit(ws, "remove", **params)
        before = occupancy_iou(lambda p, ws=ws: evaluate(ws, p), target, "sdf", 64).item()
        after = occupancy_iou(lambda p, e=edited: evaluate(e, p), target, "sdf", 64).item()
        print(f"lr {lr:g}: normalized RMS per tensor (W0, b0, W1, b1, W2, b2) {[round(r, 2) for r in rms]}; "
              f"sdf-remove IoU {after:.3f} (no edit {before:.3f})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
