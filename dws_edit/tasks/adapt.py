"""Domain adaptation of image classifiers in weight space (``dws-edit train adapt`` / ``dws-edit eval adapt``), the
DWSNets paper's third task on Fashion-MNIST: a model maps a classifier's weights (a ReLU MLP of a population trained
on the source domain, ``dws-edit fit classifiers``) to adapted weights in one forward pass, trained with the adapted
classifier's cross-entropy on the target domain's training images (``dws_edit.data.classifiers``: the same images,
deterministically corrupted). Evaluated on unseen classifiers (the population's test split) and unseen images (the
target domain's test images): target accuracy with no adaptation, with each baseline, with the DWS model.

Models: ``dws`` (DWSEditNet: equivariant layers, a residual on the weights), ``mlp`` (FlatMLPEditNet), ``mlp-aug``
(the same, each training classifier's hidden neurons permuted afresh), ``mlp-align`` (the same on classifiers aligned
to one reference by linear assignment), ``transformer`` and ``inr2vec`` (NeuronEditNet: a residual per neuron).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from dws_edit.console import console
from dws_edit.data import load_zoo
from dws_edit.data.classifiers import accuracy_of, domain_images, fold_input_affine, input_moments
from dws_edit.distributed import is_lead, unwrap
from dws_edit.inr import evaluate
from dws_edit.nn import DWSEditNet, FlatMLPEditNet, align_to_reference
from dws_edit.nn.baselines import NeuronEditNet
from dws_edit.stats import WeightStats
from dws_edit.tasks.loop import StepBatch, save_state_dicts
from dws_edit.tasks.suite import (
    SuiteRuns,
    SuiteTraining,
    TaskSettings,
    finished_runs,
    load_run,
    run_folder,
    run_row,
    save_encoder,
    shared_identity,
    train_all,
    train_split,
    with_overrides,
    write_report,
)
from dws_edit.weights import WeightSpace

VAL_IMAGES = 5000
"""The last this many target-domain training images choose the best step; the rest train."""
STARTS = ("weights", "moments")
"""What an adapter takes: the classifier's weights, or them after the closed-form first-layer edit that matches the
target domain's per-pixel moments to the source domain's (``dws_edit.data.classifiers.match_input_moments``)."""


@dataclass(frozen=True)
class AdaptSettings(TaskSettings):
    """The training settings of one adaptation run: the tasks' and the target images per step."""

    images: int
    seed_data: int = 0
    start: str = field(default="weights", kw_only=True)  # "weights" in the runs before it was a setting

    def check(self) -> None:
        super().check()
        if self.images < 1:
            raise ValueError(f"--images {self.images}: expected a positive number of images per step")
        if self.start not in STARTS:
            raise ValueError(f"--start {self.start}: accepted {', '.join(STARTS)}")


PRESETS = {
    "cpu": AdaptSettings(steps=1500, batch_size=32, images=128, lr=1e-3, weight_decay=1e-4, warmup=100,
                         eval_every=250, hidden=4, depth=3, bf16=False, device="cpu", val_count=100),
    "paper": AdaptSettings(steps=20_000, batch_size=64, images=256, lr=1e-3, weight_decay=1e-4, warmup=1000,
                           eval_every=1000, hidden=16, depth=4, bf16=True, device="cuda", val_count=100),
}  # fmt: skip


@dataclass
class _AdaptCommand(SuiteRuns):
    TASK = "adapt"

    zoo: Path = Path("zoos/fmnist-classifiers")
    """Population of source-domain classifiers (dws-edit fit classifiers)."""


@dataclass
class TrainAdapt(_AdaptCommand, SuiteTraining):
    """Train classifier adapters: the DWS model and every baseline, each seed, then evaluate them.

    The evaluation uses unseen classifiers (the population's test split) and unseen target-domain images."""

    images: int | None = None
    """Target-domain images per step, shared by the step's classifiers (default: the preset's)."""
    start: Literal["weights", "moments"] | None = None
    """What the adapters take: weights (the classifier as it is) or moments (after the closed-form first-layer edit
    matching the target domain's per-pixel moments; they learn what it leaves). Default: the preset's."""

    def settings(self) -> AdaptSettings:
        return with_overrides(PRESETS[self.preset], self, SuiteTraining.OVERRIDES + ("images", "start"))

    def run(self) -> dict:
        self.check_runs()
        settings = self.settings()
        data = AdaptData(self.zoo, settings)
        train_all(self, settings, data, lambda model, seed: AdaptTask(data, model, settings, seed))
        return evaluate_adapt(self) if is_lead() else {}  # rank 0 reports


@dataclass
class EvalAdapt(_AdaptCommand):
    """Evaluate trained classifier adapters: target-domain test accuracy of unseen classifiers, adapted or not."""

    def run(self) -> dict:
        self.check_runs()
        return evaluate_adapt(self)


class AdaptData:
    """The population's train split and first ``val_count`` validation classifiers; the target domain's training
    images (the last VAL_IMAGES of them for validation), at the population's resolution."""

    def __init__(self, zoo: Path, s: AdaptSettings):
        self.zoo = Path(zoo)
        self.train, self.sha256 = train_split(zoo)
        if self.train.manifest.get("source", {}).get("type") != "ClassifierPopulation":
            raise ValueError(f"{zoo} is not a population of classifiers; accepted: a zoo of dws-edit fit classifiers")
        self.spec, self.size = self.train.spec, self.train.manifest["source"]["size"]
        self.affine = moment_affine(s, self.size) if s.start == "moments" else None
        self.train_ws = self.start(self.train.ws).to(s.device)
        self.val_ws = self.start(load_zoo(zoo, "val").ws[: s.val_count]).to(s.device)
        self.stats = WeightStats.of(self.train_ws) if self.affine else self.train.stats
        images, labels = domain_images("target", "train", self.size, s.seed_data)
        self.images, self.labels = images[:-VAL_IMAGES].to(s.device), labels[:-VAL_IMAGES].to(s.device)
        self.val_images, self.val_labels = images[-VAL_IMAGES:].to(s.device), labels[-VAL_IMAGES:].to(s.device)
        self.reference = self.train_ws[:1].to("cpu")

    def start(self, ws: WeightSpace) -> WeightSpace:
        """Classifiers as the adapters take them (``--start``)."""
        return fold_input_affine(ws, *self.affine) if self.affine else ws


def moment_affine(s: AdaptSettings, size: int) -> tuple[Tensor, Tensor]:
    """The per-pixel (scale, shift) of the closed-form moment matching (``input_moments``) from the source domain's
    training images and the target domain's training images that train (not the validation ones)."""
    target = domain_images("target", "train", size, s.seed_data)[0][:-VAL_IMAGES]
    return input_moments(domain_images("source", "train", size)[0], target)


def build_adapter(kind: str, data_spec, s: AdaptSettings, reference: WeightSpace) -> nn.Module:
    """The adapter ``kind`` for classifiers of ``data_spec``; ``mlp-align`` keeps its reference as a buffer."""
    if kind == "dws":
        return DWSEditNet(data_spec, hidden=s.hidden, depth=s.depth, outputs=1)
    if kind in ("mlp", "mlp-aug", "mlp-align"):
        model = FlatMLPEditNet(data_spec, outputs=1)
        if kind == "mlp-align":
            model.register_buffer("reference", reference.flatten()[:1, :1].clone())
        return model
    if kind in ("transformer", "inr2vec"):
        return NeuronEditNet(data_spec, kind)
    raise ValueError(f"adapter {kind!r}: accepted dws, mlp, mlp-aug, mlp-align, transformer, inr2vec")


def adapt_with(kind: str, model: nn.Module, ws: WeightSpace) -> WeightSpace:
    """Run adapter ``model`` of kind ``kind`` on classifiers ``ws`` (``mlp-align``: aligned to its reference first;
    the same functions)."""
    if kind == "mlp-align":
        ws = align_to_reference(ws, WeightSpace.from_flat(unwrap(model).reference, ws.spec).to(ws.dtype))
    return model(ws)


class AdaptTask:
    """The loop's task for one adapter and seed: the adapted classifiers' cross-entropy on target images."""

    def __init__(self, data: AdaptData, kind: str, s: AdaptSettings, seed: int):
        self.data, self.kind, self.s = data, kind, s
        torch.manual_seed(seed)
        self.model = build_adapter(kind, data.spec, s, data.reference)
        self.model.set_stats(data.stats)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def optimizers(self) -> dict[str, list[dict]]:
        return {"adamw": [{"params": list(self.model.parameters())}]}

    def train_size(self) -> int:
        return self.data.train_ws.batch_size

    def train_loss(self, batch: StepBatch) -> Tensor:
        d, generator = self.data, batch.generator
        ws = d.train_ws[batch.indices.to(d.images.device)]
        if self.kind == "mlp-aug":
            ws = ws.permute(ws.random_permutations(generator))
        pick = torch.randint(0, d.images.shape[0], (self.s.images,), generator=generator).to(d.images.device)
        logits = evaluate(adapt_with(self.kind, batch.nets["model"], ws), d.images[pick]).float()  # [B, N, classes]
        target = d.labels[pick].expand(ws.batch_size, -1)
        return nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten())

    def validate(self) -> dict[str, float]:
        d = self.data
        adapted = torch.cat([accuracy_of(adapt_with(self.kind, self.model, d.val_ws[lo : lo + 32]), d.val_images,
                                         d.val_labels) for lo in range(0, d.val_ws.batch_size, 32)])  # fmt: skip
        acc = adapted.mean().item()
        return {"score": 1.0 - acc, "accuracy": acc}

    def save(self, path: Path, modules: dict) -> None:
        """The DWS adapter as a dws-edit checkpoint with its card; a baseline as its state dict."""
        model = modules["model"]
        if not isinstance(model, DWSEditNet):
            return save_state_dicts(path, modules)
        arch, n = "->".join(map(str, self.data.spec.layer_sizes)), self.data.size
        does = (
            f"Adapts a Fashion-MNIST classifier ({arch} ReLU MLP on {n}x{n} images) to corrupted images "
            "(contrast, blur, elastic, noise)"
        )
        kwargs = {"hidden": self.s.hidden, "depth": self.s.depth, "outputs": 1}
        affine = self.data.affine  # --start moments: the first-layer edit the adapter expects before it
        start = {"input_affine": {"scale": affine[0].tolist(), "shift": affine[1].tolist()}} if affine else {}
        save_encoder(path, model, kwargs, "adapt", does, self.data, image_size=self.data.size, **start)


@torch.no_grad()
def evaluate_adapt(cmd: _AdaptCommand) -> dict:
    """Target-domain test accuracy (%) of the population's test classifiers, unadapted and adapted by every finished
    run; the report written into the runs' folder; prints the table."""
    out = cmd.folder()
    runs = finished_runs(out, cmd.models, cmd.seeds)
    first = shared_identity(runs, out)
    test = load_zoo(cmd.zoo, "test")
    size = test.manifest["source"]["size"]
    images, labels = domain_images("target", "test", size, first["settings"].get("seed_data", 0))
    source_images, source_labels = domain_images("source", "test", size)

    def rebuild(kind: str, settings: dict) -> nn.Module:  # mlp-align's reference is in its state dict
        return build_adapter(kind, test.spec, AdaptSettings(**settings), test.ws[:1])

    def accuracies(ws: WeightSpace) -> dict[str, float]:  # % on the target and the source domain's test images
        return {"target_accuracy": 100 * accuracy_of(ws, images, labels).mean().item(),
                "source_accuracy": 100 * accuracy_of(ws, source_images, source_labels).mean().item()}  # fmt: skip

    # the references without training: the classifiers as they are, and the closed-form first-layer edit matching
    # the target domain's per-pixel moments (from its unlabelled training images) to the source domain's
    reference = {"seed": None, "params": 0, "train_s": 0}
    fixed = [{"model": "no-adaptation", **reference, **accuracies(test.ws)}]
    settings = AdaptSettings(**first["settings"])
    matched = fold_input_affine(test.ws, *moment_affine(settings, size))
    fixed.append({"model": "moment-matching", **reference, **accuracies(matched)})
    none = fixed[0]["target_accuracy"]
    rows = [r | {"gain": r["target_accuracy"] - none} for r in fixed]
    start = matched if settings.start == "moments" else test.ws
    for model, seed, record in runs:
        net = load_run(run_folder(out, model, seed), rebuild)
        adapted = WeightSpace.cat([adapt_with(model, net, start[lo : lo + 32]) for lo in range(0, len(test), 32)])
        r = accuracies(adapted)
        rows.append(run_row(model, seed, net, record, **r, gain=r["target_accuracy"] - none))
        console.print(
            f"{model} seed {seed}: target test accuracy {r['target_accuracy']:.2f}% (no adaptation {none:.2f}%)"
        )
    columns = [("target_accuracy", "target test accuracy %", ".2f"), ("gain", "points over no adaptation", ".2f"),
               ("source_accuracy", "source test accuracy %", ".2f"), ("params", "parameters", ".0f"),
               ("train_s", "training s", ".0f")]  # fmt: skip
    extra = {"zoo": str(cmd.zoo), "zoo_sha256": first["zoo_sha256"], "test_classifiers": len(test),
             "test_images": images.shape[0], "no_adaptation_target_accuracy": none,
             "no_adaptation_source_accuracy": fixed[0]["source_accuracy"],
             "moment_matching_target_accuracy": fixed[1]["target_accuracy"]}  # fmt: skip
    results = write_report(out, "adapt", first["preset"], first["settings"], rows, columns,
                           ("accuracy", "val target accuracy"), runs, extra)  # fmt: skip
    console.print(
        f"no adaptation: target test accuracy {none:.2f}%; moment matching (closed form, first layer): "
        f"{fixed[1]['target_accuracy']:.2f}%"
    )
    console.print((out / "results.md").read_text())
    return results
