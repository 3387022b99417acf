"""``dws-edit inr fit|render|import|export|info``: single INR files in and out."""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from dws_edit.console import console

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_SIZE = 2048  # pixels per side of an image fitted or rendered (2048^2 pixels: about 0.5 GB per hidden layer at
# width 32; fitting takes a few times that)


def _default(value) -> tyro.conf.arg:
    """The help's "(default: ...)" and metavar of an option left None, so that the command can tell it was given."""
    return tyro.conf.arg(metavar=type(value).__name__.upper(), help_behavior_hint=f"(default: {value})")


IMAGE_ONLY = ("size", "channels", "target_psnr")
"""``inr fit`` options that apply to images only (refused for a mesh, which they would not change)."""
MESH_ONLY = ("hidden", "points")
"""``inr fit`` options that apply to meshes only."""
FIT_DEFAULTS = {"size": 28, "channels": 1, "target_psnr": 40.0, "hidden": 32, "points": 32768}
"""``inr fit``'s defaults of the options above."""


def check_inr_out(out: Path, *inputs: Path | None) -> None:
    """Refuse an ``--out`` INR file that would not be one (another suffix) or would replace an input file."""
    if out.suffix.lower() != ".safetensors":
        raise ValueError(f"--out {out}: INR files are written as .safetensors; accepted: a path ending in .safetensors")
    for given in inputs:
        if given is not None and out.resolve() == Path(given).resolve():
            raise ValueError(f"--out {out} is the input file; give another path (the input is never overwritten)")


@dataclass
class InrFit:
    """Fit one INR to an image (image SIREN) or a mesh (SDF SIREN) and save it as an INR file (.safetensors)."""

    input: tyro.conf.Positional[Path]
    """The image (PNG, JPEG, BMP, GIF, TIFF, WebP; any size and mode) or mesh (.obj, .ply, .stl, .glb, .gltf, .off;
    watertight or not, any position and unit)."""
    out: Path = Path("inr.safetensors")
    """The INR file to write."""
    size: Annotated[int | None, _default(28)] = None
    """Images only: SIZE x SIZE pixels, SIZE in [1, 2048]; a non-square image keeps its aspect ratio (resized to fit,
    padded with black bars). The shipped image models were trained at 28."""
    channels: Annotated[int | None, _default(1)] = None
    """Images only: 1 luminance (what the shipped image models accept); 3 RGB."""
    target_psnr: Annotated[float | None, _default(40.0)] = None
    """Images only: stop fitting at this PSNR (dB)."""
    hidden: Annotated[int | None, _default(32)] = None
    """Meshes only: width of the SDF SIREN's two hidden layers (the shipped SDF models were trained at 32)."""
    points: Annotated[int | None, _default(32768)] = None
    """Meshes only: sample points (half near the surface)."""
    max_steps: int | None = None
    """Most Adam steps (default: 1000 for images, 2000 for meshes)."""
    seed: int = 0
    """Seed of the SIREN initialisation (and of the mesh's sample points)."""

    def run(self) -> Path:
        from dws_edit.data.meshes import MESH_EXTENSIONS

        suffix = self.input.suffix.lower()
        if suffix in IMAGE_SUFFIXES + MESH_EXTENSIONS:  # (any other file is refused, as neither, in _run)
            self._only_for_its_kind(suffix in MESH_EXTENSIONS)
        defaults = {k: v for k, v in FIT_DEFAULTS.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **defaults)._run()  # the options as given, the defaults filled in

    def _run(self) -> Path:
        from dws_edit.api import MIN_POINTS
        from dws_edit.data.meshes import MESH_EXTENSIONS
        from dws_edit.inr import save_inr

        if not 1 <= self.size <= MAX_SIZE:  # before any work: a larger image exhausts memory (render's limit too)
            raise ValueError(f"--size {self.size}: expected an integer in [1, {MAX_SIZE}] (pixels per side)")
        check_inr_out(self.out, self.input)
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps {self.max_steps}: expected an integer >= 1")
        if self.points < MIN_POINTS:
            raise ValueError(f"--points {self.points}: expected an integer >= {MIN_POINTS}")
        suffix = self.input.suffix.lower()
        if suffix not in IMAGE_SUFFIXES + MESH_EXTENSIONS:
            accepted = ", ".join(IMAGE_SUFFIXES + MESH_EXTENSIONS)
            raise ValueError(f"{self.input}: neither an image nor a mesh file; accepted: {accepted}")
        if suffix in MESH_EXTENSIONS:
            ws, info = self._fit_mesh()
        else:
            ws, info = self._fit_image()
        save_inr(self.out, ws, [info])
        console.print(f"fitted {self.input} ({info['quality']}) -> {self.out}")
        return self.out

    def _only_for_its_kind(self, mesh: bool) -> None:
        """Refuse an option of images for a mesh, or of meshes for an image: it would be ignored."""
        kind, other = ("a mesh", IMAGE_ONLY) if mesh else ("an image", MESH_ONLY)
        given = [f"--{name.replace('_', '-')}" for name in other if getattr(self, name) is not None]
        if given:
            accepted = [f"--{n.replace('_', '-')}" for n in (MESH_ONLY if mesh else IMAGE_ONLY)]
            raise ValueError(
                f"{', '.join(given)}: {'images' if mesh else 'meshes'} only, and {self.input} is {kind}; accepted "
                f"for {kind}: {', '.join(accepted)} (and --out, --max-steps, --seed)"
            )

    def _fit_image(self):
        from dws_edit.data.images import image_to_tensor
        from dws_edit.inr import fit_images
        from dws_edit.progress import fraction_bar

        pixels = image_to_tensor(self.input, self.size, self.channels)
        steps = 1000 if self.max_steps is None else self.max_steps
        with fraction_bar(f"fitting an image INR to {self.input.name} (up to {steps} steps)", steps) as progress:
            ws, psnr = fit_images(
                pixels[None], target_psnr=self.target_psnr, max_steps=steps, seed=self.seed, on_step=progress
            )
        if psnr.item() < self.target_psnr:
            warnings.warn(
                f"{self.input}: the fit reached {psnr.item():.2f} dB in {steps} steps, below --target-psnr "
                f"{self.target_psnr:g} (more --max-steps may reach it)",
                stacklevel=1,
            )
        quality = f"{self.size}x{self.size}, {psnr.item():.2f} dB"
        return ws, {"fit": str(self.input), "size": self.size, "psnr_db": round(psnr.item(), 2), "quality": quality}

    def _fit_mesh(self):
        from dws_edit.api import fit_mesh
        from dws_edit.data.meshes import load_mesh
        from dws_edit.metrics import chamfer_distance
        from dws_edit.progress import fraction_bar
        from dws_edit.render import inr_to_mesh

        mesh = load_mesh(self.input)
        steps = 2000 if self.max_steps is None else self.max_steps
        title = f"fitting an SDF INR (width {self.hidden}) to {self.input.name} (up to {steps} steps)"
        with fraction_bar(title, steps) as progress:
            try:
                ws = fit_mesh(
                    mesh, hidden=self.hidden, points=self.points, max_steps=steps, seed=self.seed, progress=progress
                )
            except ValueError as err:  # the mesh's own faults (flat, encloses nothing), named by its file
                raise ValueError(f"{self.input}: {err}") from None
        chamfer = chamfer_distance(inr_to_mesh(ws), mesh)
        quality = f"{len(mesh.faces)} faces, Chamfer distance {chamfer:.4f} at 64^3"
        return ws, {"fit": str(self.input), "hidden": self.hidden, "chamfer_64": round(chamfer, 5), "quality": quality}


MAX_RESOLUTION = 512  # marching-cubes grid points per axis (512^3 values: 0.5 GB)


@dataclass
class InrRender:
    """Render an INR file to a PNG (any INR) or a mesh (SDF and field INRs).

    Image INRs: the pixel grid. SDF and field INRs: marching cubes to .glb/.obj/.ply/.stl/.off, or a PNG of shaded
    views of that mesh."""

    input: tyro.conf.Positional[Path]
    """The INR file (.safetensors written by dws-edit)."""
    out: Path = Path("inr.png")
    """The file to write: .png (any INR), or a mesh .glb/.obj/.ply/.stl/.off (SDF and field INRs)."""
    size: int = 28
    """Images: render on a SIZE x SIZE pixel grid over [-1, 1]^2 (x to the right, y down the rows); 3-D PNG views:
    4 x SIZE pixels square, y up, the whole cube [-1, 1]^3 in view."""
    scale: int = 4
    """Images: enlarge the PNG SCALE times (nearest neighbour) for viewing."""
    resolution: int = 64
    """3-D: marching-cubes grid points per axis over [-1, 1]^3."""
    index: int = 0
    """3-D: which INR of the file (a mesh comes from one INR)."""

    def run(self) -> Path:
        from dws_edit.inr import load_inr
        from dws_edit.inr.domains import get_domain
        from dws_edit.render import MESH_FORMATS, render_images, save_image_grid

        for name, value, low, high in (("size", self.size, 1, MAX_SIZE), ("scale", self.scale, 1, 64),
                                       ("resolution", self.resolution, 2, MAX_RESOLUTION)):  # fmt: skip
            if not low <= value <= high:
                raise ValueError(f"--{name} {value}: expected an integer in [{low}, {high}]")
        if self.size * self.scale > MAX_SIZE * 4:  # each option in range, their product too: the PNG's side
            raise ValueError(f"--size {self.size} x --scale {self.scale}: the PNG would be {self.size * self.scale} "
                             f"pixels a side; accepted: size x scale up to {MAX_SIZE * 4}")  # fmt: skip
        ws = load_inr(self.input)
        dom = get_domain(ws.spec)
        domain = dom.name
        if dom.has_surface and self.size > MAX_SIZE // 4:
            raise ValueError(
                f"--size {self.size}: 3-D views are 4 x SIZE pixels; expected SIZE in [1, {MAX_SIZE // 4}]"
            )
        suffix = self.out.suffix.lower()
        accepted = (".png", *MESH_FORMATS) if dom.has_surface else (".png",)
        if suffix not in accepted:
            raise ValueError(f"--out {self.out}: {domain} INRs render to {', '.join(accepted)}")
        if not dom.has_surface:  # an image: its pixels
            images = render_images(ws, self.size, self.size)
            save_image_grid(images, self.out, columns=min(8, ws.batch_size), scale=self.scale)
            console.print(f"rendered {ws.batch_size} INR(s) of {self.input} -> {self.out}")
            return self.out
        if not 0 <= self.index < ws.batch_size:
            raise ValueError(f"--index {self.index}: {self.input} holds INRs 0..{ws.batch_size - 1}")
        self._render_3d(ws[self.index : self.index + 1], suffix)
        return self.out

    def _render_3d(self, ws, suffix: str) -> None:
        from dws_edit.render import inr_to_mesh, render_mesh_views, save_image_grid, save_mesh

        mesh = inr_to_mesh(ws, self.resolution)
        if suffix == ".png":
            save_image_grid(render_mesh_views(mesh, views=3, size=4 * self.size), self.out, columns=3, scale=1)
        else:
            save_mesh(mesh, self.out)
        console.print(f"rendered INR {self.index} of {self.input} ({len(mesh.faces)} faces) -> {self.out}")


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

        check_inr_out(self.out, self.input)
        ws = import_siren(self.input, self.format, self.w0_first, self.w0_hidden, self.output_offset, self.w0)
        save_inr(self.out, ws, [{"import": str(self.input), "format": self.format}])
        console.print(f"imported {self.input}: spec {ws.spec.layer_sizes}, w0 {ws.spec.w0} -> {self.out}")
        return self.out


@dataclass
class InrExport:
    """Export the INRs of an INR file as plain PyTorch state dicts of other SIREN code (vsitzmann, siren-pytorch, ...).

    One file per INR: OUT for a file of one INR, OUT-0, OUT-1, ... beside it for more. Each loads with
    model.load_state_dict(torch.load(path, weights_only=True), strict=True) into the layout's own module, built
    with the same w0s (dws_edit.inr.exports lists the constructors)."""

    input: tyro.conf.Positional[Path]
    """The INR file (.safetensors written by dws-edit; never overwritten)."""
    out: tyro.conf.Positional[Path]
    """The state dict to write: .pt/.pth (torch.save of a dict of tensors) or .safetensors; for a file of B > 1 INRs,
    OUT-0, OUT-1, ... beside it (one state dict per INR)."""
    format: str
    """One of dws_edit.inr.SIREN_FORMATS: siren-pytorch, vsitzmann, vsitzmann-fcblock, dwsnets, sequential."""
    w0_first: float | None = None
    """The w0 of the target model's first sine layer (default: the format's)."""
    w0_hidden: float | None = None
    """The w0 of its other sine layers (default: the format's)."""
    output_offset: float | None = None
    """The constant the target model adds to its output (default: the format's; DWSNets INRs add +0.5)."""

    def run(self) -> list[Path]:
        from dws_edit.inr import export_siren, load_inr, save_siren
        from dws_edit.inr.exports import export_paths
        from dws_edit.inr.imports import SIREN_FORMATS

        if self.format not in SIREN_FORMATS:
            raise ValueError(f"--format {self.format!r} is not one of {list(SIREN_FORMATS)}")
        export_paths(self.out, 1)  # the suffix, before reading anything
        ws = load_inr(self.input)
        paths = export_paths(self.out, ws.batch_size)
        for path in paths:
            if path.resolve() == self.input.resolve():
                raise ValueError(f"{path} is the input file; give another OUT (the input is never overwritten)")
        kw = {"w0_first": self.w0_first, "w0_hidden": self.w0_hidden, "output_offset": self.output_offset}
        for flag, value in kw.items():
            if value is not None and not (math.isfinite(value) and (value > 0 or flag == "output_offset")):
                expected = "a finite number" + ("" if flag == "output_offset" else " > 0")
                raise ValueError(f"--{flag.replace('_', '-')} {value}: expected {expected}")
        try:
            export_siren(ws, self.format, **kw)  # what the layout cannot hold, named by the input file
        except ValueError as err:
            raise ValueError(f"{self.input}: {err}") from None
        save_siren(self.out, ws, self.format, **kw)
        where = paths[0] if len(paths) == 1 else f"{paths[0]} .. {paths[-1]}"
        console.print(f"exported {ws.batch_size} INR(s) of {self.input} as {self.format} state dicts -> {where}")
        return paths


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


INR_COMMANDS = {"fit": InrFit, "render": InrRender, "import": InrImport, "export": InrExport, "info": InrInfo}
