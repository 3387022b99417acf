"""ONE training loop for every task (edit models now; classification, SSL and adaptation later).

A task supplies the model, a loss on a training batch and a validation score; the loop owns the
rest: AdamW with warmup and cosine decay, optional bf16 autocast, gradient clipping, progress with an
ETA, periodic validation with the best model kept, checkpoints and resume, and a results JSON that
records the command, git revision, seed, data checksum and wall time.

Run folder (``out``)::

    state.pt                 resume state: model, optimizer, step, best score, history (torch.save of
                             tensors and plain containers; read back with ``weights_only=True``)
    best.safetensors         the best model so far by validation score (dws_edit.io)
    results.json             written when the run ends

Killed (even with kill -9) and rerun with the same config, the loop continues from the last
checkpoint; data order is a function of (seed, step), so the resumed run sees the batches the
uninterrupted run would have seen.
"""

from __future__ import annotations

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
    """INRs per step."""
    lr: float = 1e-3
    """Peak AdamW learning rate (after a linear warmup, then cosine decay to lr / 20)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup: int = 100
    """Linear warmup steps."""
    grad_clip: float = 10.0
    """Clip the gradient norm at this value (0: off)."""
    bf16: bool = False
    """Run forward and backward under torch.autocast("cpu", dtype=torch.bfloat16)."""
    eval_every: int = 250
    """Validate (and checkpoint) every this many steps, and at the end."""
    seed: int = 0
    """Seed of the model's initialisation and of the data order."""
    threads: int = 2
    """torch CPU threads."""

    def check(self) -> None:
        """Raises ValueError (one line) for a value out of range; ``train`` calls it first (a command line with a
        bad value parses, then fails in one line before anything is written)."""
        for name in ("steps", "batch_size", "eval_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: expected a positive integer")
        if not self.lr > 0:
            raise ValueError(f"lr {self.lr}: expected a positive learning rate")


class Task(Protocol):
    """What the loop needs from a task."""

    model: nn.Module

    def train_loss(self, step: int, generator: torch.Generator) -> Tensor:
        """The scalar loss of the training batch of ``step`` (drawn with ``generator``)."""

    def validate(self) -> dict[str, float]:
        """Validation metrics; ``"score"`` (lower is better) picks the best model."""


def _lr_at(step: int, cfg: LoopConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def train(
    task: Task,
    cfg: LoopConfig,
    out: str | Path,
    identity: dict[str, Any],
    save_model: Callable[[Path, nn.Module], None] | None = None,
    progress: bool = True,
) -> dict:
    """Train ``task.model`` for ``cfg.steps`` steps into the run folder ``out``; resume if it holds a run.

    ``identity``: what defines the run (task config, data checksum, ...), stored in the state: a rerun
    with another identity raises ValueError instead of resuming someone else's run. ``save_model(path,
    model)`` writes the best model (default: its state dict through dws_edit.io). Returns the results.
    """
    cfg.check()
    out = Path(out)
    torch.set_num_threads(cfg.threads)
    model = task.model
    groups = task.param_groups() if hasattr(task, "param_groups") else [{"params": list(model.parameters())}]
    opt = torch.optim.AdamW([{"lr_mult": 1.0, **g} for g in groups], lr=cfg.lr, weight_decay=cfg.weight_decay)
    save_model = save_model or (lambda path, m: write_file(path, m.state_dict()))
    identity = {"loop": asdict(cfg), **identity}
    step, best, history, elapsed = 0, math.inf, [], 0.0
    if (out / STATE).exists():
        state = torch.load(out / STATE, weights_only=True)
        if state["identity"] != identity:
            raise ValueError(f"{out} holds a run with another configuration; use another --out or delete it")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, best, history, elapsed = state["step"], state["best"], state["history"], state["elapsed"]
        console.print(f"resuming {out} at step {step}/{cfg.steps}")
    out.mkdir(parents=True, exist_ok=True)
    started = time.time() - elapsed

    def checkpoint() -> None:
        import io

        buf = io.BytesIO()
        state = {
            "identity": identity,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "best": best,
            "history": history,
            "elapsed": time.time() - started,
        }
        torch.save(state, buf)
        atomic_write_bytes(out / STATE, buf.getvalue())

    with progress_bar(f"training {out.name}", cfg.steps, progress) as bar:
        bar.advance(step)
        while step < cfg.steps:
            model.train()
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, cfg) * group["lr_mult"]
            g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                loss = task.train_loss(step, g)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss is {loss.item()} at step {step}; lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            bar.advance(1)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                model.eval()
                with torch.no_grad():
                    metrics = task.validate()
                history.append({"step": step, "train_loss": loss.item(), "wall_s": time.time() - started, **metrics})
                if metrics["score"] < best:
                    best = metrics["score"]
                    save_model(out / BEST, model)
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
        best_val_score=best,
        history=history,
    )
    atomic_write_json(out / RESULTS, results)
    return results
