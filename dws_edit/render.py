"""Turning INRs into things people look at: pixel images (meshes and volume renders join later)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dws_edit.inr.evaluate import evaluate
from dws_edit.inr.siren import grid_coords
from dws_edit.records import atomic_write_bytes
from dws_edit.weights import WeightSpace


def render_images(ws: WeightSpace, height: int = 28, width: int = 28, chunk: int = 1024) -> torch.Tensor:
    """Evaluate image INRs on the pixel grid: [B, C, H, W], clipped to [0, 1]."""
    coords = grid_coords(height, width).to(ws.dtype)
    outs = []
    with torch.no_grad():
        for lo in range(0, ws.batch_size, chunk):
            out = evaluate(ws[lo : lo + chunk], coords)
            outs.append(out.reshape(out.shape[0], height, width, -1).permute(0, 3, 1, 2))
    return torch.cat(outs).clamp(0, 1)


def save_image_grid(images: torch.Tensor, path: str | Path, columns: int = 8, scale: int = 4) -> None:
    """Write [N, C, H, W] (or [N, H, W]) images in [0, 1] as one PNG grid, atomically."""
    import io

    from PIL import Image

    if images.dim() == 3:
        images = images[:, None]
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
