"""Is an INR like the data an edit model was trained on? A check for the learned edits whose target is not a
function of the INR (``remove_part``: the generator's shape), which the never-worse guard cannot check
(:func:`dws_edit.guard.guard` reports them ``"unchecked"``).

The detector is the Mahalanobis-distance detector of Lee et al. 2018 ("A Simple Unified Framework for Detecting
Out-of-Distribution Samples and Adversarial Attacks", NeurIPS): class-conditional Gaussians with one shared (tied)
covariance on a network's features, the score the distance to the nearest class mean. Here the network is the edit
model itself and its features are invariant ones: the model's DWS stack (:meth:`dws_edit.nn.models.DWSBlocks.features`)
run for its first :data:`LAYERS` layers on the INR as the model sees it (canonical phases, normalized by the zoo's
statistics, with the edit's parameters as its conditioning), averaged over every hidden axis
(:class:`dws_edit.nn.models.InvariantPool`): the same for every permutation of the INR's neurons and for any width.
The classes are the shape families the model trained on (mug, table, chair, car), each with the parameters it was
trained with (its own part group); an INR is compared with the classes trained with the parameters it is asked
with, so a mug asked for its legs is as far as a shape of no family. The threshold is a high quantile
(:data:`QUANTILE`) of the distances of the zoo's validation split, so about 1% of INRs like the training data are
warned about. ``dws-edit train ood --model NAME`` fits it (:mod:`dws_edit.tasks.ood`), ``dws-edit bench ood``
measures how often it warns (docs/benchmarks.md), and ``<checkpoint>.ood.safetensors`` next to the model holds it.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import weakref
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from dws_edit.io import json_field, read_file, write_file
from dws_edit.weights import WeightSpace

FORMAT = "dws-edit-ood"
LAYERS = 4
"""DWS layers of the edit model whose pooled features the detector takes: sdf-remove_part's 4 hidden ones (of 1 to 4,
the most warnings on unlike INRs at ~1% on like ones: docs/models.md)."""
QUANTILE = 0.99
"""The quantile of the validation split's distances where the detector's threshold lies."""
SHRINK = 0.01
"""Shrinkage of the tied covariance toward its mean variance (a ridge), so that it inverts on a few thousand INRs."""
UNLIKE = "unlike training data"
"""The guard report's outcome for an INR the detector flags (:class:`dws_edit.guard.GuardReport`)."""


def fingerprint(net: torch.nn.Module) -> str:
    """A short SHA-256 of the model's parameters (as float16, name order): the detector fitted on one model is
    used with that model only. Rewriting the model's card leaves it unchanged."""
    digest = hashlib.sha256()
    for name, p in sorted(net.named_parameters()):
        digest.update(name.encode())
        digest.update(p.detach().to(torch.float16).cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def invariant_features(net, ws: WeightSpace, cond: Tensor | None, layers: int = LAYERS) -> Tensor:
    """The edit model ``net``'s (a :class:`~dws_edit.nn.models.DWSEditNet` without probes or gradient input)
    invariant features of the INRs ``ws`` [B] of any floating dtype and hidden widths: its first ``layers`` DWS
    layers (with their ReLUs) on ``ws`` as its pass sees it (canonical phases, normalized), conditioned on ``cond``
    [B, cond_dim] (the edit's encoded parameters), averaged over the hidden axes: [B, F] float32, F = hidden
    channels x (d0 + 2L - 1). Raises ValueError for a model of another kind."""
    from dws_edit.inr.siren import canonical_phases
    from dws_edit.nn.models import InvariantPool

    blocks = getattr(net, "blocks", None)
    if blocks is None or getattr(net, "probes", None) is not None or getattr(net, "gradient", False):
        kind = type(net).__name__
        raise ValueError(f"the training-data check takes a DWSEditNet without probes or gradient input; got {kind}")
    if not 1 <= layers < len(blocks.layers):
        raise ValueError(f"layers={layers}: accepted 1..{len(blocks.layers) - 1} (the model's hidden DWS layers)")
    with torch.no_grad():
        source = net.normalize(canonical_phases(net.own_dtype(ws)))
        cond = cond.to(source.dtype) if cond is not None and net.cond_dim else None
        feats = blocks.features(source, cond, layers=layers)
        pooled = InvariantPool(ws.spec, blocks.layers[layers - 1].out_channels)(feats)
    return pooled.float()


@dataclass
class Detector:
    """A fitted detector (:func:`dws_edit.tasks.ood.fit_detector`): the class ``means`` [K, F] and ``conds`` [K, c]
    (the encoded parameters each class trained with), ``whiten`` [F, F] (W with W^T W the inverse of the shrunk tied
    covariance, so the Mahalanobis distance of f to a class is ||W (f - mean)||), the class names, the ``threshold``
    (a distance: the ``quantile`` of the validation split's), the model's :func:`fingerprint` and ``layers``;
    ``info``: how it was fitted and what it measured (the card's entry)."""

    means: Tensor
    conds: Tensor
    whiten: Tensor
    classes: list[str]
    threshold: float
    quantile: float
    layers: int
    model: str
    info: dict

    def distances(self, features: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor]:
        """Distance of each of ``features`` [B, F] to the nearest class trained with its ``cond`` [B, c] (to every
        class where none was, or the model takes no parameters), and that class's index: ([B], [B] long)."""
        z = (features[:, None, :] - self.means[None]) @ self.whiten.T  # [B, K, F]
        d = z.square().sum(-1).sqrt()
        if cond is not None and self.conds.numel():
            same = (cond.float()[:, None, :] - self.conds[None]).abs().amax(-1) < 1e-4  # [B, K]
            d = torch.where(same | ~same.any(1, keepdim=True), d, torch.full_like(d, float("inf")))
        best, index = d.min(1)
        return best, index

    def save(self, path: str | Path) -> None:
        """Write it as safetensors (float32 tensors, the rest as JSON metadata), atomically."""
        tensors = {"means": self.means.float(), "conds": self.conds.float(), "whiten": self.whiten.float()}
        meta = {"format": FORMAT, "classes": json.dumps(self.classes), "threshold": repr(self.threshold),
                "quantile": repr(self.quantile), "layers": str(self.layers), "model": self.model,
                "info": json.dumps(self.info)}  # fmt: skip
        write_file(path, tensors, meta)

    @classmethod
    def load(cls, path: str | Path) -> Detector:
        """Read a detector :meth:`save` wrote (never unpickled). Raises ValueError naming the file otherwise."""
        tensors, meta = read_file(path, finite=True)
        if meta.get("format") != FORMAT or set(tensors) != {"means", "conds", "whiten"}:
            raise ValueError(f"{path} is not a dws-edit training-data detector (format {meta.get('format')!r})")
        try:
            numbers = float(meta["threshold"]), float(meta["quantile"]), int(meta["layers"])
        except (KeyError, ValueError):
            raise ValueError(f"{path}: its threshold, quantile or layers are missing or not numbers") from None
        classes, info = json_field(meta, "classes", path), json_field(meta, "info", path)
        means, conds, whiten = tensors["means"], tensors["conds"], tensors["whiten"]
        return cls(means, conds, whiten, classes, *numbers, meta.get("model", ""), info)


def detector_path(name: str) -> Path:
    """Where the shipped model ``name``'s detector lies: ``checkpoints/<name>.ood.safetensors`` (its card beside it,
    ``<name>.ood.json``: :func:`detector_card`)."""
    from dws_edit.checkpoints import checkpoint_dir

    return checkpoint_dir() / f"{name}.ood.safetensors"


def detector_card(name: str, model_card: dict, info: dict) -> dict:
    """The card of model ``name``'s detector file: what it does, the INRs it accepts (its model's), how it was fitted
    (the command, the zoo) and its measured warning rates (``info``, also the model card's ``ood`` entry)."""
    return {
        "name": f"{name}.ood",
        "does": f"warns when an INR is unlike the training data of {name} (dws_edit.ood; {info.get('detector', '')})",
        "detector_of": name,
        "accepts": model_card.get("accepts"),
        **info,
    }


_loaded: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (file, mtime_ns, Detector | None)


def detector_for(net) -> Detector | None:
    """The detector fitted on the model ``net`` (by its card's name, :func:`detector_path`; read once per file
    version), or None: no card, no file, or one fitted on other parameters (:func:`fingerprint`)."""
    name = (getattr(net, "card", None) or {}).get("name")
    if not name or not (file := detector_path(name)).exists():
        return None
    mtime = file.stat().st_mtime_ns
    cached = _loaded.get(net)
    if cached is None or cached[:2] != (file, mtime):
        found = Detector.load(file)
        cached = (file, mtime, found if found.model == fingerprint(net) else None)
        _loaded[net] = cached
    return cached[2]


def check_training_data(net, ws: WeightSpace, cond: Tensor | None, edit) -> tuple[tuple[bool, ...], str]:
    """Which INRs of ``ws`` [B] are unlike the training data of the model ``net`` of the learned ``edit`` (an
    :class:`~dws_edit.edits.EditDef`) asked with ``cond`` (its encoded parameters), and one line saying so, also
    warned (``warnings.warn``): ``((False,) * B, "")`` where all are alike, for an edit whose target is a function
    of the INR (the never-worse guard checks those) or a model without a detector (:func:`detector_for`)."""
    detector = detector_for(net) if edit.from_generator else None
    if detector is None:
        return (False,) * ws.batch_size, ""
    dist, _ = detector.distances(invariant_features(net, ws, cond, detector.layers), cond)
    flags = tuple(bool(d > detector.threshold) for d in dist)
    if not any(flags):
        return flags, ""
    shown = ", ".join(f"{d:.1f}" for d, f in zip(dist.tolist(), flags) if f)
    name = net.card.get("name", edit.name)
    line = (f"{sum(flags)} of {len(flags)} INR(s) unlike {name}'s training data ({', '.join(detector.classes)}): "
            f"Mahalanobis distance {shown} above its threshold {detector.threshold:.1f} (the {detector.quantile:.0%} "
            f"quantile of its zoo's validation split); {edit.name} may distort it or remove another part")  # fmt: skip
    warnings.warn(line, stacklevel=4)
    return flags, line


def with_check(report, flags: tuple[bool, ...], line: str):
    """The never-worse guard's report (:class:`dws_edit.guard.GuardReport`) with the training-data check's result:
    the outcome of each flagged INR :data:`UNLIKE`, ``line`` added to its note."""
    if not any(flags):
        return report
    outcome = tuple(UNLIKE if f else o for o, f in zip(report.outcome, flags, strict=True))
    return replace(report, outcome=outcome, note="; ".join(filter(None, (report.note, line))))


__all__ = ["LAYERS", "QUANTILE", "UNLIKE", "Detector", "check_training_data", "detector_for", "detector_path",
           "fingerprint", "invariant_features", "with_check"]  # fmt: skip
