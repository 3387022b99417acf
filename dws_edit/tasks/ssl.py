"""Self-supervised INR embeddings (``dws-edit train ssl`` / ``dws-edit eval ssl``): the DWSNets paper's protocol.

Sine-wave INRs a sin(b x), a, b ~ U(0, 10) (the sines zoo, ``dws-edit fit sines``) are embedded in 16 dimensions by
each encoder (``dws_edit.nn.encoders.ENCODERS``), trained with a contrastive loss (InfoNCE / NT-Xent, Chen et al.
2020) between two views of every INR of the batch: Gaussian noise on the weights (in units of each tensor's training
standard deviation), random masking of weights, and a random permutation of the hidden neurons (the same function:
the non-invariant baselines must learn to ignore it, the DWS encoder is invariant by construction). A small
projection head maps embeddings to the loss; the embedding itself is what is evaluated: a linear probe (least squares
with a bias, fitted on the train split's embeddings) predicts (a, b) on the test split, and its mean squared error
is the paper's metric (DWSNets 1.39, best baseline 3.86; shared REFERENCE.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from dws_edit.console import console
from dws_edit.data import load_zoo
from dws_edit.distributed import gather_batch, is_lead
from dws_edit.nn.encoders import DWSEncoder, build_encoder
from dws_edit.nn.models import _mlp
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
    write_png,
    write_report,
)
from dws_edit.weights import WeightSpace


@dataclass(frozen=True)
class SSLSettings(EncoderSettings):
    """The training settings of one self-supervised run: the encoder tasks' and the contrastive loss's."""

    embed_dim: int
    temperature: float
    noise: float
    mask: float
    probe_extent: float = field(default=1.0, kw_only=True)  # 1 in the runs before it was a setting

    fractions: ClassVar[tuple[tuple[str, float], ...]] = EncoderSettings.fractions + (("mask", 0.9),)

    def check(self) -> None:
        super().check()
        if self.noise < 0 or self.temperature <= 0 or self.embed_dim < 1 or self.val_count < 2:
            raise ValueError("--noise must be >= 0, --temperature > 0, --embed-dim positive and --val-count >= 2")
        if not (math.isfinite(self.probe_extent) and self.probe_extent > 0):
            raise ValueError(f"--probe-extent {self.probe_extent}: expected a positive half-width of the INRs' domain")


PRESETS = {
    "cpu": SSLSettings(steps=1000, batch_size=64, lr=1e-3, weight_decay=1e-4, warmup=100, eval_every=250, hidden=32,
                       depth=4, dropout=0.0, signs=False, sign_flips=0.0, probes=16, bf16=False, device="cpu",
                       val_count=1000, embed_dim=16, temperature=0.1, noise=0.1, mask=0.1),
    # the DWSNets SSL protocol's scale on one GPU: 16-d embeddings, many more steps
    "paper": SSLSettings(steps=50_000, batch_size=256, lr=1e-3, weight_decay=1e-4, warmup=1000, eval_every=2000,
                         hidden=32, depth=4, dropout=0.0, signs=False, sign_flips=0.0, probes=16, bf16=False,
                         device="cuda", val_count=1000, embed_dim=16, temperature=0.1, noise=0.1, mask=0.1),
}  # fmt: skip


@dataclass
class _SSLCommand(EncoderRuns):
    TASK = "ssl"

    zoo: Path = Path("zoos/sines")
    """Zoo of sine INRs labelled by their (a, b) (dws-edit fit sines)."""


@dataclass
class TrainSSL(_SSLCommand, EncoderTraining):
    """Train self-supervised INR encoders (contrastive): the DWS model and every baseline, each seed, then evaluate."""

    temperature: float | None = None
    """InfoNCE temperature (default: the preset's)."""
    noise: float | None = None
    """View augmentation: Gaussian noise, in units of each weight tensor's training standard deviation."""
    mask: float | None = None
    """View augmentation: fraction of weights set to zero."""
    probe_extent: float | None = None
    """DWS model: the probe points span [-PROBE_EXTENT, PROBE_EXTENT] (default 1; the sines' domain is [-pi, pi))."""

    def settings(self) -> SSLSettings:
        return with_overrides(
            PRESETS[self.preset], self, EncoderTraining.OVERRIDES + ("temperature", "noise", "mask", "probe_extent")
        )

    def run(self) -> dict:
        """Train the runs (resuming any), then evaluate them all; returns the report's results."""
        self.check_runs()
        settings = self.settings()
        data = SSLData(self.zoo, settings.val_count, settings.device)
        train_all(self, settings, data, lambda model, seed: SSLTask(data, model, settings, seed))
        return evaluate_ssl(self) if is_lead() else {}  # rank 0 reports


@dataclass
class EvalSSL(_SSLCommand):
    """Evaluate trained INR encoders by a linear probe of (a, b), with a t-SNE plot of their embeddings.

    Writes results.json, results.md, curves.png and tsne.png into the runs' folder."""

    def run(self) -> dict:
        self.check_runs()
        return evaluate_ssl(self)


class SSLData:
    """A sine zoo's train split and the first ``val_count`` validation INRs with their (a, b), on ``device``."""

    def __init__(self, zoo: Path, val_count: int, device: str = "cpu"):
        self.zoo = Path(zoo)
        self.train, self.sha256 = train_split(zoo)
        if self.train.labels.dim() != 2:
            raise ValueError(f"{zoo}: its labels are classes, not the parameters of sine waves; accepted: a zoo of "
                             "sine INRs (dws-edit fit sines)")  # fmt: skip
        val = load_zoo(zoo, "val")
        self.spec = self.train.spec
        self.train_ws, self.train_ab = self.train.ws.to(device), self.train.labels.to(device)
        self.val_ws, self.val_ab = val.ws[:val_count].to(device), val.labels[:val_count].to(device)
        stats = self.train.stats
        self.std = [s.to(device) for pair in zip(stats.weight_std, stats.bias_std) for s in pair]  # flat order


class SSLTask:
    """The loop's task for one encoder and seed: InfoNCE between two augmented views; validation by a linear probe
    (fitted on the first 2,000 training INRs) of (a, b) on the validation INRs."""

    def __init__(self, data: SSLData, kind: str, settings: SSLSettings, seed: int):
        self.data, self.kind, self.s = data, kind, settings
        torch.manual_seed(seed)
        self.kwargs = encoder_kwargs(kind, settings)
        self.model = build_encoder(kind, data.spec, settings.embed_dim, reference=data.train.ws[:1], **self.kwargs)
        self.model.set_stats(data.train.stats)
        self.projector = _mlp((settings.embed_dim, 64, 64))

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "projector": self.projector}

    def optimizers(self) -> dict[str, list[dict]]:
        return {"adamw": [{"params": list(self.model.parameters()) + list(self.projector.parameters())}]}

    def view(self, ws: WeightSpace, generator: torch.Generator) -> WeightSpace:
        """One augmented view: noise, masking, a random permutation (and sign flips) of every network."""
        s, n = self.s, ws.batch_size
        out = []
        for t, std in zip(ws.tensors(), self.data.std):
            shape = std.reshape(1, -1, *[1] * (t.dim() - 2))
            noisy = t + s.noise * shape * torch.randn(t.shape, generator=generator).to(t)
            out.append(noisy * (torch.rand(t.shape, generator=generator) >= s.mask).to(t))
        ws = WeightSpace(ws.spec, tuple(out[0::2]), tuple(out[1::2]))
        if s.sign_flips:
            flips = [torch.rand(n, h, generator=generator) < s.sign_flips for h in ws.spec.hidden_sizes]
            ws = ws.flip_signs([torch.where(f, -1.0, 1.0).to(ws.device) for f in flips])
        return ws.permute(ws.random_permutations(generator))

    def train_size(self) -> int:
        return self.data.train_ws.batch_size

    def train_loss(self, batch: StepBatch) -> Tensor:
        d, generator, nets = self.data, batch.generator, batch.nets
        ws = d.train_ws[batch.indices.to(d.train_ab.device)]
        z = nets["projector"](nets["model"](WeightSpace.cat([self.view(ws, generator), self.view(ws, generator)])))
        return global_info_nce(z.float(), self.s.temperature)

    def validate(self) -> dict[str, float]:
        d, fit = self.data, min(2000, self.data.train_ws.batch_size)
        mse = probe_mse(embed(self.model, d.train_ws[:fit]), d.train_ab[:fit], embed(self.model, d.val_ws), d.val_ab)
        return {"score": mse, "probe_mse": mse}

    def save(self, path: Path, modules: dict) -> None:
        """The DWS encoder as a dws-edit checkpoint with its card; a baseline encoder as its state dict (the
        projection head, used only by the loss, is not kept)."""
        model = modules["model"]
        if not isinstance(model, DWSEncoder):
            return save_state_dicts(path, {"model": model})
        does = (
            f"Embeds sine-wave INRs a sin(b x) in {self.s.embed_dim} dimensions (contrastive, no labels); a linear "
            "probe of the embedding recovers (a, b)"
        )
        save_encoder(path, model, {"embed_dim": self.s.embed_dim, **self.kwargs}, "ssl", does, self.data)


def info_nce(z: Tensor, temperature: float) -> Tensor:
    """NT-Xent (InfoNCE over 2N views; Chen et al. 2020, SimCLR): ``z`` [2N, D] holds two views of N items (item i
    at rows i and N + i); each view's positive is the other view of its item, the other 2N - 2 rows its negatives."""
    z = nn.functional.normalize(z, dim=-1)
    n = z.shape[0] // 2
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return nn.functional.cross_entropy(sim, positive)


def global_info_nce(z: Tensor, temperature: float) -> Tensor:
    """:func:`info_nce` over the global batch: ``z`` [2B, D] holds this process's two views of its B items (rows i
    and B + i); under torchrun every rank's are gathered (``dws_edit.distributed.gather_batch``: gradients flow back
    to each rank's own), so each view's negatives are those of the whole global batch, as in one process."""
    z = gather_batch(z.unflatten(0, (2, -1)))  # [ranks, 2 views, B, D]
    return info_nce(z.transpose(0, 1).flatten(0, 2), temperature)


@torch.no_grad()
def embed(model: nn.Module, ws: WeightSpace, batch: int = 1024) -> Tensor:
    """Embeddings [B, D] (float32) of INRs ``ws`` in batches, the model in eval mode (restored after)."""
    was = model.training
    model.eval()
    out = torch.cat([model(ws[lo : lo + batch]).float() for lo in range(0, ws.batch_size, batch)])
    model.train(was)
    return out


def probe_mse(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor) -> float:
    """The linear probe: least squares (float64, with a bias) from embeddings ``train_x`` [N, D] to targets
    ``train_y`` [N, K]; the mean squared error of its predictions of ``test_y`` from ``test_x`` (mean over the K
    targets: for sines, (a, b) in their own units)."""
    ones = torch.ones(train_x.shape[0], 1, dtype=torch.float64, device=train_x.device)
    x = torch.cat([train_x.double(), ones], dim=1)
    coef = torch.linalg.lstsq(x.cpu(), train_y.double().cpu()).solution
    pred = torch.cat([test_x.double().cpu(), torch.ones(test_x.shape[0], 1, dtype=torch.float64)], dim=1) @ coef
    return (pred - test_y.double().cpu()).square().mean().item()


def evaluate_ssl(cmd: _SSLCommand) -> dict:
    """Linear-probe MSE of (a, b) on the test split for every finished run (the probe fitted on the train split's
    embeddings), the report and a t-SNE plot written into the runs' folder; prints the table."""
    out = cmd.folder()
    runs = finished_runs(out, cmd.models, cmd.seeds)
    first = shared_identity(runs, out)
    train_split, test = load_zoo(cmd.zoo, "train"), load_zoo(cmd.zoo, "test")
    embed_dim = first["settings"]["embed_dim"]
    rows, seed0 = [], {}
    for model, seed, record in runs:
        net = load_run(run_folder(out, model, seed), encoder_builder(test.spec, embed_dim, SSLSettings))
        test_z = embed(net, test.ws)
        mse = probe_mse(embed(net, train_split.ws), train_split.labels, test_z, test.labels)
        rows.append(run_row(model, seed, net, record, probe_mse=mse))
        seed0.setdefault(model, test_z)
        console.print(f"{model} seed {seed}: linear-probe MSE of (a, b) {mse:.3f}")
    columns = [("probe_mse", "linear-probe MSE of (a, b), test", ".3f"), ("params", "parameters", ".0f"),
               ("train_s", "training s", ".0f")]  # fmt: skip
    extra = {"zoo": str(cmd.zoo), "zoo_sha256": first["zoo_sha256"], "test_inrs": test.ws.batch_size}
    curves = ("probe_mse", "val probe MSE")
    results = write_report(out, "ssl", first["preset"], first["settings"], rows, columns, curves, runs, extra)
    plot_tsne(seed0, test.labels, out / "tsne.png")
    console.print((out / "results.md").read_text())
    return results


def plot_tsne(embeddings: dict[str, Tensor], ab: Tensor, path: Path, count: int = 1000) -> None:
    """A 2-D t-SNE (scikit-learn, seed 0) of the first ``count`` test embeddings of each model, colored by a (left)
    and by b (right), one row per model; written as a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    fig, axes = plt.subplots(len(embeddings), 2, figsize=(7, 3.2 * len(embeddings)), dpi=80, squeeze=False)
    ab = ab[:count].numpy()
    for row, (model, z) in enumerate(embeddings.items()):
        z = z[:count].numpy()
        xy = TSNE(2, perplexity=min(30.0, (len(z) - 1) / 3), random_state=0, init="pca").fit_transform(z)
        for col, name in enumerate("ab"):
            ax = axes[row][col]
            points = ax.scatter(xy[:, 0], xy[:, 1], c=ab[:, col], s=4, cmap="viridis")
            ax.set_title(f"{model}: colored by {name}")
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(points, ax=ax)
    fig.tight_layout()
    write_png(fig, path)
