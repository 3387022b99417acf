"""Meshes as SDF sources: load and repair with trimesh, inside/outside by generalized winding numbers (libigl),
distances with open3d's raycasting scene.

Users' meshes are often scans or exports: not watertight, several overlapping parts, flipped faces, seams that
split vertices, degenerate faces, far from the origin or in millimetres. :func:`prepare_mesh` repairs what can be
repaired (with a :class:`MeshWarning` naming it) and refuses, in one line, only what cannot give a usable SDF: no
faces, non-finite vertices, nothing enclosed. :class:`MeshShape` then treats the mesh like a procedural shape (one
part, named ``mesh``) for the samplers of :mod:`dws_edit.data.shapes` and :mod:`dws_edit.data.fields`. The way
back, marching cubes of an SDF to a mesh, is output: :func:`dws_edit.render.shape_to_mesh`.

Inside/outside: the generalized winding number ``w(p)`` (Jacobson, Kavan and Sorkine-Hornung, "Robust
Inside-Outside Segmentation using Generalized Winding Numbers", SIGGRAPH 2013), computed by libigl's
``fast_winding_number`` (Barill et al., SIGGRAPH 2018): 1 inside a closed surface, 0 outside, about 1/2 across a
hole, k inside k overlapping closed parts. A point is inside where ``|w| > 1/2``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import trimesh
from torch import Tensor

MESH_EXTENSIONS = (".obj", ".ply", ".stl", ".glb", ".gltf", ".off")
NORMALIZED_SIZE = 1.6  # the longest side of a normalized mesh: it fits in [-0.8, 0.8]^3


MAX_BODIES = 32
"""Meshes of at most this many closed bodies get the union's signed distance body by body (exact outside, a
bound inside like a procedural shape's); beyond, the distance to the nearest face is used everywhere."""


class MeshWarning(UserWarning):
    """A mesh was accepted after a repair or with an approximation, which the message names."""


def _warn(message: str) -> None:
    warnings.warn(message, MeshWarning, stacklevel=3)


def load_mesh(path: str | Path, normalize: bool = True) -> trimesh.Trimesh:
    """Load a triangle mesh (.obj/.ply/.stl/.glb/.gltf/.off) with trimesh, a scene concatenated into one mesh and
    Draco-compressed .glb decoded (:mod:`dws_edit.data.draco`), then :func:`prepare_mesh` it.

    Raises ValueError (one line, naming the file) for another extension, an unreadable file, or a mesh that
    :func:`prepare_mesh` refuses.
    """
    from dws_edit.data.draco import load_draco_glb, uses_draco

    path = Path(path)
    accepted = "accepted " + "/".join(MESH_EXTENSIONS)
    if path.suffix.lower() not in MESH_EXTENSIONS:
        raise ValueError(f"{path}: unsupported mesh extension {path.suffix!r}; {accepted}")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if uses_draco(path):
        return _prepared(path, load_draco_glb(path), normalize)
    try:
        mesh = trimesh.load(str(path), force="mesh")
    except Exception as err:  # trimesh raises many kinds of errors for bad files
        detail = " ".join(str(err).split())[:200]
        raise ValueError(f"{path}: trimesh cannot read it ({type(err).__name__}: {detail}); {accepted}") from None
    if isinstance(mesh, trimesh.Scene):  # force="mesh" normally concatenates; be safe with older trimesh
        mesh = scene_to_mesh(mesh)
    if not isinstance(mesh, trimesh.Trimesh):
        raise ValueError(f"{path}: no triangle faces in the file (a point cloud or lines?); {accepted}")
    return _prepared(path, mesh, normalize)


def scene_to_mesh(scene: trimesh.Scene) -> trimesh.Trimesh | None:
    """A scene's triangle meshes placed by their transforms and concatenated into one; None when it holds none."""
    parts = [g for g in scene.dump() if isinstance(g, trimesh.Trimesh)]
    return trimesh.util.concatenate(parts) if parts else None


def _prepared(path: Path, mesh: trimesh.Trimesh, normalize: bool) -> trimesh.Trimesh:
    try:
        return prepare_mesh(mesh, normalize=normalize)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def prepare_mesh(mesh: trimesh.Trimesh, normalize: bool = True) -> trimesh.Trimesh:
    """A repaired copy of ``mesh`` ready for :class:`MeshShape`.

    Repairs: vertices at the same position are merged even where UV or normal seams split them (OBJ ``f v/vt/vn``
    exports); degenerate (zero-area) and duplicated faces are dropped and unused vertices removed (a
    :class:`MeshWarning` gives the counts); faces are wound consistently and outward per connected body
    (``trimesh.repair.fix_normals``). ``normalize`` centers the bounding box at the origin and scales the longest
    side to 1.6 (any unit, any position). Raises ValueError (one line) for a mesh without faces, with NaN or
    infinite vertices, or whose faces all vanish in the repair.
    """
    if not isinstance(mesh, trimesh.Trimesh):
        raise ValueError(f"expected a trimesh.Trimesh, got {type(mesh).__name__}")
    if len(mesh.faces) == 0:
        raise ValueError("no triangle faces: a signed distance needs a surface")
    if not np.isfinite(mesh.vertices).all():
        bad = int((~np.isfinite(mesh.vertices)).any(axis=1).sum())
        raise ValueError(f"{bad} of {len(mesh.vertices)} vertices are NaN or infinite; fix or remove them")
    mesh = trimesh.Trimesh(mesh.vertices.astype(np.float64), mesh.faces, process=False)
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    n_faces = len(mesh.faces)
    keep = mesh.nondegenerate_faces()
    n_degenerate = int((~keep).sum())
    mesh.update_faces(keep)
    n_duplicate = len(mesh.faces) - len(mesh.unique_faces().nonzero()[0])
    mesh.update_faces(mesh.unique_faces())
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0:
        raise ValueError(f"all {n_faces} faces are degenerate (zero area): nothing encloses a volume")
    if n_degenerate or n_duplicate:
        _warn(f"mesh repaired: dropped {n_degenerate} degenerate and {n_duplicate} duplicated of {n_faces} faces")
    with np.errstate(divide="ignore", invalid="ignore"):  # trimesh divides by the volume of flat bodies
        trimesh.repair.fix_normals(mesh, multibody=True)
    if normalize:
        mesh = normalize_mesh(mesh)
    return mesh


def normalize_mesh(mesh: trimesh.Trimesh, size: float = NORMALIZED_SIZE) -> trimesh.Trimesh:
    """A copy centered on its bounding box, scaled so that its longest side is ``size``."""
    mesh = mesh.copy()
    lo, hi = mesh.bounds
    extent = float((hi - lo).max())
    if extent <= 0:
        raise ValueError("all vertices coincide (the bounding box has zero size): nothing to fit")
    mesh.apply_translation(-(lo + hi) / 2)
    mesh.apply_scale(size / extent)
    return mesh


def _raycasting_scene(mesh: trimesh.Trimesh):
    import open3d as o3d  # imported lazily: it is slow to import and only needed here

    scene = o3d.t.geometry.RaycastingScene()
    vertices = o3d.core.Tensor(np.ascontiguousarray(mesh.vertices, dtype=np.float32))
    triangles = o3d.core.Tensor(np.ascontiguousarray(mesh.faces, dtype=np.uint32))
    scene.add_triangles(vertices, triangles)
    return scene


def _winding(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    import igl

    return igl.fast_winding_number(
        np.ascontiguousarray(mesh.vertices, dtype=np.float64), np.ascontiguousarray(mesh.faces, dtype=np.int64), points
    )


@dataclass(eq=False)
class MeshShape:
    """A mesh (repaired by :func:`prepare_mesh` first) treated like a procedural shape: ``sdf`` (float64 computed,
    returned in the points' dtype and device), and a single part ``mesh`` of one ``color`` for
    :func:`~dws_edit.data.fields.field_targets`.

    The sign comes from the generalized winding number of the whole mesh (inside where ``|w| > 1/2``), so holes,
    flipped faces and overlapping parts are tolerated: inside any closed part is inside. The magnitude is the
    distance to the nearest face (open3d), except inside a mesh of 2 to ``MAX_BODIES`` closed bodies: there it is
    the largest depth inside a body that holds the point (the SDF of the union as the minimum of the bodies' SDFs),
    so the faces of one part buried inside another do not count as surface. A mesh that is not watertight gives a
    :class:`MeshWarning`; one that encloses nothing on a 32^3 grid raises ValueError.
    """

    mesh: trimesh.Trimesh
    color: tuple[float, float, float] = (0.7, 0.7, 0.7)
    family: str = "mesh"
    _scene: Any = field(default=None, init=False, repr=False)
    _bodies: list = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._scene = _raycasting_scene(self.mesh)
        bodies = self.mesh.split(only_watertight=False)
        if 1 < len(bodies) <= MAX_BODIES and all(b.is_watertight for b in bodies):
            self._bodies = [(b, _raycasting_scene(b)) for b in bodies]
        lo, hi = self.mesh.bounds
        axes = [torch.linspace(float(a), float(b), 32, dtype=torch.float64) for a, b in zip(lo, hi)]
        probe = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        if not (np.abs(_winding(self.mesh, probe.numpy())) > 0.5).any():
            raise ValueError(
                f"the mesh ({len(self.mesh.faces)} faces) encloses no volume (a flat or open surface): "
                "a signed distance needs an inside; accepted: closed or nearly closed surfaces"
            )
        if not self.mesh.is_watertight:
            open_edges = len(trimesh.grouping.group_rows(self.mesh.edges_sorted, require_count=1))
            _warn(
                f"mesh is not watertight ({open_edges} open edges): inside/outside from generalized winding numbers, "
                "which close small holes; check the fitted shape"
            )

    @classmethod
    def from_path(cls, path: str | Path, normalize: bool = True, **kwargs: Any) -> MeshShape:
        mesh = load_mesh(path, normalize=normalize)
        try:
            return cls(mesh, **kwargs)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

    @property
    def part_names(self) -> tuple[str, ...]:
        return ("mesh",)

    def sdf(self, points: Tensor) -> Tensor:
        """Signed distance ``[..., 3] -> [...]``, negative inside (see the class)."""
        import open3d as o3d

        if points.shape[-1] != 3:
            raise ValueError(f"points of shape {tuple(points.shape)}: expected [N, 3]")
        flat = points.detach().reshape(-1, 3).to("cpu", torch.float64).contiguous().numpy()
        if len(flat) == 0:
            return torch.zeros(points.shape[:-1], dtype=points.dtype, device=points.device)
        query = o3d.core.Tensor(flat.astype(np.float32))
        distance = self._scene.compute_distance(query).numpy().astype(np.float64)
        inside = np.abs(_winding(self.mesh, flat)) > 0.5
        if self._bodies:
            depth = np.zeros(len(flat))
            for body, scene in self._bodies:
                in_body = np.abs(_winding(body, flat)) > 0.5
                depth = np.maximum(depth, np.where(in_body, scene.compute_distance(query).numpy(), 0.0))
            distance = np.where(inside & (depth > 0), depth, distance)
        d = np.where(inside, -distance, distance)
        return torch.from_numpy(d).reshape(points.shape[:-1]).to(points.dtype).to(points.device)

    def part_labels(self, points: Tensor) -> Tensor:
        return torch.zeros(points.shape[:-1], dtype=torch.long, device=points.device)

    def colors(self, points: Tensor) -> Tensor:
        color = torch.tensor(self.color, dtype=points.dtype, device=points.device)
        return color.expand(*points.shape[:-1], 3).clone()


def mesh_sdf(mesh: trimesh.Trimesh, points: Tensor) -> Tensor:
    """Signed distance ``[..., 3] -> [...]`` (negative inside) to a mesh in its own coordinates: the
    :class:`MeshShape` of the mesh repaired by :func:`prepare_mesh` without normalization."""
    return MeshShape(prepare_mesh(mesh, normalize=False)).sdf(points)
