"""How close an edited 3-D INR is to its exact edit: volumetric IoU, Chamfer distance, PSNR of rendered views.

Functions compare *functions* (``points [M, 3] -> [B, M, dL]``: an INR through ``lambda p: evaluate(ws, p)``, or an
edit's exact target) or meshes, so that the same metric serves INRs, exact targets and the generator's shapes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from dws_edit.inr.domains import IMAGE_GRID, Domain, get_domain
from dws_edit.inr.siren import cube_grid

Fn = Callable[[Tensor], Tensor]


def inside(values: Tensor, domain: str | Domain) -> Tensor:
    """Occupancy of SDF values (``< 0``) or field values (density, channel 0, ``> 1/2``): ``[B, M, dL] -> [B, M]``
    (:meth:`dws_edit.inr.domains.Domain.inside`). Raises ValueError for a domain without a surface."""
    return get_domain(domain).inside(values)


@torch.no_grad()
def occupancy(fn: Fn, domain: str | Domain, resolution: int = 128, chunk: int = 32768, jitter: int | None = None
              ) -> Tensor:  # fmt: skip
    """Occupancy ``[B, resolution^3]`` (bool) of ``fn`` (see :func:`inside`) on the regular grid over [-1, 1]^3
    (``dws_edit.inr.siren.cube_grid``), evaluated ``chunk`` points at a time. ``jitter``: a seed; then instead
    one point drawn uniformly in each cell of the cube cut into ``resolution``^3: a stratified sample of the cube,
    the same for every INR of the batch and every call with that seed, sharing no point with the regular grid."""
    half = 1 / resolution if jitter is not None else 0.0  # jittered: from the cells' centres, within each cell
    points, dom = cube_grid(resolution, half - 1, 1 - half).reshape(-1, 3).to(torch.float32), get_domain(domain)
    if jitter is not None:
        points = points + (torch.rand(points.shape, generator=torch.Generator().manual_seed(jitter)) - 0.5) * 2 * half
    return torch.cat([dom.inside(fn(points[lo : lo + chunk])) for lo in range(0, len(points), chunk)], dim=1)


def iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU ``[B]`` of two occupancies ``[B, N]`` (bool); both empty gives 1."""
    both, either = (a & b).sum(1), (a | b).sum(1)
    return torch.where(either > 0, both / either.clamp_min(1), torch.ones_like(both, dtype=torch.float64)).float()


def occupancy_iou(pred: Fn, target: Fn, domain: str | Domain, resolution: int = 128, chunk: int = 32768) -> Tensor:
    """Volumetric IoU ``[B]`` of the occupancies of ``pred`` and ``target`` (see :func:`inside`) on a
    ``resolution``^3 grid over [-1, 1]^3 (128 by default, as the issue's metric; Mescheder et al., Occupancy
    Networks, CVPR 2019, use the same measure). Both sides empty gives 1."""
    return iou(occupancy(pred, domain, resolution, chunk), occupancy(target, domain, resolution, chunk))


def chamfer_distance(a, b, samples: int = 30000, seed: int = 0) -> float:
    """Symmetric Chamfer distance between two meshes (``trimesh.Trimesh``), in coordinate units: the mean over
    ``samples`` area-uniform surface points of each of the distance to the nearest of the other's points, averaged
    over both directions, ``(mean_a d(a, B) + mean_b d(b, A)) / 2`` (the L1 form of Fan et al., CVPR 2017).
    Nearest points by trimesh's KD-tree (scipy's cKDTree)."""
    import trimesh

    pa, _ = trimesh.sample.sample_surface(a, samples, seed=seed)
    pb, _ = trimesh.sample.sample_surface(b, samples, seed=seed + 1)
    d_ab, _ = trimesh.PointCloud(pb).kdtree.query(pa)
    d_ba, _ = trimesh.PointCloud(pa).kdtree.query(pb)
    return float((np.mean(d_ab) + np.mean(d_ba)) / 2)


def psnr(pred: Tensor, target: Tensor, peak: float = 1.0) -> Tensor:
    """PSNR in dB per leading index: ``10 log10(peak^2 / MSE)`` over all other axes; ``[B, ...] -> [B]``."""
    mse = (pred - target).float().square().flatten(1).mean(1)
    return 10 * torch.log10(peak**2 / mse.clamp_min(1e-12))


def field_view_psnr(pred: Fn, target: Fn, views: int = 3, size: int = 64) -> Tensor:
    """PSNR ``[B]`` (dB) of volume-rendered views of two colored fields (``dws_edit.render.render_field_views``,
    the same cameras for both)."""
    from dws_edit.render import render_field_views

    return psnr(render_field_views(pred, views, size), render_field_views(target, views, size))


def edit_error(pred: Fn, target: Fn, domain: str | Domain, resolution: int = 64) -> tuple[str, Tensor]:
    """How close ``pred`` is to an edit's exact ``target`` (functions of points ``[M, d0]`` -> ``[B, M, dL]``), by
    the domain's metric (:attr:`~dws_edit.inr.domains.Domain.metric`): ``("MSE on the 28x28 grid", [B])`` for
    images (lower is better), ``("IoU on a R^3 grid", [B])`` for 3-D (higher is better; R = ``resolution``)."""
    dom = get_domain(domain)
    if dom.has_surface:
        return f"IoU on a {resolution}^3 grid", occupancy_iou(pred, target, dom, resolution)
    coords = dom.edit_points(None, 0, None)
    with torch.no_grad():
        return f"MSE on the {IMAGE_GRID}x{IMAGE_GRID} grid", (pred(coords) - target(coords)).square().flatten(1).mean(1)
