"""NeRF scenes in the Blender format, rendered from an exact colored density field (``dws-edit make-scene``).

The format is the synthetic scenes' of Mildenhall et al. 2020, which nerfstudio's ``blender-data`` parser reads:
``transforms_{train,val,test}.json``, each with ``camera_angle_x`` (the horizontal field of view, radians) and
``frames``, each with a ``file_path`` (relative, without the ``.png`` its reader appends) and a 4x4 camera-to-world
``transform_matrix`` in the OpenGL convention (:func:`dws_edit.render.look_at`), beside RGB PNGs on a white
background. The views are rendered by the project's volume renderer (:func:`dws_edit.render.volume_render`: the
same quadrature, density scale and cube [-1, 1]^3 as the field benchmarks) from the exact field of a procedural
shape or a user's mesh (:func:`dws_edit.data.fields.field_targets`), or from an edit's exact functional target
applied to that field (:mod:`dws_edit.edits`, the same definition the edit models learn): the ground truth of that
edit. Cameras look at the origin from :data:`SCENE_DISTANCE` (the Blender scenes' 4 units: nerfstudio's scene box
[-1.5, 1.5]^3 and near/far 2/6 hold the cube) on three rings for training and at other angles for the held-out views.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dws_edit.data.fields import field_targets
from dws_edit.records import atomic_folder

SCENE_DISTANCE = 4.0
"""Camera distance from the origin: the Blender scenes' (about 4 units)."""
SCENE_FOV = 40.0
"""Field of view in degrees, vertical and horizontal (square views): the cube's corners at 4 units are in view."""
TRAIN_ELEVATIONS = (-15.0, 15.0, 45.0)
"""Elevations (degrees above the xz plane, y up) of the three rings of training views."""
HELD_OUT = {"val": (30.0, 11.25), "test": (0.0, 22.5)}
"""Elevation and first azimuth (degrees) of the validation and test views: between the training rings' angles."""


@dataclass(frozen=True)
class SceneViews:
    """How many views of which size a scene has, and how they are rendered."""

    size: int = 64
    """Views are SIZE x SIZE pixels."""
    train: int = 100
    """Training views, split over the three rings of :data:`TRAIN_ELEVATIONS`."""
    val: int = 8
    """Validation views."""
    test: int = 8
    """Test views (held out: no training view looks from their angles)."""
    samples: int = 128
    """Samples per ray of the volume renderer."""

    def check(self) -> None:
        """Raises ValueError (one line) for a count or size out of range."""
        for name, low, high in (("size", 8, 2048), ("train", 3, 10000), ("val", 1, 1000), ("test", 1, 1000),
                                ("samples", 8, 4096)):  # fmt: skip
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"--{name} {getattr(self, name)}: expected an integer in [{low}, {high}]")


def scene_cameras(views: SceneViews) -> dict[str, Tensor]:
    """Camera-to-world matrices ``[N, 4, 4]`` per split (``train``, ``val``, ``test``), all looking at the origin
    from :data:`SCENE_DISTANCE`, y up: the training views evenly over the rings (each ring's azimuths offset), the
    held-out ones at :data:`HELD_OUT`'s angles."""
    from dws_edit.render import look_at, orbit_eyes

    rings = len(TRAIN_ELEVATIONS)
    counts = [views.train // rings + (k < views.train % rings) for k in range(rings)]
    eyes = [orbit_eyes(n, SCENE_DISTANCE, el, start=k * 120.0 / max(n, 1))
            for k, (n, el) in enumerate(zip(counts, TRAIN_ELEVATIONS, strict=True))]  # fmt: skip
    out = {"train": torch.cat(eyes)}
    for split, (elevation, start) in HELD_OUT.items():
        out[split] = orbit_eyes(getattr(views, split), SCENE_DISTANCE, elevation, start)
    return {split: torch.stack([look_at(eye) for eye in e]) for split, e in out.items()}


def scene_field(shape, edit: str | None = None, params: Mapping[str, Any] | None = None) -> Callable[[Tensor], Tensor]:
    """The exact colored field of ``shape`` (a procedural ``Shape`` or a ``MeshShape``), or the exact target of
    ``edit`` applied to it: a function of points ``[M, 3]`` to ``[1, M, 4]`` (density, r, g, b in [0, 1]). Raises
    ValueError (one line) for an edit without a functional target of a field (the exact edits are closed forms on
    weights; dilate is for images), one whose exact target this cannot afford (smooth: thousands of field
    evaluations a point), remove_part on a shape without parts, or bad parameters."""
    from dws_edit.edits import REGISTRY

    def exact(points: Tensor) -> Tensor:
        return field_targets(shape, points if points.dim() == 3 else points[None])

    if edit is None:
        return exact
    cheap = scene_edits()
    definition = REGISTRY.get(edit)
    if definition is None or definition.kind != "learned" or definition.quadrature:
        why = ("its exact target costs thousands of field evaluations a rendered point" if definition and
               definition.quadrature else "not an edit with a functional target of a colored field")  # fmt: skip
        raise ValueError(f"--edit {edit}: {why}; accepted: {', '.join(cheap)}")
    definition.check_domain("field")
    if definition.from_generator:
        from dws_edit.edits.targets import PART_GROUPS, part_group_of

        group = part_group_of(shape.family)
        part = (params or {}).get("part")
        if group is None or (part is not None and part != group):
            with_parts = ", ".join(f"{g} ({', '.join(families)})" for g, (_, families) in PART_GROUPS.items())
            raise ValueError(f"--edit {edit} --part {part}: a {shape.family} has no such part; accepted: {with_parts}")
    definition.validate(params, "field")
    options = definition.target_options("field", "exact", [shape])

    @torch.no_grad()
    def edited(points: Tensor) -> Tensor:
        return definition.target(exact, points, params, "field", **options)

    return edited


def scene_edits() -> tuple[str, ...]:
    """The edits whose exact target a scene can be rendered from: learned edits of colored fields with a functional
    target that costs one or two field evaluations a point (not smooth's quadrature)."""
    from dws_edit.edits import REGISTRY

    return tuple(n for n, e in REGISTRY.items() if "field" in e.domains and not e.quadrature and e.kind == "learned")


def render_scene_views(fn: Callable[[Tensor], Tensor], c2w: Tensor, views: SceneViews) -> Tensor:
    """Views ``[N, size, size, 3]`` in [0, 1] of the field ``fn`` from cameras ``c2w`` [N, 4, 4]
    (:func:`dws_edit.render.camera_rays`' pinhole at each camera's position, :func:`volume_render`)."""
    from dws_edit.render import camera_rays, volume_render

    out = []
    for pose in c2w:
        origins, dirs = camera_rays(pose[:3, 3], views.size, SCENE_FOV)
        out.append(volume_render(fn, origins, dirs, views.samples)[0].reshape(views.size, views.size, 3))
    return torch.stack(out)


def write_scene(
    out: Path, fn: Callable[[Tensor], Tensor], views: SceneViews, record: dict, progress=None, overwrite=False
) -> Path:
    """Render ``fn`` from :func:`scene_cameras` and write the scene folder ``out`` (``train/``, ``val/``,
    ``test/`` PNGs and ``transforms_<split>.json``; ``record`` goes into each JSON as ``dws_edit``: what was
    rendered, by which command). Atomic: the scene is written in a temporary folder beside ``out`` and renamed, so a
    killed run leaves no half scene; with ``overwrite`` an existing ``out`` is replaced only once the new scene is
    whole (the caller checks that it is a scene). Raises FileExistsError for an existing ``out`` otherwise."""
    from PIL import Image

    views.check()
    out = Path(out)
    with atomic_folder(out, overwrite) as tmp:
        for split, c2w in scene_cameras(views).items():
            (tmp / split).mkdir()
            frames = []
            for k, pose in enumerate(c2w):
                image = render_scene_views(fn, pose[None], views)[0]
                pixels = (image.numpy() * 255).round().astype(np.uint8)
                Image.fromarray(pixels).save(tmp / split / f"r_{k:03d}.png")
                frames.append({"file_path": f"./{split}/r_{k:03d}", "transform_matrix": pose.tolist()})
                if progress is not None:
                    progress()
            meta = {"camera_angle_x": float(np.radians(SCENE_FOV)), "frames": frames, "dws_edit": record}
            (tmp / f"transforms_{split}.json").write_text(json.dumps(meta, indent=1))
    return out


def read_scene_split(root: Path, split: str) -> tuple[Tensor, Tensor, float]:
    """A written split back: ``(images [N, H, W, 3] in [0, 1], c2w [N, 4, 4], camera_angle_x)``, for tests and
    benches that compare renders with a scene. Raises FileNotFoundError naming a missing file."""
    from PIL import Image

    path = Path(root) / f"transforms_{split}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such scene file (a scene of dws-edit make-scene has train, val, test)")
    meta = json.loads(path.read_text())
    images, poses = [], []
    for frame in meta["frames"]:
        with Image.open(Path(root) / f"{frame['file_path']}.png") as im:
            images.append(torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255))
        poses.append(torch.tensor(frame["transform_matrix"], dtype=torch.float32))
    return torch.stack(images), torch.stack(poses), float(meta["camera_angle_x"])
