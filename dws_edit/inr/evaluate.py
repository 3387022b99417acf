"""The one batched evaluation of INRs: every fit, loss, render and edit calls ``evaluate``."""

from __future__ import annotations

import torch
from torch import Tensor

from dws_edit.weights import WeightSpace


def activation(spec, x: Tensor) -> Tensor:
    if spec.activation == "sine":
        return torch.sin(spec.w0 * x)
    if spec.activation == "relu":
        return torch.relu(x)
    return x


EVAL_ELEMENTS = 1 << 21
"""Where no gradient is taken, :func:`evaluate` runs at most about this many hidden values at once (points of the
whole batch x the widest hidden layer: 8 MB in float32), in slices of the points. 32 width-32 SDFs at 65,536
points each (268 MB a layer in one call) ran 3.3x faster so, the 9^3-quadrature smooth target 3.3x, a guarded
sdf-smooth edit of the 32 2.8x (2 CPU cores; the memory traffic of large layers, not the arithmetic; ``dws-edit
bench evaluate`` times both ways in one run, docs/benchmarks.md "Evaluation and fitting in slices")."""
MIN_SLICE = 256
"""Fewest points per INR in one slice of :func:`evaluate`, whatever the batch (bounds the calls' overhead)."""


def evaluate(ws: WeightSpace, coords: Tensor, max_elements: int | None = None) -> Tensor:
    """Evaluate a batch of INRs (channel 0) at coordinates.

    ``coords`` is [N, d0] (the same points for every INR) or [B, N, d0]; returns [B, N, dL]. The
    activation, w0 and output offset come from ``ws.spec``. Where no gradient flows (no_grad, or neither the
    weights nor the coordinates require one), the points are evaluated in slices of about ``max_elements``
    hidden values (None: :data:`EVAL_ELEMENTS`; 0: one call), the values of one call up to float rounding.
    """
    n = coords.shape[-2] if coords.dim() >= 2 else 0
    budget = EVAL_ELEMENTS if max_elements is None else max_elements
    step = max(MIN_SLICE, budget // (max(1, ws.batch_size) * max(ws.spec.layer_sizes))) if budget else n
    if n <= step or _needs_grad(ws, coords):
        return layer_values(ws, coords)[-1]
    return torch.cat([layer_values(ws, coords[..., lo : lo + step, :])[-1] for lo in range(0, n, step)], dim=-2)


def _needs_grad(ws: WeightSpace, coords: Tensor) -> bool:
    return torch.is_grad_enabled() and (coords.requires_grad or any(t.requires_grad for t in ws.tensors()))


def layer_values(ws: WeightSpace, coords: Tensor) -> list[Tensor]:
    """What every layer of the INRs computes at ``coords`` ([N, d0] or [B, N, d0]): one tensor [B, N, n_l]
    per hidden layer l = 1 .. L-1, after its activation (sin(w0 z) for SIRENs), then the output [B, N, dL]
    as ``evaluate`` returns it. Channel 0 of ``ws``."""
    spec = ws.spec
    d0 = spec.layer_sizes[0]
    if coords.shape[-1] != d0 or coords.dim() not in (2, 3):
        raise ValueError(
            f"coords of shape {tuple(coords.shape)}: expected [N, {d0}] or [B, N, {d0}] for spec {spec.layer_sizes}"
        )
    if coords.dim() == 3 and coords.shape[0] != ws.batch_size:
        raise ValueError(f"coords hold {coords.shape[0]} point sets for {ws.batch_size} INRs")
    h = coords.to(ws.dtype)
    if h.dim() == 2:
        h = h.expand(ws.batch_size, *h.shape)
    last = spec.num_layers - 1
    sine = spec.activation == "sine"
    layers = []
    for i, (w, b) in enumerate(zip(ws.weights, ws.biases)):
        w, b = w[:, 0], b[:, 0]  # [B, o, n], [B, o]
        # sin(w0 (h W^T + b)) with w0 folded into the matrix product: no separate full-size multiply
        scale = spec.w0 if (sine and i < last) else 1.0
        h = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2), beta=scale, alpha=scale)
        if i < last:
            h = torch.sin(h) if sine else activation(spec, h)
            layers.append(h)
    layers.append(h + spec.output_offset if spec.output_offset else h)
    return layers
