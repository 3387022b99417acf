"""Export dws-edit SIRENs as plain PyTorch state dicts of other SIREN code: the way back out of ``import_siren``.

Every layout ``import_siren`` reads (``SIREN_FORMATS``) is written, with the keys that project's module has, so
``model.load_state_dict(sd, strict=True)`` works on a model built the way that project builds it:

    siren-pytorch      SirenNet(dim_in, dim_hidden, dim_out, num_layers=L-1): layers.{i}.*, last_layer.*;
                       w0_initial=30, w0=1
    vsitzmann          Siren(in, hidden, hidden_layers=L-2, out, outermost_linear=True): net.{i}.linear.*
                       and net.{L-1}.*; first_omega_0=30, hidden_omega_0=30
    vsitzmann-fcblock  SingleBVPNet(type='sine', num_hidden_layers=L-2): net.net.{i}.0.* (an FCBlock on its
                       own: strip the first "net."); sin(30 x)
    dwsnets            INR(in_dim, n_layers=L, up_scale=hidden/in_dim, out_channels): seq.{i}.*; Siren w0=30,
                       output + 0.5
    sequential         nn.Sequential(Linear, Sine, Linear, Sine, ..., Linear): {2i}.*; sin(30 x) unless given

dws-edit's SIREN computes ``sin(w0 (W h + b))`` with ONE w0 (``spec.w0``) in every hidden layer, then a linear
last layer plus ``spec.output_offset``. The export folds the spec's w0 into each layer for the w0 that layer has
in the target code (the reverse of the import, exact up to float rounding):

    sin(w0 (W h + b)) = sin(w0_i (W' h + b'))   with   W' = (w0 / w0_i) W,  b' = (w0 / w0_i) b,

and the difference between the spec's output offset and the constant the target code adds (0.5 for DWSNets,
0 for the others) goes into the last bias. The layouts whose modules take one hidden width (all but
"sequential") refuse SIRENs with hidden layers of different widths; DWSNets also needs the width to be a
multiple of the input dimension (hidden = in_dim * up_scale).

Files (``save_siren``): .pt/.pth hold ``torch.save`` of the plain dict of tensors, which
``torch.load(path, weights_only=True)`` reads (so does ``import_siren``); .safetensors the same tensors with the
format and its w0s in the header. One file per INR: a batch of B > 1 INRs goes to ``NAME-0.pt``, ``NAME-1.pt``, ...
(zero-padded), since each file is one model's state dict.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import torch
from torch import Tensor

from dws_edit import io
from dws_edit.inr.imports import SIREN_FORMATS
from dws_edit.records import atomic_write_bytes
from dws_edit.weights import WeightSpace

EXPORT_SUFFIXES = (".pt", ".pth", ".safetensors")


@dataclass(frozen=True)
class _Layout:
    """Where layer ``i`` of ``n`` goes (the key prefix of its weight and bias) and what widths the module allows."""

    prefix: Callable[[int, int], str]
    one_hidden_width: bool = True
    hidden_multiple_of_input: bool = False


_LAYOUTS: dict[str, _Layout] = {
    "siren-pytorch": _Layout(lambda i, n: "last_layer" if i == n - 1 else f"layers.{i}"),
    "vsitzmann": _Layout(lambda i, n: f"net.{i}" if i == n - 1 else f"net.{i}.linear"),
    "vsitzmann-fcblock": _Layout(lambda i, n: f"net.net.{i}.0"),
    "dwsnets": _Layout(lambda i, n: f"seq.{i}", hidden_multiple_of_input=True),
    "sequential": _Layout(lambda i, n: f"{2 * i}", one_hidden_width=False),
}


def export_siren(
    ws: WeightSpace,
    format: str,
    *,
    w0_first: float | None = None,
    w0_hidden: float | None = None,
    output_offset: float | None = None,
) -> list[dict[str, Tensor]]:
    """The SIRENs ``ws`` as plain state dicts of another code's layout: one ``{key: tensor}`` per INR of the batch.

    ``ws``: a WeightSpace of raw weights (C = 1; weights[i] [B, 1, d_{i+1}, d_i], biases [B, 1, d_{i+1}]) of a
    sine spec with at least one hidden layer. ``format``: one of ``SIREN_FORMATS`` (see the module docstring for
    the keys and the module each one loads into). ``w0_first`` / ``w0_hidden``: the w0 of the target model's
    first / later sine layers, ``output_offset``: the constant it adds to its output (None: the format's
    defaults, as in ``import_siren``; pass the same values to ``import_siren`` to read the dicts back).
    Returns B dicts of CPU tensors of ``ws``'s dtype: weights [d_{i+1}, d_i], biases [d_{i+1}], in the units
    of the target layout (coordinates and outputs unchanged: the model computes what ``evaluate(ws[b])`` does).
    Raises ValueError (one line) for an unknown format, C != 1, a non-float dtype, a non-sine spec, no hidden
    layer, hidden widths the layout cannot build, a w0 that is not finite and > 0, a non-finite offset, or
    non-finite weights.
    """
    if format not in _LAYOUTS:
        raise ValueError(f"format {format!r} is not one of {list(_LAYOUTS)}")
    if not isinstance(ws, WeightSpace):
        raise ValueError(f"export_siren takes a WeightSpace, not {type(ws).__name__}")
    spec, fmt, layout = ws.spec, SIREN_FORMATS[format], _LAYOUTS[format]
    if ws.channels != 1:
        raise ValueError(f"export_siren takes raw weights (C = 1); this WeightSpace has {ws.channels} channels")
    if not ws.dtype.is_floating_point:
        raise ValueError(f"weights of dtype {ws.dtype}; SIREN weights must be floating point")
    if spec.activation != "sine":
        raise ValueError(f"activation {spec.activation!r}: the {format} layout holds SIRENs; accepted: 'sine'")
    if spec.num_layers < 2:
        raise ValueError(f"spec {spec.layer_sizes} has no hidden layer; a SIREN has at least one sine layer")
    _check_widths(spec.layer_sizes, format, layout)
    w0_first = fmt.w0_first if w0_first is None else w0_first
    w0_hidden = fmt.w0_hidden if w0_hidden is None else w0_hidden
    offset = fmt.output_offset if output_offset is None else output_offset
    for label, v in (("w0_first", w0_first), ("w0_hidden", w0_hidden)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{label}={v!r}: a SIREN's w0 must be a finite number > 0")
    if not (isinstance(offset, (int, float)) and math.isfinite(offset)):
        raise ValueError(f"output_offset={offset!r}: expected a finite number")
    ws.check_finite()
    n = spec.num_layers
    out: list[dict[str, Tensor]] = [{} for _ in range(ws.batch_size)]
    for i, (w, b) in enumerate(zip(ws.weights, ws.biases)):
        w64, b64 = w.detach().cpu()[:, 0].to(torch.float64), b.detach().cpu()[:, 0].to(torch.float64)
        if i < n - 1:
            scale = spec.w0 / (w0_first if i == 0 else w0_hidden)
            w64, b64 = w64 * scale, b64 * scale
        else:
            b64 = b64 + (spec.output_offset - offset)
        key = layout.prefix(i, n)
        for sd, wi, bi in zip(out, w64.to(ws.dtype), b64.to(ws.dtype)):
            sd[f"{key}.weight"], sd[f"{key}.bias"] = wi.contiguous(), bi.contiguous()
    return out


def _check_widths(sizes: tuple[int, ...], format: str, layout: _Layout) -> None:
    hidden = sizes[1:-1]
    if layout.one_hidden_width and len(set(hidden)) > 1:
        raise ValueError(
            f"hidden widths {hidden}: {format} modules build every hidden layer with one width; "
            "accepted: equal hidden widths, or format 'sequential'"
        )
    if layout.hidden_multiple_of_input and hidden[0] % sizes[0]:
        raise ValueError(
            f"hidden width {hidden[0]} is not a multiple of the input dimension {sizes[0]}: DWSNets builds "
            f"hidden = in_dim * up_scale; accepted: a multiple of {sizes[0]}, or format 'sequential'"
        )


def export_paths(path: str | Path, batch: int) -> list[Path]:
    """The files ``save_siren`` writes for ``batch`` INRs: ``path`` itself for one INR, else ``NAME-{i}SUFFIX``
    (zero-padded to the same width) beside it. Raises ValueError for a suffix not in ``EXPORT_SUFFIXES`` or an
    empty batch."""
    path = Path(path)
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise ValueError(f"{path}: exported state dicts are written as {', '.join(EXPORT_SUFFIXES)}; give such a path")
    if batch < 1:
        raise ValueError(f"{path}: no INRs to export (an empty batch)")
    if batch == 1:
        return [path]
    digits = len(str(batch - 1))
    return [path.with_name(f"{path.stem}-{i:0{digits}d}{path.suffix}") for i in range(batch)]


def save_siren(
    path: str | Path,
    ws: WeightSpace,
    format: str,
    *,
    w0_first: float | None = None,
    w0_hidden: float | None = None,
    output_offset: float | None = None,
) -> list[Path]:
    """Write ``export_siren(ws, format, ...)`` to files, atomically (temporary name, then rename); returns them.

    ``path``: .pt/.pth (``torch.save`` of the dict of tensors, which ``torch.load(weights_only=True)`` reads) or
    .safetensors (the tensors; the header records the format, w0_first, w0_hidden and output_offset as strings).
    One INR goes to ``path``; B > 1 INRs to ``export_paths(path, B)``, one state dict per file. Every dict is
    computed before anything is written. Raises ValueError for a bad suffix, an empty batch, anything
    ``export_siren`` refuses, or a path that cannot be written.
    """
    paths = export_paths(path, ws.batch_size if isinstance(ws, WeightSpace) else 1)
    kw = {"w0_first": w0_first, "w0_hidden": w0_hidden, "output_offset": output_offset}
    dicts = export_siren(ws, format, **kw)
    fmt = SIREN_FORMATS[format]
    meta = {
        "siren_format": format,
        "w0_first": repr(float(fmt.w0_first if w0_first is None else w0_first)),
        "w0_hidden": repr(float(fmt.w0_hidden if w0_hidden is None else w0_hidden)),
        "output_offset": repr(float(fmt.output_offset if output_offset is None else output_offset)),
    }
    for p, sd in zip(paths, dicts):
        write_state_dict(p, sd, meta)
    return paths


def write_state_dict(path: Path, sd: dict[str, Tensor], meta: dict[str, str] | None = None) -> None:
    """Write a plain state dict atomically: .safetensors through ``dws_edit.io`` (``meta`` in its header), any
    other suffix as ``torch.save`` of the dict of tensors (``torch.load(weights_only=True)`` reads it back)."""
    if path.suffix.lower() == ".safetensors":
        io.write_file(path, sd, meta)
    else:
        buffer = BytesIO()
        torch.save(sd, buffer)
        atomic_write_bytes(path, buffer.getvalue())


__all__ = ["EXPORT_SUFFIXES", "export_paths", "export_siren", "save_siren"]
