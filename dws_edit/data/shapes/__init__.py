"""Procedural 3-D shape families with exact signed distance functions and part labels.

Conventions: points are ``[..., 3]`` tensors in [-1, 1]^3 (float32 or float64; every result keeps the points'
dtype and device), shapes fit inside roughly [-0.8, 0.8]^3, y is up. Signed distances are negative inside.

Modules: :mod:`~dws_edit.data.shapes.primitives` (exact SDF primitives), :mod:`~dws_edit.data.shapes.parts`
(:class:`Part`, :class:`Shape`: unions of parts, their exact edits and JSON round trip),
:mod:`~dws_edit.data.shapes.families` (mug, table, chair, car, primitive: random proportions and their parts) and
:mod:`~dws_edit.data.shapes.sampling` (training points). Every public name is importable from here.
"""

from dws_edit.data.shapes.families import CORNERS, FAMILIES, PALETTES, PRIMITIVE_KINDS, sample_shape, sample_shapes
from dws_edit.data.shapes.parts import FAMILY_BUILDERS, HasSDF, Part, PartsBuilder, Shape, build_shape
from dws_edit.data.shapes.primitives import (
    PRIMITIVES,
    Vec3,
    sdf_box,
    sdf_capsule,
    sdf_cup,
    sdf_cylinder,
    sdf_polygon,
    sdf_sphere,
    sdf_torus,
)
from dws_edit.data.shapes.sampling import sample_sdf_points

__all__ = [
    "CORNERS",
    "FAMILIES",
    "FAMILY_BUILDERS",
    "PALETTES",
    "PRIMITIVES",
    "PRIMITIVE_KINDS",
    "HasSDF",
    "Part",
    "PartsBuilder",
    "Shape",
    "Vec3",
    "build_shape",
    "sample_sdf_points",
    "sample_shape",
    "sample_shapes",
    "sdf_box",
    "sdf_capsule",
    "sdf_cup",
    "sdf_cylinder",
    "sdf_polygon",
    "sdf_sphere",
    "sdf_torus",
]
