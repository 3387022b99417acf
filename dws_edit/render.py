"""Turning INRs and shapes into things people look at: pixel images and triangle meshes.

``render_images`` evaluates image INRs on their pixel grid; ``save_image_grid`` writes them as one PNG (PIL).
``level_set_mesh`` extracts a zero level set by marching cubes (``skimage.measure.marching_cubes``) into a
``trimesh.Trimesh`` (``shape_to_mesh`` for shapes, ``inr_to_mesh`` for SDF and field INRs); ``save_mesh`` writes it
(.glb/.obj/.ply/.stl/.off). ``render_mesh_views`` shades a mesh from a few cameras (open3d ray casting);
``render_field_views`` volume-renders colored density fields from the same cameras.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dws_edit.inr.domains import get_domain
from dws_edit.inr.evaluate import evaluate
from dws_edit.inr.siren import cube_grid, grid_coords
from dws_edit.records import atomic_write_bytes
from dws_edit.weights import WeightSpace

if TYPE_CHECKING:
    import trimesh

    from dws_edit.data.shapes import HasSDF


def render_images(ws: WeightSpace, height: int = 28, width: int = 28, chunk: int = 1024) -> torch.Tensor:
    """Evaluate image INRs on the pixel grid (``grid_coords``: x across the columns, y down the rows, both on
    [-1, 1]): ``[B, C, H, W]`` in the INRs' dtype, clipped to [0, 1]. ``chunk`` INRs are evaluated at once."""
    coords = grid_coords(height, width).to(ws.dtype)
    outs = []
    with torch.no_grad():
        for lo in range(0, ws.batch_size, chunk):
            out = evaluate(ws[lo : lo + chunk], coords)
            outs.append(out.reshape(out.shape[0], height, width, -1).permute(0, 3, 1, 2))
    return torch.cat(outs).clamp(0, 1)


def save_image_grid(images: torch.Tensor, path: str | Path, columns: int = 8, scale: int = 4) -> None:
    """Write ``[N, C, H, W]`` (or ``[N, H, W]``) images in [0, 1] as one PNG grid, atomically.

    Image k sits in row ``k // columns``, column ``k % columns``, with a 1-pixel black gap between neighbours; the
    grid is then enlarged ``scale`` times (nearest neighbour): the PNG is ``scale * (columns * (W + 1) - 1)`` pixels
    wide and ``scale * (rows * (H + 1) - 1)`` high (one image: ``scale * W`` by ``scale * H``); grayscale for
    C = 1, RGB for C = 3, RGBA for C = 4. Raises ValueError for another shape.
    """
    from PIL import Image

    if images.dim() == 3:
        images = images[:, None]
    if images.dim() != 4 or images.shape[1] not in (1, 3, 4):
        raise ValueError(f"images of shape {tuple(images.shape)}: expected [N, H, W] or [N, C, H, W] with C 1, 3 or 4")
    n, c, h, w = images.shape
    rows = (n + columns - 1) // columns
    grid = torch.zeros(c, rows * (h + 1) - 1, columns * (w + 1) - 1)
    for k in range(n):
        r, q = divmod(k, columns)
        grid[:, r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = images[k]
    arr = (grid.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    img = Image.fromarray(arr[0] if c == 1 else arr.transpose(1, 2, 0))
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


MESH_FORMATS = (".glb", ".obj", ".ply", ".stl", ".off")


@torch.no_grad()
def level_set_mesh(fn, resolution: int = 64, chunk: int = 262_144, what: str = "the shape's SDF") -> trimesh.Trimesh:
    """Marching cubes (``skimage.measure.marching_cubes``) of the zero level set of ``fn`` (points ``[N, 3]`` ->
    values ``[N]``, negative inside) on a ``resolution``^3 grid over [-1, 1]^3 (cell size ``2 / (resolution -
    1)``), evaluated ``chunk`` points at a time. The grid is padded with outside values so the mesh is closed even
    where the shape touches the cube; faces are oriented outward. Raises ValueError for a resolution below 2 or
    values with no zero crossing on the grid (naming ``what``)."""
    import trimesh
    from skimage.measure import marching_cubes

    if resolution < 2:
        raise ValueError(f"resolution {resolution}: need at least 2 grid points per axis")
    points = cube_grid(resolution).reshape(-1, 3).to(torch.float32)
    values = torch.cat([fn(points[i : i + chunk]).float().reshape(-1) for i in range(0, len(points), chunk)])
    volume = values.reshape(resolution, resolution, resolution).cpu().numpy().astype(np.float32)
    if not np.isfinite(volume).all() or not (volume.min() < 0 < volume.max()):
        raise ValueError(
            f"{what} has no zero crossing on the {resolution}^3 grid over [-1, 1]^3 (values in "
            f"[{np.nanmin(volume):.3g}, {np.nanmax(volume):.3g}]): no surface to mesh"
        )
    step = 2.0 / (resolution - 1)
    volume = np.pad(volume, 1, mode="constant", constant_values=max(float(volume.max()), step))
    verts, faces, _, _ = marching_cubes(volume, level=0.0, spacing=(step, step, step))
    mesh = trimesh.Trimesh(vertices=verts - (1.0 + step), faces=faces, process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def shape_to_mesh(shape: HasSDF, resolution: int = 64, chunk: int = 262_144) -> trimesh.Trimesh:
    """:func:`level_set_mesh` of ``shape.sdf`` (a procedural ``Shape``, a ``MeshShape``: anything with
    ``.sdf(points [N, 3]) -> [N]``)."""
    return level_set_mesh(shape.sdf, resolution, chunk)


def inr_to_mesh(
    ws: WeightSpace, resolution: int = 64, chunk: int = 262_144, level: float | None = None
) -> trimesh.Trimesh:
    """The surface of ONE 3-D INR (B = 1) as a triangle mesh by :func:`level_set_mesh`: an SDF INR's zero level
    set, or a colored field's density-1/2 level set (``level``: another value of output 0, e.g. the density of a
    NeRF trained from images, whose densities may stay far below 1/2) with per-vertex colors from its RGB. Raises
    ValueError for another batch size or domain, or an INR without a surface in [-1, 1]^3."""
    domain = get_domain(ws.spec)
    if not domain.has_surface or ws.batch_size != 1:
        raise ValueError(f"meshes come from ONE sdf or field INR; got {ws.batch_size} {domain.name} INR(s)")
    ws = ws.to(torch.float32)
    shift = 0.0 if level is None else level - domain.threshold
    sign = 1.0 if domain.inside_above else -1.0  # level() is threshold - density, or sdf - threshold
    mesh = level_set_mesh(
        lambda p: domain.level(evaluate(ws, p)[0]) + sign * shift, resolution, chunk, f"the {domain.name} INR's level"
    )
    with torch.no_grad():
        rgb = domain.colors(evaluate(ws, torch.as_tensor(mesh.vertices, dtype=torch.float32))[0])
    if rgb is not None:
        mesh.visual.vertex_colors = (rgb.numpy() * 255).round().astype(np.uint8)
    return mesh


def save_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Export a mesh by trimesh to .glb, .obj, .ply, .stl or .off (from the suffix), atomically. Raises ValueError
    for another suffix."""
    path = Path(path)
    if path.suffix.lower() not in MESH_FORMATS:
        raise ValueError(f"{path}: unsupported mesh format {path.suffix!r}; accepted {', '.join(MESH_FORMATS)}")
    data = mesh.export(file_type=path.suffix.lower()[1:])  # text formats come back as str
    atomic_write_bytes(path, data.encode() if isinstance(data, str) else data)
    return path


# ---------------------------------------------------------------------------------------------------- cameras, views


def orbit_eyes(views: int = 3, distance: float = 3.5, elevation: float = 25.0, start: float = 30.0) -> torch.Tensor:
    """``views`` camera positions ``[V, 3]`` on a circle around the y axis (y up) at ``distance`` from the origin,
    ``elevation`` degrees above the xz plane, the first at azimuth ``start`` degrees from +z toward +x."""
    az = torch.deg2rad(torch.tensor(start) + torch.arange(views) * 360.0 / views)
    el = torch.deg2rad(torch.tensor(elevation))
    return distance * torch.stack([torch.cos(el) * torch.sin(az), torch.sin(el).expand(views), torch.cos(el) *
                                   torch.cos(az)], dim=-1)  # fmt: skip


def look_at(eye: torch.Tensor) -> torch.Tensor:
    """The camera-to-world matrix ``[4, 4]`` of a camera at ``eye`` [3] looking at the origin with y up, in the
    OpenGL convention of NeRF's Blender scenes (columns: right, up, backward = -viewing direction, eye), which
    :func:`camera_rays` and :func:`dws_edit.data.scenes` share. Raises ValueError for an eye on the y axis (no
    horizon) or at the origin."""
    eye = torch.as_tensor(eye, dtype=torch.float32)
    forward = -eye / eye.norm()
    right = torch.linalg.cross(forward, torch.tensor([0.0, 1.0, 0.0]))
    if not torch.isfinite(forward).all() or right.norm() < 1e-6:
        raise ValueError(f"camera at {eye.tolist()}: expected a point off the y axis (the views keep y up)")
    right = right / right.norm()
    up = torch.linalg.cross(right, forward)
    c2w = torch.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, -forward, eye
    return c2w


def camera_rays(eye: torch.Tensor, size: int, fov: float = 40.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pinhole camera at ``eye`` [3] looking at the origin, y up (:func:`look_at`), ``fov`` degrees vertical (and
    horizontal) field of view: ``(origins [size*size, 3], unit directions [size*size, 3])``, row-major from the
    top-left pixel, through the pixels' centers."""
    c2w = look_at(eye)
    half = math.tan(math.radians(fov) / 2)
    t = (torch.arange(size) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(-t * half, t * half, indexing="ij")
    dirs = -c2w[:3, 2] + u.reshape(-1, 1) * c2w[:3, 0] + v.reshape(-1, 1) * c2w[:3, 1]
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    return c2w[:3, 3].expand_as(dirs).clone(), dirs


FRAMED_DISTANCE = 1.05 * math.sqrt(3) / math.sin(math.radians(40.0 / 2))
"""About 5.31: the camera distance at which the sphere of radius sqrt(3) around [-1, 1]^3 (the INRs' domain) fits
in :func:`camera_rays`' 40-degree view with a 5% margin, so no shape of the domain is cut off. The distance of the
PNG views of meshes (:func:`render_mesh_views`); :func:`render_field_views` keeps :func:`orbit_eyes`' 3.5, at which
the benchmarks' view PSNRs were measured."""


def render_mesh_views(
    mesh: trimesh.Trimesh, views: int = 3, size: int = 128, distance: float = FRAMED_DISTANCE
) -> torch.Tensor:
    """Shaded views ``[V, 3, size, size]`` in [0, 1] of a mesh from :func:`orbit_eyes` at ``distance`` (default
    :data:`FRAMED_DISTANCE`: the whole cube [-1, 1]^3 in view; y up), white background: open3d's ray casting finds
    the visible face, Lambert shading (a headlight plus ambient 0.3) with the mesh's vertex colors (their mean over
    the face) or grey."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, dtype=np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.uint32)))  # fmt: skip
    colors = np.full((len(mesh.faces), 3), 0.75, dtype=np.float32)
    if mesh.visual.kind == "vertex":
        colors = mesh.visual.vertex_colors[:, :3][mesh.faces].mean(axis=1).astype(np.float32) / 255
    images = []
    for eye in orbit_eyes(views, distance):
        origins, dirs = camera_rays(eye, size)
        hit = scene.cast_rays(o3d.core.Tensor(torch.cat([origins, dirs], dim=1).numpy().astype(np.float32)))
        face = hit["primitive_ids"].numpy().astype(np.int64)
        found = np.isfinite(hit["t_hit"].numpy())
        normals = hit["primitive_normals"].numpy()
        shade = 0.3 + 0.7 * np.abs((normals * dirs.numpy()).sum(axis=1))
        rgb = np.ones((size * size, 3), dtype=np.float32)
        rgb[found] = colors[face[found]] * shade[found, None]
        images.append(torch.from_numpy(rgb.reshape(size, size, 3)).permute(2, 0, 1))
    return torch.stack(images).clamp(0, 1)


DENSITY_SCALE = 100.0
"""Volume density (per unit length) of a colored field's density 1: a ray saturates about 0.05 units into a solid."""


def field_sigma(values: torch.Tensor, points: torch.Tensor, density_scale: float = DENSITY_SCALE) -> torch.Tensor:
    """The volume density ``sigma`` [...] (per unit length) of a colored field's values ``[..., 4]`` = (density in
    [0, 1], r, g, b) at ``points`` ``[..., 3]`` (broadcast): ``density_scale * clamp(density, 0, 1)`` inside the cube
    [-1, 1]^3 (the INRs' domain) and 0 outside. The one convention of :func:`volume_render`, the scenes of
    :mod:`dws_edit.data.scenes` and the dws-nerf method's field (nerfstudio_plugin)."""
    in_cube = (points.abs() <= 1).all(-1)
    return density_scale * values[..., 0].clamp(0, 1) * in_cube


@torch.no_grad()
def render_field_views(
    fn, views: int = 3, size: int = 64, samples: int = 128, density_scale: float = DENSITY_SCALE, chunk: int = 65536
) -> torch.Tensor:
    """Colored density fields seen from :func:`orbit_eyes` by :func:`volume_render`: ``[B, V, 3, size, size]``
    in [0, 1] on a white background. ``fn`` maps points ``[M, 3]`` to ``[B, M, 4]`` = (density in [0, 1], r, g, b)
    (e.g. ``lambda p: evaluate(ws, p)``, or an edit's exact target)."""
    out = []
    for eye in orbit_eyes(views):
        origins, dirs = camera_rays(eye, size)
        rgb = volume_render(fn, origins, dirs, samples, density_scale, chunk)
        out.append(rgb.reshape(-1, size, size, 3).permute(0, 3, 1, 2))
    return torch.stack(out, dim=1).clamp(0, 1)


def render_rays(
    fn,
    origins: torch.Tensor,
    dirs: torch.Tensor,
    samples: int = 128,
    density_scale: float = DENSITY_SCALE,
    chunk: int = 65536,
) -> torch.Tensor:
    """Volume rendering (Max 1995; the NeRF quadrature of Mildenhall et al. 2020) of rays ``origins`` [R, 3],
    unit ``dirs`` [R, 3] through a colored density field: ``[B, R, 3]`` RGB in [0, 1] on a white background.

    ``fn`` maps points ``[M, 3]`` to ``[B, M, 4]`` = (density in [0, 1], r, g, b). Along each ray, ``samples``
    midpoints of equal steps ``delta`` across the sphere of radius sqrt(3) holding [-1, 1]^3 (from the first ray's
    origin distance); opacity ``1 - exp(-sigma * delta)``, ``sigma`` of :func:`field_sigma` (0 outside the cube
    [-1, 1]^3, the INRs' domain), so a ray saturates about 0.05 units into a solid (density 1).
    :func:`volume_render` is the same without gradients; this one keeps them (photometric fine-tuning: ``dws-edit
    bench nerf``)."""
    distance = origins[0].norm()
    near, far = distance - math.sqrt(3), distance + math.sqrt(3)
    delta = (far - near) / samples
    t = near + (torch.arange(samples) + 0.5) * delta
    points = (origins[:, None] + t[None, :, None] * dirs[:, None]).reshape(-1, 3)
    values = torch.cat([fn(points[i : i + chunk]).float() for i in range(0, len(points), chunk)], dim=1)
    values = values.reshape(values.shape[0], len(origins), samples, 4)
    alpha = 1 - torch.exp(-field_sigma(values, points.reshape(1, len(origins), samples, 3), density_scale) * delta)
    transmit = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1 - alpha[..., :-1]], dim=-1), dim=-1)
    weights = alpha * transmit
    rgb = (weights[..., None] * values[..., 1:].clamp(0, 1)).sum(dim=2) + (1 - weights.sum(dim=2, keepdim=True))
    return rgb.clamp(0, 1)


volume_render = torch.no_grad()(render_rays)
"""The views of :func:`render_field_views`, the scenes of :mod:`dws_edit.data.scenes`: :func:`render_rays` without
gradients."""
