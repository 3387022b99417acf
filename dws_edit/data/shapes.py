"""Procedural 3-D shape families with exact signed distance functions and part labels.

Conventions: points are ``[..., 3]`` tensors in [-1, 1]^3 (float32 or float64; every result keeps the points'
dtype and device), shapes fit inside roughly [-0.8, 0.8]^3, y is up. Signed distances are negative inside.
Furniture faces +z (its "front"); seen from the front, "left" is -x. Cars drive toward +x ("front"), their
right side is +z.

Each primitive below is the exact closed-form Euclidean distance (inside and outside). A :class:`Part` is a named
primitive with its parameters and a color; a :class:`Shape` is the union of its parts (min over the parts' SDFs:
exact outside, a bound inside). Families: ``mug`` (body + ``handle``), ``table`` (``top`` + four ``leg_*``),
``chair`` (``seat``, ``back``, four ``leg_*``), ``car`` (``body``, ``cabin``, four ``wheel_*``) and
``primitive`` (one sphere, box, cylinder, torus or capsule). :func:`sample_shape` draws random proportions for a
family from a ``torch.Generator``; :func:`build_shape` rebuilds the same shape from those proportions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

Vec3 = tuple[float, float, float]

# ----------------------------------------------------------------------------------------------------------------
# Exact SDF primitives
# ----------------------------------------------------------------------------------------------------------------


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

# ----------------------------------------------------------------------------------------------------------------
# Parts and shapes
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A named primitive (a key of ``PRIMITIVES``) with its keyword parameters and an RGB color in [0, 1].

    ``subtract`` = ``(primitive, params)`` carves a second primitive out of this one (``max(a, -b)``): that
    difference is only a bound on the distance near the cut, unlike the exact primitives.
    """

    name: str
    primitive: str
    params: Mapping[str, Any]
    color: Vec3 = (0.7, 0.7, 0.7)
    subtract: tuple[str, Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        for prim in (self.primitive,) + ((self.subtract[0],) if self.subtract else ()):
            if prim not in PRIMITIVES:
                raise ValueError(f"part {self.name!r}: unknown primitive {prim!r}; accepted {sorted(PRIMITIVES)}")

    def sdf(self, points: Tensor) -> Tensor:
        d = PRIMITIVES[self.primitive](points, **self.params)
        if self.subtract is not None:
            prim, params = self.subtract
            d = torch.maximum(d, -PRIMITIVES[prim](points, **params))
        return d


class HasSDF(Protocol):
    def sdf(self, points: Tensor) -> Tensor: ...


@dataclass(frozen=True)
class Shape:
    """A union of named parts, generated by ``family`` from the proportions ``params``.

    ``removed`` lists the parts taken away with :meth:`without`, ``mirror_axes`` the axes flipped with
    :meth:`mirrored` (both are kept for :meth:`to_dict`). ``parts`` holds the remaining parts in their original
    coordinates; the mirror is applied to the query points.
    """

    family: str
    params: dict[str, float]
    parts: tuple[Part, ...]
    removed: tuple[str, ...] = ()
    mirror_axes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError(f"a {self.family} shape needs at least one part")
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"part names must be unique, got {names}")

    # --- evaluation ---------------------------------------------------------------------------------------------

    def _local(self, points: Tensor) -> Tensor:
        _check_points(points)
        if not self.mirror_axes:
            return points
        sign = [-1.0 if i in self.mirror_axes else 1.0 for i in range(3)]
        return points * _vec(sign, points)

    def part_sdfs(self, points: Tensor) -> Tensor:
        """Each part's signed distance: [..., 3] -> [..., P], in the order of :attr:`part_names`."""
        q = self._local(points)
        return torch.stack([part.sdf(q) for part in self.parts], dim=-1)

    def sdf(self, points: Tensor) -> Tensor:
        """Signed distance [..., 3] -> [...], negative inside: the min over the parts' exact SDFs, so exact
        outside the shape and a bound inside (where parts meet or overlap its magnitude can fall short of the
        true depth, never exceed it)."""
        return self.part_sdfs(points).amin(dim=-1)

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(part.name for part in self.parts)

    def part_labels(self, points: Tensor) -> Tensor:
        """Index (into :attr:`part_names`) of the part with the smallest SDF at each point: [..., 3] -> [...] long."""
        return self.part_sdfs(points).argmin(dim=-1)

    def colors(self, points: Tensor) -> Tensor:
        """RGB in [0, 1] of the nearest part (smallest SDF) at each point: [..., 3] -> [..., 3]."""
        palette = torch.tensor([part.color for part in self.parts], dtype=points.dtype, device=points.device)
        return palette[self.part_labels(points)]

    # --- edits --------------------------------------------------------------------------------------------------

    def without(self, part_name: str) -> Shape:
        """The same shape with the part ``part_name`` removed (the union of the other parts, exactly)."""
        if part_name not in self.part_names:
            raise ValueError(f"{self.family} shape has no part {part_name!r}; accepted {list(self.part_names)}")
        if len(self.parts) == 1:
            raise ValueError(f"cannot remove {part_name!r}: it is the only part of this {self.family} shape")
        parts = tuple(p for p in self.parts if p.name != part_name)
        return Shape(self.family, dict(self.params), parts, self.removed + (part_name,), self.mirror_axes)

    def mirrored(self, axis: int = 0) -> Shape:
        """The exact mirror image through the plane ``axis = 0`` (x -> -x for axis 0):
        ``shape.mirrored(a).sdf(p) == shape.sdf(p with coordinate a negated)``. Mirroring twice is the identity."""
        _unit(axis)
        axes = tuple(sorted(set(self.mirror_axes) ^ {axis}))
        return Shape(self.family, dict(self.params), self.parts, self.removed, axes)

    # --- serialisation ------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description: family, params, removed parts and mirrored axes."""
        return {
            "family": self.family,
            "params": {k: float(v) for k, v in self.params.items()},
            "removed": list(self.removed),
            "mirror_axes": list(self.mirror_axes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Shape:
        """Rebuild a shape written by :meth:`to_dict` (through the family's generator with the same params)."""
        missing = {"family", "params"} - set(d)
        if missing:
            raise ValueError(f"shape dict misses the keys {sorted(missing)}; it has {sorted(d)}")
        shape = build_shape(d["family"], d["params"])
        for name in d.get("removed", ()):
            shape = shape.without(name)
        for axis in d.get("mirror_axes", ()):
            shape = shape.mirrored(int(axis))
        return shape


# ----------------------------------------------------------------------------------------------------------------
# Families
# ----------------------------------------------------------------------------------------------------------------

PALETTES: dict[str, dict[str, Vec3]] = {
    "mug": {"body": (0.85, 0.85, 0.80), "handle": (0.80, 0.25, 0.20)},
    "table": {"top": (0.60, 0.40, 0.20), "leg": (0.35, 0.22, 0.12)},
    "chair": {"seat": (0.20, 0.45, 0.70), "back": (0.25, 0.60, 0.35), "leg": (0.30, 0.30, 0.30)},
    "car": {"body": (0.80, 0.10, 0.10), "cabin": (0.55, 0.75, 0.90), "wheel": (0.10, 0.10, 0.10)},
    "primitive": {
        "sphere": (0.90, 0.60, 0.10),
        "box": (0.20, 0.60, 0.90),
        "cylinder": (0.30, 0.75, 0.30),
        "torus": (0.75, 0.30, 0.75),
        "capsule": (0.90, 0.35, 0.35),
    },
}
PRIMITIVE_KINDS = ("sphere", "box", "cylinder", "torus", "capsule")
CORNERS = (("front_left", -1.0, 1.0), ("front_right", 1.0, 1.0), ("back_left", -1.0, -1.0), ("back_right", 1.0, -1.0))


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def _randint(g: torch.Generator, n: int) -> int:
    return int(torch.randint(n, (), generator=g))


def _leg(name: str, color: Vec3, x: float, z: float, y0: float, y1: float, t: float, round_legs: bool) -> Part:
    center, half = (x, (y0 + y1) / 2, z), (y1 - y0) / 2
    if round_legs:
        return Part(name, "cylinder", {"center": center, "radius": t, "half_height": half, "axis": 1}, color)
    return Part(name, "box", {"center": center, "half_size": (t, half, t)}, color)


def _sample_mug(g: torch.Generator) -> dict[str, float]:
    p = {"radius": _uniform(g, 0.28, 0.4), "half_height": _uniform(g, 0.3, 0.5)}
    p["wall"] = _uniform(g, 0.04, 0.07)
    p["bottom"] = _uniform(g, 0.05, 0.09)
    p["handle_radius"] = _uniform(g, 0.45, 0.65) * p["half_height"]
    p["handle_thickness"] = _uniform(g, 0.55, 0.85) * p["wall"]
    room = p["half_height"] - p["handle_radius"] - p["handle_thickness"] - 0.03
    p["handle_y"] = _uniform(g, -1.0, 1.0) * max(room, 0.0)
    return p


def _build_mug(p: Mapping[str, float]) -> tuple[Part, ...]:
    """Body: a cup around the y axis, open at the top; handle: a half torus in the xy plane on the +x side, its
    rounded ends inside the wall."""
    colors = PALETTES["mug"]
    ra, rb = p["handle_radius"], p["handle_thickness"]
    cx = -(ra + rb) / 2  # shift the body so the mug with its handle is roughly centered
    body = Part(
        "body",
        "cup",
        {"center": (cx, 0.0, 0.0), "radius": p["radius"], "half_height": p["half_height"], "wall": p["wall"],
         "bottom": p["bottom"]},
        colors["body"],
    )  # fmt: skip
    hx = cx + p["radius"] - p["wall"] + rb
    handle = Part(
        "handle",
        "torus",
        {"center": (hx, p["handle_y"], 0.0), "major_radius": ra, "minor_radius": rb, "axis": 2,
         "direction": (1.0, 0.0, 0.0), "half_angle": math.pi / 2},
        colors["handle"],
    )  # fmt: skip
    return body, handle


def _sample_table(g: torch.Generator) -> dict[str, float]:
    return {
        "top_half_width": _uniform(g, 0.5, 0.78),
        "top_half_depth": _uniform(g, 0.3, 0.7),
        "top_half_thickness": _uniform(g, 0.025, 0.05),
        "top_rounding": _uniform(g, 0.0, 0.02),
        "half_height": _uniform(g, 0.35, 0.7),
        "leg_thickness": _uniform(g, 0.03, 0.06),
        "leg_inset": _uniform(g, 0.0, 0.12),
        "round_legs": float(_randint(g, 2)),
    }


def _build_table(p: Mapping[str, float]) -> tuple[Part, ...]:
    colors = PALETTES["table"]
    h, tt, lt = p["half_height"], p["top_half_thickness"], p["leg_thickness"]
    top = Part(
        "top",
        "box",
        {"center": (0.0, h - tt, 0.0), "half_size": (p["top_half_width"], tt, p["top_half_depth"]),
         "rounding": p["top_rounding"]},
        colors["top"],
    )  # fmt: skip
    lx = p["top_half_width"] - p["leg_inset"] - lt
    lz = p["top_half_depth"] - p["leg_inset"] - lt
    legs = tuple(
        _leg(f"leg_{corner}", colors["leg"], sx * lx, sz * lz, -h, h - tt, lt, p["round_legs"] >= 0.5)
        for corner, sx, sz in CORNERS
    )
    return (top,) + legs


def _sample_chair(g: torch.Generator) -> dict[str, float]:
    p = {
        "seat_half_width": _uniform(g, 0.25, 0.4),
        "seat_half_depth": _uniform(g, 0.25, 0.38),
        "seat_half_thickness": _uniform(g, 0.025, 0.045),
        "leg_length": _uniform(g, 0.35, 0.55),
        "leg_thickness": _uniform(g, 0.02, 0.04),
        "back_height": _uniform(g, 0.35, 0.65),
        "back_half_thickness": _uniform(g, 0.02, 0.04),
    }
    p["back_half_width"] = _uniform(g, 0.75, 1.0) * p["seat_half_width"]
    p["round_legs"] = float(_randint(g, 2))
    return p


def _build_chair(p: Mapping[str, float]) -> tuple[Part, ...]:
    """Seat on four legs, the back standing on the seat's back (-z) edge; vertically centered."""
    colors = PALETTES["chair"]
    st, lt, bt = p["seat_half_thickness"], p["leg_thickness"], p["back_half_thickness"]
    sw, sd = p["seat_half_width"], p["seat_half_depth"]
    y0 = -(p["leg_length"] + 2 * st + p["back_height"]) / 2  # the floor
    seat_y = y0 + p["leg_length"] + st
    seat = Part("seat", "box", {"center": (0.0, seat_y, 0.0), "half_size": (sw, st, sd)}, colors["seat"])
    back_y0, back_y1 = seat_y - st, -y0
    back = Part(
        "back",
        "box",
        {"center": (0.0, (back_y0 + back_y1) / 2, -sd + bt),
         "half_size": (p["back_half_width"], (back_y1 - back_y0) / 2, bt)},
        colors["back"],
    )  # fmt: skip
    legs = tuple(
        _leg(f"leg_{corner}", colors["leg"], sx * (sw - lt), sz * (sd - lt), y0, seat_y, lt, p["round_legs"] >= 0.5)
        for corner, sx, sz in CORNERS
    )
    return (seat, back) + legs


def _sample_car(g: torch.Generator) -> dict[str, float]:
    p = {
        "body_half_length": _uniform(g, 0.6, 0.78),
        "body_half_height": _uniform(g, 0.08, 0.15),
        "body_half_width": _uniform(g, 0.25, 0.38),
        "body_rounding": _uniform(g, 0.02, 0.06),
        "wheel_radius": _uniform(g, 0.1, 0.16),
        "wheel_half_width": _uniform(g, 0.035, 0.06),
        "wheel_inset": _uniform(g, 0.03, 0.12),
        "clearance": _uniform(g, 0.4, 0.8),  # body bottom above the ground, in wheel radii
        "cabin_half_height": _uniform(g, 0.08, 0.14),
        "cabin_rounding": _uniform(g, 0.02, 0.06),
    }
    p["cabin_half_length"] = _uniform(g, 0.4, 0.65) * p["body_half_length"]
    p["cabin_half_width"] = _uniform(g, 0.75, 0.95) * p["body_half_width"]
    p["cabin_offset"] = _uniform(g, -0.35, 0.05) * p["body_half_length"]  # usually toward the rear: asymmetric
    return p


def _build_car(p: Mapping[str, float]) -> tuple[Part, ...]:
    colors = PALETTES["car"]
    bl, bh, bw, wr = p["body_half_length"], p["body_half_height"], p["body_half_width"], p["wheel_radius"]
    ch = p["cabin_half_height"]
    body_bottom = p["clearance"] * wr
    body_top = body_bottom + 2 * bh
    cabin_bottom = body_top - 0.01
    ground = -max(cabin_bottom + 2 * ch, 2 * wr) / 2  # vertically centered
    body = Part(
        "body",
        "box",
        {"center": (0.0, ground + body_bottom + bh, 0.0), "half_size": (bl, bh, bw), "rounding": p["body_rounding"]},
        colors["body"],
    )
    cabin = Part(
        "cabin",
        "box",
        {"center": (p["cabin_offset"], ground + cabin_bottom + ch, 0.0),
         "half_size": (p["cabin_half_length"], ch, p["cabin_half_width"]), "rounding": p["cabin_rounding"]},
        colors["cabin"],
    )  # fmt: skip
    wx = bl - wr - p["wheel_inset"]
    wheels = tuple(
        Part(
            f"wheel_{end}_{side}",
            "cylinder",
            {"center": (sx * wx, ground + wr, sz * bw), "radius": wr, "half_height": p["wheel_half_width"], "axis": 2},
            colors["wheel"],
        )
        for end, sx in (("front", 1.0), ("rear", -1.0))
        for side, sz in (("left", -1.0), ("right", 1.0))
    )
    return (body, cabin) + wheels


def _sample_primitive(g: torch.Generator) -> dict[str, float]:
    kind = _randint(g, len(PRIMITIVE_KINDS))
    p = {"kind": float(kind), "cx": _uniform(g, -0.2, 0.2), "cy": _uniform(g, -0.2, 0.2), "cz": _uniform(g, -0.2, 0.2)}
    name = PRIMITIVE_KINDS[kind]
    if name == "sphere":
        p["radius"] = _uniform(g, 0.15, 0.5)
    elif name == "box":
        p.update(sx=_uniform(g, 0.12, 0.5), sy=_uniform(g, 0.12, 0.5), sz=_uniform(g, 0.12, 0.5))
        p["rounding"] = _uniform(g, 0.0, 0.5) * min(p["sx"], p["sy"], p["sz"])
    elif name == "cylinder":
        p.update(radius=_uniform(g, 0.1, 0.45), half_height=_uniform(g, 0.1, 0.5), axis=float(_randint(g, 3)))
    elif name == "torus":
        p.update(major_radius=_uniform(g, 0.2, 0.4), minor_radius=_uniform(g, 0.05, 0.15), axis=float(_randint(g, 3)))
    else:
        direction = torch.randn(3, generator=g, dtype=torch.float64)
        direction = direction / _length(direction)
        p.update(dx=float(direction[0]), dy=float(direction[1]), dz=float(direction[2]))
        p.update(half_length=_uniform(g, 0.1, 0.35), radius=_uniform(g, 0.08, 0.2))
    return p


def _build_primitive(p: Mapping[str, float]) -> tuple[Part, ...]:
    """One primitive; ``params["kind"]`` is its index in ``PRIMITIVE_KINDS``; the part is named after it."""
    kind = int(p["kind"])
    if not 0 <= kind < len(PRIMITIVE_KINDS):
        raise ValueError(f"primitive kind {p['kind']}: expected an index into {PRIMITIVE_KINDS}")
    name = PRIMITIVE_KINDS[kind]
    c = (p["cx"], p["cy"], p["cz"])
    if name == "sphere":
        params: dict[str, Any] = {"center": c, "radius": p["radius"]}
    elif name == "box":
        params = {"center": c, "half_size": (p["sx"], p["sy"], p["sz"]), "rounding": p["rounding"]}
    elif name == "cylinder":
        params = {"center": c, "radius": p["radius"], "half_height": p["half_height"], "axis": int(p["axis"])}
    elif name == "torus":
        params = {"center": c, "major_radius": p["major_radius"], "minor_radius": p["minor_radius"]}
        params["axis"] = int(p["axis"])
    else:
        h = p["half_length"]
        a = tuple(ci - h * di for ci, di in zip(c, (p["dx"], p["dy"], p["dz"])))
        b = tuple(ci + h * di for ci, di in zip(c, (p["dx"], p["dy"], p["dz"])))
        params = {"a": a, "b": b, "radius": p["radius"]}
    return (Part(name, name, params, PALETTES["primitive"][name]),)


_FAMILY_FUNCS: dict[str, tuple[Callable[[torch.Generator], dict[str, float]], Callable[..., tuple[Part, ...]]]] = {
    "mug": (_sample_mug, _build_mug),
    "table": (_sample_table, _build_table),
    "chair": (_sample_chair, _build_chair),
    "car": (_sample_car, _build_car),
    "primitive": (_sample_primitive, _build_primitive),
}
FAMILIES: tuple[str, ...] = tuple(_FAMILY_FUNCS)


def _family(family: str):
    if family not in _FAMILY_FUNCS:
        raise ValueError(f"unknown shape family {family!r}; accepted {list(FAMILIES)}")
    return _FAMILY_FUNCS[family]


def build_shape(family: str, params: Mapping[str, float]) -> Shape:
    """The shape of ``family`` with the given proportions (as drawn by :func:`sample_shape`)."""
    build = _family(family)[1]
    params = {k: float(v) for k, v in params.items()}
    try:
        parts = build(params)
    except KeyError as err:
        raise ValueError(f"{family} params miss {err.args[0]!r}; got {sorted(params)}") from None
    return Shape(family, params, parts)


def sample_shape(family: str, generator: torch.Generator) -> Shape:
    """A random shape of ``family`` (one of ``FAMILIES``), deterministic for a given generator state."""
    sample = _family(family)[0]
    return build_shape(family, sample(generator))


def sample_shapes(family: str, n: int, seed: int) -> list[Shape]:
    """``n`` random shapes of ``family`` from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return [sample_shape(family, generator) for _ in range(n)]


# ----------------------------------------------------------------------------------------------------------------
# Training points
# ----------------------------------------------------------------------------------------------------------------


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
