"""Saving and loading trained models, and the registry of the ones shipped in ``checkpoints/``.

A checkpoint is ``<name>.safetensors`` (the model's state dict, statistics buffers included, through
dws_edit.io: never unpickled) whose header holds the model's class and constructor arguments and its
card, plus ``<name>.json``: the same card for people to read (what the model does, the INR spec it
accepts, the command that trained it, the data, and its measured quality).
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from dws_edit.inr.domains import get_domain
from dws_edit.io import json_field, read_file, write_file
from dws_edit.nn import DWSClassifier, DWSEditNet, DWSEncoder, FlatMLPEditNet
from dws_edit.records import atomic_write_json
from dws_edit.weights import NetworkSpec, WeightSpace

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
        raise ValueError(f"{path} is not a dws-edit checkpoint (its header names no dws-edit model format: a file "
                         "of other code, or an INR?); accepted: a model of dws-edit train")  # fmt: skip
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


_cards: dict[Path, tuple[tuple[int, int], dict]] = {}  # card file -> ((mtime_ns, size), card): read again on a change


def _card(file: Path) -> dict:
    stat = file.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)  # the size too: a rewrite within one clock tick keeps the mtime
    if file not in _cards or _cards[file][0] != stamp:
        _cards[file] = (stamp, json.loads(file.read_text()))
    return _cards[file][1]


def card_lineage(path: Path, card: dict) -> dict | None:
    """The ``started_from`` (the chain of ``--init`` models) of the checkpoint at ``path`` whose embedded card is
    ``card``: its card file's (``.json`` beside it, of the same command) where there is one, which keeps the whole
    chain (files published by older code embed a shorter one), else the embedded card's; None without one."""
    try:
        published = _card(path.with_suffix(".json"))
    except (OSError, ValueError):
        published = {}
    if isinstance(published, dict) and published.get("command") == card.get("command"):
        return published.get("started_from") or card.get("started_from")
    return card.get("started_from")


def available_models(task: str | None = "edit") -> dict[str, dict]:
    """The shipped models of ``task``: ``{name: card}`` for every ``checkpoints/<name>.safetensors`` with a card
    (each card read once, again only after its file changes), but the models' training-data detectors
    (``*.ood.safetensors``, :mod:`dws_edit.ood`). ``task``: "edit" (the edit models, the default), "classify" or
    "ssl" (the validation tasks' models, whose cards say their ``task``), None: all."""
    out = {}
    for file in sorted(checkpoint_dir().glob("*.safetensors")):
        card_file = file.with_suffix(".json")
        if card_file.exists() and not file.name.endswith(".ood.safetensors"):
            card = _card(card_file)
            if task is None or card.get("task", "edit") == task:
                out[file.stem] = card
    return out


def baseline_dir_models() -> dict[str, dict]:
    """The shipped baselines (``checkpoints/baselines/<name>``, e.g. FlatMLPEditNet): ``{name: card}``."""
    folder = checkpoint_dir() / "baselines"
    return {f.stem: json.loads(f.with_suffix(".json").read_text()) for f in sorted(folder.glob("*.safetensors"))}


@functools.lru_cache(maxsize=16)
def _shipped(path: str, mtime_ns: int) -> nn.Module:
    return load_checkpoint(path)


def shipped_model(name: str, task: str | None = None) -> nn.Module:
    """:func:`load_model`, loaded once per file version and shared (do not train or change it)."""
    file = model_file(name, task)
    return _shipped(str(file.resolve()), file.stat().st_mtime_ns)


def load_model(name: str, task: str | None = None) -> nn.Module:
    """A shipped model by name (see ``available_models()``), or a checkpoint file by path (see :func:`model_file`;
    ``task``: whose shipped names an unknown name's error lists, all when None)."""
    return load_checkpoint(model_file(name, task))


def model_file(name: str, task: str | None = None) -> Path:
    """The checkpoint file of a shipped model's name or of a path (one with a folder or a suffix). Raises ValueError
    (one line) for a missing file, a file that is not .safetensors (pickled checkpoints such as .pt are never
    read) or an unknown name, listing the shipped models of ``task`` (``available_models(task)``)."""
    if not isinstance(name, (str, os.PathLike)):
        raise ValueError(f"model {name!r}: accepted a shipped model's name or a .safetensors path (the Python API "
                         "also takes a model loaded by dws_edit.load_model)")  # fmt: skip
    path = Path(name)
    if path.suffix or len(path.parts) > 1:
        if path.suffix != ".safetensors":
            raise ValueError(f"{name}: not a dws-edit checkpoint; accepted: a shipped model's name or a .safetensors "
                             "file of dws-edit (pickled files such as .pt are never loaded)")  # fmt: skip
        if not path.is_file():
            raise ValueError(f"{name} does not exist; accepted: a dws-edit .safetensors file or a shipped name")
        return path
    file = checkpoint_dir() / f"{name}.safetensors"
    if not file.exists():
        names = ", ".join(available_models(task)) or "none shipped"
        raise ValueError(f"no shipped model named {name!r}; accepted: a shipped name ({names}) or a checkpoint "
                         "file ending in .safetensors")  # fmt: skip
    return file


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
    if "task" in card:  # a validation task's model: its measured quality is its row of the runs' report
        card["quality"] = task_quality(run)
    target = checkpoint_dir() / ("baselines" if baseline else "") / f"{name}.safetensors"
    save_checkpoint(target, model, card.get("model_kwargs", {}), card, half=half or baseline)
    return target


def task_quality(run: Path) -> dict:
    """A validation task's run's measured quality: its row of the report that ``dws-edit eval <task>`` wrote beside
    it (``<run>/../results.json``), with the report's test data, the baselines' means and the command that measured
    it. Raises ValueError (one line) when the report is missing or lacks the run."""
    report_file = run.parent / "results.json"
    if not report_file.is_file():
        raise ValueError(f"{report_file} is missing; evaluate the runs first (dws-edit eval <task> --out {run.parent})")
    report = json.loads(report_file.read_text())
    identity = json.loads((run / "results.json").read_text())["identity"]
    rows = [
        r for r in report.get("runs", []) if (r["model"], r["seed"]) == (identity["model"], identity["loop"]["seed"])
    ]
    if not rows:
        raise ValueError(f"{report_file} does not report {run.name}; rerun dws-edit eval <task> --out {run.parent}")
    means = {m: {k: v["mean"] for k, v in metrics.items()} for m, metrics in report["summary"].items()}
    keep = ("zoo", "test_inrs", "loop_zoo", "loop_test_inrs")
    return {**rows[0], **{k: report[k] for k in keep if k in report}, "models_mean": means,
            "measured_by": report["command"]}  # fmt: skip


# ---------------------------------------------------------------------------------------------------- the card's
# ``accepts``: written here when a model is trained, matched here when a model is chosen for an INR, printed by the
# cards' index (dws_edit.bench.cards)


def accepts_of(spec: NetworkSpec) -> dict:
    """The card's ``accepts`` for a model trained on INRs of ``spec``: depth, d0, dL, activation, w0, output offset
    and the hidden widths it was trained on."""
    return {
        "depth": spec.num_layers,
        "d0": spec.layer_sizes[0],
        "dL": spec.layer_sizes[-1],
        "activation": spec.activation,
        "w0": spec.w0,
        "output_offset": spec.output_offset,
        "hidden_widths_trained": list(spec.hidden_sizes),
    }


def accepts(card: dict, spec: NetworkSpec) -> bool:
    """Whether the model of ``card`` accepts INRs of ``spec`` (the layers are width-agnostic: widths may differ)."""
    a = card["accepts"]
    mine = (spec.num_layers, spec.layer_sizes[0], spec.layer_sizes[-1], spec.activation, spec.w0, spec.output_offset)
    return mine == (a["depth"], a["d0"], a["dL"], a["activation"], a["w0"], a["output_offset"])


def describe_accepts(a: dict) -> str:
    """A card's ``accepts`` in one line: "2->[2 hidden layers of any width, trained at widths 32, 32]->1 sine w0=30.0
    offset 0.5"."""
    hidden = ", ".join(str(h) for h in a["hidden_widths_trained"])
    return (
        f"{a['d0']}->[{a['depth'] - 1} hidden layers of any width, trained at widths {hidden}]->{a['dL']} "
        f"{a['activation']} w0={a['w0']} offset {a['output_offset']}"
    )


def check_model_fits(net: nn.Module, label: str, edit: str, domain: str, spec: NetworkSpec) -> None:
    """A model given by the user (``edit(..., model=)``) must perform ``edit`` on ``domain`` INRs of ``spec`` by its
    card (a model without a card is trusted). Raises ValueError in one line naming ``label``."""
    card = getattr(net, "card", None)
    if not card or "edit" not in card:
        return
    if (card["edit"], card.get("domain")) != (edit, domain):
        fits = [m for m, c in available_models().items() if (c.get("edit"), c.get("domain")) == (edit, domain)]
        raise ValueError(
            f"model {label} performs {card['edit']!r} on {card.get('domain')} INRs, not {edit!r} on {domain} INRs; "
            f"accepted: {', '.join(fits) or 'none shipped'}"
        )
    if "accepts" in card and not accepts(card, spec):
        raise ValueError(
            f"model {label} accepts INRs {describe_accepts(card['accepts'])}; this INR is {spec.layer_sizes} "
            f"{spec.activation} w0={spec.w0} offset {spec.output_offset}"
        )


def accepted_spec(spec: NetworkSpec, edit: str) -> NetworkSpec:
    """``spec``, or where no shipped model for ``edit`` accepts it but one accepts the same SIREN at another w0 or
    output offset (an INR imported from another layout), that spec: the INR can be written there exactly
    (:func:`dws_edit.inr.siren.respec`)."""
    candidates = [c for c in available_models().values() if c.get("edit") == edit]
    if any(accepts(c, spec) for c in candidates) or spec.activation != "sine":
        return spec
    for card in candidates:
        a = card["accepts"]
        if (spec.num_layers, spec.layer_sizes[0], spec.layer_sizes[-1], a["activation"]) == (
            a["depth"], a["d0"], a["dL"], "sine"
        ):  # fmt: skip
            return NetworkSpec(spec.layer_sizes, "sine", a["w0"], a["output_offset"])
    return spec


def modes_of(card: dict) -> tuple[str, ...]:
    """The forms of its edit's target (``mode``: symmetrize's average, union, intersection) the model of ``card``
    was trained on: the card's ``modes``, else the edit's default form (every card written before modes existed);
    () for an edit without modes."""
    from dws_edit.edits import get_edit

    definition = get_edit(card["edit"], "learned")
    mode = definition.mode_param(card.get("domain") or definition.domains[0])
    return () if mode is None else tuple(card.get("modes") or (mode.default,))


def trained_fixed(card: dict) -> dict | None:
    """What the model of ``card`` was trained with fixed, for drawing its evaluation parameters as it was trained
    (``EditDef.sample(fixed=...)``): its ``mode`` where that is not the edit's default form (a union or intersection
    model), else None (the default form: drawn as it is without fixing anything)."""
    from dws_edit.edits import get_edit

    modes = modes_of(card)
    if not modes:
        return None
    definition = get_edit(card["edit"], "learned")
    default = definition.mode_param(card.get("domain") or definition.domains[0]).default
    return None if modes[0] == default else {"mode": modes[0]}


def requested_mode(definition, params: dict | None, domain: str) -> str | None:
    """The form of the target ``params`` ask for (its ``mode``, the default where not given), or None for an edit
    without modes. Raises ValueError (one line) for a bad value, or several modes in one batch."""
    mode = definition.mode_param(domain)
    if mode is None:
        return None
    given = (params or {}).get(mode.name, mode.default)
    index = mode.canonical(given, f"edit {definition.name!r} ({domain})").unique()
    if len(index) > 1:
        raise ValueError(f"edit {definition.name!r}: one {mode.name} per call; got {[mode.choices[i] for i in index]}")
    return mode.choices[int(index[0])]


def training_notes(card: dict | None, definition, params: dict | None, domain: str) -> tuple[str, str]:
    """What of a learned edit's request lies outside the model's training, each as one line ("" where nothing):
    ``(mode, ranges)``: a ``mode`` the model of ``card`` was not trained on (its pass is then only the start the
    never-worse guard refines toward the mode's target), and parameter values outside the ranges it sampled (the
    wide ones for a card with ``wide_params``; the pass extrapolates, the guard checks it). A model without a card
    (given by the user) is taken as trained on what it is asked. Raises ValueError as the edit's validation."""
    if not card or "edit" not in card:
        return "", ""
    mode, wanted = modes_of(card), requested_mode(definition, params, domain)
    name = card.get("name", card["edit"])
    mode_note = ""
    if wanted is not None and wanted not in mode:
        mode_note = (
            f"{name} was trained on mode {' | '.join(mode)}, not {wanted}: its pass is the start, refine steps (100 "
            f"unless asked) and the guard aim at the {wanted} target (train one: dws-edit train edit --recipe list)"
        )
    outside = definition.untrained(params, domain, wide=bool(card.get("wide_params")))
    ranges = f"{name}: {'; '.join(outside)}: the pass extrapolates, the guard checks it" if outside else ""
    return mode_note, ranges


def model_for(spec: NetworkSpec, edit: str, exact_form: str | None = None, params: dict | None = None) -> nn.Module:
    """The shipped model that performs the learned ``edit`` on INRs of ``spec`` (shared, eval mode); of those, one
    trained on the ``mode`` that ``params`` ask for (:func:`modes_of`) where there is one, then one whose trained
    ranges hold ``params`` (a ``wide_params`` model for a big box), else the first in name order
    (:func:`training_notes` says what lies outside its training).

    Raises ValueError (one line) listing the accepted specs when no shipped model accepts this spec, with a hint
    where only w0 or the offset differ and, for a 3-D INR, the refit. Warns when the hidden widths differ from
    those seen in training (the layers are width-agnostic; the model card gives the measured quality on other
    widths). ``exact_form``: the closed form named in the error when no model performs ``edit`` at all."""
    candidates = {m: c for m, c in available_models().items() if c.get("edit") == edit}
    if not candidates:
        exact = "; use exact=True for its closed form" if exact_form else ""
        raise ValueError(f"no shipped model performs the learned edit {edit!r}{exact}")
    if params:  # the models trained on what is asked first (a stable sort: otherwise in name order)
        from dws_edit.edits import get_edit

        definition, domain = get_edit(edit, "learned"), get_domain(spec).name
        outside = {m: training_notes(c, definition, params, domain) for m, c in candidates.items()}
        candidates = dict(sorted(candidates.items(), key=lambda item: tuple(map(bool, outside[item[0]]))))
    for model_name, card in candidates.items():
        if accepts(card, spec):
            trained = tuple(card["accepts"]["hidden_widths_trained"])
            if spec.hidden_sizes != trained:
                warnings.warn(
                    f"{model_name} was trained on hidden widths {trained}; this INR has {spec.hidden_sizes} "
                    "(accepted: the layers are width-agnostic; see the model card for quality on other widths)",
                    stacklevel=3,
                )
            return shipped_model(model_name)
    accepted = "; ".join(f"{m}: {describe_accepts(c['accepts'])}" for m, c in candidates.items())
    s = spec
    shape = (s.num_layers, s.layer_sizes[0], s.layer_sizes[-1])
    same_shape = any(shape == tuple(c["accepts"][k] for k in ("depth", "d0", "dL")) for c in candidates.values())
    hint = " (only w0 or the offset differ: an imported SIREN may need --output-offset / w0)" if same_shape else ""
    if get_domain(spec).has_surface:  # a 3-D INR of any width, depth and w0 is accepted once refitted
        hint += "; or refit=True (dws-edit edit --refit) to fit it anew at the models' spec first"
    raise ValueError(
        f"no shipped model for {edit!r} accepts INRs of spec {s.layer_sizes} ({s.activation}, w0={s.w0}, "
        f"offset {s.output_offset}); accepted: {accepted}{hint}"
    )


TASK_MODELS = {"classify": ("an INR classifier", "fmnist-classifier, mnist-classifier"),
               "adapt": ("a classifier adapter", "fmnist-adapter")}  # fmt: skip
"""The validation tasks whose models users run: what such a model is called, and the shipped names."""


def check_task_model(model: nn.Module, task: str, name: str, spec: NetworkSpec) -> dict:
    """``model``'s card, once it says the model is one of ``task`` (TASK_MODELS) and accepts networks of ``spec``;
    raises ValueError (one line, naming ``name`` and what is accepted) otherwise."""
    card = getattr(model, "card", None) or {}
    what, shipped = TASK_MODELS[task]
    if card.get("task") != task:
        raise ValueError(f"{name} is not {what} (task {card.get('task', card.get('edit'))!r}); accepted: {shipped} or "
                         f"a checkpoint of dws-edit train {task}")  # fmt: skip
    if not accepts(card, spec):
        raise ValueError(f"{name} accepts {describe_accepts(card['accepts'])}; this one is "
                         f"{'->'.join(map(str, spec.layer_sizes))} {spec.activation} w0={spec.w0} offset "
                         f"{spec.output_offset}")  # fmt: skip
    return card


@torch.no_grad()
def predict(model: torch.nn.Module, ws: WeightSpace, batch: int = 512) -> Tensor:
    """Class logits [B, classes] of INRs ``ws`` [B, 1, ...] in batches (the model in eval mode, float32)."""
    model.eval()
    return torch.cat([model(ws[lo : lo + batch]).float() for lo in range(0, ws.batch_size, batch)])


def label_inrs(model: torch.nn.Module, ws: WeightSpace, name: str = "the model") -> list[dict]:
    """The class of each INR of ``ws`` [B, 1, ...] by a trained classifier (its card's ``classes``): one dict per INR
    with ``class`` (index), ``label`` (name), ``probability`` (softmax, in [0, 1]) and ``count`` (B). Raises
    ValueError (one line) when ``model`` is not an INR classifier or does not accept INRs of this spec."""
    if not isinstance(ws, WeightSpace):
        raise ValueError(
            f"classify takes a WeightSpace of image INRs (dws_edit.load_inr, fit_image), not {type(ws).__name__}"
        )
    if ws.batch_size == 0 or ws.channels != 1:
        raise ValueError(
            f"classify takes INRs [B >= 1, 1 channel, ...]; got B = {ws.batch_size}, {ws.channels} channels"
        )
    ws.check_finite()
    card = check_task_model(model, "classify", name, ws.spec)
    probs = torch.softmax(predict(model, ws), -1)
    best = probs.argmax(-1)
    classes = card.get("classes") or [str(k) for k in range(probs.shape[1])]
    return [{"class": int(c), "label": classes[int(c)], "probability": float(probs[i, c]), "count": ws.batch_size}
            for i, c in enumerate(best)]  # fmt: skip
