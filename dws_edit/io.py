"""The one file format of dws-edit: safetensors with a JSON header, written atomically, read safely.

Zoo shards, shipped checkpoints and INR files all go through here. A file is a plain safetensors file
(https://github.com/huggingface/safetensors: a little-endian u64 header length, a JSON header, raw
tensor bytes); its ``__metadata__`` holds string values, and dws-edit stores JSON-encoded values
there (``spec``, ``edit``, ``card``, ...). Nothing is ever unpickled.

Every error is a ``ValueError`` whose one line names the file and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from dws_edit.records import atomic_write_bytes

ACCEPTED_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.bool)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump_bytes(tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """Serialize tensors (made contiguous, on the CPU) and string metadata to safetensors bytes."""
    bad = {k: type(v).__name__ for k, v in (metadata or {}).items() if not isinstance(v, str)}
    if bad:
        raise TypeError(f"safetensors metadata values must be str; got {bad} (JSON-encode them)")
    data = st_save({k: t.detach().cpu().contiguous() for k, t in tensors.items()}, metadata=metadata)
    return _canonical_metadata(data) if metadata and len(metadata) > 1 else data


def _canonical_metadata(data: bytes) -> bytes:
    """The same safetensors bytes with the ``__metadata__`` keys sorted. safetensors writes them in the order of a
    Rust HashMap, which changes from process to process; sorted, the same tensors and metadata give the same bytes
    (and checksum) in every run. The header is rewritten as safetensors writes it: compact JSON, padded with
    spaces to 8 bytes."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + size :]


def write_file(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> str:
    """Write a safetensors file atomically (a temporary name, then a rename); returns its sha256."""
    data = dump_bytes(tensors, metadata)
    atomic_write_bytes(path, data)
    return sha256_hex(data)


def read_metadata(data: bytes, name: str | Path = "<bytes>") -> dict[str, str]:
    """The ``__metadata__`` of serialized safetensors bytes, without reading the tensors."""
    if len(data) < 8:  # fmt: skip
        raise ValueError(
            f"{name}: {len(data)} bytes is shorter than a safetensors header: truncated, or not safetensors"
        )
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError(
            f"{name}: its header claims {size} bytes but the file holds {len(data) - 8}: truncated, or not a "
            "safetensors file"
        )
    try:
        header = json.loads(data[8 : 8 + size])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{name}: the safetensors header is not JSON: not a safetensors file, or corrupt") from None
    if not isinstance(header, dict):
        raise ValueError(f"{name}: the safetensors header is not a JSON object")
    meta = header.get("__metadata__") or {}
    return {k: v for k, v in meta.items() if isinstance(v, str)}


def load_bytes(
    data: bytes, name: str | Path = "<bytes>", sha256: str | None = None, finite: bool = False
) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Parse safetensors bytes into ``(tensors, metadata)``.

    ``sha256``: the checksum the bytes must have (e.g. from a zoo manifest). ``finite``: refuse
    floating-point tensors holding NaN or Inf. Raises ValueError naming ``name`` for a wrong checksum,
    a truncated or corrupt file, a dtype outside ``ACCEPTED_DTYPES`` or non-finite values.
    """
    if sha256 is not None and sha256_hex(data) != sha256:
        raise ValueError(f"{name} does not match its recorded sha256 checksum: truncated or corrupt")
    meta = read_metadata(data, name)
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{name} is not a readable safetensors file ({first})") from None
    for key, t in tensors.items():
        if t.dtype not in ACCEPTED_DTYPES:
            accepted = ", ".join(str(d).removeprefix("torch.") for d in ACCEPTED_DTYPES)
            raise ValueError(f"{name}: tensor {key!r} has dtype {t.dtype}; accepted: {accepted}")
        if finite and t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"{name}: tensor {key!r} holds NaN or Inf values; weights must be finite")
    return tensors, meta


def read_file(
    path: str | Path, sha256: str | None = None, finite: bool = False
) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read a safetensors file into ``(tensors, metadata)``; see ``load_bytes`` for the checks."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    return load_bytes(path.read_bytes(), path, sha256, finite)


def json_field(meta: dict[str, str], key: str, name: str | Path, expected: str = "a JSON value"):
    """Decode the JSON-encoded metadata entry ``key``; a missing or invalid one is a one-line error."""
    if key not in meta:
        raise ValueError(f"{name}: the header has no {key!r} entry ({expected}); not a file dws-edit wrote?")
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError:
        raise ValueError(f"{name}: the header entry {key!r} is not valid JSON ({expected})") from None
