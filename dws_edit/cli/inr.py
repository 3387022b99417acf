"""``dws-edit inr fit|render|import|info``: single INR files in and out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tyro

from dws_edit.console import console

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class InrFit:
    """Fit one INR to an image file and save it as an INR file (.safetensors)."""

    input: tyro.conf.Positional[Path]
    """The image (PNG, JPEG, BMP, GIF, TIFF, WebP; any size and mode)."""
    out: Path = Path("inr.safetensors")
    """The INR file to write."""
    size: int = 28
    """Images are resized to SIZE x SIZE pixels (the shipped image models were trained at 28)."""
    channels: int = 1
    """1: luminance (what the shipped image models accept); 3: RGB."""
    target_psnr: float = 40.0
    """Stop fitting at this PSNR (dB)."""
    max_steps: int = 1000
    """Most Adam steps."""
    seed: int = 0
    """Seed of the SIREN initialisation."""

    def run(self) -> Path:
        from dws_edit.data.images import image_to_tensor
        from dws_edit.inr import fit_images, save_inr

        if self.input.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"{self.input}: not an image file; accepted: {', '.join(IMAGE_SUFFIXES)}")
        pixels = image_to_tensor(self.input, self.size, self.channels)
        ws, psnr = fit_images(pixels[None], target_psnr=self.target_psnr, max_steps=self.max_steps, seed=self.seed)
        psnr = psnr.item()
        save_inr(self.out, ws, [{"fit": str(self.input), "size": self.size, "psnr_db": round(psnr, 2)}])
        console.print(f"fitted {self.input} ({self.size}x{self.size}, {psnr:.2f} dB) -> {self.out}")
        return self.out


@dataclass
class InrRender:
    """Render an INR file: an image INR to a PNG."""

    input: tyro.conf.Positional[Path]
    """The INR file (.safetensors written by dws-edit)."""
    out: Path = Path("inr.png")
    """The PNG to write."""
    size: int = 28
    """Render on a SIZE x SIZE pixel grid over [-1, 1]^2."""
    scale: int = 4
    """Enlarge the PNG SCALE times (nearest neighbour) for viewing."""

    def run(self) -> Path:
        from dws_edit.edits import domain_of
        from dws_edit.inr import load_inr
        from dws_edit.render import render_images, save_image_grid

        ws = load_inr(self.input)
        if domain_of(ws.spec) != "image":
            raise ValueError(f"{self.input}: rendering {domain_of(ws.spec)} INRs is not available yet; accepted: image")
        if self.out.suffix.lower() != ".png":
            raise ValueError(f"--out {self.out}: accepted: a .png file")
        save_image_grid(
            render_images(ws, self.size, self.size), self.out, columns=min(8, ws.batch_size), scale=self.scale
        )
        console.print(f"rendered {ws.batch_size} INR(s) of {self.input} -> {self.out}")
        return self.out


@dataclass
class InrImport:
    """Import a SIREN state dict fitted by other code (siren-pytorch, vsitzmann, DWSNets, nn.Sequential)."""

    input: tyro.conf.Positional[Path]
    """The state dict: .pt/.pth/.ckpt (read with weights_only=True, never unpickled) or .safetensors."""
    out: Path = Path("inr.safetensors")
    """The INR file to write."""
    format: str = "auto"
    """auto, or one of dws_edit.inr.SIREN_FORMATS (siren-pytorch, vsitzmann, vsitzmann-fcblock, dwsnets, sequential)."""
    w0_first: float | None = None
    """The first layer's w0 (default: the format's)."""
    w0_hidden: float | None = None
    """The other layers' w0 (default: the format's)."""
    output_offset: float | None = None
    """Added to the output (default: the format's; DWSNets INRs use +0.5)."""
    w0: float | None = None
    """The w0 of the written spec (default: the hidden w0; 30 matches dws-edit's image spec)."""

    def run(self) -> Path:
        from dws_edit.inr import import_siren, save_inr

        ws = import_siren(self.input, self.format, self.w0_first, self.w0_hidden, self.output_offset, self.w0)
        save_inr(self.out, ws, [{"import": str(self.input), "format": self.format}])
        console.print(f"imported {self.input}: spec {ws.spec.layer_sizes}, w0 {ws.spec.w0} -> {self.out}")
        return self.out


@dataclass
class InrInfo:
    """Print an INR file's spec and edit history."""

    input: tyro.conf.Positional[Path]
    """The INR file."""

    def run(self) -> dict:
        from dws_edit.edits import domain_of
        from dws_edit.inr import read_inr

        ws, header = read_inr(self.input)
        info = {"inrs": ws.batch_size, "domain": domain_of(ws.spec), "spec": ws.spec.to_dict(), **header}
        console.print_json(data=info)
        return info


INR_COMMANDS = {"fit": InrFit, "render": InrRender, "import": InrImport, "info": InrInfo}
