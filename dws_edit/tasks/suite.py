"""Side-by-side runs of the validation tasks: every encoder (the DWS model and the paper's baselines) x every seed,
trained through the one loop into ``<out>/<model>-seed<k>``, then summarized as mean +- std over the seeds.

What a task writes next to its runs (``write_report``)::

    results.json     the task, preset, settings, every run's metrics and the summary (mean, std, n per model)
    results.md       the summary as a markdown table, the DWS model first
    curves.png       validation curves: one line per model (mean over seeds), the metric against the step

A run folder holds the loop's files (``state.pt``, ``best.safetensors``, ``results.json``); a rerun of the task
command skips finished runs and resumes an interrupted one (``dws_edit.tasks.loop``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from dws_edit.checkpoints import accepts_of, load_checkpoint, save_checkpoint
from dws_edit.data.zoo import load_zoo, manifest_sha256
from dws_edit.distributed import check_device
from dws_edit.io import read_file
from dws_edit.nn.encoders import ENCODERS, FUNCTION_BASELINES, build_encoder
from dws_edit.records import atomic_write_bytes, atomic_write_json, command_line, run_record
from dws_edit.tasks.loop import BEST, LoopConfig, train
from dws_edit.weights import NetworkSpec


@dataclass(frozen=True)
class TaskSettings:
    """The settings every validation task's run has (a preset, optionally overridden flag by flag); tasks add theirs
    in a subclass. ``fractions``: the task's fraction settings and their upper bounds, checked by :meth:`check`."""

    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup: int
    eval_every: int
    hidden: int
    depth: int
    bf16: bool
    device: str
    val_count: int

    fractions: ClassVar[tuple[tuple[str, float], ...]] = ()

    def check(self) -> None:
        """Raises ValueError (one line) for a value out of range (the loop checks its own)."""
        for name, top in self.fractions:
            if not 0.0 <= getattr(self, name) <= top:
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected a fraction in [0, {top}]")
        if min(self.hidden, self.depth, self.val_count) < 1:
            raise ValueError("--hidden, --depth and --val-count must be positive")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"--device {self.device}: no CUDA device here; accepted: cpu (--preset cpu)")
        check_device(self.device)


@dataclass(frozen=True)
class EncoderSettings(TaskSettings):
    """Settings of the tasks that train encoders (classification, SSL): dropout, the canonical sign, sign-flip
    augmentation, probe points."""

    dropout: float
    signs: bool
    sign_flips: float
    probes: int

    fractions: ClassVar[tuple[tuple[str, float], ...]] = (("sign_flips", 1.0), ("dropout", 0.9))

    def check(self) -> None:
        super().check()
        if self.probes < 0:
            raise ValueError(f"--probes {self.probes}: expected 0 (off) or probe points per axis")


@dataclass
class SuiteRuns:
    """Which runs a task command trains or evaluates, and where."""

    models: tuple[str, ...] = ENCODERS
    """Models side by side: dws and the baselines mlp, mlp-aug, mlp-align, transformer, inr2vec."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds (initialisation and batch order); the table reports mean +- std over them."""
    out: Path | None = None
    """Folder of the runs and the report (default runs/<task>-<zoo name>)."""

    TASK: ClassVar[str] = ""
    """The task's name (each task's command classes set it)."""
    ACCEPTED: ClassVar[tuple[str, ...]] = ENCODERS
    """The model names the task takes."""

    def folder(self) -> Path:
        """``--out``, or runs/<task>-<zoo name> (a subclass has a ``zoo``)."""
        return self.out or Path("runs") / f"{self.TASK}-{self.zoo.name}"

    def check_runs(self) -> None:
        """Raises ValueError (one line) for a model the task does not take, a repeated one, or no seed."""
        check_models(self.models, self.seeds, self.ACCEPTED)


@dataclass
class EncoderRuns(SuiteRuns):
    """The runs of the tasks that train encoders (classification, SSL): the weight-space encoders and the
    function-only baseline."""

    models: tuple[str, ...] = ENCODERS + FUNCTION_BASELINES
    """Models side by side: dws, the weight-space baselines mlp, mlp-aug, mlp-align, transformer, inr2vec, and
    probe-mlp (an MLP on the INR's values at the DWS model's probe points, blind to the weights)."""

    ACCEPTED: ClassVar[tuple[str, ...]] = ENCODERS + FUNCTION_BASELINES


@dataclass
class SuiteTraining:
    """A task's training flags: a named preset, and any setting overridden one by one."""

    preset: Literal["cpu", "paper"] = "cpu"
    """Named settings: cpu (every model x 3 seeds within an hour on 2 cores) or paper (the papers' protocol, for a
    GPU); each flag below that is given overrides one setting."""
    steps: int | None = None
    """Optimizer steps (default: the preset's)."""
    batch_size: int | None = None
    """INRs per step and process (default: the preset's; under torchrun the global batch is this x processes)."""
    lr: float | None = None
    """Peak AdamW learning rate (default: the preset's)."""
    hidden: int | None = None
    """Channels of the DWS layers (default: the preset's)."""
    bf16: bool | None = None
    """Train under bf16 autocast (default: the preset's)."""
    device: str | None = None
    """Torch device (default: the preset's: cpu for --preset cpu, cuda for --preset paper)."""
    eval_every: int | None = None
    """Steps between validations (default: the preset's)."""
    threads: int = 2
    """torch CPU threads (under torchrun: of the node, shared by its processes)."""

    OVERRIDES: ClassVar[tuple[str, ...]] = ("steps", "batch_size", "lr", "hidden", "bf16", "device", "eval_every")


@dataclass
class EncoderTraining(SuiteTraining):
    """The training flags of the encoder tasks (classification, SSL)."""

    dropout: float | None = None
    """Dropout in every model (default: the preset's)."""
    signs: bool | None = None
    """Canonical sign of sine networks before every model (dws_edit.inr.siren.canonical_signs; default: the
    preset's)."""
    sign_flips: float | None = None
    """Training augmentation: negate each hidden neuron with this probability (the function is unchanged)."""
    probes: int | None = None
    """DWS model only: probe points per axis whose activations feed the first layer (0: weights only)."""

    OVERRIDES: ClassVar[tuple[str, ...]] = SuiteTraining.OVERRIDES + ("dropout", "signs", "sign_flips", "probes")


def train_split(zoo: Path) -> tuple[Any, str]:
    """A task zoo's train split (``load_zoo``) and its manifest's SHA-256; raises ValueError (one line) for a zoo
    without statistics (the models normalize with them)."""
    train = load_zoo(zoo, "train")
    if train.stats is None:
        raise ValueError(f"{zoo} has no statistics (stats.safetensors); rerun its fit command")
    return train, manifest_sha256(zoo)


def check_models(models: Sequence[str], seeds: Sequence[int], accepted: Sequence[str] = ENCODERS) -> None:
    """Raises ValueError (one line) for a model name not ``accepted``, a repeated one, or no seed."""
    for m in models:
        if m not in accepted:
            raise ValueError(f"--models {m}: unknown model; accepted: {', '.join(accepted)}")
    if len(set(models)) != len(models) or not models:
        raise ValueError(f"--models {' '.join(models)}: name each model once, at least one")
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"--seeds {' '.join(map(str, seeds))}: give distinct non-negative seeds, at least one")


def run_folder(out: Path, model: str, seed: int) -> Path:
    """The run folder of one model and seed."""
    return Path(out) / f"{model}-seed{seed}"


def finished_runs(out: Path, models: Sequence[str], seeds: Sequence[int]) -> list[tuple[str, int, dict]]:
    """``(model, seed, the run's results.json)`` for every run of ``models`` x ``seeds`` that has finished. Raises
    ValueError (one line) when none has or ``out`` is not a folder."""
    if not Path(out).is_dir():
        what = "is a file" if Path(out).exists() else "does not exist"
        raise ValueError(f"{out} {what}; accepted: the --out folder of a dws-edit train classify|ssl|adapt")
    runs = []
    for model in models:
        for seed in seeds:
            file = run_folder(out, model, seed) / "results.json"
            if file.is_file():
                runs.append((model, seed, json.loads(file.read_text())))
    if not runs:
        raise ValueError(f"{out} holds no finished run of {', '.join(models)}; train them first (dws-edit train ...)")
    return runs


def shared_identity(runs: list[tuple[str, int, dict]], out: Path) -> dict:
    """The identity (preset, settings, data checksum) the finished ``runs`` share, that of the first; raises
    ValueError (one line) when they were trained with different presets, settings or data."""
    keys = ("preset", "settings", "zoo_sha256")
    first = runs[0][2]["identity"]
    if any(any(r["identity"].get(k) != first.get(k) for k in keys) for *_, r in runs):
        raise ValueError(f"the runs in {out} were trained with different settings or data; give each its own --out")
    return first


def summarize(rows: list[dict], metrics: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """``rows`` (one per run: ``model`` and the metrics) -> ``{model: {metric: {"mean", "std", "n"}}}``; std is the
    sample standard deviation over the seeds (0 for one seed), models in ENCODERS order."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    order = [*ENCODERS, *sorted({r["model"] for r in rows} - set(ENCODERS))]  # references without training last
    for model in [m for m in order if any(r["model"] == m for r in rows)]:
        out[model] = {}
        for metric in metrics:
            values = [r[metric] for r in rows if r["model"] == model and r.get(metric) is not None]
            if not values:
                continue
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
            out[model][metric] = {"mean": mean, "std": std, "n": len(values)}
    return out


def markdown_table(summary: dict, columns: Sequence[tuple[str, str, str]]) -> str:
    """The summary as a markdown table: one row per model, one column per ``(metric, header, format)`` with the
    value as ``mean +- std (n seeds)``; a metric a model lacks is shown as a dash."""
    lines = ["| model | " + " | ".join(h for _, h, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for model, metrics in summary.items():
        cells = []
        for metric, _, fmt in columns:
            m = metrics.get(metric)
            cells.append("–" if m is None else f"{format(m['mean'], fmt)} ± {format(m['std'], fmt)} ({m['n']})")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_png(fig: Any, path: Path) -> None:
    """Write a matplotlib figure as a PNG atomically (``dws_edit.records.atomic_write_bytes``) and close it."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_curves(runs: list[tuple[str, int, dict]], metric: str, label: str, path: Path) -> None:
    """Validation curves of the runs (their results' ``history``): ``metric`` against the step, one line per model
    (the mean over its seeds at the steps they share), written as a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for model in dict.fromkeys(m for m, _, _ in runs):
        curves = [{h["step"]: h[metric] for h in r["history"] if metric in h} for m, _, r in runs if m == model]
        steps = sorted(set.intersection(*(set(c) for c in curves)))
        if steps:
            ax.plot(steps, [sum(c[s] for c in curves) / len(curves) for s in steps], label=model, marker=".")
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    write_png(fig, path)


def write_report(
    out: Path,
    task: str,
    preset: str,
    settings: dict[str, Any],
    rows: list[dict],
    columns: Sequence[tuple[str, str, str]],
    curves: tuple[str, str],
    runs: list[tuple[str, int, dict]],
    extra: dict[str, Any] | None = None,
) -> dict:
    """Write ``results.json``, ``results.md`` and ``curves.png`` into ``out`` (see the module's docstring) and return
    the results. ``columns``: the table's ``(metric, header, format)``; ``curves``: ``(metric, axis label)`` of the
    validation history to plot."""
    summary = summarize(rows, [c[0] for c in columns])
    table = markdown_table(summary, columns)
    processes = max(r["identity"].get("world_size", 1) for *_, r in runs)  # torchrun: settings.batch_size each
    results = run_record(
        "dws-edit", None, None, task=task, preset=preset, settings=settings, processes=processes, runs=rows,
        summary=summary, **(extra or {}),
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", results)
    ranks = f", {processes} processes at batch {settings.get('batch_size')} each" if processes > 1 else ""
    header = f"{task}, preset {preset}{ranks}: mean ± std over seeds (number of seeds); command: {results['command']}"
    header += "\n\n"
    atomic_write_bytes(out / "results.md", (header + table).encode())
    plot_curves(runs, curves[0], curves[1], out / "curves.png")
    return results


def train_all(cmd: Any, settings: Any, data: Any, make_task: Callable[[str, int], Any]) -> None:
    """Train every model x seed of the command ``cmd`` (its ``TASK``, ``models``, ``seeds``, ``preset``, ``threads``
    and ``folder()``), seed by seed (after the first seed every model has a result): ``make_task(model,
    seed)`` builds the loop's task (with a ``save`` method), the run's identity is the task, model, preset, settings
    and the data's checksum (``data.sha256``). The loop returns at once for a finished run and resumes an interrupted
    one."""
    for seed in cmd.seeds:
        for model in cmd.models:
            t = make_task(model, seed)
            identity = {"task": cmd.TASK, "model": model, "preset": cmd.preset, "settings": asdict(settings),
                        "zoo_sha256": data.sha256}  # fmt: skip
            train(t, loop_config(settings, seed, cmd.threads), run_folder(cmd.folder(), model, seed), identity,
                  save_model=t.save)  # fmt: skip


def with_overrides(preset: Any, cmd: Any, keys: Sequence[str]) -> Any:
    """The preset's settings (a frozen dataclass with ``check()``) with every field of ``keys`` that the command
    ``cmd`` sets (not None) replaced; checked (ValueError, one line)."""
    chosen = replace(preset, **{k: getattr(cmd, k) for k in keys if getattr(cmd, k) is not None})
    chosen.check()
    return chosen


def loop_config(s: Any, seed: int, threads: int) -> LoopConfig:
    """The loop's config of a task's settings ``s`` (steps, batch_size, lr, weight_decay, warmup, eval_every, bf16,
    device) for one seed."""
    return LoopConfig(steps=s.steps, batch_size=s.batch_size, lr=s.lr, weight_decay=s.weight_decay, warmup=s.warmup,
                      eval_every=s.eval_every, bf16=s.bf16, seed=seed, threads=threads, device=s.device)  # fmt: skip


def encoder_kwargs(kind: str, s: Any) -> dict:
    """The ``build_encoder`` options of model ``kind`` under a task's settings ``s`` (hidden, depth, dropout, signs,
    probes, probe_extent): what a run records to be rebuilt."""
    extent = {"probe_extent": s.probe_extent} if getattr(s, "probe_extent", 1.0) != 1.0 else {}  # runs before it
    if kind == "dws":
        return {"hidden": s.hidden, "depth": s.depth, "dropout": s.dropout, "signs": s.signs, "probes": s.probes,
                **extent}  # fmt: skip
    if kind in FUNCTION_BASELINES:
        return {"dropout": s.dropout, "probes": s.probes, **extent}
    return {"dropout": s.dropout, "signs": s.signs}


def load_run(run: Path, rebuild: Callable[[str, dict], nn.Module]) -> nn.Module:
    """The best model of one run folder, in eval mode: the DWS model from its checkpoint, a baseline rebuilt by
    ``rebuild(model name, the run's recorded settings)`` and loaded strictly from its state dict (safetensors:
    nothing unpickled)."""
    identity = json.loads((run / "results.json").read_text())["identity"]
    if identity["model"] == "dws":
        return load_checkpoint(run / BEST)
    model = rebuild(identity["model"], identity["settings"])
    model.load_state_dict(read_file(run / BEST)[0])
    return model.eval()


def encoder_builder(spec: NetworkSpec, out_dim: int, settings_cls: type) -> Callable[[str, dict], nn.Module]:
    """``load_run``'s ``rebuild`` for the encoder tasks: ``build_encoder`` with the run's recorded settings."""
    return lambda kind, settings: build_encoder(kind, spec, out_dim, **encoder_kwargs(kind, settings_cls(**settings)))


def save_encoder(path: Path, model: nn.Module, kwargs: dict, task: str, does: str, data: Any, **extra: Any) -> None:
    """Write a task's trained DWS encoder as a dws-edit checkpoint (``dws_edit.load_model``) with its card: the task,
    what it does, the model and its arguments, the INR spec it accepts, the command, the data (``data``: the task's
    data, with ``zoo``, ``sha256``, ``train`` and ``train_ws``) and the run; ``extra`` joins the card."""
    card = {
        "task": task,
        "name": f"{data.zoo.name}-{task}",
        "does": does,
        "model": type(model).__name__,
        "model_kwargs": kwargs,
        "accepts": accepts_of(data.spec),
        "command": command_line(),
        "data": {
            "zoo": str(data.zoo),
            "zoo_sha256": data.sha256,
            "source": data.train.manifest.get("source", {}),
            "train_inrs": data.train_ws.batch_size,
        },  # fmt: skip
        "run": str(path.parent),
        **extra,
    }
    save_checkpoint(path, model, kwargs, card)


def run_row(model: str, seed: int, net: nn.Module, record: dict, **metrics: float) -> dict:
    """One run's row of a report: the model, seed, metrics, its parameter count and training wall time (s)."""
    return {"model": model, "seed": seed, **metrics, "params": sum(p.numel() for p in net.parameters()),
            "train_s": record.get("wall_time_s")}  # fmt: skip
