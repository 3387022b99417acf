"""Colored density fields (NeRF-like targets) from the same shapes as the SDFs.

Convention: a field target is ``[..., 4]`` = ``(density, r, g, b)``, all in [0, 1]. The density is a soft
occupancy ``sigmoid(-sdf * sharpness)``: ~1 inside, ~0 outside, 0.5 on the surface, going from 0.12 to 0.88 over
a band of width ``4 / sharpness`` around it. The color is the fixed color of the nearest part (the part with the
smallest SDF), defined everywhere, also in empty space, so a renderer weights it by the density.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dws_edit.data.shapes import sample_sdf_points

FIELD_CHANNELS = ("density", "r", "g", "b")


def density_from_sdf(sdf: Tensor, sharpness: float = 50.0) -> Tensor:
    """Soft occupancy in [0, 1]: ``sigmoid(-sdf * sharpness)``."""
    if sharpness <= 0:
        raise ValueError(f"sharpness {sharpness}: expected a positive number (1 / the surface band width)")
    return torch.sigmoid(-sdf * sharpness)


def field_targets(shape, points: Tensor, sharpness: float = 50.0) -> Tensor:
    """Field targets ``[..., 4]`` = (density, RGB) at ``points`` [..., 3] for a shape with ``.sdf`` and
    ``.colors`` (a :class:`~dws_edit.data.shapes.Shape` or a :class:`~dws_edit.data.meshes.MeshShape`)."""
    sdf = shape.sdf(points).to(points.dtype)
    rgb = shape.colors(points).to(points.dtype)
    return torch.cat([density_from_sdf(sdf, sharpness).unsqueeze(-1), rgb], dim=-1)


@torch.no_grad()
def sample_field_points(
    shape,
    n: int,
    generator: torch.Generator,
    near_surface: float = 0.5,
    sharpness: float = 50.0,
    **kwargs,
) -> tuple[Tensor, Tensor]:
    """``(points [n, 3], targets [n, 4])``: the point mix of :func:`~dws_edit.data.shapes.sample_sdf_points`
    (uniform and near-surface; extra keyword arguments go there), with :func:`field_targets` at those points."""
    points, _ = sample_sdf_points(shape, n, generator, near_surface, **kwargs)
    return points, field_targets(shape, points, sharpness)
