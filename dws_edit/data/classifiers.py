"""The domain-adaptation task's data: Fashion-MNIST at low resolution as the source domain, a corrupted copy as the
target domain, and a population of small image classifiers (ReLU MLPs of one architecture) trained on the source,
written as a zoo (``dws_edit.data.zoo``: the same manifest, shard and statistics files, read back by ``load_zoo``).

The target domain's corruptions are deterministic (a function of the image's index in its split and ``seed``), in
this order, on the 28x28 images in [0, 1], before the reduction to ``size`` x ``size`` by area averaging:

- ``contrast``: ``0.5 * x + 0.25`` (half the contrast, around mid-grey);
- ``blur``: a Gaussian blur of sigma 1 pixel (scipy.ndimage.gaussian_filter);
- ``elastic``: Simard et al. (2003)'s elastic distortion, displacements of uniform noise in [-1, 1] smoothed by a
  Gaussian of sigma 4 pixels and scaled by 8 pixels, bilinear resampling (scipy.ndimage.map_coordinates);
- ``noise``: additive Gaussian noise of standard deviation 0.2, then clipped to [0, 1].
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dws_edit.data.images import load_fashion_mnist
from dws_edit.data.sources import Batch, seeded_split
from dws_edit.data.zoo import MANIFEST, SPLITS, STATS, ZOO_VERSION, _shard_contents, _zoo_bytes, load_zoo, read_manifest
from dws_edit.inr import evaluate
from dws_edit.inr.fitting import FitResult
from dws_edit.io import write_file
from dws_edit.progress import progress_bar
from dws_edit.records import atomic_write_json, run_record
from dws_edit.stats import WeightStats
from dws_edit.weights import NetworkSpec, WeightSpace

CORRUPTIONS = ("contrast", "blur", "elastic", "noise")


def classifier_spec(size: int = 7, hidden: tuple[int, ...] = (32, 32), classes: int = 10) -> NetworkSpec:
    """The classifiers' architecture: ``size * size`` pixels -> hidden ReLU layers -> ``classes`` logits."""
    return NetworkSpec((size * size, *hidden, classes), activation="relu", w0=1.0, output_offset=0.0)


def corrupt(images: Tensor, seed: int = 0) -> Tensor:
    """The target domain: ``images`` [N, 28, 28] in [0, 1] with the four corruptions of the module's docstring
    applied in order, deterministically for ``seed``; returns [N, 28, 28] float32 in [0, 1]."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    x = images.double().numpy() * 0.5 + 0.25
    x = ndimage.gaussian_filter(x, sigma=(0, 1.0, 1.0))
    n, h, w = x.shape
    shift = rng.uniform(-1, 1, size=(2, n, h, w))
    shift = ndimage.gaussian_filter(shift, sigma=(0, 0, 4.0, 4.0)) * 8.0
    grid_n, grid_y, grid_x = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
    x = ndimage.map_coordinates(x, [grid_n, grid_y + shift[0], grid_x + shift[1]], order=1, mode="nearest")
    x = x + rng.normal(0, 0.2, size=x.shape)
    return torch.from_numpy(np.clip(x, 0, 1)).float()


def reduce(images: Tensor, size: int) -> Tensor:
    """[N, 28, 28] -> [N, size * size] by area averaging (torch adaptive average pooling)."""
    return nn.functional.adaptive_avg_pool2d(images[:, None].float(), size).reshape(images.shape[0], -1)


@functools.lru_cache(maxsize=4)
def domain_images(domain: str, split: str, size: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Fashion-MNIST ``split`` ("train" or "test", the Debian package's files) of ``domain`` ("source" or
    "target"), reduced to ``size`` x ``size``: (images [N, size * size] in [0, 1], labels [N] long). Cached (the
    corruptions take seconds): treat the tensors as read-only."""
    images, labels = load_fashion_mnist(split)
    images = images.reshape(-1, 28, 28)
    if domain == "target":
        images = corrupt(images, seed + (0 if split == "train" else 1))
    elif domain != "source":
        raise ValueError(f"domain {domain!r}: accepted source, target")
    return reduce(images, size), labels.long()


def init_classifiers(spec: NetworkSpec, count: int, generator: torch.Generator) -> WeightSpace:
    """``count`` networks of ``spec`` initialised as ``torch.nn.Linear`` does (weights and biases uniform in
    +-1/sqrt(fan_in)), [count, 1, ...]."""
    weights, biases = [], []
    for o, i in spec.weight_shapes:
        bound = 1 / i**0.5
        weights.append((torch.rand(count, 1, o, i, generator=generator) * 2 - 1) * bound)
        biases.append((torch.rand(count, 1, o, generator=generator) * 2 - 1) * bound)
    return WeightSpace(spec, tuple(weights), tuple(biases))


def train_classifiers(
    ws: WeightSpace,
    images: Tensor,
    labels: Tensor,
    steps: int,
    generator: torch.Generator,
    batch: int = 128,
    lr: float = 1e-3,
    chunk: int = 256,
    on_step=None,
) -> tuple[WeightSpace, Tensor]:
    """Train every classifier of ``ws`` [K, 1, ...] with Adam (``lr``) on cross-entropy for ``steps`` steps, each on
    its own random batches of ``images`` [N, d0] / ``labels`` [N], ``chunk`` classifiers at a time (Adam's update of
    one classifier does not depend on the others'). Returns (trained weights, mean training loss of the last step
    [K]). ``on_step(fraction)`` is called after every step with the fraction of all the work it did."""
    out, losses = [], []
    for lo in range(0, ws.batch_size, chunk):
        part = ws[lo : lo + chunk]
        k = part.batch_size
        params = [t.clone().requires_grad_(True) for t in part.tensors()]
        opt = torch.optim.Adam(params, lr=lr)
        for _ in range(steps):
            idx = torch.randint(0, images.shape[0], (k, batch), generator=generator)
            net = WeightSpace(part.spec, tuple(params[0::2]), tuple(params[1::2]))
            logits = evaluate(net, images[idx])  # [k, batch, classes]
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels[idx].flatten(), reduction="none")
            per = loss.reshape(k, batch).mean(1)
            opt.zero_grad()
            per.sum().backward()  # the classifiers' losses are independent: each gets its own gradient
            opt.step()
            if on_step is not None:
                on_step(k / (ws.batch_size * steps))
        out.append(
            WeightSpace(part.spec, tuple(p.detach() for p in params[0::2]), tuple(p.detach() for p in params[1::2]))
        )
        losses.append(per.detach())
    return WeightSpace.cat(out), torch.cat(losses)


def input_moments(source: Tensor, target: Tensor, eps: float = 1e-3) -> tuple[Tensor, Tensor]:
    """The per-pixel affine map ``x_source ~ scale * x_target + shift`` that matches the per-pixel means and
    standard deviations of ``target`` images [N, d0] to those of ``source`` images [M, d0] (no labels):
    ``scale = std_s / max(std_t, eps)``, ``shift = mean_s - scale * mean_t``; returns (scale [d0], shift [d0])."""
    scale = source.std(0) / target.std(0).clamp_min(eps)
    return scale, source.mean(0) - scale * target.mean(0)


def fold_input_affine(ws: WeightSpace, scale: Tensor, shift: Tensor) -> WeightSpace:
    """Classifiers ``ws`` [K, C, ...] that read ``scale * x + shift`` in place of their input ``x``, exactly, by a
    change of the first layer only: ``W' = W diag(scale)``, ``b' = b + W shift``. With :func:`input_moments`: the
    closed-form adaptation to a per-pixel affine change of the input (exact for an affine corruption such as a
    contrast change), the adapters' baseline that needs no training and their start with ``--start moments``."""
    w0, b0 = ws.weights[0], ws.biases[0]
    first_w, first_b = w0 * scale.to(w0), b0 + torch.einsum("kcoi,i->kco", w0, shift.to(w0))
    return WeightSpace(ws.spec, (first_w, *ws.weights[1:]), (first_b, *ws.biases[1:]))


@torch.no_grad()
def accuracy_of(ws: WeightSpace, images: Tensor, labels: Tensor, chunk: int = 64) -> Tensor:
    """Accuracy in [0, 1] of every classifier of ``ws`` on ``images`` [N, d0] / ``labels`` [N]: [K]."""
    out = []
    for lo in range(0, ws.batch_size, chunk):
        logits = evaluate(ws[lo : lo + chunk], images)  # [k, N, classes]
        out.append((logits.argmax(-1) == labels).float().mean(1))
    return torch.cat(out)


def fit_population(
    out: str | Path,
    count: int = 1000,
    size: int = 7,
    hidden: tuple[int, ...] = (32, 32),
    steps: int = 400,
    lr: float = 3e-3,
    val_count: int = 100,
    test_count: int = 100,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train ``count`` classifiers of ``classifier_spec(size, hidden)`` on the source domain's training images
    (varied initialisations and batch orders from ``seed``) and write them as a zoo in ``out``: splits of ``val_count``
    and ``test_count`` classifiers (the rest train), labels = each classifier's source test accuracy (float [K, 1]),
    ``mse`` = its final training loss. Returns the manifest. A complete zoo of the same settings is returned as it is;
    raises ValueError (one line) when ``out`` holds another zoo."""
    started, out = time.time(), Path(out)
    spec = classifier_spec(size, hidden)
    source = {"type": "ClassifierPopulation", "dataset": "fashion-mnist", "size": size, "hidden": list(hidden),
              "steps": steps, "lr": lr, "count": count, "val_count": val_count, "test_count": test_count,
              "seed": seed}  # fmt: skip
    if (out / MANIFEST).exists():
        manifest = read_manifest(out)
        if manifest.get("source") != source or not manifest.get("complete"):
            raise ValueError(f"{out} holds another zoo or an unfinished one; use another --out or delete it")
        return manifest
    if count <= val_count + test_count:
        raise ValueError(f"--count {count}: must exceed --val-count + --test-count ({val_count + test_count})")
    images, labels = domain_images("source", "train", size)
    test_images, test_labels = domain_images("source", "test", size)
    g = torch.Generator().manual_seed(seed)
    with progress_bar(f"training {count} classifiers into {out}", 1000, progress) as bar:
        done = [0.0]

        def tick(fraction: float) -> None:
            done[0] += fraction * 1000
            if done[0] >= 1:
                bar.advance(int(done[0]))
                done[0] -= int(done[0])

        ws, loss = train_classifiers(init_classifiers(spec, count, g), images, labels, steps, g, lr=lr, on_step=tick)
    acc = accuracy_of(ws, test_images, test_labels)
    out.mkdir(parents=True, exist_ok=True)
    index = torch.arange(count)
    split = seeded_split(count, val_count, test_count, seed)
    result = FitResult(ws, loss, torch.full((count,), steps))
    contents = _shard_contents(spec, 0, index, split, Batch(None, None, acc[:, None]), result)
    sha = write_file(out / "shard-00000.safetensors", *contents)
    write_file(out / STATS, WeightStats.of(ws[split == SPLITS.index("train")]).to_tensors())
    summary = {"inrs": count, "params_per_inr": spec.num_params, "bytes": _zoo_bytes(out),
               **{f"{name}_inrs": int((split == k).sum()) for k, name in enumerate(SPLITS)},
               "source_test_accuracy_mean": acc.mean().item(),
               "source_test_accuracy_min": acc.min().item(), "source_test_accuracy_max": acc.max().item()}  # fmt: skip
    manifest = {"version": ZOO_VERSION, "spec": spec.to_dict(), "source": source, "error_metric": "loss",
                "count": count, "shard_size": count, "complete": True, "summary": summary,
                "shards": [{"file": "shard-00000.safetensors", "items": count, "sha256": sha}],
                "record": run_record("dws-edit", seed=seed, started=started)}  # fmt: skip
    atomic_write_json(out / MANIFEST, manifest)
    load_zoo(out, "train")  # read back: the files are what load_zoo expects
    return manifest


def import_classifier(source) -> WeightSpace:
    """One image classifier from its PyTorch state dict, as a WeightSpace (B = 1, float32) of a ReLU spec.

    ``source``: a state dict, an ``nn.Module`` or a .pt/.pth/.safetensors file of an ``nn.Sequential`` of
    ``nn.Linear`` layers with ReLU between them (keys ``[prefix.]{i}.weight/bias``; .pt files are read with
    ``torch.load(weights_only=True)`` only, nothing else unpickled: ``dws_edit.inr.imports``). Raises ValueError (one
    line) for an unreadable file, another key layout, or layers whose shapes do not chain."""
    from dws_edit.inr.imports import _parse_sequential, _state_dict

    name = str(source) if isinstance(source, (str, Path)) else "state dict"
    layers = _parse_sequential(_state_dict(source))
    if layers is None or isinstance(layers, str):
        why = f" ({layers})" if isinstance(layers, str) else ""
        raise ValueError(f"{name}: not an nn.Sequential of nn.Linear layers{why}; accepted: keys "
                         "[prefix.]{i}.weight and {i}.bias, as of nn.Sequential(Linear, ReLU, ...)")  # fmt: skip
    sizes = [layers[0][0].shape[-1]]
    for i, (w, b) in enumerate(layers):
        if w.dim() != 2 or w.shape[1] != sizes[-1] or b is None or tuple(b.shape) != (w.shape[0],):
            raise ValueError(f"{name}: layer {i} has weight {tuple(w.shape)}; expected [o, {sizes[-1]}] and a bias [o]")
        sizes.append(w.shape[0])
    spec = NetworkSpec(tuple(sizes), activation="relu", w0=1.0, output_offset=0.0)
    return WeightSpace.from_tensors(spec, [w.float()[None, None] for w, _ in layers],
                                    [b.float()[None, None] for _, b in layers])  # fmt: skip


def classifier_state_dict(ws: WeightSpace) -> dict[str, Tensor]:
    """The classifier ``ws`` (B = 1) as the state dict of ``nn.Sequential(Linear, ReLU, ..., Linear)``: keys
    ``{2i}.weight`` [o, n] and ``{2i}.bias`` [o], CPU tensors (what :func:`import_classifier` reads back)."""
    out = {}
    for i, (w, b) in enumerate(zip(ws.weights, ws.biases)):
        out[f"{2 * i}.weight"], out[f"{2 * i}.bias"] = w[0, 0].detach().cpu().contiguous(), b[0, 0].detach().cpu()
    return out
