"""ONE training loop for every task (edit models now; classification, SSL and adaptation later).

A task (:class:`Task`) supplies named modules, the parameter groups of one or more optimizers, a loss on a
training batch and a validation score; the loop owns the rest: one AdamW per optimizer with the shared warmup and
cosine schedule (times each group's ``lr_mult``), optional bf16 autocast on the config's device, gradient clipping,
progress with an ETA, periodic validation with the best model kept, checkpoints and resume, and a results JSON
that records the command, git revision, seed, data checksum and wall time.

Several processes (``rank`` of ``world_size``) may train one run: each draws its own batches (the batch seed
includes the rank), gradients are averaged over the processes when ``torch.distributed`` is initialised, and
only rank 0 validates, prints, checkpoints and writes files. ``world_size`` 1 is the plain one-process run.

Run folder (``out``)::

    state.pt                 resume state: every module and optimizer, step, best score, history, identity
                             (torch.save of tensors and plain containers; read back with ``weights_only=True``)
    best.safetensors         the best model so far by validation score (``save_model``; default dws_edit.io)
    results.json             written when the run ends (dws_edit.records.run_record)

Killed (even with kill -9) and rerun with the same config, the loop continues from the last
checkpoint; data order is a function of (seed, step, rank), so the resumed run sees the batches the
uninterrupted run would have seen.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from dws_edit.console import console
from dws_edit.io import write_file
from dws_edit.progress import progress_bar
from dws_edit.records import atomic_write_bytes, atomic_write_json, run_record

STATE = "state.pt"
BEST = "best.safetensors"
RESULTS = "results.json"


@dataclass
class LoopConfig:
    """How a model trains (shared by every task)."""

    steps: int = 2000
    """Optimizer steps in all."""
    batch_size: int = 64
    """INRs per step (per process)."""
    lr: float = 1e-3
    """Peak AdamW learning rate (after a linear warmup, then cosine decay to lr / 20)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup: int = 100
    """Linear warmup steps."""
    grad_clip: float = 10.0
    """Clip the gradient norm of all trained parameters together at this value (0: off)."""
    bf16: bool = False
    """Run forward and backward under torch.autocast(<device type>, dtype=torch.bfloat16)."""
    eval_every: int = 250
    """Validate (and checkpoint) every this many steps, and at the end."""
    seed: int = 0
    """Seed of the model's initialisation and of the data order."""
    threads: int = 2
    """torch CPU threads."""
    device: str = "cpu"
    """Device the modules train on (a torch device string: cpu, cuda, cuda:1); the task keeps its data there."""

    def check(self) -> None:
        """Raises ValueError (one line) for a value out of range; ``train`` calls it first (a command line with a
        bad value parses, then fails in one line before anything is written)."""
        for name in ("steps", "batch_size", "eval_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: expected a positive integer")
        if not self.lr > 0:
            raise ValueError(f"lr {self.lr}: expected a positive learning rate")
        try:
            torch.device(self.device)
        except RuntimeError:
            raise ValueError(f"device {self.device!r}: expected a torch device such as cpu or cuda") from None


class Task(Protocol):
    """What the loop needs from a task (edit, classify, ssl, adapt).

    The loop moves the modules to ``LoopConfig.device`` before it builds the optimizers; a task keeps its own
    data on that device. ``modules`` and ``optimizers`` are called once, at the start."""

    def modules(self) -> dict[str, nn.Module]:
        """The named modules that train: set to train/eval mode, clipped, checkpointed and resumed together."""

    def optimizers(self) -> dict[str, list[dict]]:
        """Optimizer name -> its parameter groups, in order (one AdamW each, at the loop's lr and weight decay).

        A group is ``{"params": [...], "lr_mult": float (default 1), ...}``; any other key is an AdamW group
        option (e.g. ``weight_decay``). Every parameter must belong to one of the ``modules``."""

    def train_loss(self, step: int, generator: torch.Generator) -> Tensor:
        """The scalar loss of the training batch of ``step`` (drawn with ``generator``, a CPU generator seeded by
        :func:`batch_seed`)."""

    def validate(self) -> dict[str, float]:
        """Validation metrics (run under ``torch.no_grad`` with the modules in eval mode, on rank 0 only);
        ``"score"`` (lower is better) picks the best model."""


def batch_seed(cfg: LoopConfig, step: int, rank: int = 0, world_size: int = 1) -> int:
    """The seed of the generator that draws the training batch of ``step`` on process ``rank``: a function of
    (seed, step, rank), distinct for every step and rank (steps < 1,000,003); for one process,
    ``seed * 1_000_003 + step``."""
    return (cfg.seed * 1_000_003 + step) * world_size + rank


def _lr_at(step: int, cfg: LoopConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _unique(params) -> list[nn.Parameter]:
    seen, out = set(), []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def build_optimizers(task: Task, cfg: LoopConfig, params: list[nn.Parameter]) -> dict[str, torch.optim.AdamW]:
    """One AdamW per entry of ``task.optimizers()``, its groups in order, each with ``lr_mult`` (default 1).

    Raises ValueError when a task has no optimizer, a group no parameters, or a parameter is not one of
    ``params`` (the modules' parameters: only those are checkpointed)."""
    owned = {id(p) for p in params}
    opts = {}
    for name, groups in task.optimizers().items():
        for group in groups:
            if not group.get("params") or any(id(p) not in owned for p in group["params"]):
                raise ValueError(f"optimizer {name!r}: a group is empty or holds a parameter of no task module")
        opts[name] = torch.optim.AdamW(
            [{"lr_mult": 1.0, **g} for g in groups], lr=cfg.lr, weight_decay=cfg.weight_decay
        )
    if not opts:
        raise ValueError("the task has no optimizer: nothing would train")
    return opts


def _average_gradients(params: list[nn.Parameter], world_size: int) -> None:
    """Average the gradients over the processes (when torch.distributed is initialised and world_size > 1)."""
    if world_size == 1 or not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    for p in params:
        if p.grad is not None:
            torch.distributed.all_reduce(p.grad)
            p.grad /= world_size


def save_state_dicts(path: Path, modules: dict[str, nn.Module]) -> None:
    """One module: its state dict; several: every module's, keys prefixed ``<name>.`` (dws_edit.io)."""
    if len(modules) == 1:
        write_file(path, next(iter(modules.values())).state_dict())
    else:
        write_file(path, {f"{n}.{k}": v for n, m in modules.items() for k, v in m.state_dict().items()})


def train(
    task: Task,
    cfg: LoopConfig,
    out: str | Path,
    identity: dict[str, Any],
    save_model: Callable[[Path, dict[str, nn.Module]], None] | None = None,
    progress: bool = True,
    rank: int = 0,
    world_size: int = 1,
) -> dict:
    """Train ``task``'s modules for ``cfg.steps`` steps into the run folder ``out``; resume if it holds a run.

    ``identity``: what defines the run (task config, data checksum, ...), stored in the state with the loop's
    config: a rerun with another identity raises ValueError (one line) instead of resuming someone else's run, and
    so does a state.pt of another layout (an older loop's). ``save_model(path, modules)`` writes the best model
    (default: the modules' state dicts through dws_edit.io). ``rank`` / ``world_size``: this process among the
    processes training the run (rank 0 alone writes files and prints). Returns the results (the run record:
    command, git revision, seed, wall time, identity, ``best_val_score`` and ``history``, one entry per
    validation with ``step``, ``train_loss``, ``wall_s`` and the task's metrics; empty on other ranks).
    Raises FloatingPointError when the training loss is not finite.
    """
    cfg.check()
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} of world size {world_size}: expected 0 <= rank < world size")
    out = Path(out)
    lead = rank == 0
    torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    modules = task.modules()
    if device.type != "cpu":
        for module in modules.values():
            module.to(device)
    params = _unique(p for m in modules.values() for p in m.parameters())
    opts = build_optimizers(task, cfg, params)
    save_model = save_model or save_state_dicts
    identity = {"loop": asdict(cfg), **identity}
    step, best, history, elapsed = 0, math.inf, [], 0.0
    if (out / STATE).exists():
        state = torch.load(out / STATE, weights_only=True, map_location=device)
        if state["identity"] != identity:
            raise ValueError(f"{out} holds a run with another configuration; use another --out or delete it")
        if set(state.get("modules", ())) != set(modules) or set(state.get("optimizers", ())) != set(opts):
            raise ValueError(f"{out} holds a state.pt of an older loop's layout; use another --out or delete it")
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        for name, opt in opts.items():
            opt.load_state_dict(state["optimizers"][name])
        step, best, history, elapsed = state["step"], state["best"], state["history"], state["elapsed"]
        if lead:
            console.print(f"resuming {out} at step {step}/{cfg.steps}")
    if lead:
        out.mkdir(parents=True, exist_ok=True)
    started = time.time() - elapsed

    def checkpoint() -> None:
        buf = io.BytesIO()
        state = {
            "identity": identity,
            "modules": {name: m.state_dict() for name, m in modules.items()},
            "optimizers": {name: o.state_dict() for name, o in opts.items()},
            "step": step,
            "best": best,
            "history": history,
            "elapsed": time.time() - started,
        }
        torch.save(state, buf)
        atomic_write_bytes(out / STATE, buf.getvalue())

    with progress_bar(f"training {out.name}", cfg.steps, progress and lead) as bar:
        bar.advance(step)
        while step < cfg.steps:
            for module in modules.values():
                module.train()
            for opt in opts.values():
                for group in opt.param_groups:
                    group["lr"] = _lr_at(step, cfg) * group["lr_mult"]
            g = torch.Generator().manual_seed(batch_seed(cfg, step, rank, world_size))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                loss = task.train_loss(step, g)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss is {loss.item()} at step {step}; lower --lr")
            for p in params:  # every module's (as opt.zero_grad(set_to_none=True) for the optimized ones)
                p.grad = None
            loss.backward()
            _average_gradients(params, world_size)
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            for opt in opts.values():
                opt.step()
            step += 1
            bar.advance(1)
            if lead and (step % cfg.eval_every == 0 or step == cfg.steps):
                for module in modules.values():
                    module.eval()
                with torch.no_grad():
                    metrics = task.validate()
                history.append({"step": step, "train_loss": loss.item(), "wall_s": time.time() - started, **metrics})
                if metrics["score"] < best:
                    best = metrics["score"]
                    save_model(out / BEST, modules)
                console.print(
                    f"step {step}: train loss {loss.item():.3e}, "
                    + ", ".join(f"val {k} {v:.4g}" for k, v in metrics.items())
                )
                checkpoint()
    results = run_record(
        identity.get("program", "dws-edit"),
        cfg.seed,
        started,
        identity=identity,
        best_val_score=best if lead else None,
        history=history if lead else [],
    )
    if lead:
        atomic_write_json(out / RESULTS, results)
    return results
