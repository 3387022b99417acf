"""NeRF runs of the dws-nerf method (``ns-train dws-nerf``, :mod:`nerfstudio_plugin`) as INRs, without nerfstudio.

A run is nerfstudio's folder ``{output_dir}/{experiment_name}/dws-nerf/{timestamp}/`` holding ``config.yml`` and
``nerfstudio_models/step-{step:09d}.ckpt`` (a ``torch.save`` of ``{"step", "pipeline": state dict, ...}``). Its
field is a SIREN 3 -> hidden -> 4 of the ``field`` domain (:mod:`dws_edit.inr.domains`: density in [0, 1] and RGB;
``sigma`` of :func:`dws_edit.render.field_sigma`), stored as ``_model.field.layers.{i}.{weight,bias}`` in PyTorch's
``[d_out, d_in]`` layout: :func:`load_nerf` reads it as a :class:`~dws_edit.weights.WeightSpace` and
:func:`write_nerf_run` writes an edited one back as a new run that stock ``ns-render``, ``ns-eval`` and
``ns-viewer`` load (nerfstudio rebuilds the field from the config, so the config carries the new hidden widths).

Nothing in a run is executed or unpickled: config.yml is parsed into YAML nodes (``yaml.compose``; its
``!!python/object`` tags stay text and are written back as they were) and checkpoints are read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from dws_edit.records import atomic_folder
from dws_edit.weights import NetworkSpec, WeightSpace

METHOD = "dws-nerf"
"""The nerfstudio method whose runs hold a dws-edit field (registered by nerfstudio_plugin)."""
FIELD_KEY = "_model.field.layers.{i}.{what}"
"""Checkpoint key of the field's layer ``i`` (``what``: weight or bias) in a dws-nerf pipeline's state dict."""
MODELS_DIR = "nerfstudio_models"
RECORD = "dws_edit.json"
"""The record of an edited run (source run, edit, parameters, guard report), beside its config.yml."""

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_PATH = "tag:yaml.org,2002:python/object/apply:pathlib.PosixPath"


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _set_child(node: yaml.MappingNode, key: str, value: yaml.Node) -> None:
    for i, (k, _) in enumerate(node.value):
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            node.value[i] = (k, value)
            return
    node.value.append((yaml.ScalarNode(_STR, key), value))


def _scalar(node: yaml.Node | None) -> str | None:
    if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null" or node.value in ("", "null"):
        return None
    return node.value


def _path(node: yaml.Node | None) -> Path | None:
    """A pathlib path written by yaml.dump (``!!python/object/apply:pathlib.PosixPath`` with its parts), or None."""
    if isinstance(node, yaml.SequenceNode) and node.tag.endswith("Path"):
        parts = [n.value for n in node.value if isinstance(n, yaml.ScalarNode)]
        return Path(*parts) if parts else Path(".")
    return None


def _path_node(path: Path) -> yaml.SequenceNode:
    return yaml.SequenceNode(_PATH, [yaml.ScalarNode(_STR, p) for p in path.parts])


@dataclass
class NerfRun:
    """A dws-nerf run on disk: its config (YAML nodes), latest checkpoint and what they say about the field."""

    config_path: Path
    root: yaml.MappingNode
    checkpoint: Path
    step: int

    def node(self, *keys: str) -> yaml.Node | None:
        node = self.root
        for key in keys:
            node = _child(node, key)
        return node

    @property
    def model(self) -> yaml.Node | None:
        return self.node("pipeline", "model")

    @property
    def hidden(self) -> tuple[int, ...]:
        node = _child(self.model, "hidden")
        if not isinstance(node, yaml.SequenceNode):
            raise ValueError(f"{self.config_path}: pipeline.model.hidden is missing (a dws-nerf config has them)")
        return tuple(int(n.value) for n in node.value)

    def _float(self, key: str) -> float:
        value = _scalar(_child(self.model, key))
        if value is None:
            raise ValueError(f"{self.config_path}: pipeline.model.{key} is missing from this dws-nerf config")
        return float(value)

    @property
    def spec(self) -> NetworkSpec:
        """The field's INR spec: a SIREN 3 -> hidden -> 4 at the run's w0 (the ``field`` domain)."""
        return NetworkSpec((3, *self.hidden, 4), "sine", self._float("w0"), 0.0)

    @property
    def density_scale(self) -> float:
        return self._float("density_scale")

    @property
    def data(self) -> Path | None:
        """The dataset folder the run was trained on, as ns-train stored it (maybe relative to where it ran)."""
        return _path(self.node("pipeline", "datamanager", "data")) or _path(self.node("data"))

    @property
    def experiment_name(self) -> str:
        return _scalar(self.node("experiment_name")) or (self.data.name if self.data else "unnamed")

    @property
    def timestamp(self) -> str:
        return _scalar(self.node("timestamp")) or "run"


def find_run(path: str | Path) -> NerfRun:
    """The dws-nerf run at ``path`` (its folder or its config.yml), with its latest checkpoint (the highest
    ``step-*.ckpt`` in ``nerfstudio_models/`` beside config.yml). Raises ValueError (one line) naming what is missing
    or wrong: no config.yml, a config that is not nerfstudio's, a run of another method (the supported one is
    dws-nerf), no checkpoint."""
    path = Path(path)
    config = path / "config.yml" if path.is_dir() else path
    if not config.is_file():
        raise ValueError(f"{path}: no such run config (a nerfstudio run folder holds config.yml, written by ns-train)")
    try:
        root = yaml.compose(config.read_text(), Loader=yaml.SafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(f"{config}: not a nerfstudio config.yml ({str(err).splitlines()[0]})") from None
    method = _scalar(_child(root, "method_name"))
    if method is None:
        raise ValueError(f"{config}: not a nerfstudio config.yml (no method_name)")
    if method != METHOD:
        raise ValueError(f"{config}: a run of nerfstudio's {method}; supported: {METHOD} (train one with ns-train "
                         f"{METHOD}; other methods' fields are not SIRENs a DWS model can edit)")  # fmt: skip
    models = config.parent / (_scalar(_child(root, "relative_model_dir")) or MODELS_DIR)
    steps = {}
    for ckpt in models.glob("step-*.ckpt") if models.is_dir() else ():
        try:
            steps[int(ckpt.name[len("step-") : -len(".ckpt")])] = ckpt
        except ValueError:
            continue
    if not steps:
        raise ValueError(f"{config}: no checkpoint in {models} (a finished ns-train run writes step-*.ckpt there)")
    step = max(steps)
    return NerfRun(config, root, steps[step], step)


def _pipeline_state(run: NerfRun) -> dict:
    try:
        checkpoint = torch.load(run.checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # an unreadable or foreign file: one line, nothing unpickled
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{run.checkpoint}: not a readable nerfstudio checkpoint ({why})") from None
    state = checkpoint.get("pipeline") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{run.checkpoint}: not a nerfstudio checkpoint (no pipeline state)")
    return state


def load_nerf(run: str | Path | NerfRun) -> WeightSpace:
    """The field of a dws-nerf run (its folder or config.yml) as ONE field INR ``[1, 1, ...]`` of spec 3 -> hidden
    -> 4, ready for :func:`dws_edit.edit`. Raises ValueError (one line) for what :func:`find_run` refuses, and for a
    checkpoint whose field does not match its config's widths."""
    run = run if isinstance(run, NerfRun) else find_run(run)
    state, spec = _pipeline_state(run), run.spec
    weights, biases = [], []
    for i, ((o, n), (ob,)) in enumerate(zip(spec.weight_shapes, spec.bias_shapes)):
        for what, shape, into in (("weight", (o, n), weights), ("bias", (ob,), biases)):
            key = FIELD_KEY.format(i=i, what=what)
            t = state.get(key)
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
                found = "missing" if t is None else f"of shape {tuple(getattr(t, 'shape', ()))}"
                raise ValueError(f"{run.checkpoint}: {key} is {found}; the config's field {spec.layer_sizes} needs "
                                 f"{list(shape)}")  # fmt: skip
            into.append(t.detach().float()[None, None])
    expected = {FIELD_KEY.format(i=i, what=w) for i in range(spec.num_layers) for w in ("weight", "bias")}
    if extra := sorted(k for k in state if k.startswith("_model.field.") and k not in expected):
        raise ValueError(f"{run.checkpoint}: {extra[0]} is not part of the config's field {spec.layer_sizes}")
    return WeightSpace(spec, tuple(weights), tuple(biases))


def run_folder(out_root: Path, experiment_name: str, timestamp: str) -> Path:
    """Where nerfstudio keeps a run: ``{output_dir}/{experiment_name}/dws-nerf/{timestamp}``."""
    return Path(out_root) / experiment_name / METHOD / timestamp


def write_nerf_run(
    source: NerfRun,
    ws: WeightSpace,
    out_root: str | Path,
    experiment_name: str,
    timestamp: str,
    data: Path,
    record: dict,
    overwrite: bool = False,
) -> Path:
    """Write ``ws`` (ONE field INR) as a new dws-nerf run: the source's config with the field's hidden widths,
    ``output_dir`` (absolute), experiment name, timestamp and dataset (``data``, absolute) set, and a checkpoint of
    the source's step whose pipeline state is the source's with the field replaced (exactly the keys the rebuilt
    model has: nerfstudio's loader refuses others). ``record`` goes to ``dws_edit.json`` beside config.yml. Atomic
    (:func:`dws_edit.records.atomic_folder`); an existing run folder is replaced only with ``overwrite``, and only
    if it is a run (holds config.yml). Returns the new config.yml. Raises ValueError (one line) otherwise."""
    if ws.batch_size != 1 or ws.channels != 1 or ws.spec.layer_sizes[0] != 3 or ws.spec.layer_sizes[-1] != 4:
        raise ValueError(f"a dws-nerf run holds ONE field INR 3 -> ... -> 4; got {ws.batch_size} of "
                         f"{ws.spec.layer_sizes}")  # fmt: skip
    if ws.spec.activation != "sine" or ws.spec.output_offset != 0 or ws.spec.w0 != source.spec.w0:
        raise ValueError(f"the field's spec {ws.spec.to_dict()} is not the run's SIREN (w0 {source.spec.w0}, no "
                         "offset)")  # fmt: skip
    out = run_folder(Path(out_root).resolve(), experiment_name, timestamp)
    if out.exists() and not (out / "config.yml").is_file() and any(out.iterdir()):
        raise ValueError(f"{out}: exists and is not a nerfstudio run (no config.yml); choose another output")
    if out.exists() and not overwrite:
        raise ValueError(f"{out}: exists; choose another --output-dir or --timestamp, or add --overwrite")
    if out.resolve() == source.config_path.parent.resolve():
        raise ValueError(f"{out}: is the source run; an edit never overwrites the run it reads")
    state = {k: v for k, v in _pipeline_state(source).items() if not k.startswith("_model.field.layers.")}
    for i, (w, b) in enumerate(zip(ws.weights, ws.biases)):
        state[FIELD_KEY.format(i=i, what="weight")] = w[0, 0].detach().float().contiguous().clone()
        state[FIELD_KEY.format(i=i, what="bias")] = b[0, 0].detach().float().contiguous().clone()
    root = copy.deepcopy(source.root)
    model = _child(_child(root, "pipeline"), "model")
    widths = [yaml.ScalarNode(_INT, str(h)) for h in ws.spec.hidden_sizes]
    _set_child(model, "hidden", yaml.SequenceNode("tag:yaml.org,2002:python/tuple", widths))
    _set_child(root, "output_dir", _path_node(Path(out_root).resolve()))
    _set_child(root, "experiment_name", yaml.ScalarNode(_STR, experiment_name))
    _set_child(root, "timestamp", yaml.ScalarNode(_STR, timestamp))
    _set_child(root, "relative_model_dir", _path_node(Path(MODELS_DIR)))
    _set_child(root, "load_dir", yaml.ScalarNode("tag:yaml.org,2002:null", "null"))
    data = Path(data).resolve()
    for holder in (root, _child(_child(root, "pipeline"), "datamanager"),
                   _child(_child(_child(root, "pipeline"), "datamanager"), "dataparser")):  # fmt: skip
        if isinstance(holder, yaml.MappingNode) and _child(holder, "data") is not None:
            _set_child(holder, "data", _path_node(data))
    text = yaml.serialize(root, Dumper=yaml.SafeDumper)
    with atomic_folder(out, overwrite) as tmp:
        (tmp / MODELS_DIR).mkdir()
        torch.save({"step": source.step, "pipeline": state}, tmp / MODELS_DIR / f"step-{source.step:09d}.ckpt")
        (tmp / "config.yml").write_text(text)
        for extra in ("dataparser_transforms.json",):
            if (source.config_path.parent / extra).is_file():
                (tmp / extra).write_bytes((source.config_path.parent / extra).read_bytes())
        (tmp / RECORD).write_text(json.dumps(record, indent=1, default=str))
    return out / "config.yml"


__all__ = ["FIELD_KEY", "METHOD", "NerfRun", "find_run", "load_nerf", "run_folder", "write_nerf_run"]
