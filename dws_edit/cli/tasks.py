"""``dws-edit classify``: the validation tasks' shipped models applied to a user's files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tyro

from dws_edit.console import console


@dataclass
class Classify:
    """Classify image INRs with a shipped INR classifier: prints each INR's class and its probability."""

    inrs: tyro.conf.Positional[tuple[Path, ...]]
    """INR files (dws-edit inr fit / import; each may hold several INRs)."""
    model: str = "fmnist-classifier"
    """A shipped classifier (fmnist-classifier, mnist-classifier) or a checkpoint file of one."""

    def run(self) -> list[dict]:
        from dws_edit.api import classify
        from dws_edit.inr import load_inr

        if not self.inrs:
            raise ValueError("no INR file given; accepted: one or more INR files (dws-edit classify a.safetensors ...)")
        inrs = [(path, load_inr(path)) for path in self.inrs]  # every file read before anything is printed
        rows = []
        for path, ws in inrs:
            for k, row in enumerate(classify(ws, self.model)):
                name = f"{path}" if k == 0 and row["count"] == 1 else f"{path}[{k}]"
                console.print(f"{name}: {row['label']} (class {row['class']}, probability {row['probability']:.3f})")
                rows.append({"file": str(path), "index": k, **row})
        return rows


@dataclass
class Adapt:
    """Adapt a Fashion-MNIST classifier to corrupted images with a shipped adapter, state dict in and out."""

    classifier: tyro.conf.Positional[Path]
    """The classifier: a .pt/.pth/.safetensors state dict of nn.Sequential(Linear, ReLU, ..., Linear) (read with
    torch.load(weights_only=True) or safetensors: never unpickled)."""
    out: Path = Path("adapted.safetensors")
    """The adapted classifier's state dict (.safetensors or .pt; the same keys as nn.Sequential's)."""
    model: str = "fmnist-adapter"
    """A shipped adapter (fmnist-adapter) or a checkpoint file of one (dws-edit train adapt)."""

    def run(self) -> Path:
        import torch

        from dws_edit.checkpoints import available_models, check_task_model, load_model
        from dws_edit.data.classifiers import classifier_state_dict, fold_input_affine, import_classifier
        from dws_edit.inr.exports import write_state_dict

        if self.out.suffix.lower() not in (".safetensors", ".pt", ".pth"):
            raise ValueError(f"--out {self.out}: accepted a path ending in .safetensors, .pt or .pth")
        if self.out.resolve() == self.classifier.resolve():
            raise ValueError(f"--out {self.out} is the input file; give another path (the input is never overwritten)")
        ws = import_classifier(self.classifier)  # the user's file first: its mistakes are named before the model's
        if self.model == "fmnist-adapter" and "fmnist-adapter" not in available_models(None):
            raise ValueError("no adapter is shipped (checkpoints/fmnist-adapter is missing); train one (dws-edit train "
                             "adapt) and pass its run's best.safetensors as --model")  # fmt: skip
        net = load_model(self.model, "adapt")
        card = check_task_model(net, "adapt", self.model, ws.spec)
        if affine := card.get("input_affine"):  # trained with --start moments: the closed-form edit first
            ws = fold_input_affine(ws, torch.tensor(affine["scale"]), torch.tensor(affine["shift"]))
        with torch.no_grad():
            adapted = classifier_state_dict(net(ws))
        write_state_dict(self.out, adapted)
        console.print(f"wrote {self.out} (adapted by {self.model})")
        return self.out
