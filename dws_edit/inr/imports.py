"""Import SIRENs fitted by other code from their PyTorch state dicts, exactly.

dws-edit's SIREN computes ``sin(w0 (W h + b))`` with ONE w0 in every hidden layer and a linear last
layer plus ``output_offset``. Other SIREN code uses a w0 per layer (siren-pytorch: 30 in the first
layer, 1 after it); loading its weights into a single-w0 spec changes the function. The import folds
each layer's own w0 into its weights and bias, which is exact:

    sin(w0_i (W x + b)) = sin(w0 (W' x + b'))   with   W' = (w0_i / w0) W,  b' = (w0_i / w0) b.

Accepted state-dict layouts (``SIREN_FORMATS``; the w0s are each project's defaults, override them
with ``w0_first`` / ``w0_hidden`` when the model was built with others):

    siren-pytorch      lucidrains/siren-pytorch SirenNet: layers.{i}.weight/bias (older releases:
                       net.{i}.weight/bias) and last_layer.weight/bias; w0_initial=30, w0=1
    vsitzmann          vsitzmann/siren Siren (explore_siren.ipynb), outermost_linear=True:
                       net.{i}.linear.weight/bias and a plain net.{L-1}.weight/bias;
                       first_omega_0=30, hidden_omega_0=30
    vsitzmann-fcblock  vsitzmann/siren modules.SingleBVPNet / FCBlock with type 'sine':
                       [net.]net.{i}.0.weight/bias; sin(30 x) in every hidden layer
    dwsnets            AvivNavon/DWSNets nn.inr.INR (no positional encoding): seq.{i}.weight/bias;
                       Siren layers with w0=30, a last nn.Linear, output + 0.5
    sequential         an nn.Sequential of nn.Linear (activations between them hold no weights):
                       [prefix.]{i}.weight/bias; sine activations assumed, w0 30 unless given

Files: .pt/.pth/.ckpt are read with ``torch.load(weights_only=True)`` only (nothing else is
unpickled); .safetensors through ``dws_edit.io``. A checkpoint dict wrapping the weights under
"state_dict", "model_state_dict" or "model", and a "module." prefix (DataParallel), are unwrapped.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from dws_edit import io
from dws_edit.inr.files import looks_like_safetensors
from dws_edit.weights import NetworkSpec, WeightSpace

Layers = list[tuple[Tensor, Tensor | None]]  # (weight [o, n], bias [o] or None), input layer first


@dataclass(frozen=True)
class SirenFormat:
    """A state-dict layout: its key patterns and the w0s / output offset its code uses by default."""

    keys: str
    w0_first: float
    w0_hidden: float
    output_offset: float
    parse: Callable[[dict[str, Tensor]], Layers | str | None]  # None: not this layout; str: why it is refused


def _indexed(sd: dict[str, Tensor], pattern: str) -> dict[int, dict[str, Tensor]] | None:
    """Group keys matching ``pattern`` (groups: index, weight|bias) by layer index; None if any key does not."""
    out: dict[int, dict[str, Tensor]] = {}
    for key, t in sd.items():
        m = re.fullmatch(pattern, key)
        if m is None:
            return None
        out.setdefault(int(m.group(1)), {})[m.group(2)] = t
    return out


def _ordered(groups: dict[int, dict[str, Tensor]], contiguous: bool) -> Layers | str | None:
    idx = sorted(groups)
    if contiguous and idx != list(range(len(idx))):
        return f"layer indices {idx} are not 0..{len(idx) - 1}"
    if any("weight" not in groups[i] for i in idx):
        return None
    return [(groups[i]["weight"], groups[i].get("bias")) for i in idx]


def _parse_siren_pytorch(sd):
    last = {k.removeprefix("last_layer."): t for k, t in sd.items() if k.startswith("last_layer.")}
    rest = {k: t for k, t in sd.items() if not k.startswith("last_layer.")}
    if "weight" not in last or set(last) - {"weight", "bias"}:
        return None
    groups = _indexed(rest, r"(?:layers|net)\.(\d+)\.(weight|bias)")
    if groups is None:
        return None
    hidden = _ordered(groups, contiguous=True)
    return hidden if not isinstance(hidden, list) else [*hidden, (last["weight"], last.get("bias"))]


def _parse_vsitzmann(sd):
    sine = {k: t for k, t in sd.items() if ".linear." in k}
    plain = {k: t for k, t in sd.items() if ".linear." not in k}
    sine_groups = _indexed(sine, r"net\.(\d+)\.linear\.(weight|bias)")
    plain_groups = _indexed(plain, r"net\.(\d+)\.(weight|bias)")
    if not sine or sine_groups is None or plain_groups is None:
        return None
    if not plain_groups:
        return "the last layer has a sine (outermost_linear=False); dws-edit SIRENs end in a linear layer"
    if len(plain_groups) != 1 or min(plain_groups) <= max(sine_groups):
        return f"expected one plain last layer after the sine layers, got plain layers {sorted(plain_groups)}"
    return _ordered({**sine_groups, **plain_groups}, contiguous=True)


def _parse_fcblock(sd):
    groups = _indexed(sd, r"(?:net\.)?net\.(\d+)\.0\.(weight|bias)")
    return None if not groups else _ordered(groups, contiguous=True)


def _parse_dwsnets(sd):
    groups = _indexed(sd, r"seq\.(\d+)\.(weight|bias)")
    if not groups:
        return None
    if min(groups) != 0:
        return "seq.0 holds no weights: INRs with a positional encoding are not SIRENs dws-edit evaluates"
    return _ordered(groups, contiguous=True)


def _parse_sequential(sd):
    prefixes = {re.sub(r"\d+\.(weight|bias)$", "", k) for k in sd}
    if len(prefixes) != 1:
        return None
    groups = _indexed(sd, re.escape(prefixes.pop()) + r"(\d+)\.(weight|bias)")
    return None if not groups else _ordered(groups, contiguous=False)


SIREN_FORMATS: dict[str, SirenFormat] = {
    "siren-pytorch": SirenFormat(
        "layers.{i}.weight/bias (or net.{i}.*) + last_layer.weight/bias", 30.0, 1.0, 0.0, _parse_siren_pytorch
    ),
    "vsitzmann": SirenFormat("net.{i}.linear.weight/bias + net.{L-1}.weight/bias", 30.0, 30.0, 0.0, _parse_vsitzmann),
    "vsitzmann-fcblock": SirenFormat("[net.]net.{i}.0.weight/bias", 30.0, 30.0, 0.0, _parse_fcblock),
    "dwsnets": SirenFormat("seq.{i}.weight/bias", 30.0, 30.0, 0.5, _parse_dwsnets),
    "sequential": SirenFormat("[prefix.]{i}.weight/bias", 30.0, 30.0, 0.0, _parse_sequential),
}


def accepted_formats() -> str:
    return "; ".join(f"{name}: {f.keys}" for name, f in SIREN_FORMATS.items())


def import_siren(
    source: str | Path | Mapping[str, Tensor] | nn.Module,
    format: str = "auto",
    w0_first: float | None = None,
    w0_hidden: float | None = None,
    output_offset: float | None = None,
    w0: float | None = None,
) -> WeightSpace:
    """One SIREN from another code base, as a dws-edit WeightSpace (B = 1, float32) computing the same function.

    ``source``: a state dict, an ``nn.Module``, or a .pt/.pth/.ckpt/.safetensors file. ``format``:
    one of ``SIREN_FORMATS`` or "auto" (the first layout whose key patterns match every key).
    ``w0_first`` / ``w0_hidden``: the w0 of the source's first / later sine layers; ``output_offset``:
    the constant the source adds to its output (None: the format's defaults, see the module docstring).
    ``w0``: the w0 of the returned spec (default ``w0_hidden``; pass 30 for dws-edit's image spec); the
    per-layer w0s are folded into the weights, so any w0 gives the same function. Coordinates and
    outputs are the source's own (e.g. DWSNets images: (x, y) on [-1, 1]^2, intensity in [0, 1]).
    Raises ValueError (one line) for an unreadable file, an unknown key layout (the message lists the
    accepted formats and their key patterns), layers whose shapes do not chain, or non-finite weights.
    """
    name = str(source) if isinstance(source, (str, Path)) else "state dict"
    sd = _state_dict(source)
    if format == "auto":
        for fmt_name, fmt in SIREN_FORMATS.items():
            layers = fmt.parse(sd)
            if layers is not None:
                format = fmt_name
                break
        else:
            keys = ", ".join(list(sd)[:6]) + (", ..." if len(sd) > 6 else "")
            raise ValueError(f"{name}: unknown SIREN state-dict layout (keys: {keys}); accepted: {accepted_formats()}")
    elif format in SIREN_FORMATS:
        layers = SIREN_FORMATS[format].parse(sd)
        if layers is None:
            keys = ", ".join(list(sd)[:6]) + (", ..." if len(sd) > 6 else "")
            raise ValueError(f"{name}: keys ({keys}) do not fit format {format!r} ({SIREN_FORMATS[format].keys})")
    else:
        raise ValueError(f"format {format!r} is not one of {['auto', *SIREN_FORMATS]}")
    if isinstance(layers, str):
        raise ValueError(f"{name}: {format} layout refused: {layers}")
    fmt = SIREN_FORMATS[format]
    w0_first = fmt.w0_first if w0_first is None else w0_first
    w0_hidden = fmt.w0_hidden if w0_hidden is None else w0_hidden
    w0 = w0_hidden if w0 is None else w0
    offset = fmt.output_offset if output_offset is None else output_offset
    for label, v in (("w0_first", w0_first), ("w0_hidden", w0_hidden), ("w0", w0)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{label}={v!r}: a SIREN's w0 must be a finite number > 0")
    return _fold(layers, float(w0_first), float(w0_hidden), float(w0), float(offset), name)


def _fold(layers: Layers, w0_first: float, w0_hidden: float, w0: float, offset: float, name: str) -> WeightSpace:
    sizes = [layers[0][0].shape[-1]]
    weights, biases = [], []
    last = len(layers) - 1
    for i, (w, b) in enumerate(layers):
        o = w.shape[0] if w.dim() == 2 else None
        if w.dim() != 2 or w.shape[1] != sizes[-1] or (b is not None and tuple(b.shape) != (o,)):
            got = f"weight {tuple(w.shape)}, bias {None if b is None else tuple(b.shape)}"
            raise ValueError(f"{name}: layer {i} has {got}; expected weight [o, {sizes[-1]}] and bias [o]")
        sizes.append(o)
        scale = 1.0 if i == last else (w0_first if i == 0 else w0_hidden) / w0
        w64 = w.detach().to(torch.float64)
        b64 = torch.zeros(o, dtype=torch.float64) if b is None else b.detach().to(torch.float64)
        weights.append((w64 * scale).float()[None, None])
        biases.append((b64 * scale).float()[None, None])
    spec = NetworkSpec(tuple(sizes), activation="sine", w0=w0, output_offset=offset)
    try:
        return WeightSpace.from_tensors(spec, weights, biases)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


def _state_dict(source) -> dict[str, Tensor]:
    if isinstance(source, nn.Module):
        sd = dict(source.state_dict())
    elif isinstance(source, (str, Path)):
        sd = _read(Path(source))
    elif isinstance(source, Mapping):
        sd = dict(source)
    else:
        raise ValueError(f"import_siren takes a state dict, an nn.Module or a file path, not {type(source).__name__}")
    for wrapper in ("state_dict", "model_state_dict", "model"):
        if wrapper in sd and isinstance(sd[wrapper], Mapping) and not any(isinstance(v, Tensor) for v in sd.values()):
            sd = dict(sd[wrapper])
            break
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k.removeprefix("module."): v for k, v in sd.items()}
    bad = [k for k, v in sd.items() if not isinstance(v, Tensor) or not v.is_floating_point()]
    if bad:
        raise ValueError(f"state dict entries {bad[:3]} are not floating-point tensors; expected a SIREN's weights")
    if not sd:
        raise ValueError("the state dict is empty; expected a SIREN's weights")
    return sd


def _read(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    with open(path, "rb") as f:
        start = f.read(16)
    if path.suffix == ".safetensors" or looks_like_safetensors(start, path.stat().st_size):
        tensors, meta = io.read_file(path)
        if "spec" in meta:  # written by save_inr: nothing to import
            raise ValueError(f"{path} is already a dws-edit INR file (its spec is in its header): use it as it is")
        return tensors
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's advice to unpickle untrusted files is not for our users
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch.load raises many types; the user gets one line, never a pickle
        raise ValueError(
            f"{path} is not a state dict of tensors (a torch.save of model.state_dict(), or .safetensors); "
            "files holding other pickled objects are refused, never unpickled"
        ) from None
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict (save model.state_dict())")
    return dict(obj)


__all__ = ["SIREN_FORMATS", "SirenFormat", "accepted_formats", "import_siren"]
