"""INR files: one or more INRs of one spec in a safetensors file, with the spec and edit history.

A file holds the tensors ``layers.{i}.weight`` [B, 1, d_{i+1}, d_i] and ``layers.{i}.bias``
[B, 1, d_{i+1}] (``WeightSpace.to_state_dict``) and a header (safetensors ``__metadata__``) with

    format        "dws-edit-inr"
    version       "1"
    spec          NetworkSpec.to_json(): layer sizes, activation, w0, output offset
    edit_history  JSON list of dicts, one per edit applied so far (oldest first)

Written and read through ``dws_edit.io`` (atomic write, nothing unpickled). Every refusal is a
one-line ValueError naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import Tensor

from dws_edit import io
from dws_edit.weights import NetworkSpec, WeightSpace

INR_FORMAT = "dws-edit-inr"
INR_VERSION = 1


def save_inr(path: str | Path, ws: WeightSpace, edit_history: list[dict] | None = None) -> str:
    """Write the INRs ``ws`` (B >= 0 networks, channel count 1) to ``path`` atomically; returns the sha256.

    ``edit_history``: JSON-serialisable dicts describing the edits applied so far (oldest first).
    An existing file at ``path`` is replaced only once the new one is complete. Raises ValueError for
    a WeightSpace of feature channels (C != 1), non-float or non-finite weights, or a history that is
    not a JSON list of dicts, and a path not ending in ``.safetensors`` (an INR file is safetensors, whatever its
    name: a state dict for other SIREN code, .pt/.pth, is written by :func:`dws_edit.inr.exports.save_siren`).
    """
    path = Path(path)
    if path.suffix.lower() != ".safetensors" and not path.is_dir():  # (a folder: refused below, as a folder)
        raise ValueError(
            f"{path}: INR files are written as .safetensors; accepted: a path ending in .safetensors (state dicts "
            "for other SIREN code, .pt/.pth: dws_edit.inr.save_siren)"
        )
    if not isinstance(ws, WeightSpace):
        raise ValueError(f"{path}: save_inr takes a WeightSpace, not {type(ws).__name__}")
    if ws.channels != 1:
        raise ValueError(f"{path}: INR files hold raw weights (C = 1); this WeightSpace has {ws.channels} channels")
    if not ws.dtype.is_floating_point:
        raise ValueError(f"{path}: weights of dtype {ws.dtype}; INR weights must be floating point")
    try:
        ws.check_finite()
    except ValueError as err:
        raise ValueError(f"{path}: not saved: {err}") from None
    history = [] if edit_history is None else edit_history
    if not isinstance(history, list) or not all(isinstance(e, dict) for e in history):
        raise ValueError(f"{path}: edit_history must be a list of dicts, got {type(history).__name__}")
    try:
        history_json = json.dumps(history, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: edit_history is not JSON-serialisable ({err})") from None
    meta = {
        "format": INR_FORMAT,
        "version": str(INR_VERSION),
        "spec": ws.spec.to_json(),
        "edit_history": history_json,
    }
    return io.write_file(path, ws.detach().to_state_dict(), meta)


def read_inr(path: str | Path) -> tuple[WeightSpace, dict]:
    """Read an INR file: ``(ws, header)``, ``ws`` float32 on the CPU with B >= 0 networks.

    ``header``: {"format", "version" (int), "spec" (dict), "edit_history" (list of dicts)}. Tensors of
    one network without batch axes ([o, n] and [o]) are accepted as B = 1. Raises ValueError naming
    the file when it is missing, not safetensors (e.g. a torch.save pickle), truncated or corrupt, of
    another kind (a zoo shard, a checkpoint), of a newer version, without a valid spec, with tensors
    that do not match the spec, of a non-float dtype, or holding NaN/Inf.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    data = path.read_bytes()
    if not looks_like_safetensors(data):
        if data[:4] == b"PK\x03\x04" or data[:1] == b"\x80":
            raise ValueError(
                f"{path} is a torch.save (pickle) file, not an INR file; import SIREN state dicts with "
                "`dws-edit inr import` (Python: import_siren)"
            )
        if len(data) >= 9 and data[8:9] != b"{":
            raise ValueError(f"{path} is not a safetensors file; INR files are written by save_inr")
    tensors, meta = io.load_bytes(data, path, finite=True)
    kind = meta.get("format")
    if kind != INR_FORMAT:
        what = "a zoo shard" if "shard" in meta else "a checkpoint" if "card" in meta else "not a dws-edit INR file"
        raise ValueError(f"{path} is {what} (header format {kind!r}); INR files have format {INR_FORMAT!r}")
    try:
        version = int(meta.get("version", ""))
    except ValueError:
        raise ValueError(f"{path}: header version {meta.get('version')!r} is not an integer") from None
    if version > INR_VERSION:
        raise ValueError(f"{path}: INR file version {version} is newer than this dws-edit reads ({INR_VERSION})")
    spec_dict = io.json_field(meta, "spec", path, "a NetworkSpec")
    try:
        spec = NetworkSpec.from_dict(spec_dict)
    except (TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{path}: the header's spec is not a valid NetworkSpec ({err})") from None
    history = io.json_field(meta, "edit_history", path, "a list of edits") if "edit_history" in meta else []
    if not isinstance(history, list) or not all(isinstance(e, dict) for e in history):
        raise ValueError(f"{path}: the header's edit_history is not a list of dicts")
    ws = _weight_space(tensors, spec, path)
    header = {"format": kind, "version": version, "spec": spec.to_dict(), "edit_history": history}
    return ws, header


def load_inr(path: str | Path) -> WeightSpace:
    """The INRs of an INR file (see ``read_inr`` for what is accepted and the errors raised)."""
    return read_inr(path)[0]


def looks_like_safetensors(data: bytes, size: int | None = None) -> bool:
    """Whether ``data`` (the start of a file of ``size`` bytes) is safetensors: a u64 header length that
    fits in the file, then a JSON object."""
    size = len(data) if size is None else size
    return len(data) >= 9 and 8 + int.from_bytes(data[:8], "little") <= size and data[8:9] == b"{"


def _weight_space(tensors: dict[str, Tensor], spec: NetworkSpec, path: Path) -> WeightSpace:
    expected = {f"layers.{i}.{name}" for i in range(spec.num_layers) for name in ("weight", "bias")}
    extra, missing = sorted(set(tensors) - expected), sorted(expected - set(tensors))
    if extra or missing:
        detail = f"unexpected {extra[:3]}" if extra else f"missing {missing[:3]}"
        raise ValueError(
            f"{path}: tensors do not match spec {spec.layer_sizes} ({detail}); expected layers.0..{spec.num_layers - 1}"
        )
    for key, t in tensors.items():
        if not t.is_floating_point():
            raise ValueError(f"{path}: tensor {key!r} has dtype {t.dtype}; INR weights must be floating point")
    unbatched = tensors["layers.0.weight"].dim() == 2
    ws, bs = [], []
    for i, (o, n) in enumerate(spec.weight_shapes):
        w, b = tensors[f"layers.{i}.weight"].float(), tensors[f"layers.{i}.bias"].float()
        if unbatched and w.dim() == 2 and b.dim() == 1:
            w, b = w[None, None], b[None, None]
        ok = w.dim() == 4 and b.dim() == 3 and tuple(w.shape[1:]) == (1, o, n) and tuple(b.shape[1:]) == (1, o)
        if not ok or w.shape[0] != b.shape[0]:
            raise ValueError(
                f"{path}: layer {i} has weight {tuple(w.shape)} and bias {tuple(b.shape)}; spec {spec.layer_sizes} "
                f"expects [B, 1, {o}, {n}] and [B, 1, {o}] (or [{o}, {n}] and [{o}] for one network)"
            )
        ws.append(w)
        bs.append(b)
    try:
        return WeightSpace(spec, tuple(ws), tuple(bs))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


__all__ = ["INR_FORMAT", "INR_VERSION", "load_inr", "read_inr", "save_inr"]
