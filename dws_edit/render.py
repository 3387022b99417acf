"""Turning INRs and shapes into things people look at: pixel images and triangle meshes.

``render_images`` evaluates image INRs on their pixel grid; ``save_image_grid`` writes them as one PNG (PIL);
``shape_to_mesh`` extracts the zero level set of a signed distance function by marching cubes
(``skimage.measure.marching_cubes``) into a ``trimesh.Trimesh`` (export it with ``mesh.export("x.glb")``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dws_edit.inr.evaluate import evaluate
from dws_edit.inr.siren import grid_coords
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

    Image k sits in row ``k // columns``, column ``k % columns``, each followed by a 1-pixel black gap; the grid is
    then enlarged ``scale`` times (nearest neighbour): the PNG is ``scale * columns * (W + 1)`` pixels wide and
    ``scale * rows * (H + 1)`` high; grayscale for C = 1, RGB for C = 3, RGBA for C = 4. Raises ValueError for
    another shape.
    """
    from PIL import Image

    if images.dim() == 3:
        images = images[:, None]
    if images.dim() != 4 or images.shape[1] not in (1, 3, 4):
        raise ValueError(f"images of shape {tuple(images.shape)}: expected [N, H, W] or [N, C, H, W] with C 1, 3 or 4")
    n, c, h, w = images.shape
    rows = (n + columns - 1) // columns
    grid = torch.zeros(c, rows * (h + 1), columns * (w + 1))
    for k in range(n):
        r, q = divmod(k, columns)
        grid[:, r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = images[k]
    arr = (grid.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    img = Image.fromarray(arr[0] if c == 1 else arr.transpose(1, 2, 0))
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def _grid(resolution: int, lo: float = -1.0, hi: float = 1.0) -> torch.Tensor:
    g = torch.linspace(lo, hi, resolution, dtype=torch.float64)
    return torch.stack(torch.meshgrid(g, g, g, indexing="ij"), dim=-1)  # [R, R, R, 3]


@torch.no_grad()
def shape_to_mesh(shape: HasSDF, resolution: int = 64, chunk: int = 262_144) -> trimesh.Trimesh:
    """Marching cubes (``skimage.measure.marching_cubes``) of ``shape.sdf`` at level 0 on a ``resolution``^3
    grid over [-1, 1]^3 (cell size ``2 / (resolution - 1)``). The grid is padded with outside values so the
    mesh is closed even where the shape touches the cube; faces are oriented outward.

    ``shape`` is anything with ``.sdf(points [N, 3]) -> [N]`` (a procedural ``Shape``, a ``MeshShape``).
    Raises ValueError for a resolution below 2 or an SDF with no zero crossing on the grid.
    """
    import trimesh
    from skimage.measure import marching_cubes

    if resolution < 2:
        raise ValueError(f"resolution {resolution}: need at least 2 grid points per axis")
    points = _grid(resolution).reshape(-1, 3).to(torch.float32)
    values = torch.cat([shape.sdf(points[i : i + chunk]).float() for i in range(0, len(points), chunk)])
    volume = values.reshape(resolution, resolution, resolution).cpu().numpy().astype(np.float32)
    if not (volume.min() < 0 < volume.max()):
        raise ValueError(
            f"the shape's SDF has no zero crossing on the {resolution}^3 grid over [-1, 1]^3 "
            f"(range [{volume.min():.3g}, {volume.max():.3g}]): nothing to mesh"
        )
    step = 2.0 / (resolution - 1)
    volume = np.pad(volume, 1, mode="constant", constant_values=max(float(volume.max()), step))
    verts, faces, _, _ = marching_cubes(volume, level=0.0, spacing=(step, step, step))
    mesh = trimesh.Trimesh(vertices=verts - (1.0 + step), faces=faces, process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh
