"""Saving and loading trained models, and the registry of the ones shipped in ``checkpoints/``.

A checkpoint is ``<name>.safetensors`` (the model's state dict, statistics buffers included, through
dws_edit.io: never unpickled) whose header holds the model's class and constructor arguments and its
card, plus ``<name>.json``: the same card for people to read (what the model does, the INR spec it
accepts, the command that trained it, the data, and its measured quality).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from dws_edit.io import json_field, read_file, write_file
from dws_edit.nn import DWSClassifier, DWSEditNet, DWSEncoder, FlatMLPEditNet
from dws_edit.records import atomic_write_json
from dws_edit.weights import NetworkSpec

FORMAT = "dws-edit-checkpoint"
VERSION = 1
MODEL_CLASSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls for cls in (DWSEditNet, FlatMLPEditNet, DWSClassifier, DWSEncoder)
}


def checkpoint_dir() -> Path:
    """Where shipped checkpoints live: ``$DWS_EDIT_CHECKPOINTS``, else the repository's ``checkpoints/``."""
    return Path(os.environ.get("DWS_EDIT_CHECKPOINTS", Path(__file__).resolve().parent.parent / "checkpoints"))


def save_checkpoint(path: str | Path, model: nn.Module, kwargs: dict, card: dict, half: bool | None = None) -> None:
    """Write ``model`` (built as ``type(model)(spec, **kwargs)``) with its card; both files atomically.

    ``path``: ``<dir>/<name>.safetensors``; the card also goes to ``<dir>/<name>.json``. ``half``: store the
    parameters as float16 (half the size; statistics buffers stay float32; the card says ``"stored_as":
    "float16"``); None (default): as the card says, so that rewriting a loaded checkpoint keeps its precision.
    ``load_checkpoint`` returns a float32 model either way.
    """
    if half is None:
        half = card.get("stored_as") == "float16"
    card = {k: v for k, v in card.items() if k != "stored_as"} | ({"stored_as": "float16"} if half else {})
    path = Path(path)
    name = type(model).__name__
    if name not in MODEL_CLASSES:
        raise ValueError(f"cannot save a {name}; accepted models: {', '.join(MODEL_CLASSES)}")
    config = {"class": name, "spec": model.spec.to_dict(), "kwargs": kwargs}
    meta = {"format": FORMAT, "version": str(VERSION), "model": json.dumps(config), "card": json.dumps(card)}
    state = model.state_dict()
    if half:
        params = dict(model.named_parameters())
        state = {k: v.half() if k in params else v for k, v in state.items()}
    write_file(path, state, meta)
    atomic_write_json(path.with_suffix(".json"), card)


def load_checkpoint(path: str | Path) -> nn.Module:
    """Rebuild the model saved at ``path`` in eval mode, its card as ``model.card`` (a dict).

    Raises ValueError naming the file if it is not a dws-edit checkpoint, is corrupt, or does not
    match the model it describes.
    """
    path = Path(path)
    tensors, meta = read_file(path, finite=True)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dws-edit checkpoint (its header has format {meta.get('format')!r})")
    config = json_field(meta, "model", path, "the model's class and arguments")
    card = json_field(meta, "card", path, "the model card")
    cls = MODEL_CLASSES.get(config.get("class"))
    if cls is None:
        raise ValueError(f"{path}: unknown model class {config.get('class')!r}; known: {', '.join(MODEL_CLASSES)}")
    model = cls(NetworkSpec.from_dict(config["spec"]), **config["kwargs"])
    tensors = {k: v.float() if v.dtype == torch.float16 else v for k, v in tensors.items()}  # half=True files
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: tensors do not match a {cls.__name__} (missing {missing}, unexpected {unexpected})")
    model.card = card
    return model.eval()


def available_models() -> dict[str, dict]:
    """The shipped models: ``{name: card}`` for every ``checkpoints/<name>.safetensors`` with a card."""
    out = {}
    for file in sorted(checkpoint_dir().glob("*.safetensors")):
        card_file = file.with_suffix(".json")
        if card_file.exists():
            out[file.stem] = json.loads(card_file.read_text())
    return out


def baseline_dir_models() -> dict[str, dict]:
    """The shipped baselines (``checkpoints/baselines/<name>``, e.g. FlatMLPEditNet): ``{name: card}``."""
    folder = checkpoint_dir() / "baselines"
    return {f.stem: json.loads(f.with_suffix(".json").read_text()) for f in sorted(folder.glob("*.safetensors"))}


def load_model(name: str) -> nn.Module:
    """A shipped model by name (see ``available_models()``), or a checkpoint file by path."""
    path = Path(name)
    if path.suffix == ".safetensors" and path.exists():
        return load_checkpoint(path)
    file = checkpoint_dir() / f"{name}.safetensors"
    if not file.exists():
        names = ", ".join(available_models()) or "none (checkpoints/ is empty)"
        raise ValueError(f"no shipped model named {name!r}; accepted: a shipped name ({names}) or a checkpoint "
                         "file ending in .safetensors")  # fmt: skip
    return load_checkpoint(file)


def publish(run: str | Path, name: str, baseline: bool = False, half: bool = False) -> Path:
    """Copy a training run's best model (``<run>/best.safetensors``) into the shipped checkpoints as
    ``<name>`` (baselines under ``baselines/``), its card named accordingly. Baselines, and models published with
    ``half``, store their parameters as float16 to keep checkpoints/ small (the card says ``stored_as``; the
    bench measures them as loaded, in float32). Returns the written path."""
    run = Path(run)
    model = load_checkpoint(run / "best.safetensors")
    card = dict(model.card, name=name)
    results = run / "results.json"  # the run's record: the command line exactly as it was typed
    if results.exists():
        card["command"] = json.loads(results.read_text())["command"]
    if baseline:
        card["baseline_of"] = name.removesuffix("-mlp")
    target = checkpoint_dir() / ("baselines" if baseline else "") / f"{name}.safetensors"
    save_checkpoint(target, model, card.get("model_kwargs", {}), card, half=half or baseline)
    return target
