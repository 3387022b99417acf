"""``dws-edit make-scene``: a NeRF scene in the Blender format from a procedural shape or a mesh, as it is or exactly
edited (:mod:`dws_edit.data.scenes`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dws_edit.cli.edit import OPTIONS, with_edit_options
from dws_edit.console import console


@dataclass
class _SceneOptions:
    """Write a NeRF scene (Blender format) of a shape or a mesh, as it is or exactly edited.

    Rendered from the exact colored field of a procedural shape or a mesh, as it is or with an edit's exact target
    applied (the edit's ground truth); nerfstudio's blender-data parser reads it (docs/nerf.md)."""

    shape: str = "mug"
    """A procedural shape family (mug, table, chair, car, primitive, compose; drawn with --seed) or a mesh file:
    an .obj, .ply, .stl, .glb, .gltf or .off, normalized into [-0.8, 0.8]^3, rendered grey."""
    out: Path = Path("scene")
    """The scene folder to write (transforms_{train,val,test}.json and PNGs; written whole or not at all)."""
    edit: str | None = None
    """Apply this edit's exact target to the field before rendering (symmetrize, remove, remove_sphere or
    remove_part; its parameters below): the scene an edited NeRF should match."""
    seed: int = 0
    """Seed of the procedural shape (the same family and seed, the same shape)."""
    size: int = 64
    """Views are SIZE x SIZE pixels (8 to 2048)."""
    train: int = 100
    """Training views (3 to 10000, on three rings at 4 units; the val and test views look from other angles)."""
    val: int = 8
    """Validation views (1 to 1000)."""
    test: int = 8
    """Test views (1 to 1000)."""
    samples: int = 128
    """Samples per ray of the volume renderer (8 to 4096)."""
    overwrite: bool = False
    """Replace an existing --out folder (only after the new scene is written whole)."""

    def run(self) -> Path:
        from dws_edit.data.scenes import SceneViews, scene_cameras, scene_field, write_scene
        from dws_edit.progress import progress_bar

        views = SceneViews(self.size, self.train, self.val, self.test, self.samples)
        views.check()  # before any other work (write_scene checks again)
        out = self.out.resolve()  # "." and ".." named by their folders
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {self.out}: a file, not a scene folder")
        if any(p.exists() and not p.is_dir() for p in out.parents):
            raise ValueError(f"--out {self.out}: a file stands in its path; accepted: a folder path")
        if out.exists() and not self.overwrite:
            raise ValueError(f"--out {self.out}: exists; choose another folder or add --overwrite")
        if out.exists() and any(out.iterdir()) and not (out / "transforms_train.json").is_file():
            raise ValueError(f"--out {self.out}: exists and is not a scene (no transforms_train.json); --overwrite "
                             "replaces only scenes: choose another folder")  # fmt: skip
        params = {name: getattr(self, name) for name in OPTIONS if getattr(self, name) is not None}
        if params and self.edit is None:
            raise ValueError(f"--{next(iter(params))} goes with --edit (the edit it is a parameter of)")
        shape = self._shape()
        fn = scene_field(shape, self.edit, params)
        record = {"command": "dws-edit make-scene", "shape": self.shape, "seed": self.seed, "edit": self.edit,
                  "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}}  # fmt: skip
        total = sum(len(c) for c in scene_cameras(views).values())
        with progress_bar(f"rendering {total} views", total) as bar:
            write_scene(out, fn, views, record, progress=bar.advance, overwrite=self.overwrite)
        what = f"{self.shape}" + (f", {self.edit} {params}" if self.edit else "")
        console.print(f"wrote {self.out}: {total} views of {what} ({views.size}x{views.size}, Blender format)")
        return self.out

    def _shape(self):
        from dws_edit.data.meshes import MeshShape
        from dws_edit.data.shapes import FAMILIES, sample_shape

        if self.shape in FAMILIES:
            import torch

            return sample_shape(self.shape, torch.Generator().manual_seed(self.seed))
        path = Path(self.shape)
        if not path.is_file():
            raise ValueError(f"--shape {self.shape}: neither a shape family ({', '.join(FAMILIES)}) nor a mesh file")
        return MeshShape.from_path(path)


MakeScene = with_edit_options(_SceneOptions, "MakeScene", __name__)
