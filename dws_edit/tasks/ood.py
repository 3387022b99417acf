"""Fitting the training-data detector of an edit model (``dws-edit train ood``; :mod:`dws_edit.ood`): the
Mahalanobis detector of Lee et al. 2018 on the model's own invariant features, fitted on the train split of the
model's zoo, thresholded on its validation split and measured on its test split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dws_edit.console import console
from dws_edit.ood import (
    LAYERS,
    QUANTILE,
    SHRINK,
    Detector,
    detector_card,
    detector_path,
    fingerprint,
    invariant_features,  # fmt: skip
)
from dws_edit.records import atomic_write_json, command_line
from dws_edit.weights import WeightSpace


def training_inrs(edit, split, domain: str) -> tuple[WeightSpace, Tensor | None, list[str], WeightSpace, list[str]]:
    """The INRs of a zoo split the model of ``edit`` trains on, with the encoded parameters they train with
    (:meth:`~dws_edit.edits.EditDef.sample` from their shapes: their own part group) and their families; then the
    split's other INRs (shapes without such parts) and their families. Raises ValueError for a zoo without shapes."""
    from dws_edit.tasks.edit import with_shapes

    ws, shapes = with_shapes(edit, split, len(split))
    if shapes is None:
        raise ValueError(f"the training-data check is for edits whose target is the generator's; {edit.name} is not")
    params = edit.sample(len(shapes), None, domain, shapes=shapes)
    cond = edit.encode(params, domain, batch=len(shapes)) if edit.cond_dim(domain) else None
    families = [s.family for s in shapes]
    every = [m.get("family") for m in split.meta]
    trained = set(families)
    rest = [i for i, f in enumerate(every) if f not in trained]
    other = split.ws[torch.tensor(rest, dtype=torch.long)] if rest else split.ws[:0]
    return ws, cond, families, other, [every[i] for i in rest]


def features_of(net, ws: WeightSpace, cond: Tensor | None, layers: int, chunk: int = 256) -> Tensor:
    """:func:`~dws_edit.ood.invariant_features` of many INRs, in chunks: [B, F]."""
    out = [invariant_features(net, ws[lo : lo + chunk], None if cond is None else cond[lo : lo + chunk], layers)
           for lo in range(0, ws.batch_size, chunk)]  # fmt: skip
    return torch.cat(out) if out else torch.zeros(0, 0)


def fit_detector(net, zoo: str | Path, layers: int = LAYERS, quantile: float = QUANTILE,
                 shrink: float = SHRINK) -> tuple[Detector, dict]:  # fmt: skip
    """Fit the detector of the edit model ``net`` (a shipped model with a card) on the zoo at ``zoo``: class means
    (one class per family the model trains on) and the tied covariance (pooled within-class, shrunk by ``shrink``
    toward its mean variance) of the features of the train split's INRs asked as they trained; the threshold the
    ``quantile`` of the validation split's distances. Returns it and its measured rates (:func:`measure`) on the
    test split. Raises ValueError for a model without a card, or a zoo without the model's training shapes."""
    from dws_edit.data import load_zoo
    from dws_edit.edits import get_edit

    card = getattr(net, "card", None) or {}
    if "edit" not in card:
        raise ValueError("the training-data check needs a shipped model with a card (its edit and domain)")
    edit, domain = get_edit(card["edit"], "learned"), card["domain"]
    train = load_zoo(zoo, "train")
    ws, cond, families, _, _ = training_inrs(edit, train, domain)
    feats = features_of(net, ws, cond, layers)
    classes = list(dict.fromkeys(families))
    label = torch.tensor([classes.index(f) for f in families])
    means = torch.stack([feats[label == k].mean(0) for k in range(len(classes))])
    conds = (torch.stack([cond[label == k].float().mean(0) for k in range(len(classes))]) if cond is not None
             else torch.zeros(len(classes), 0))  # fmt: skip
    centered = feats - means[label]
    cov = centered.T.double() @ centered.double() / max(len(feats) - len(classes), 1)
    cov = (1 - shrink) * cov + shrink * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype)
    values, vectors = torch.linalg.eigh(cov)
    whiten = (vectors / values.clamp_min(1e-12).sqrt()).T.float()  # W^T W = cov^-1
    detector = Detector(means, conds, whiten, classes, 0.0, quantile, layers, fingerprint(net), {})
    val_ws, val_cond, _, _, _ = training_inrs(edit, load_zoo(zoo, "val"), domain)
    val, _ = detector.distances(features_of(net, val_ws, val_cond, layers), val_cond)
    detector.threshold = float(torch.quantile(val.double(), quantile))
    return detector, measure(detector, net, edit, load_zoo(zoo, "test"), domain)


def measure(detector: Detector, net, edit, split, domain: str) -> dict:
    """How often ``detector`` warns on a zoo split: its INRs of the trained families asked as they trained
    (``trained``: about 1 - quantile), the same asked with another class's parameters (``other_params``: a mug asked
    for its legs), and the INRs of the other families asked with each class's parameters (``other_families``). Each
    entry: ``{"inrs": n, "warned": k, "rate": k / n}``."""
    ws, cond, _, other, _ = training_inrs(edit, split, domain)
    rows = {"trained": warned(detector, features_of(net, ws, cond, detector.layers), cond)} if ws.batch_size else {}
    conds = detector.conds.unique(dim=0) if detector.conds.numel() else None
    if conds is not None and len(conds) > 1 and ws.batch_size:
        mixed = [warned(detector, features_of(net, ws, c.expand(ws.batch_size, -1), detector.layers),
                        c.expand(ws.batch_size, -1), skip_own=cond) for c in conds]  # fmt: skip
        rows["other_params"] = _sum(mixed)
    if other.batch_size:
        asked = [None] if conds is None else [c.expand(other.batch_size, -1) for c in conds]
        rows["other_families"] = _sum([warned(detector, features_of(net, other, c, detector.layers), c) for c in asked])
    return rows


def warned(detector: Detector, feats: Tensor, cond: Tensor | None, skip_own: Tensor | None = None) -> dict:
    """``{"inrs", "warned", "rate"}`` of the features ``feats`` asked with ``cond``; ``skip_own``: leave out the
    INRs whose own parameters these are (``cond`` equal to them)."""
    dist, _ = detector.distances(feats, cond)
    keep = torch.ones(len(dist), dtype=torch.bool)
    if skip_own is not None:
        keep = (cond.float() - skip_own.float()).abs().amax(-1) > 1e-4
    n, k = int(keep.sum()), int((dist[keep] > detector.threshold).sum())
    return {"inrs": n, "warned": k, "rate": k / max(n, 1)}


def _sum(rows: list[dict]) -> dict:
    n, k = sum(r["inrs"] for r in rows), sum(r["warned"] for r in rows)
    return {"inrs": n, "warned": k, "rate": k / max(n, 1)}


@dataclass
class TrainOOD:
    """Fit a shipped model's training-data detector (Mahalanobis on its own features; warns on unlike INRs)."""

    model: str = "sdf-remove_part"
    """The shipped model (a learned edit whose target the never-worse guard cannot compute: remove_part)."""
    zoo: Path | None = None
    """The zoo to fit on (default: the one the model's card names, e.g. zoos/sdf)."""
    layers: int = LAYERS
    """The model's DWS layers whose pooled features are taken."""
    quantile: float = QUANTILE
    """The quantile of the validation split's distances where the threshold lies (0.99: ~1% of like INRs warned)."""
    shrink: float = SHRINK
    """Shrinkage of the tied covariance toward its mean variance, in [0, 1)."""
    out: Path | None = None
    """Write the detector here instead (a .safetensors file; the card is then left as it is). Default:
    checkpoints/<model>.ood.safetensors and an ``ood`` entry in the model's card."""
    threads: int = 2
    """torch CPU threads."""

    def run(self) -> dict:

        from dws_edit.checkpoints import checkpoint_dir, load_checkpoint, save_checkpoint

        if not 0 < self.quantile < 1 or not 0 <= self.shrink < 1:
            raise ValueError(f"--quantile {self.quantile} / --shrink {self.shrink}: accepted (0, 1) and [0, 1)")
        torch.set_num_threads(self.threads)
        path = checkpoint_dir() / f"{self.model}.safetensors"
        if not path.exists():
            raise ValueError(f"no shipped model named {self.model!r} (checkpoints/{self.model}.safetensors)")
        net = load_checkpoint(path)
        zoo = self.zoo or Path(net.card["data"]["zoo"])
        started = time.perf_counter()
        detector, rates = fit_detector(net, zoo, self.layers, self.quantile, self.shrink)
        command = command_line()
        detector.info = {
            "detector": (f"Mahalanobis distance (Lee et al. 2018), tied covariance shrunk {self.shrink:g}, to the "
                         f"nearest of the families {', '.join(detector.classes)} trained with the asked parameters, "
                         f"on the model's first {self.layers} DWS layers' features averaged over the hidden axes"),
            "threshold": round(detector.threshold, 4), "quantile": self.quantile, "zoo": str(zoo),
            "command": command, "test_split": rates, "seconds": round(time.perf_counter() - started, 1),
        }  # fmt: skip
        target = self.out or detector_path(self.model)
        detector.save(target)
        for what, r in rates.items():
            console.print(f"{self.model} {zoo} test, {what}: warned {r['warned']} of {r['inrs']} ({r['rate']:.1%})")
        console.print(f"threshold {detector.threshold:.2f}; wrote {target} ({target.stat().st_size / 1e3:.0f} kB)")
        if self.out is None:
            card = dict(net.card) | {"ood": detector.info | {"file": target.name}}
            save_checkpoint(path, net, card.get("model_kwargs", {}), card)
            atomic_write_json(target.with_suffix(".json"), detector_card(self.model, card, card["ood"]))
        return detector.info
