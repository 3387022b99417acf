"""The INR zoo on disk: sharded safetensors plus a manifest, fitted resumably from any :class:`Source`, read safely.

Layout of a zoo directory::

    manifest.json            spec, source description, fit options, error metric, shards (file, items, sha256),
                             status, and once complete a summary (fit quality, reached fraction) and a run record
    shard-00000.safetensors  layers.{i}.weight [n, 1, o, i], layers.{i}.bias, index, split, label,
                             mse, steps; header metadata: spec, shard number, per-item metadata
    stats.safetensors        per-tensor mean/std of the train split (written when the zoo completes)

Every file is written atomically through :mod:`dws_edit.io`; the manifest lists a shard only after the shard is
on disk, so a killed run, rerun, fits exactly the shards that are missing. Reading checks every shard against the
manifest's checksum, item count and spec and names the file that does not match. A zoo in which fewer INRs than
``FitOptions.min_reached`` reached their target is marked so: :func:`fit_zoo` raises :class:`ZooFitError` and
:func:`load_zoo` warns (:class:`ZooQualityWarning`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from dws_edit import distributed as dist
from dws_edit.data.sources import ERROR_METRICS, SPLITS, Batch, Source
from dws_edit.inr.fitting import FitResult, fit, psnr_from_mse
from dws_edit.io import load_bytes, read_file, sha256_hex, write_file
from dws_edit.progress import progress_bar
from dws_edit.records import atomic_write_json, run_record
from dws_edit.stats import WeightStats
from dws_edit.weights import NetworkSpec, WeightSpace

ZOO_VERSION = 1
MANIFEST = "manifest.json"
STATS = "stats.safetensors"
_NOT_IDENTITY = ("chunk", "min_reached")  # fit options that do not change what a zoo holds

FIT_RECIPES = {
    "zoo": {"init_scheme": "zero-bias", "clamp": 0.0},
    "vsitzmann": {"init_scheme": "vsitzmann", "clamp": 0.0},
    "deepsdf": {"init_scheme": "vsitzmann", "clamp": 0.1},
}
"""How INRs are fitted besides the step count and rate (:func:`dws_edit.inr.fit`'s ``init_scheme`` and ``clamp``):
``zoo``, this project's (SIREN's initialisation with zero biases at the spec's w0, the MSE: every shipped model's
data); ``vsitzmann``, vsitzmann/siren's initialisation (w0 30, non-zero biases; written exactly at the spec's w0)
with the MSE; ``deepsdf``, that initialisation with DeepSDF's clamped L1 loss (delta 0.1; Park et al. 2019; SDF zoos
only). The last two give INRs as users fitting with those codes bring them (``dws_edit.bench.other_fits`` fits single
meshes with the published recipes in full)."""


@dataclass(frozen=True)
class FitOptions:
    """How the INRs of a zoo are fitted: Adam on each INR's MSE, each stopping at its source's target."""

    seed: int = 0
    """Seed of the INRs' initialisations: shard k starts from seed * 1_000_003 + k (seed, with shared_init)."""
    shard_size: int = 1024
    """INRs per shard file; a killed fit loses at most the shards in progress."""
    max_steps: int = 1000
    """Adam steps at most per INR."""
    lr: float = 5e-3
    """Adam learning rate."""
    chunk: int = 64
    """INRs trained at once (memory against speed; the result is the same)."""
    shared_init: bool = False
    """Start every INR from the same seeded SIREN initialisation."""
    count: int | None = None
    """Fit only the first COUNT items of the source (all by default)."""
    min_reached: float = 0.5
    """Fraction of the INRs that must reach the target; a zoo below it is marked failed (the fit exits non-zero,
    loading it warns)."""
    recipe: Literal["zoo", "vsitzmann", "deepsdf"] | None = None
    """How the INRs are fitted: zoo (the default), vsitzmann or deepsdf (FIT_RECIPES: other codes' initialisation
    and loss, for training edit models on INRs as users bring them)."""

    def check(self) -> None:
        """Raises ValueError (one line) for a value out of range. ``fit_zoo`` calls it first (not the constructor:
        a command line with a bad value parses, then fails in one line)."""
        for name, low in (("shard_size", 1), ("max_steps", 0), ("chunk", 1)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} {getattr(self, name)}: expected an integer >= {low}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"count {self.count}: expected a positive number of items (or None for all)")
        if not self.lr > 0:
            raise ValueError(f"lr {self.lr}: expected a positive learning rate")
        if not 0.0 <= self.min_reached <= 1.0:
            raise ValueError(f"min_reached {self.min_reached}: expected a fraction in [0, 1]")
        if self.recipe is not None and self.recipe not in FIT_RECIPES:
            raise ValueError(f"recipe {self.recipe!r}: not accepted; accepted: {', '.join(FIT_RECIPES)}")

    @classmethod
    def for_source(cls, source: Source | type, **overrides) -> FitOptions:
        """The fit options a source (or source class) declares as its defaults (``fit_defaults``), overridden."""
        return cls(**{**source.fit_defaults, **overrides})


class ZooFitError(ValueError):
    """A zoo was fitted, but fewer of its INRs than ``FitOptions.min_reached`` reached their target. The zoo is
    complete on disk and its manifest says so; ``manifest`` holds it."""

    def __init__(self, message: str, manifest: dict):
        super().__init__(message)
        self.manifest = manifest


class ZooQualityWarning(UserWarning):
    """Loading a zoo whose fit failed (fewer INRs than its ``min_reached`` reached their target)."""


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}.safetensors"


def _identity(source: Source, options: FitOptions) -> dict:
    """What identifies a zoo's content (the manifest's "source"): a rerun with other values must not resume it.
    The same keys as zoos written before sources and fit options were split, so those still resume."""
    fit_keys = {k: v for k, v in dataclasses.asdict(options).items() if k not in _NOT_IDENTITY}
    described = json.loads(json.dumps(source.describe(), default=str))
    out = {"type": type(source).__name__, **fit_keys, **described}
    if "seed" in described and described["seed"] != options.seed:
        out["init_seed"] = options.seed
    return out


def _same_identity(a: dict, b: dict) -> bool:
    """Equal, a key holding None counting as absent (old manifests wrote ``"families": null`` for every source)."""
    return {k: v for k, v in a.items() if v is not None} == {k: v for k, v in b.items() if v is not None}


def fit_zoo(source: Source, out: str | Path, options: FitOptions | None = None, progress: bool = True) -> dict:
    """Fit every item of ``source`` (the first ``options.count``) into the zoo directory ``out``; returns its manifest.

    ``options`` default to the source's (``FitOptions.for_source(source)``). A rerun resumes a partial zoo: only
    the shards its manifest does not list are fitted. Raises ValueError for a bad source (before anything is
    written) or when ``out`` holds another zoo (another source description, spec or identifying fit option), and
    :class:`ZooFitError` (a ValueError) when fewer than ``options.min_reached`` of the INRs reached the target; the
    zoo is then complete on disk, its manifest recording the failure.

    Under torchrun (:mod:`dws_edit.distributed`) the ranks fit the missing shards in turn (shard ``todo[j]`` on
    rank ``j mod N``), each from the seed of its shard, and send them to rank 0, which alone writes the files: the
    same zoo, bit for bit, as one process at the same torch threads per process (CPU reductions may split by the
    thread count).
    """
    started = time.time()
    options = options or FitOptions.for_source(source)
    options.check()
    out = Path(out)
    spec = source.spec  # loads the source first: a bad source leaves nothing behind
    recipe = FIT_RECIPES[options.recipe or "zoo"]
    if recipe["clamp"] and (spec.layer_sizes[0], spec.layer_sizes[-1]) != (3, 1):  # not an SDF spec
        raise ValueError(f"recipe {options.recipe}: DeepSDF's loss fits signed distances; accepted: SDF zoos")
    if source.error_metric not in ERROR_METRICS:
        raise ValueError(f"source error metric {source.error_metric!r}; accepted: {', '.join(ERROR_METRICS)}")
    total = source.size() if options.count is None else min(options.count, source.size())
    lead = dist.is_lead()
    error, manifest = None, None
    if lead:  # rank 0 alone reads and writes the zoo's files; the other ranks fit shards and send them to it
        try:
            manifest = _open(out, source, options, spec, total)
        except ValueError as err:
            error = err
    dist.raise_if_failed(error)
    manifest = dist.broadcast(manifest)
    splits = source.splits()[:total]
    size = options.shard_size
    done = {s["file"] for s in manifest["shards"]}
    todo = [k for k in range((total + size - 1) // size) if _shard_name(k) not in done]
    remaining = sum(min(size, total - k * size) for k in todo)
    rank, world = dist.rank(), dist.world_size()

    with progress_bar(f"fitting {remaining} of {total} INRs into {out}", remaining, progress and lead) as bar:
        for first in range(0, len(todo), world):  # a round: shard todo[first + r] on rank r
            shard = None
            if first + rank < len(todo):
                k = todo[first + rank]
                shard = _fit_shard(source, spec, options, recipe, k, total, splits, bar.advance if lead else None)
            for entry in dist.collect(shard) or ():  # rank 0: every rank's shard of the round, in rank order
                if entry is None:
                    continue
                k, tensors, meta = entry
                if k != todo[first]:  # rank 0's own INRs advanced the bar as they reached their targets
                    bar.advance(len(tensors["index"]))
                sha256 = write_file(out / _shard_name(k), tensors, meta)
                manifest["shards"].append({"file": _shard_name(k), "items": len(tensors["index"]), "sha256": sha256})
                manifest["shards"].sort(key=lambda s: s["file"])
                atomic_write_json(out / MANIFEST, manifest)

    if lead and not manifest["complete"]:
        every = load_zoo(out, "all", check_complete=False)
        write_file(out / STATS, WeightStats.of(every.ws[every.split == SPLITS.index("train")]).to_tensors())
        summary = zoo_summary(every, out, min_reached=options.min_reached)
        record = run_record("dws-edit", seed=options.seed, started=started, processes=world)
        manifest.update(complete=True, summary=summary, record=record)
        atomic_write_json(out / MANIFEST, manifest)
    manifest = dist.broadcast(manifest)
    if manifest.get("summary", {}).get("met_min_reached") is False:
        raise ZooFitError(_failure(out, manifest), manifest)
    return manifest


def _open(out: Path, source: Source, options: FitOptions, spec: NetworkSpec, total: int) -> dict:
    """The manifest of the zoo in ``out``: read (raises ValueError when it belongs to another zoo) or started."""
    identity = _identity(source, options)
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST).exists():
        manifest = read_manifest(out)
        if not _same_identity(manifest["source"], identity) or manifest["spec"] != spec.to_dict():
            raise ValueError(
                f"{out / MANIFEST} belongs to another zoo (its source or spec differ from this command's); "
                "use another --out, or delete the directory to start over"
            )
        return manifest
    manifest = {
        "version": ZOO_VERSION,
        "spec": spec.to_dict(),
        "source": identity,
        "fit": dataclasses.asdict(options),
        "error_metric": source.error_metric,
        "count": total,
        "target_mse": source.target_mse,
        "shard_size": options.shard_size,
        "shards": [],
        "complete": False,
    }
    atomic_write_json(out / MANIFEST, manifest)
    return manifest


def _fit_shard(source: Source, spec: NetworkSpec, options: FitOptions, recipe: dict, k: int, total: int,
               splits: Tensor, on_done) -> tuple[int, dict[str, Tensor], dict[str, str]]:  # fmt: skip
    """Fit shard ``k`` (its INRs start from seed ``options.seed * 1_000_003 + k``, whichever rank fits it):
    ``(k, tensors, header metadata)`` of its file."""
    index = torch.arange(k * options.shard_size, min(total, (k + 1) * options.shard_size))
    batch = source.batch(index)
    result = fit(
        spec,
        batch.coords,
        batch.targets,
        source.target_mse,
        options.max_steps,
        options.lr,
        seed=options.seed if options.shared_init else options.seed * 1_000_003 + k,
        chunk=options.chunk,
        on_done=on_done,
        shared_init=options.shared_init,
        **recipe,
    )
    return (k, *_shard_contents(spec, k, index, splits[index], batch, result))


def _shard_contents(spec: NetworkSpec, k: int, index: Tensor, split: Tensor, batch: Batch, result: FitResult):
    """The tensors and header metadata of shard ``k``'s file."""
    tensors = dict(result.ws.to_state_dict())
    tensors.update(index=index, split=split, label=batch.labels, mse=result.mse, steps=result.steps)
    meta = {"spec": spec.to_json(), "shard": str(k), "version": str(ZOO_VERSION)}
    if batch.meta is not None:
        meta["items"] = json.dumps(batch.meta)
    return tensors, meta


def manifest_sha256(zoo: str | Path) -> str:
    """The SHA-256 of a zoo's manifest.json: what a run's card and resume identity record of its data."""
    return sha256_hex((Path(zoo) / MANIFEST).read_bytes())


def read_manifest(path: str | Path) -> dict:
    """The manifest of the zoo at ``path``. Raises ValueError naming the file for a missing, corrupt or foreign
    manifest, or one of another zoo version."""
    path = Path(path)
    file = path / MANIFEST
    if not file.exists():
        raise ValueError(f"{path} is not a zoo: it has no {MANIFEST}")
    try:
        manifest = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{file} is not valid JSON ({err}); the zoo's manifest is corrupt") from None
    for key in ("version", "spec", "shards", "count"):
        if key not in manifest:
            raise ValueError(f"{file} lacks {key!r}: not a dws-edit zoo manifest")
    if manifest["version"] != ZOO_VERSION:
        raise ValueError(f"{file} has zoo version {manifest['version']}; this dws-edit reads version {ZOO_VERSION}")
    return manifest


@dataclass
class ZooSplit:
    """One split of a zoo in memory."""

    ws: WeightSpace
    labels: Tensor  # [n] long, or [n, k] float (e.g. sine parameters a, b)
    index: Tensor  # [n] item numbers in the source
    split: Tensor  # [n] split codes: 0 train, 1 val, 2 test
    mse: Tensor  # [n] fit error of each INR
    meta: list[dict] | None  # per-item metadata (shape parameters), if the source has any
    spec: NetworkSpec
    stats: WeightStats | None  # per-tensor statistics of the zoo's train split
    manifest: dict

    def __len__(self) -> int:
        return self.ws.batch_size


def load_zoo(
    path: str | Path, split: str = "train", spec: NetworkSpec | None = None, check_complete: bool = True
) -> ZooSplit:
    """The zoo's INRs of one split ("train", "val", "test" or "all") with labels and metadata.

    Raises ValueError naming the file for a missing, truncated or corrupt shard, a manifest that does not match
    the shards, an incomplete zoo, or a spec other than ``spec`` (when given). Warns (:class:`ZooQualityWarning`)
    when the zoo's fit failed (fewer INRs than its ``min_reached`` reached the target).
    """
    path = Path(path)
    if split not in SPLITS + ("all",):
        raise ValueError(f"split {split!r}: accepted {', '.join(SPLITS + ('all',))}")
    manifest = read_manifest(path)
    zoo_spec = NetworkSpec.from_dict(manifest["spec"])
    if spec is not None and not zoo_spec.same_shape(spec):
        raise ValueError(f"{path / MANIFEST}: zoo spec {zoo_spec.layer_sizes} is not the expected {spec.layer_sizes}")
    if check_complete and not manifest.get("complete"):
        raise ValueError(
            f"{path} is incomplete ({len(manifest['shards'])} shards fitted); rerun its fit command to finish it"
        )
    if manifest.get("summary", {}).get("met_min_reached") is False:
        warnings.warn(_failure(path, manifest), ZooQualityWarning, stacklevel=2)
    parts, metas, has_meta = [], [], False
    for entry in manifest["shards"]:
        tensors, items = _read_shard(path / entry["file"], entry, zoo_spec)
        keep = (
            torch.ones_like(tensors["split"], dtype=torch.bool)
            if split == "all"
            else tensors["split"] == SPLITS.index(split)
        )
        parts.append({k: v[keep] for k, v in tensors.items()})
        if items is not None:
            has_meta = True
            metas += [m for m, kept in zip(items, keep.tolist()) if kept]
    if not parts:
        raise ValueError(f"{path} has no fitted shards yet")
    cat = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    ws = WeightSpace.from_state_dict({k: v for k, v in cat.items() if k.startswith("layers.")}, zoo_spec)
    stats = None
    if (path / STATS).exists():
        try:
            stats = WeightStats.from_tensors(read_file(path / STATS)[0], zoo_spec.num_layers)
        except KeyError as err:
            raise ValueError(f"{path / STATS} lacks {err}; delete it and rerun the fit command") from None
    meta = metas if has_meta else None
    return ZooSplit(ws, cat["label"], cat["index"], cat["split"], cat["mse"], meta, zoo_spec, stats, manifest)


def _read_shard(file: Path, entry: dict, spec: NetworkSpec) -> tuple[dict[str, Tensor], list | None]:
    if not file.exists():
        raise ValueError(f"{file} is listed in the zoo's manifest but missing")
    data = file.read_bytes()
    if sha256_hex(data) != entry["sha256"]:
        raise ValueError(
            f"{file} does not match the manifest's checksum: truncated or corrupt; delete it and rerun the fit"
        )
    tensors, meta = load_bytes(data, file)
    if meta.get("spec") != spec.to_json():
        raise ValueError(f"{file} was fitted for spec {meta.get('spec')}, not the manifest's {spec.to_json()}")
    n = entry["items"]
    for key in ("index", "split", "label", "mse", "steps"):
        if key not in tensors or len(tensors[key]) != n:
            raise ValueError(f"{file}: {key!r} is missing or does not hold the manifest's {n} items")
    items = json.loads(meta["items"]) if "items" in meta else None
    return tensors, items


def error_metric(manifest: dict) -> str:
    """How a zoo reports its fit quality: "psnr" or "rmse", as its source declared. Zoos fitted before the
    manifest recorded it: "psnr" for image sources, "rmse" otherwise."""
    return manifest.get("error_metric") or ("psnr" if manifest["source"].get("kind") == "images" else "rmse")


def zoo_summary(every: ZooSplit, path: str | Path, min_reached: float | None = None) -> dict:
    """Sizes, split sizes and fit quality of a zoo (``every``: its "all" split, loaded from ``path``): mean and
    min PSNR (dB) or mean and max RMSE, and the fraction of INRs that reached the target (``reached_target``);
    with ``min_reached``, also that minimum and whether the zoo met it (``met_min_reached``)."""
    out = {"inrs": len(every), "params_per_inr": every.spec.num_params, "bytes": _zoo_bytes(path)}
    for k, name in enumerate(SPLITS):
        out[f"{name}_inrs"] = int((every.split == k).sum())
    if error_metric(every.manifest) == "psnr":
        psnr = psnr_from_mse(every.mse)
        out.update(mean_psnr_db=psnr.mean().item(), min_psnr_db=psnr.min().item())
    else:
        rmse = every.mse.sqrt()
        out.update(mean_rmse=rmse.mean().item(), max_rmse=rmse.max().item())
    reached = (every.mse <= every.manifest["target_mse"] * (1 + 1e-6)).float().mean().item()
    out["reached_target"] = reached
    if min_reached is not None:
        out.update(min_reached=min_reached, met_min_reached=reached >= min_reached)
    return out


def quality_text(summary: dict) -> str:
    """``"PSNR 40.37 dB (min 40.00)"`` or ``"RMSE 0.0101 (max 0.0366)"`` from a zoo summary."""
    if "source_test_accuracy_mean" in summary:  # a population of classifiers (dws_edit.data.classifiers)
        return f"source test accuracy {100 * summary['source_test_accuracy_mean']:.1f}%"
    if "mean_psnr_db" in summary:
        return f"PSNR {summary['mean_psnr_db']:.2f} dB (min {summary['min_psnr_db']:.2f})"
    return f"RMSE {summary['mean_rmse']:.4f} (max {summary['max_rmse']:.4f})"


def target_text(manifest: dict) -> str:
    """The zoo's fit target: ``"PSNR 40.0 dB"`` or ``"RMSE 0.01"``."""
    mse = manifest["target_mse"]
    if error_metric(manifest) == "psnr":
        return f"PSNR {psnr_from_mse(torch.tensor(mse)).item():.1f} dB"
    return f"RMSE {math.sqrt(mse):.3g}"


def _failure(path: str | Path, manifest: dict) -> str:
    s = manifest["summary"]
    return (
        f"zoo {path}: only {s['reached_target']:.1%} of its {s['inrs']} INRs reached the fit target "
        f"({target_text(manifest)}; {quality_text(s)}), below the minimum {s['min_reached']:.0%}: the fit failed "
        "(try a smaller lr or more max_steps)"
    )


def _zoo_bytes(path) -> int:
    return sum(p.stat().st_size for p in Path(path).iterdir() if p.is_file())
