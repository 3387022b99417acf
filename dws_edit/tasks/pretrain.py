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


def start_from_encoder(model: EditNet, path: Path, init: Path | None = None) -> dict:
    """Copy the DWS layers of the encoder checkpoint at ``path`` into ``model``'s first layers (see the module's
    docstring). The encoder must take INRs of the model's input and output widths and depth (its hidden widths may
    differ: DWS layers do not depend on them) and have the model's channels (``--hidden``; ``--depth`` at least the
    encoder's). Returns the record the new model's card keeps (``started_from``: the file, its SHA-256, the command
    that trained it, the tensors copied). Raises ValueError naming the file and what differs, or for ``init``
    (an --init checkpoint as well) or a model that is not a DWSEditNet."""
    from dws_edit.checkpoints import load_checkpoint

    if init is not None or not isinstance(model, DWSEditNet):
        raise ValueError(f"--init-encoder {path}: starts a new DWS edit model (--model dws), not with --init {init}")
    source = load_checkpoint(path)
    if not isinstance(source, DWSEncoder):
        raise ValueError(f"--init-encoder {path}: a {type(source).__name__}; accepted: a DWS encoder of dws-edit "
                         "train classify or ssl (e.g. checkpoints/fmnist-classifier.safetensors)")  # fmt: skip
    ends = [(s.layer_sizes[0], s.layer_sizes[-1], s.num_layers) for s in (model.spec, source.spec)]
    if ends[0] != ends[1]:
        mine, theirs = ("->".join(map(str, s.layer_sizes)) for s in (model.spec, source.spec))
        raise ValueError(f"--init-encoder {path}: an encoder of INRs {theirs}; this zoo's INRs are {mine} "
                         "(accepted: the same input and output widths and depth)")  # fmt: skip
    layers = source.blocks.layers
    if len(layers) >= len(model.blocks.layers):
        raise ValueError(f"--init-encoder {path}: {len(layers)} DWS layers; this model has {len(model.blocks.layers)} "
                         f"with its output layer (accepted: --depth {len(layers)} or more)")  # fmt: skip
    copied = 0
    for i, layer in enumerate(layers):
        own = model.blocks.layers[i].state_dict()
        state = {k: v for k, v in layer.state_dict().items() if k in own}
        bad = sorted(k for k, v in state.items() if own[k].shape != v.shape)
        if bad:
            raise ValueError(f"--init-encoder {path}: its layer {i} has other channels than this model's ({bad[0]}: "
                             f"{tuple(state[bad[0]].shape)} against {tuple(own[bad[0]].shape)}); accepted: the "
                             "encoder's --hidden, and no --gradient (a second input channel)")  # fmt: skip
        model.blocks.layers[i].load_state_dict(state, strict=False)
        copied += sum(v.numel() for v in state.values())
    return {"checkpoint": str(path), "sha256": sha256_hex(Path(path).read_bytes()), "encoder": True,
            "command": source.card.get("command"), "git": git_revision(), "layers": len(layers),
            "params_copied": copied}  # fmt: skip
