"""Exact signed distance functions of 3-D primitives (negative inside, closed-form Euclidean distances).

Points are ``[..., 3]`` tensors (float32 or float64); every result is ``[...]`` in the points' dtype and device.
The formulas follow Inigo Quilez's catalogue of distance functions (https://iquilezles.org/articles/distfunctions/),
written for batches of points. ``PRIMITIVES`` names them for :class:`~dws_edit.data.shapes.parts.Part`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

Vec3 = tuple[float, float, float]


def _vec(v: Sequence[float], like: Tensor) -> Tensor:
    return torch.as_tensor(v, dtype=like.dtype, device=like.device)


def _length(x: Tensor) -> Tensor:
    return torch.linalg.vector_norm(x, dim=-1)


def _check_points(points: Tensor) -> None:
    if not isinstance(points, Tensor) or points.dim() < 1 or points.shape[-1] != 3:
        shape = tuple(points.shape) if isinstance(points, Tensor) else type(points).__name__
        raise ValueError(f"points of shape {shape}: expected a tensor of shape [N, 3]")


def _unit(axis: int) -> Vec3:
    if axis not in (0, 1, 2):
        raise ValueError(f"axis {axis!r}: accepted 0 (x), 1 (y), 2 (z)")
    return tuple(1.0 if i == axis else 0.0 for i in range(3))  # type: ignore[return-value]


def sdf_sphere(p: Tensor, center: Sequence[float], radius: float) -> Tensor:
    """Sphere: ``|p - center| - radius``."""
    return _length(p - _vec(center, p)) - radius


def sdf_box(p: Tensor, center: Sequence[float], half_size: Sequence[float], rounding: float = 0.0) -> Tensor:
    """Axis-aligned box of half extents ``half_size``; ``rounding`` > 0 rounds its edges and corners with that
    radius while keeping the same outer extents (``rounding`` <= the smallest half extent)."""
    if rounding < 0 or rounding > min(half_size):
        raise ValueError(f"box rounding {rounding}: must lie in [0, smallest half extent {min(half_size)}]")
    q = (p - _vec(center, p)).abs() - (_vec(half_size, p) - rounding)
    return _length(q.clamp_min(0)) + q.amax(dim=-1).clamp_max(0) - rounding


def sdf_cylinder(p: Tensor, center: Sequence[float], radius: float, half_height: float, axis: int = 1) -> Tensor:
    """Capped cylinder along ``axis`` (0 = x, 1 = y, 2 = z) of length ``2 * half_height``."""
    _unit(axis)
    q = p - _vec(center, p)
    others = [i for i in range(3) if i != axis]
    d = torch.stack([_length(q[..., others]) - radius, q[..., axis].abs() - half_height], dim=-1)
    return _length(d.clamp_min(0)) + d.amax(dim=-1).clamp_max(0)


def sdf_capsule(p: Tensor, a: Sequence[float], b: Sequence[float], radius: float) -> Tensor:
    """Capsule: all points within ``radius`` of the segment from ``a`` to ``b``."""
    a_, b_ = _vec(a, p), _vec(b, p)
    pa, ba = p - a_, b_ - a_
    denom = (ba * ba).sum()
    if float(denom) == 0.0:  # a degenerate segment is a sphere
        return _length(pa) - radius
    t = ((pa * ba).sum(dim=-1) / denom).clamp(0, 1)
    return _length(pa - t.unsqueeze(-1) * ba) - radius


def sdf_torus(
    p: Tensor,
    center: Sequence[float],
    major_radius: float,
    minor_radius: float,
    axis: int = 1,
    direction: Sequence[float] | None = None,
    half_angle: float = math.pi,
) -> Tensor:
    """Torus around ``axis`` (the normal of its ring), or an arc of it with rounded ends.

    With ``half_angle`` < pi only the part of the ring within ``half_angle`` of ``direction`` (a vector in the
    ring's plane) is kept, capped by half spheres: ``half_angle = pi / 2`` is a half torus, e.g. a mug handle.
    The distance is to the arc of the ring circle (or its end points), minus ``minor_radius``: exact everywhere.
    """
    n = torch.tensor(_unit(axis), dtype=torch.float64)
    d = torch.tensor(_unit((axis + 1) % 3) if direction is None else direction, dtype=torch.float64)
    d = d - (d @ n) * n
    if float(_length(d)) < 1e-9:
        raise ValueError(f"torus direction {direction} must not be parallel to its axis {axis}")
    d = d / _length(d)
    e = torch.linalg.cross(n, d)
    q = p - _vec(center, p)
    u = (q @ e.to(q)).abs()  # across the arc (the arc is symmetric in u)
    v = q @ d.to(q)  # toward the middle of the arc
    w = q @ n.to(q)  # along the axis
    s, c = math.sin(half_angle), math.cos(half_angle)
    rho = _length(torch.stack([u, v], dim=-1))
    k = torch.where(c * u > s * v, u * s + v * c, rho)  # outside the arc: project on its end point
    sq = (u * u + v * v + w * w + major_radius**2 - 2 * major_radius * k).clamp_min(0)
    return torch.sqrt(sq) - minor_radius


def sdf_polygon(q: Tensor, vertices: Sequence[Sequence[float]]) -> Tensor:
    """Exact signed distance of 2-D points ``q`` [..., 2] to a simple closed polygon (negative inside)."""
    x, y = q[..., 0], q[..., 1]
    verts = [(float(a), float(b)) for a, b in vertices]
    d2: Tensor | None = None
    inside = torch.zeros(x.shape, dtype=torch.bool, device=q.device)
    for i, (xi, yi) in enumerate(verts):
        xj, yj = verts[i - 1]
        ex, ey = xj - xi, yj - yi
        wx, wy = x - xi, y - yi
        t = ((wx * ex + wy * ey) / (ex * ex + ey * ey)).clamp(0, 1)
        bx, by = wx - t * ex, wy - t * ey
        dd = bx * bx + by * by
        d2 = dd if d2 is None else torch.minimum(d2, dd)
        c1, c2, c3 = y >= yi, y < yj, ex * wy > ey * wx
        inside ^= (c1 & c2 & c3) | ~(c1 | c2 | c3)  # crossing number
    return torch.where(inside, -torch.sqrt(d2), torch.sqrt(d2))


def sdf_cup(
    p: Tensor,
    center: Sequence[float],
    radius: float,
    half_height: float,
    wall: float,
    bottom: float,
    axis: int = 1,
) -> Tensor:
    """Hollow cylinder closed at its bottom and open at the top (+``axis``): a mug body, exact everywhere.

    The solid of revolution of a U-shaped profile (outer ``radius``, ``wall`` and ``bottom`` thicknesses): the
    distance to it is the 2-D distance of (distance from the axis, height) to the profile's full cross-section.
    """
    if not 0 < wall < radius or not 0 < bottom < 2 * half_height:
        raise ValueError(f"cup wall {wall} / bottom {bottom}: need 0 < wall < radius {radius}, 0 < bottom < height")
    _unit(axis)
    q = p - _vec(center, p)
    others = [i for i in range(3) if i != axis]
    r, y = _length(q[..., others]), q[..., axis]
    ro, ri, y0, yb, y1 = radius, radius - wall, -half_height, -half_height + bottom, half_height
    profile = [(-ro, y0), (ro, y0), (ro, y1), (ri, y1), (ri, yb), (-ri, yb), (-ri, y1), (-ro, y1)]
    return sdf_polygon(torch.stack([r, y], dim=-1), profile)


PRIMITIVES: dict[str, Callable[..., Tensor]] = {
    "sphere": sdf_sphere,
    "box": sdf_box,
    "cylinder": sdf_cylinder,
    "capsule": sdf_capsule,
    "torus": sdf_torus,
    "cup": sdf_cup,
}
