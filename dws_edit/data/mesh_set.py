"""Held-out 3-D shapes that the procedural generator cannot make, built with trimesh.

The generic 3-D edits (smooth, symmetrize, remove a region) are trained on the generator's families and random
compositions of its primitives; these meshes use primitives and operations it never uses (cones, faceted solids,
extruded and revolved profiles, rotated boxes, overlapping parts joined by concatenation), so that a measurement on
them says how the edits carry to shapes from elsewhere. Each is normalized like a user's mesh
(:func:`~dws_edit.data.meshes.prepare_mesh`: centered, longest side 1.6).
"""

from __future__ import annotations

import math

import numpy as np
import trimesh

from dws_edit.data.meshes import prepare_mesh


def _star_prism() -> trimesh.Trimesh:
    from shapely.geometry import Polygon

    angles = np.arange(10) * math.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
    star = Polygon(np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1))
    return trimesh.creation.extrude_polygon(star, height=0.5)


def _vase() -> trimesh.Trimesh:
    z = np.linspace(0, 1.6, 12)
    r = 0.35 + 0.18 * np.sin(z * 3.2) + 0.05 * z
    profile = np.concatenate([[[0, 0]], np.stack([r, z], axis=1), [[0, 1.6]]])
    return trimesh.creation.revolve(profile, sections=48)


def _dumbbell() -> trimesh.Trimesh:
    a, b = trimesh.creation.icosphere(3, radius=0.35), trimesh.creation.icosphere(3, radius=0.35)
    a.apply_translation((-0.6, 0, 0))
    b.apply_translation((0.6, 0, 0))
    bar = trimesh.creation.cylinder(radius=0.12, height=1.2, sections=32)
    bar.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, (0, 1, 0)))
    return trimesh.util.concatenate([a, b, bar])


def _bracket() -> trimesh.Trimesh:
    foot = trimesh.creation.box(extents=(1.2, 0.25, 0.6))
    wall = trimesh.creation.box(extents=(0.25, 1.0, 0.6))
    wall.apply_translation((-0.475, 0.5, 0))
    bracket = trimesh.util.concatenate([foot, wall])
    bracket.apply_transform(trimesh.transformations.rotation_matrix(0.35, (0, 1, 0)))
    return bracket


def _tilted_box() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(1.0, 0.5, 0.3))
    box.apply_transform(trimesh.transformations.rotation_matrix(0.6, (1, 1, 0)))
    return box


BUILDERS = {
    "cone": lambda: trimesh.creation.cone(radius=0.6, height=1.2, sections=48),
    "tube": lambda: trimesh.creation.annulus(r_min=0.3, r_max=0.6, height=0.8, sections=48),
    "icosahedron": trimesh.creation.icosahedron,
    "star_prism": _star_prism,
    "vase": _vase,
    "dumbbell": _dumbbell,
    "bracket": _bracket,
    "tilted_box": _tilted_box,
}
"""Name -> builder of each held-out mesh (in its own units; :func:`held_out_meshes` normalizes)."""


def held_out_meshes() -> dict[str, trimesh.Trimesh]:
    """Every held-out mesh, normalized: name -> ``trimesh.Trimesh`` (closed; overlapping parts in the dumbbell
    and the bracket, which :class:`~dws_edit.data.meshes.MeshShape` treats as a union)."""
    return {name: prepare_mesh(build()) for name, build in BUILDERS.items()}


COLORS: dict[str, tuple[float, float, float]] = {
    "cone": (0.85, 0.33, 0.10),
    "tube": (0.12, 0.47, 0.71),
    "icosahedron": (0.17, 0.63, 0.17),
    "star_prism": (0.89, 0.75, 0.15),
    "vase": (0.58, 0.40, 0.74),
    "dumbbell": (0.55, 0.34, 0.29),
    "bracket": (0.09, 0.75, 0.81),
    "tilted_box": (0.84, 0.15, 0.16),
}
"""Name -> the RGB color (in [0, 1]) of each held-out mesh as a colored density field (one color a mesh)."""


def held_out_shapes() -> dict:
    """Every held-out mesh as a :class:`~dws_edit.data.meshes.MeshShape` of its own color (:data:`COLORS`), ready
    for :func:`dws_edit.fit_shape` as an SDF or a colored field (``field=True``): name -> MeshShape."""
    from dws_edit.data.meshes import MeshShape

    return {name: MeshShape(mesh, color=COLORS[name]) for name, mesh in held_out_meshes().items()}
