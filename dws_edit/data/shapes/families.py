"""The procedural shape families: ``mug`` (body + ``handle``), ``table`` (``top`` + four ``leg_*``), ``chair``
(``seat``, ``back``, four ``leg_*``), ``car`` (``body``, ``cabin``, four ``wheel_*``), ``primitive`` (one sphere,
box, cylinder, torus or capsule) and ``compose`` (a union of 2 to 4 such primitives, ``part0`` ..., placed and
scaled at random: shapes that belong to no family).

Conventions: shapes fit inside roughly [-0.8, 0.8]^3, y is up. Furniture faces +z (its "front"); seen from the
front, "left" is -x. Cars drive toward +x ("front"), their right side is +z. :func:`sample_shape` draws random
proportions for a family from a ``torch.Generator``; :func:`~dws_edit.data.shapes.parts.build_shape` rebuilds the
same shape from those proportions (each family's builder is registered in ``FAMILY_BUILDERS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from dws_edit.data.shapes.parts import FAMILY_BUILDERS, Part, Shape, build_shape
from dws_edit.data.shapes.primitives import Vec3, _length

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


def _sample_compose(g: torch.Generator) -> dict[str, float]:
    """2 to 4 primitives, each drawn like the ``primitive`` family, moved to a random center in [-0.4, 0.4]^3 and
    scaled by a factor in [0.5, 1]: key ``k_name`` holds primitive k's proportion ``name``."""
    n = 2 + _randint(g, 3)
    p = {"n": float(n)}
    for k in range(n):
        sub = _sample_primitive(g)
        scale = _uniform(g, 0.5, 1.0)
        for key in ("radius", "sx", "sy", "sz", "rounding", "half_height", "major_radius", "minor_radius",
                    "half_length"):  # fmt: skip
            if key in sub:
                sub[key] *= scale
        sub.update(cx=_uniform(g, -0.4, 0.4), cy=_uniform(g, -0.4, 0.4), cz=_uniform(g, -0.4, 0.4))
        p.update({f"{k}_{key}": value for key, value in sub.items()})
    return p


def _build_compose(p: Mapping[str, float]) -> tuple[Part, ...]:
    """The union of ``n`` primitives named ``part0`` ... (see :func:`_sample_compose`)."""
    parts = []
    for k in range(int(p["n"])):
        sub = {key[len(f"{k}_") :]: v for key, v in p.items() if key.startswith(f"{k}_")}
        (part,) = _build_primitive(sub)
        parts.append(Part(f"part{k}", part.primitive, part.params, part.color))
    return tuple(parts)


_SAMPLERS: dict[str, Callable[[torch.Generator], dict[str, float]]] = {
    "mug": _sample_mug,
    "table": _sample_table,
    "chair": _sample_chair,
    "car": _sample_car,
    "primitive": _sample_primitive,
    "compose": _sample_compose,
}
FAMILY_BUILDERS.update(
    {
        "mug": _build_mug,
        "table": _build_table,
        "chair": _build_chair,
        "car": _build_car,
        "primitive": _build_primitive,
        "compose": _build_compose,
    }
)
FAMILIES: tuple[str, ...] = tuple(_SAMPLERS)


def sample_shape(family: str, generator: torch.Generator) -> Shape:
    """A random shape of ``family`` (one of ``FAMILIES``), deterministic for a given generator state."""
    if family not in _SAMPLERS:
        raise ValueError(f"unknown shape family {family!r}; accepted {list(FAMILIES)}")
    return build_shape(family, _SAMPLERS[family](generator))


def sample_shapes(family: str, n: int, seed: int) -> list[Shape]:
    """``n`` random shapes of ``family`` from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return [sample_shape(family, generator) for _ in range(n)]
