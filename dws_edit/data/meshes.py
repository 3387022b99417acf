"""Meshes as SDF sources: load with trimesh, signed distances with open3d's raycasting.

:class:`MeshShape` wraps a closed mesh so that the samplers of :mod:`dws_edit.data.shapes` and
:mod:`dws_edit.data.fields` treat it like a procedural shape (one part, named ``mesh``). The way back, marching
cubes of an SDF to a mesh, is output: :func:`dws_edit.render.shape_to_mesh`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import trimesh
from torch import Tensor

MESH_EXTENSIONS = (".obj", ".ply", ".stl", ".glb", ".gltf", ".off")
NORMALIZED_SIZE = 1.6  # the longest side of a normalized mesh: it fits in [-0.8, 0.8]^3


def load_mesh(path: str | Path, normalize: bool = True) -> trimesh.Trimesh:
    """Load a triangle mesh (.obj/.ply/.stl/.glb/.gltf/.off) with trimesh; a scene is concatenated into one mesh.

    ``normalize`` centers the bounding box at the origin and scales the longest side to 1.6. Raises ValueError
    for another extension, an unreadable file, or a file without faces.
    """
    path = Path(path)
    accepted = "accepted " + "/".join(MESH_EXTENSIONS)
    if path.suffix.lower() not in MESH_EXTENSIONS:
        raise ValueError(f"{path}: unsupported mesh extension {path.suffix!r}; {accepted}")
    try:
        mesh = trimesh.load(str(path), force="mesh")
    except Exception as err:  # trimesh raises many kinds of errors for bad files
        detail = " ".join(str(err).split())[:200]
        raise ValueError(f"{path}: trimesh cannot read it ({type(err).__name__}: {detail}); {accepted}") from None
    if isinstance(mesh, trimesh.Scene):  # force="mesh" normally concatenates; be safe with older trimesh
        geometries = [g for g in mesh.geometry.values() if isinstance(g, trimesh.Trimesh)]
        mesh = trimesh.util.concatenate(geometries) if geometries else None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{path}: no triangle faces in the file; {accepted}")
    if normalize:
        mesh = normalize_mesh(mesh)
    return mesh


def normalize_mesh(mesh: trimesh.Trimesh, size: float = NORMALIZED_SIZE) -> trimesh.Trimesh:
    """A copy centered on its bounding box, scaled so that its longest side is ``size``."""
    mesh = mesh.copy()
    lo, hi = mesh.bounds
    extent = float((hi - lo).max())
    if extent <= 0:
        raise ValueError("cannot normalize a mesh whose bounding box has zero size")
    mesh.apply_translation(-(lo + hi) / 2)
    mesh.apply_scale(size / extent)
    return mesh


def _check_watertight(mesh: trimesh.Trimesh) -> None:
    if not mesh.is_watertight:
        raise ValueError(
            f"the mesh ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces) is not watertight: a signed distance "
            "needs a closed surface to tell inside from outside; repair it first, e.g. with "
            "trimesh.repair.fill_holes(mesh) (or mesh.fill_holes()) and check mesh.is_watertight"
        )


def _raycasting_scene(mesh: trimesh.Trimesh):
    import open3d as o3d  # imported lazily: it is slow to import and only needed here

    scene = o3d.t.geometry.RaycastingScene()
    vertices = o3d.core.Tensor(np.ascontiguousarray(mesh.vertices, dtype=np.float32))
    triangles = o3d.core.Tensor(np.ascontiguousarray(mesh.faces, dtype=np.uint32))
    scene.add_triangles(vertices, triangles)
    return scene


def _scene_sdf(scene, points: Tensor, nsamples: int) -> Tensor:
    import open3d as o3d

    if points.shape[-1] != 3:
        raise ValueError(f"points of shape {tuple(points.shape)}: expected [N, 3]")
    flat = points.detach().reshape(-1, 3).to("cpu", torch.float32).contiguous().numpy()
    if len(flat) == 0:
        return torch.zeros(points.shape[:-1], dtype=torch.float32)
    d = scene.compute_signed_distance(o3d.core.Tensor(flat), nsamples=nsamples).numpy()
    return torch.from_numpy(np.array(d, dtype=np.float32)).reshape(points.shape[:-1])


def mesh_sdf(mesh: trimesh.Trimesh, points: Tensor, nsamples: int = 3) -> Tensor:
    """Signed distance [..., 3] -> [...] float32 (on the CPU) to a closed mesh, negative inside.

    Uses ``open3d.t.geometry.RaycastingScene``: the distance to the nearest triangle, its sign from counting
    ray crossings (``nsamples`` rays, odd, vote, so that a ray grazing an edge does not flip the sign). Raises
    ValueError for a mesh that is not watertight.
    """
    _check_watertight(mesh)
    return _scene_sdf(_raycasting_scene(mesh), points, nsamples)


@dataclass(eq=False)
class MeshShape:
    """A closed mesh treated like a procedural shape: ``sdf`` (open3d, float32 computed, returned in the points'
    dtype and device), and a single part ``mesh`` of one ``color`` for :func:`~dws_edit.data.fields.field_targets`.
    The raycasting scene is built once."""

    mesh: trimesh.Trimesh
    color: tuple[float, float, float] = (0.7, 0.7, 0.7)
    nsamples: int = 3
    family: str = "mesh"
    _scene: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_watertight(self.mesh)
        self._scene = _raycasting_scene(self.mesh)

    @classmethod
    def from_path(cls, path: str | Path, normalize: bool = True, **kwargs: Any) -> MeshShape:
        return cls(load_mesh(path, normalize=normalize), **kwargs)

    @property
    def part_names(self) -> tuple[str, ...]:
        return ("mesh",)

    def sdf(self, points: Tensor) -> Tensor:
        return _scene_sdf(self._scene, points, self.nsamples).to(points.dtype).to(points.device)

    def part_labels(self, points: Tensor) -> Tensor:
        return torch.zeros(points.shape[:-1], dtype=torch.long, device=points.device)

    def colors(self, points: Tensor) -> Tensor:
        color = torch.tensor(self.color, dtype=points.dtype, device=points.device)
        return color.expand(*points.shape[:-1], 3).clone()
