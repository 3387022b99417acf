"""The targets of the learned edits, each a function of the source INR (registered in :mod:`dws_edit.edits.registry`).

Every target is computed from the original INR ``f`` by evaluating it at transformed coordinates: no
rendering resolution is baked in except where the edit is defined on a pixel grid (``dilate``). Units are
the INR's coordinate units ([-1, 1] spans the image or the scene).

The edits, their parameters and ranges: :mod:`dws_edit.edits.registry`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from dws_edit.edits.base import batched_coords, call_shared

Fn = Callable[[Tensor], Tensor]
AXES = ("x", "y", "z")

# ----------------------------------------------------------------------------------------------------------------
# smooth
# ----------------------------------------------------------------------------------------------------------------


def gaussian_quadrature(d0: int, points: int = 13, extent: float = 4.0) -> tuple[Tensor, Tensor]:
    """Unit offsets ``[K, d0]`` (K = points**d0) of a regular grid on ``[-extent, extent]^d0`` and their
    normalized Gaussian weights ``[K]`` (float64): ``E_{e ~ N(0, I)} g(e) ~= sum_k w_k g(u_k)``."""
    if not (isinstance(points, int) and points >= 1 and points % 2 == 1):
        raise ValueError(f"smooth: points={points!r} is not accepted; accepted: an odd integer >= 1 (default 13)")
    if not extent > 0:
        raise ValueError(f"smooth: extent={extent!r} is not accepted; accepted: a positive number (default 4.0)")
    g = torch.linspace(-extent, extent, points, dtype=torch.float64)
    u = torch.cartesian_prod(*[g] * d0).reshape(-1, d0)
    w = torch.exp(-0.5 * (u * u).sum(-1))
    return u, w / w.sum()


def _smooth(
    f: Fn,
    coords: Tensor,
    p: dict[str, Tensor],
    domain: str,
    *,
    points=13,
    extent=4.0,
    chunk=65536,
    samples=0,
    generator=None,
):
    """Gaussian smoothing ``f'(x) = E_{e ~ N(0, sigma^2 I)} f(x + e)``, sigma in coordinate units.

    Quadrature: a tensor-product regular grid of offsets ``sigma * u`` with ``u`` on ``[-extent, extent]`` per
    dimension (``points`` per dimension, default 13 over [-4, 4]: spacing h = 2/3 sigma) and normalized Gaussian
    weights. Accuracy, per Fourier component ``e^{i k.x}`` of ``f`` (1-D; the grid is a tensor product):
    by Poisson summation the grid sum equals the exact factor ``exp(-k^2 sigma^2 / 2)`` plus aliased copies
    ``exp(-sigma^2 (k - 2 pi m / h)^2 / 2)``, m != 0, which stay below 1e-5 while ``|k| sigma <= 4`` (2 pi / h =
    9.4 / sigma); truncation at 4 sigma costs < 2e-5 (the weight beyond it). Checked numerically: the
    error is < 2e-5 for ``|k| sigma <= 4`` and < 3e-3 up to ``|k| sigma = 6``, where the exact factor is
    < 1e-7. Components with ``|k| sigma > 6`` would alias; for the smallest sigma (0.02) that is
    ``|k| > 300`` rad per unit, a period under 0.02 units (a quarter pixel of a 28x28 image). A SIREN's
    spectrum is set by its first layer (``w0 |W_0|`` ~ 15 to 30 rad per unit at initialisation, a few times that
    after fitting) and the low-order harmonics of the later sines; fitted to a 28x28 image or a 3-D shape
    it holds negligible energy there. ``points=9, extent=3`` (spacing 0.75 sigma, 729 instead of 2197
    evaluations per point in 3-D) has error ~1e-3. Memory: ``f`` is called on at most ``chunk`` points
    per INR at a time.

    ``samples > 0`` replaces the quadrature by a Monte Carlo estimate with ``samples`` Gaussian offsets per
    INR (antithetic pairs e, -e, drawn with ``generator``): unbiased, so a squared-error loss against it has
    the exact target's gradient in expectation (its variance only adds a constant). Training uses it:
    8 samples cost 8 evaluations per point instead of 169 (2-D) or 2197 (3-D).
    """
    if not (isinstance(chunk, int) and chunk >= 1):
        raise ValueError(f"smooth: chunk={chunk!r} is not accepted; accepted: an integer >= 1")
    d0 = coords.shape[-1]
    if samples:
        if not (isinstance(samples, int) and samples >= 2 and samples % 2 == 0):
            raise ValueError(f"smooth: samples={samples!r} is not accepted; accepted: an even integer >= 2, or 0")
        half = torch.randn(p["sigma"].shape[0], samples // 2, d0, generator=generator, dtype=torch.float64)
        u, w = torch.cat([half, -half], dim=1).to(coords), torch.full((samples,), 1.0 / samples).to(coords)
    else:
        u, w = gaussian_quadrature(d0, points, extent)
        u, w = u.to(coords), w.to(coords)
    offsets = p["sigma"][:, None, None] * u  # [n, K, d0]
    c = batched_coords(coords)  # [nc, M, d0]
    K, M = u.shape[-2], c.shape[1]
    step = max(1, chunk // K)
    out = []
    for s in range(0, M, step):
        pts = c[:, s : s + step, None, :] + offsets[:, None]  # [n', m, K, d0]
        vals = call_shared(f, pts.reshape(pts.shape[0], -1, d0))  # [B, m*K, dL]
        vals = vals.reshape(vals.shape[0], -1, K, vals.shape[-1])
        out.append(torch.einsum("bmkd,k->bmd", vals, w))
    return torch.cat(out, dim=1)


# ----------------------------------------------------------------------------------------------------------------
# symmetrize
# ----------------------------------------------------------------------------------------------------------------


def mirror_coords(coords: Tensor, axis: Tensor) -> Tensor:
    """Negate coordinate ``axis`` ([n] long indices): coords ``[M, d0]`` or ``[B, M, d0]`` -> ``[n', M, d0]``."""
    sign = 1 - 2 * torch.nn.functional.one_hot(axis, coords.shape[-1]).to(coords)  # [n, d0]
    return batched_coords(coords) * sign[:, None, :]


SYMMETRIZE_MODES = ("average", "union", "intersection")
"""symmetrize's forms (its ``mode``), in the order of their indices: see :func:`combine_mirrored`."""


def combine_mirrored(a: Tensor, b: Tensor, mode: Tensor, domain: str) -> Tensor:
    """symmetrize's combination of ``a = f(x)`` and ``b = f(M x)`` (``[B, M, dL]``) by ``mode`` ([n] indices of
    :data:`SYMMETRIZE_MODES`, n in 1, B):

    * average: ``(a + b) / 2`` in every domain (the exact edit ``symmetrize_exact`` computes it on the weights);
    * union: sdf ``min(a, b)`` (the solid and its mirror image, CSG union: exact outside, a bound inside); field
      density ``max`` with the colors of the denser side (their mean where the densities tie); image ``max`` per
      channel (the ink of both sides, for bright strokes on a dark background as MNIST);
    * intersection: sdf ``max(a, b)`` (what the solid and its mirror image share); field density ``min`` with the
      colors of the less dense side; image ``min`` per channel (the ink present on both sides).

    Every form is symmetric in ``a`` and ``b``, so the result is mirror-symmetric.
    """
    average = 0.5 * (a + b)
    if domain == "field":  # density first, then the colors of the side the density comes from
        da, db = a[..., :1], b[..., :1]
        mean = average[..., 1:]
        high = torch.where(da > db, a[..., 1:], torch.where(da < db, b[..., 1:], mean))
        low = torch.where(da < db, a[..., 1:], torch.where(da > db, b[..., 1:], mean))
        union = torch.cat([torch.maximum(da, db), high], dim=-1)
        intersection = torch.cat([torch.minimum(da, db), low], dim=-1)
    else:  # sdf: inside is negative (union = min); image: ink is bright (union = max)
        low, high = torch.minimum(a, b), torch.maximum(a, b)
        union, intersection = (low, high) if domain == "sdf" else (high, low)
    m = mode.reshape(-1, 1, 1)
    return torch.where(m == 0, average, torch.where(m == 1, union, intersection))


def _symmetrize(f: Fn, coords: Tensor, p: dict[str, Tensor], domain: str) -> Tensor:
    """``f'(x) = (f(x) + f(M x)) / 2`` (mode average), or the union or intersection of the two sides
    (:func:`combine_mirrored`), M negating input coordinate ``axis`` (x, y, z = 0, 1, 2)."""
    a, b = f(coords), call_shared(f, mirror_coords(coords, p["axis"]))
    if "mode" not in p or not bool(p["mode"].any()):  # average, computed as it always was
        return 0.5 * (a + b)
    return combine_mirrored(a, b, p["mode"], domain)


# ----------------------------------------------------------------------------------------------------------------
# remove (box, sphere)
# ----------------------------------------------------------------------------------------------------------------


def box_sdf(points: Tensor, box: Tensor) -> Tensor:
    """Exact signed distance to axis-aligned boxes (negative inside): points ``[n, M, d]``, box ``[n, 2d]``
    (min corner then max corner; n broadcasts) -> ``[n', M]``. Source: Quilez, "distance functions" (box)."""
    d = points.shape[-1]
    lo, hi = box[:, None, :d], box[:, None, d:]
    q = (points - (lo + hi) / 2).abs() - (hi - lo) / 2
    return torch.linalg.vector_norm(q.clamp_min(0), dim=-1) + q.amax(-1).clamp_max(0)


def sphere_sdf(points: Tensor, center: Tensor, radius: Tensor) -> Tensor:
    """Exact signed distance to balls: points ``[n, M, d]``, center ``[n, d]``, radius ``[n]`` -> ``[n', M]``."""
    return torch.linalg.vector_norm(points - center[:, None, :], dim=-1) - radius[:, None]


def erase(values: Tensor, region_sdf: Tensor, domain: str) -> Tensor:
    """Erase the region where ``region_sdf <= 0`` from INR values ``[B, M, dL]`` (region ``[n, M]``, n in 1, B).

    image: 0 (the background) in every channel; sdf: CSG subtraction ``max(f, -region_sdf)`` (exact where both
    are exact distances outside their intersection, a bound elsewhere); field: density 0, colors unchanged.
    """
    inside = (region_sdf <= 0)[..., None]
    if domain == "image":
        return torch.where(inside, torch.zeros((), dtype=values.dtype, device=values.device), values)
    if domain == "sdf":
        return torch.maximum(values, -region_sdf[..., None])
    density = torch.where(inside, torch.zeros((), dtype=values.dtype, device=values.device), values[..., :1])
    return torch.cat([density, values[..., 1:]], dim=-1)


def _remove(f: Fn, coords: Tensor, p: dict[str, Tensor], domain: str) -> Tensor:
    """The signal erased inside an axis-aligned box (closed): see :func:`erase`."""
    return erase(f(coords), box_sdf(batched_coords(coords), p["box"]), domain)


def _remove_sphere(f: Fn, coords: Tensor, p: dict[str, Tensor], domain: str) -> Tensor:
    """The signal erased inside a ball (closed): see :func:`erase`."""
    return erase(f(coords), sphere_sdf(batched_coords(coords), p["center"], p["radius"]), domain)


# ----------------------------------------------------------------------------------------------------------------
# remove_part
# ----------------------------------------------------------------------------------------------------------------

PART_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "handle": ("handle", ("mug",)),
    "legs": ("leg_", ("table", "chair")),
    "wheels": ("wheel_", ("car",)),
}
"""Removable part groups of the procedural families: group -> (prefix of its part names, families that have it)."""


def part_group_of(family: str) -> str | None:
    """The removable part group of a shape family (``"legs"`` for a table), or None (primitives, compositions)."""
    return next((g for g, (_, families) in PART_GROUPS.items() if family in families), None)


def without_group(shape, group: str):
    """``shape`` (a :class:`~dws_edit.data.shapes.Shape`) without every part of the group ``group`` (a key of
    :data:`PART_GROUPS`: the four legs of a chair); a shape without such parts comes back unchanged."""
    prefix = PART_GROUPS[group][0]
    for name in [n for n in shape.part_names if n.startswith(prefix)]:
        shape = shape.without(name)
    return shape


def _remove_part(f: Fn, coords: Tensor, p: dict[str, Tensor], domain: str, *, shapes=None, sharpness=50.0) -> Tensor:
    """The exact shape without a part group (all its parts: the four legs of a chair), from the generator.

    Unlike the other edits, the target is not computed from ``f``: it is the exact SDF (or field, see
    :func:`~dws_edit.data.fields.field_targets`) of each INR's procedural shape with the group's parts removed,
    so it needs ``shapes`` (one :class:`~dws_edit.data.shapes.Shape` per INR, from a shape zoo's metadata). A
    shape without that group is returned unchanged.
    """
    from dws_edit.data.fields import field_targets

    if shapes is None:
        raise ValueError(
            "remove_part: its exact target needs the INRs' procedural shapes (option shapes=, from a shape zoo's "
            "metadata); a trained remove_part model applies the edit to any sdf or field INR"
        )
    c = batched_coords(coords)
    groups = p["part"].expand(len(shapes))
    out = []
    for b, shape in enumerate(shapes):
        shape = without_group(shape, tuple(PART_GROUPS)[int(groups[b])])
        pts = c[b if c.shape[0] > 1 else 0].to(torch.float64)
        values = field_targets(shape, pts, sharpness) if domain == "field" else shape.sdf(pts)[:, None]
        out.append(values.to(coords.dtype))
    return torch.stack(out)


# ----------------------------------------------------------------------------------------------------------------
# dilate
# ----------------------------------------------------------------------------------------------------------------


def _dilate(f: Fn, coords: Tensor, p: dict[str, Tensor], domain: str, *, grid: int = 28) -> Tensor:
    """3x3 grey dilation on the ``grid`` x ``grid`` pixel grid: ``f'(x) = max_o f(x + o)``, o in {-h, 0, h}^2,
    h = 2 / (grid - 1), per channel. A neighbour ``x + o`` more than h/4 outside [-1, 1]^2 does not count (the
    point itself always does); on the grid this is ``scipy.ndimage.grey_dilation(img, size=3, mode="nearest")``
    and OpenCV's ``cv2.dilate(img, np.ones((3, 3)))`` (default border: outside pixels ignored).
    """
    if not (isinstance(grid, int) and grid >= 2):
        raise ValueError(f"dilate: grid={grid!r} is not accepted; accepted: an integer >= 2 (default 28)")
    h = 2.0 / (grid - 1)
    steps = torch.tensor([-h, 0.0, h], dtype=coords.dtype, device=coords.device)
    offsets = torch.cartesian_prod(steps, steps)  # [9, 2]
    c = batched_coords(coords)
    pts = c[:, :, None, :] + offsets  # [nc, M, 9, 2]
    valid = (pts.abs() <= 1 + h / 4).all(-1) | (offsets == 0).all(-1)
    vals = call_shared(f, pts.reshape(pts.shape[0], -1, 2))
    vals = vals.reshape(vals.shape[0], -1, 9, vals.shape[-1])
    return vals.masked_fill(~valid[..., None], -math.inf).amax(dim=2)


__all__ = [
    "AXES",
    "PART_GROUPS",
    "SYMMETRIZE_MODES",
    "box_sdf",
    "combine_mirrored",
    "erase",
    "gaussian_quadrature",
    "mirror_coords",
    "part_group_of",
    "sphere_sdf",
    "without_group",
]
