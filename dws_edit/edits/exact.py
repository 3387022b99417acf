"""Exact weight-space edits: closed-form changes of the weights, exact to float precision and instant.

Affine maps of the input fold into the first layer: ``W_0 (A x + t) + b_0 = (W_0 A) x + (W_0 t + b_0)``, so
``affine(ws, A, t)`` computes ``f'(x) = f(A x + t)`` for any activation, w0 and depth; ``mirror``,
``translate``, ``rotate`` and ``scale`` call it. Weighted sums of two INRs of the same depth are one INR
whose hidden layers hold both networks' neurons side by side (``blend``): hidden widths add,
hidden-to-hidden weights are block-diagonal, and the last layer mixes the two outputs. All functions take
and return a batched ``WeightSpace`` (``[B, C, ...]``; every channel is edited alike) and keep its dtype.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from dws_edit.weights import NetworkSpec, WeightSpace, concat_networks

AXES = ("x", "y", "z")
Number = float | Sequence[float] | Tensor


def _tensor(value: Number, ws: WeightSpace, what: str = "value") -> Tensor:
    try:
        return torch.as_tensor(value, dtype=ws.dtype, device=ws.device)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{what} {value!r} is not accepted: expected numbers") from None


def _batched(t: Tensor, ndim: int, ws: WeightSpace, what: str, shape: str) -> Tensor:
    """``t`` with a leading batch axis (``ndim`` dims in all; the batch of 1 broadcasts)."""
    t = t[None] if t.dim() == ndim - 1 else t
    if t.dim() != ndim or t.shape[0] not in (1, ws.batch_size):
        raise ValueError(
            f"{what} of shape {tuple(t.shape)} is not accepted for {ws.batch_size} INRs of spec "
            f"{ws.spec.layer_sizes}: expected {shape}"
        )
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} holds NaN or Inf; accepted: finite numbers, {shape}")
    return t


def _axis_index(axis: str | int, d0: int) -> int:
    names = AXES[:d0]
    if isinstance(axis, str) and axis in names:
        return names.index(axis)
    if isinstance(axis, int) and not isinstance(axis, bool) and 0 <= axis < d0:
        return axis
    raise ValueError(f"axis {axis!r} is not accepted for INRs with {d0} inputs; accepted: {names} or 0..{d0 - 1}")


def affine(ws: WeightSpace, A: Number, t: Number | None = None) -> WeightSpace:
    """``f'(x) = f(A x + t)``: ``W_0 <- W_0 A``, ``b_0 <- b_0 + W_0 t``.

    ``A``: ``[d0, d0]`` or ``[B, d0, d0]``; ``t``: ``[d0]`` or ``[B, d0]`` (default 0), in coordinate units.
    Raises ValueError for other shapes or non-finite values.
    """
    d0 = ws.spec.layer_sizes[0]
    A = _batched(_tensor(A, ws, "A"), 3, ws, "A", f"[{d0}, {d0}] or [B, {d0}, {d0}]")
    if A.shape[1:] != (d0, d0):
        raise ValueError(f"A of shape {tuple(A.shape)} is not accepted: expected [{d0}, {d0}] or [B, {d0}, {d0}]")
    weights, biases = list(ws.weights), list(ws.biases)
    w0 = weights[0]
    weights[0] = w0 @ A[:, None]
    if t is not None:
        t = _batched(_tensor(t, ws, "t"), 2, ws, "t", f"[{d0}] or [B, {d0}]")
        if t.shape[1] != d0:
            raise ValueError(f"t of shape {tuple(t.shape)} is not accepted: expected [{d0}] or [B, {d0}]")
        biases[0] = biases[0] + torch.einsum("bcoi,bi->bco", w0, t.expand(ws.batch_size, d0))
    _warn_if_outside(A, t)
    return WeightSpace(ws.spec, tuple(weights), tuple(biases))


def _warn_if_outside(A: Tensor, t: Tensor | None) -> None:
    """Warn when ``x -> A x + t`` maps a corner of the domain [-1, 1]^d0 outside it: the edited INR then shows, on
    part of its domain, the source where it was never fitted (extrapolation, not background)."""
    d0 = A.shape[-1]
    corners = torch.cartesian_prod(*[torch.tensor([-1.0, 1.0], dtype=A.dtype, device=A.device)] * d0).reshape(-1, d0)
    mapped = torch.einsum("bij,kj->bki", A, corners) + (0 if t is None else t[:, None])
    if mapped.abs().max() > 1 + 1e-5:
        warnings.warn(
            f"part of [-1, 1]^{d0} now shows the source INR outside [-1, 1]^{d0}, where it was never fitted: those "
            "parts hold its extrapolation, not background (shrink, move or turn the content less to avoid it)",
            stacklevel=3,
        )


def mirror(ws: WeightSpace, axis: str | int) -> WeightSpace:
    """``f'(x) = f(M x)``, M negating input coordinate ``axis`` ("x", "y", "z" or 0, 1, 2): negates that
    column of ``W_0``."""
    d0 = ws.spec.layer_sizes[0]
    diag = torch.ones(d0, dtype=ws.dtype, device=ws.device)
    diag[_axis_index(axis, d0)] = -1
    return affine(ws, torch.diag(diag))


def translate(ws: WeightSpace, offset: Number) -> WeightSpace:
    """Move the content by ``offset`` (``[d0]`` or ``[B, d0]``, coordinate units): ``f'(x) = f(x - offset)``."""
    d0 = ws.spec.layer_sizes[0]
    off = _tensor(offset, ws, "offset")
    if off.dim() not in (1, 2) or off.shape[-1] != d0:
        raise ValueError(f"offset of shape {tuple(off.shape)} is not accepted: expected [{d0}] or [B, {d0}]")
    off = _batched(off, 2, ws, "offset", f"[{d0}] or [B, {d0}]")
    return affine(ws, torch.eye(d0, dtype=ws.dtype, device=ws.device), -off)


def _rotation(angle: Tensor, d0: int, axis: str | int | None) -> Tensor:
    """Rotation matrices ``[n, d0, d0]`` by ``angle`` [n] radians (right-hand rule about ``axis`` in 3-D)."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    if d0 == 2:
        if axis not in (None, "z"):
            raise ValueError(
                f"axis {axis!r} is not accepted for 2-D INRs; accepted: None or 'z' (the rotation in the plane)"
            )
        rows = [[c, -s], [s, c]]
    elif d0 == 3:
        if axis is None:
            raise ValueError("rotate of a 3-D INR needs axis; accepted: 'x', 'y', 'z' or 0, 1, 2")
        k = _axis_index(axis, 3)
        rows = [
            [[one, zero, zero], [zero, c, -s], [zero, s, c]],
            [[c, zero, s], [zero, one, zero], [-s, zero, c]],
            [[c, -s, zero], [s, c, zero], [zero, zero, one]],
        ][k]
    else:
        raise ValueError(f"rotate accepts INRs with 2 or 3 inputs; got {d0} (use affine)")
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def _center(ws: WeightSpace, center: Number | None) -> Tensor:
    d0 = ws.spec.layer_sizes[0]
    c = torch.zeros(d0, dtype=ws.dtype, device=ws.device) if center is None else _tensor(center, ws, "center")
    c = _batched(c, 2, ws, "center", f"[{d0}] or [B, {d0}]")
    if c.shape[1] != d0:
        raise ValueError(f"center of shape {tuple(c.shape)} is not accepted for INRs with {d0} inputs: expected "
                         f"[{d0}] or [B, {d0}]")  # fmt: skip
    return c


def rotate(
    ws: WeightSpace, angle: float | Tensor, axis: str | int | None = None, center: Number | None = None
) -> WeightSpace:
    """Rotate the content by ``angle`` radians (float or ``[B]``) about ``center`` (default the origin).

    2-D: positive angles turn +x toward +y (counter-clockwise in the (x, y) frame; image rows go down with y,
    so on screen it looks clockwise). 3-D: about coordinate ``axis`` ("x", "y", "z"), right-hand rule.
    ``f'(x) = f(R^T (x - c) + c)``.
    """
    d0 = ws.spec.layer_sizes[0]
    angle_t = _batched(_tensor(angle, ws, "angle").reshape(-1), 1, ws, "angle", "a number or [B]")
    R_T = _rotation(angle_t, d0, axis).transpose(-1, -2)
    c = _center(ws, center)
    return affine(ws, R_T, c - (R_T @ c[..., None])[..., 0])


def scale(ws: WeightSpace, factor: float | Tensor, center: Number | None = None) -> WeightSpace:
    """Scale the content by ``factor`` > 0 (float or ``[B]``) about ``center`` (default the origin):
    ``f'(x) = f((x - c) / factor + c)``. Raises ValueError for a factor <= 0 (use mirror to flip)."""
    d0 = ws.spec.layer_sizes[0]
    f = _batched(_tensor(factor, ws, "factor").reshape(-1), 1, ws, "factor", "a positive number or [B]")
    if not (f > 0).all():
        raise ValueError(f"scale factor {float(f[~(f > 0)][0]):.6g} is not accepted; accepted: a number > 0")
    eye = torch.eye(d0, dtype=ws.dtype, device=ws.device)
    c = _center(ws, center)
    return affine(ws, eye / f[:, None, None], c - c / f[:, None])


def cube_symmetries(n: int, d0: int, generator: torch.Generator | None = None, p: float = 1.0) -> Tensor:
    """``n`` random symmetries of the cube [-1, 1]^d0 as matrices ``[n, d0, d0]``: a permutation of the axes and a
    sign per axis (the hyperoctahedral group: 8 elements in 2-D, 48 in 3-D), each drawn uniformly with probability
    ``p`` and the identity otherwise. With ``affine(ws, A)`` they transform INRs exactly and keep the pixel grid
    and the [-1, 1]^d0 box: input-space augmentations applied in weight space (Shamsian et al., "Improved
    Generalization of Weight Space Networks via Augmentations", ICML 2024). Raises ValueError for p outside
    [0, 1]."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p = {p!r} is not accepted: expected a probability in [0, 1]")
    perms = torch.stack([torch.randperm(d0, generator=generator) for _ in range(n)])
    signs = torch.randint(0, 2, (n, d0), generator=generator) * 2.0 - 1.0
    A = torch.zeros(n, d0, d0).scatter_(2, perms[..., None], signs[..., None])
    keep = torch.rand(n, generator=generator) >= p
    A[keep] = torch.eye(d0)
    return A


def pad_hidden(ws: WeightSpace, hidden: Sequence[int]) -> WeightSpace:
    """The same functions with hidden layers widened to ``hidden`` (one width per hidden layer, each at least the
    current one): the added neurons have zero incoming weights, bias and outgoing weights, so they add nothing.
    Exact, for any activation. Raises ValueError for a narrower or a wrong-length ``hidden``."""
    current = ws.spec.hidden_sizes
    if len(hidden) != len(current) or any(h < c for h, c in zip(hidden, current, strict=True)):
        raise ValueError(f"pad_hidden: widths {tuple(hidden)} for hidden layers {current}; accepted: as many, each "
                         ">= the current")  # fmt: skip
    s = ws.spec
    spec = NetworkSpec((s.layer_sizes[0], *hidden, s.layer_sizes[-1]), s.activation, s.w0, s.output_offset)
    weights, biases = [], []
    for (o, i), w, b in zip(spec.weight_shapes, ws.weights, ws.biases, strict=True):
        weights.append(torch.nn.functional.pad(w, (0, i - w.shape[-1], 0, o - w.shape[-2])))
        biases.append(torch.nn.functional.pad(b, (0, o - b.shape[-1])))
    return WeightSpace(spec, tuple(weights), tuple(biases))


def _check_blendable(a: WeightSpace, b: WeightSpace) -> None:
    if not isinstance(b, WeightSpace):
        raise ValueError(f"blend's b is a {type(b).__name__}; accepted: an INR (a WeightSpace, e.g. from "
                         "dws_edit.load_inr(path))")  # fmt: skip
    sa, sb = a.spec, b.spec
    checks = [
        ("depth", sa.num_layers, sb.num_layers),
        ("d0", sa.layer_sizes[0], sb.layer_sizes[0]),
        ("dL", sa.layer_sizes[-1], sb.layer_sizes[-1]),
        ("activation", sa.activation, sb.activation),
        ("w0", sa.w0, sb.w0),
        ("output_offset", sa.output_offset, sb.output_offset),
        ("batch size", a.batch_size, b.batch_size),
        ("channels", a.channels, b.channels),
    ]
    for name, x, y in checks:
        if x != y:
            raise ValueError(
                f"cannot blend INRs with different {name} ({x!r} vs {y!r}); they must share depth, d0, dL, "
                "activation, w0, output_offset, batch size and channels (hidden widths may differ)"
            )


def blend(a: WeightSpace, b: WeightSpace, t: float | Tensor) -> WeightSpace:
    """``f'(x) = (1 - t) f_a(x) + t f_b(x)`` (``t`` a float or ``[B]``), exactly, by concatenating hidden neurons.

    The result's spec has hidden widths ``h_a + h_b`` per layer (same activation, w0, output offset): first
    layer stacked, hidden-to-hidden weights block-diagonal, last layer ``[(1 - t) W_a, t W_b]`` with bias
    ``(1 - t) b_a + t b_b``. A depth-1 (linear) INR blends its weights directly. Raises ValueError (one line)
    unless ``a`` and ``b`` share depth, d0, dL, activation, w0, output offset, batch size and channels.
    """
    _check_blendable(a, b)
    t = _batched(_tensor(t, a, "t").reshape(-1), 1, a, "t", "a number or [B]")
    return concat_networks([a, b], [1 - t, t])


def symmetrize_exact(ws: WeightSpace, axis: str | int, mode: str | int = "average") -> WeightSpace:
    """``f'(x) = (f(x) + f(M x)) / 2`` exactly: ``blend(ws, mirror(ws, axis), 0.5)`` (hidden widths double).

    ``mode``: only ``"average"`` (or 0); the union and intersection (a min or max of two SIRENs, not a SIREN) have
    no closed form: ValueError (one line) pointing to the learned symmetrize."""
    if isinstance(mode, bool) or mode not in ("average", 0):
        raise ValueError(
            f"symmetrize_exact: mode={mode!r} has no closed form (the min or max of two SIRENs is not a SIREN); "
            "accepted: mode average (union and intersection: the learned symmetrize, exact=False)"
        )
    return blend(ws, mirror(ws, axis), 0.5)


__all__ = [
    "affine",
    "blend",
    "cube_symmetries",
    "mirror",
    "pad_hidden",
    "rotate",
    "scale",
    "symmetrize_exact",
    "translate",
]
