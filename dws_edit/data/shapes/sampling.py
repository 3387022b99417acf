"""Training points for 3-D INRs: uniform points in [-1, 1]^3 mixed with points near the surface, and their
signed distances. Works for anything with ``.sdf(points)``: a procedural shape or a mesh adapter."""

from __future__ import annotations

import torch
from torch import Tensor

from dws_edit.data.shapes.parts import HasSDF
from dws_edit.data.shapes.primitives import _length


def _project_to_surface(shape: HasSDF, points: Tensor, steps: int = 3, eps: float = 1e-3) -> Tensor:
    """Move points onto the zero level set: ``p - sdf(p) * grad / |grad|`` with a central-difference gradient
    (so it works for any ``.sdf``, differentiable or not). One step is exact outside an exact SDF."""
    offsets = torch.eye(3, dtype=points.dtype, device=points.device) * eps
    for _ in range(steps):
        probe = torch.cat([points[:, None], points[:, None] + offsets, points[:, None] - offsets], dim=1)  # [M, 7, 3]
        d = shape.sdf(probe.reshape(-1, 3)).reshape(-1, 7).to(points.dtype)
        grad = (d[:, 1:4] - d[:, 4:7]) / (2 * eps)
        grad = grad / _length(grad).clamp_min(1e-6).unsqueeze(-1)
        points = (points - d[:, :1] * grad).clamp(-1, 1)
    return points


@torch.no_grad()
def sample_sdf_points(
    shape: HasSDF,
    n: int,
    generator: torch.Generator,
    near_surface: float = 0.5,
    *,
    sigma: float = 0.02,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """``n`` training points in [-1, 1]^3 and their signed distances: ``(points [n, 3], sdf [n])``.

    A fraction ``near_surface`` lies near the surface: uniform points are projected onto the surface (the ones
    that land closest of twice as many candidates are kept) and jittered with gaussian noise of std ``sigma``;
    the rest are uniform in the cube. The points are shuffled, and the SDF is computed at the final points.
    ``shape`` is anything with ``.sdf(points)`` (a :class:`Shape`, a mesh adapter). Deterministic given the
    generator.
    """
    if not 0.0 <= near_surface <= 1.0:
        raise ValueError(f"near_surface {near_surface}: expected a fraction in [0, 1]")
    if n < 0:
        raise ValueError(f"n {n}: expected a non-negative number of points")
    n_near = int(round(n * near_surface))
    uniform = torch.rand(n - n_near, 3, generator=generator, dtype=dtype) * 2 - 1
    near = torch.empty(0, 3, dtype=dtype)
    if n_near:
        candidates = torch.rand(2 * n_near, 3, generator=generator, dtype=dtype) * 2 - 1
        projected = _project_to_surface(shape, candidates)
        residual = shape.sdf(projected).abs()
        keep = torch.topk(residual, n_near, largest=False).indices.sort().values
        noise = torch.randn(n_near, 3, generator=generator, dtype=dtype) * sigma
        near = (projected[keep] + noise).clamp(-1, 1)
    points = torch.cat([uniform, near])[torch.randperm(n, generator=generator)]
    return points, shape.sdf(points).to(dtype)
