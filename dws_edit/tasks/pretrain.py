"""Pretraining for the edit models (``dws-edit train edit --init-encoder``): start an edit model's DWS layers from an
encoder trained by a validation task (``dws-edit train classify`` or ``ssl``), the DWSNets paper's claim that its
encoders learn features of weight space worth transferring.

The encoder's stack of DWS layers (``DWSEncoder.blocks``: ``depth`` equivariant layers, 1 -> hidden -> ... ->
hidden channels) is copied into the edit model's first ``depth`` layers; the edit model's own parts keep their fresh
start: the conditioning maps of the edit's parameters, the output layer (hidden -> outputs channels), the probe
features, the residual's scales and the weight statistics (the edit's zoo's).
"""

from __future__ import annotations

from pathlib import Path

from dws_edit.io import sha256_hex
from dws_edit.nn import DWSEditNet, EditNet
from dws_edit.nn.encoders import DWSEncoder
from dws_edit.records import git_revision
from dws_edit.weights import NetworkSpec


def load_encoder(name: str | Path, flag: str = "--init-encoder") -> DWSEncoder:
    """The DWS encoder ``name`` (a shipped model's name, e.g. fmnist-classifier, or a .safetensors checkpoint of
    dws-edit train classify or ssl). Raises ValueError (one line, naming ``flag``) for anything else."""
    from dws_edit.checkpoints import load_checkpoint, model_file

    try:
        source = load_checkpoint(model_file(str(name)))
    except ValueError as err:  # the message names the file already, or not
        raise ValueError(f"{flag} {err}" if str(err).startswith(str(name)) else f"{flag} {name}: {err}") from None
    if not isinstance(source, DWSEncoder):
        raise ValueError(f"{flag} {name}: a {type(source).__name__}; accepted: a DWS encoder of dws-edit train "
                         "classify or ssl (e.g. fmnist-classifier)")  # fmt: skip
    return source


def check_encoder_fits(source: DWSEncoder, name: str | Path, spec: NetworkSpec, hidden: int, depth: int,
                       gradient: bool = False, flag: str = "--init-encoder") -> None:  # fmt: skip
    """Raises ValueError (one line, naming ``flag`` and the options to give) unless the encoder's DWS layers fit an
    edit model of ``hidden`` channels and ``depth`` layers (one input channel: no ``gradient``) for INRs of
    ``spec``: the same input and output widths and depth of INR (hidden widths may differ)."""
    ends = [(s.layer_sizes[0], s.layer_sizes[-1], s.num_layers) for s in (spec, source.spec)]
    if ends[0] != ends[1]:
        mine, theirs = ("->".join(map(str, s.layer_sizes)) for s in (spec, source.spec))
        raise ValueError(f"{flag} {name}: an encoder of INRs {theirs}; this zoo's INRs are {mine} (accepted: an "
                         "encoder trained on INRs of the same input and output widths and depth)")  # fmt: skip
    layers = source.blocks.layers
    channels = layers[0].out_channels
    if hidden != channels or gradient or depth < len(layers):
        raise ValueError(f"{flag} {name}: an encoder of {len(layers)} DWS layers x {channels} channels taking the "
                         f"weights alone; accepted: --hidden {channels}, --depth {len(layers)} or more, no --gradient "
                         f"(given --hidden {hidden}, --depth {depth}{', --gradient' if gradient else ''})")  # fmt: skip


def start_from_encoder(model: EditNet, name: str | Path, init: Path | None = None) -> dict:
    """Copy the DWS layers of the encoder ``name`` (:func:`load_encoder`) into ``model``'s first layers (see the
    module's docstring; :func:`check_encoder_fits` says what fits). Returns the record the new model's card keeps
    (``started_from``: the file, its SHA-256, the command that trained it, the tensors copied). Raises ValueError
    (one line) for an encoder that does not fit, with ``init`` (an --init checkpoint as well), or for a model that
    is not a DWSEditNet."""
    from dws_edit.checkpoints import model_file

    if not isinstance(model, DWSEditNet):
        raise ValueError(f"--init-encoder {name}: starts the DWS edit model; accepted: --model dws")
    if init is not None:
        raise ValueError(f"--init-encoder {name} and --init {init}: give one (--init resumes a trained edit model)")
    source, own = load_encoder(name), model.blocks.layers
    check_encoder_fits(source, name, model.spec, own[0].out_channels, len(own) - 1, model.gradient)
    copied = 0
    for i, layer in enumerate(source.blocks.layers):
        state = layer.state_dict()
        model.blocks.layers[i].load_state_dict(state, strict=False)
        copied += sum(v.numel() for v in state.values())
    path = model_file(str(name))
    return {"checkpoint": str(path), "sha256": sha256_hex(path.read_bytes()), "encoder": True,
            "command": source.card.get("command"), "git": git_revision(), "layers": len(source.blocks.layers),
            "params_copied": copied}  # fmt: skip
