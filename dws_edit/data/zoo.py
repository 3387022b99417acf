"""The INR zoo on disk: sharded safetensors plus a manifest, fitted resumably, read back safely.

Layout of a zoo directory::

    manifest.json            spec, source, fit options, shards (file, items, sha256), splits, status
    shard-00000.safetensors  layers.{i}.weight [n, 1, o, i], layers.{i}.bias, index, split, label,
                             mse, steps; header metadata: spec, shard number, per-item metadata
    stats.safetensors        per-tensor mean/std of the train split (written when the zoo completes)

Every file is written atomically; the manifest lists a shard only after the shard is on disk, so a
killed run, rerun, fits exactly the shards that are missing. Reading checks every shard against the
manifest's checksum, item count and spec and names the file that does not match.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import tyro
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from dws_edit.data.sources import SPLITS, FitOptions
from dws_edit.inr.fitting import fit, psnr_from_mse
from dws_edit.progress import progress as progress_bar
from dws_edit.records import atomic_write_bytes, atomic_write_json, run_record
from dws_edit.weights import NetworkSpec, WeightSpace, WeightStats

ZOO_VERSION = 1
MANIFEST = "manifest.json"
STATS = "stats.safetensors"


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}.safetensors"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_config(source: FitOptions) -> dict:
    """What identifies a zoo's content: a rerun with other values must not resume it."""
    cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(source).items()}
    for k in ("out", "chunk"):  # where it goes and how many train at once do not change the result
        cfg.pop(k, None)
    cfg["families"] = list(cfg["families"]) if "families" in cfg else None
    return {"type": type(source).__name__, **cfg, **source.describe()}


def fit_zoo(source: FitOptions, progress: bool = True) -> dict:
    """Fit every item of ``source`` into the zoo at ``source.out``; resumes a partial zoo."""
    started = time.time()
    out = Path(source.out)
    spec = source.spec  # loads the source first: a bad source leaves nothing behind
    total = source.size() if source.count is None else min(source.count, source.size())
    config = _source_config(source)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        manifest = read_manifest(out)
        if manifest["source"] != config or manifest["spec"] != spec.to_dict():
            raise ValueError(
                f"{manifest_path} belongs to another zoo (its source or spec differ from this command's); "
                "use another --out, or delete the directory to start over"
            )
    else:
        manifest = {
            "version": ZOO_VERSION,
            "spec": spec.to_dict(),
            "source": config,
            "count": total,
            "target_mse": source.target_mse,
            "shard_size": source.shard_size,
            "shards": [],
            "complete": False,
        }
        atomic_write_json(manifest_path, manifest)
    splits = source.splits()[:total]
    done = {s["file"] for s in manifest["shards"]}
    num_shards = (total + source.shard_size - 1) // source.shard_size
    todo = [k for k in range(num_shards) if _shard_name(k) not in done]
    remaining = sum(min(source.shard_size, total - k * source.shard_size) for k in todo)

    with progress_bar(f"fitting {remaining} of {total} INRs into {out}", remaining, progress) as bar:
        for k in todo:
            index = torch.arange(k * source.shard_size, min(total, (k + 1) * source.shard_size))
            batch = source.batch(index)
            result = fit(
                spec,
                batch.coords,
                batch.targets,
                source.target_mse,
                source.max_steps,
                source.lr,
                seed=source.seed if source.shared_init else source.seed * 1_000_003 + k,
                chunk=source.chunk,
                progress=bar.advance,
                shared_init=source.shared_init,
            )
            data = _shard_bytes(spec, k, index, splits[index], batch, result)
            atomic_write_bytes(out / _shard_name(k), data)
            manifest["shards"].append({"file": _shard_name(k), "items": len(index), "sha256": _sha256(data)})
            manifest["shards"].sort(key=lambda s: s["file"])
            atomic_write_json(manifest_path, manifest)

    if not manifest["complete"]:
        every = load_zoo(out, "all", check_complete=False)
        train = every.ws[every.split == SPLITS.index("train")]
        atomic_write_bytes(out / STATS, st_save(WeightStats.of(train).to_tensors()))
        summary = zoo_summary(every, out)
        manifest.update(complete=True, summary=summary, record=run_record(source.seed, started))
        atomic_write_json(manifest_path, manifest)
    return manifest


def _shard_bytes(spec: NetworkSpec, k: int, index: Tensor, split: Tensor, batch, result) -> bytes:
    tensors = {name: t.contiguous() for name, t in result.ws.to_state_dict().items()}
    tensors.update(index=index, split=split, label=batch.labels.contiguous(), mse=result.mse, steps=result.steps)
    meta = {"spec": spec.to_json(), "shard": str(k), "version": str(ZOO_VERSION)}
    if batch.meta is not None:
        meta["items"] = json.dumps(batch.meta)
    return st_save(tensors, metadata=meta)


def read_manifest(path: str | Path) -> dict:
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

    Raises ValueError naming the file for a missing, truncated or corrupt shard, a manifest that does
    not match the shards, an incomplete zoo, or a spec other than ``spec`` (when given).
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
            stats = WeightStats.from_tensors(st_load((path / STATS).read_bytes()), zoo_spec.num_layers)
        except (SafetensorError, KeyError) as err:
            raise ValueError(f"{path / STATS} is corrupt ({err}); delete it and rerun the fit command") from None
    meta = metas if has_meta else None
    return ZooSplit(ws, cat["label"], cat["index"], cat["split"], cat["mse"], meta, zoo_spec, stats, manifest)


def _read_shard(file: Path, entry: dict, spec: NetworkSpec) -> tuple[dict[str, Tensor], list | None]:
    if not file.exists():
        raise ValueError(f"{file} is listed in the zoo's manifest but missing")
    data = file.read_bytes()
    if _sha256(data) != entry["sha256"]:
        raise ValueError(
            f"{file} does not match the manifest's checksum: truncated or corrupt; delete it and rerun the fit"
        )
    try:
        tensors = st_load(data)
        meta = _metadata(data)
    except (SafetensorError, ValueError) as err:
        raise ValueError(f"{file} is not a readable safetensors file ({err})") from None
    if meta.get("spec") != spec.to_json():
        raise ValueError(f"{file} was fitted for spec {meta.get('spec')}, not the manifest's {spec.to_json()}")
    n = entry["items"]
    for key in ("index", "split", "label", "mse", "steps"):
        if key not in tensors or len(tensors[key]) != n:
            raise ValueError(f"{file}: {key!r} is missing or does not hold the manifest's {n} items")
    items = json.loads(meta["items"]) if "items" in meta else None
    return tensors, items


def _metadata(data: bytes) -> dict:
    """The JSON header's __metadata__ of serialized safetensors bytes."""
    if len(data) < 8:
        raise ValueError("file shorter than a safetensors header")
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    return header.get("__metadata__", {})


def zoo_summary(every: ZooSplit, path: str | Path) -> dict:
    """Sizes and fit quality of a zoo (``every``: its "all" split, loaded from ``path``), per split."""
    source = every.manifest["source"]
    out = {"inrs": len(every), "params_per_inr": every.spec.num_params, "bytes": _zoo_bytes(path)}
    for k, name in enumerate(SPLITS):
        out[f"{name}_inrs"] = int((every.split == k).sum())
    if source["kind"] == "images":
        psnr = psnr_from_mse(every.mse)
        out.update(mean_psnr_db=psnr.mean().item(), min_psnr_db=psnr.min().item(), reached_target=_reached(every))
    else:
        rmse = every.mse.sqrt()
        out.update(mean_rmse=rmse.mean().item(), max_rmse=rmse.max().item(), reached_target=_reached(every))
    return out


def _reached(zoo: ZooSplit) -> float:
    """Fraction of INRs whose fit error is at most the zoo's target."""
    return (zoo.mse <= zoo.manifest["target_mse"] * (1 + 1e-6)).float().mean().item()


def _zoo_bytes(path) -> int:
    return sum(p.stat().st_size for p in Path(path).iterdir() if p.is_file())


class ZooDataset(torch.utils.data.Dataset):
    """A zoo split as a PyTorch Dataset of WeightSpace batches: use with ``batch_size`` in a
    DataLoader (``collate_fn=lambda b: b``: batches are built whole by ``__getitems__``).

    ``augment``: apply a fresh random permutation of the hidden neurons to every INR of a batch.
    ``normalize``: normalise with the zoo's per-tensor statistics.
    """

    def __init__(self, zoo: ZooSplit, augment: bool = False, normalize: bool = False, seed: int = 0):
        self.zoo, self.augment, self.normalize = zoo, augment, normalize
        self.generator = torch.Generator().manual_seed(seed)
        if normalize and zoo.stats is None:
            raise ValueError("this zoo has no statistics (stats.safetensors); it is incomplete")

    def __len__(self) -> int:
        return len(self.zoo)

    def __getitems__(self, indices: list[int]) -> tuple[WeightSpace, Tensor]:
        idx = torch.as_tensor(indices)
        ws = self.zoo.ws[idx]
        if self.augment:
            ws = ws.permute(ws.random_permutations(self.generator))
        if self.normalize:
            ws = self.zoo.stats.normalize(ws)
        return ws, self.zoo.labels[idx]

    def __getitem__(self, i: int) -> tuple[WeightSpace, Tensor]:
        ws, labels = self.__getitems__([i])
        return ws, labels[0]

    def loader(self, batch_size: int, shuffle: bool = True, seed: int = 0) -> torch.utils.data.DataLoader:
        g = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(self, batch_size=batch_size, shuffle=shuffle, generator=g, collate_fn=_whole)


def _whole(batch):
    return batch


@dataclass
class ZooInfo:
    """Print the size, splits, fit quality and wall time of fitted zoos (from their manifests)."""

    paths: tyro.conf.Positional[tuple[Path, ...]] = ()

    def run(self) -> list[dict]:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="zoos")
        columns = ("zoo", "source", "spec", "INRs", "train/val/test", "quality", "reached", "MB", "fit wall time")
        for col in columns:
            table.add_column(col)
        rows = []
        for path in self.paths:
            m = read_manifest(path)
            s = m.get("summary") or zoo_summary(load_zoo(path, "all", check_complete=False), path)
            src = m["source"]
            name = src.get("dataset") or src["kind"]
            if "mean_psnr_db" in s:
                quality = f"PSNR {s['mean_psnr_db']:.2f} dB (min {s['min_psnr_db']:.2f})"
            else:
                quality = f"RMSE {s['mean_rmse']:.4f} (max {s['max_rmse']:.4f})"
            wall = m.get("record", {}).get("wall_time_s")
            table.add_row(
                str(path), name, "->".join(map(str, m["spec"]["layer_sizes"])), f"{s['inrs']:,}",
                f"{s['train_inrs']:,}/{s['val_inrs']:,}/{s['test_inrs']:,}", quality,
                f"{100 * s['reached_target']:.2f}%", f"{s['bytes'] / 1e6:.0f}", f"{wall / 60:.1f} min" if wall else "-",
            )  # fmt: skip
            rows.append({"path": str(path), **s, "wall_time_s": wall})
        Console(width=160).print(table)
        return rows
