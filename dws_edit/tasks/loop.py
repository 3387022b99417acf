"""ONE training loop for every task (edit models now; classification, SSL and adaptation later).

A task (:class:`Task`) supplies named modules, the parameter groups of one or more optimizers, a loss on a
training batch and a validation score; the loop owns the rest: one AdamW per optimizer with the shared warmup and
cosine schedule (times each group's ``lr_mult``), optional bf16 autocast on the config's device, gradient clipping,
progress with an ETA, periodic validation with the best model kept, checkpoints and resume, and a results JSON
that records the command, git revision, seed, data checksum and wall time.

Several processes (torchrun; :mod:`dws_edit.distributed`) may train one run: the modules are wrapped in
DistributedDataParallel (gradients averaged over the processes), each process takes its part of every step's
batch in torch's DistributedSampler order (so the global batch is ``batch_size`` x processes), every validation
checks that the parameters are equal on all ranks, and only rank 0 reads and writes the run folder, validates and
prints. One process is the plain run.

Run folder (``out``)::

    state.pt                 resume state: every module and optimizer, step, best score, history, identity
                             (torch.save of tensors and plain containers; read back with ``weights_only=True``)
    best.safetensors         the best model so far by validation score (``save_model``; default dws_edit.io)
    results.json             written when the run ends (dws_edit.records.run_record)

Killed (even with kill -9) and rerun with the same config, the loop continues from the last
checkpoint; data order is a function of (seed, step, rank), so the resumed run sees the batches the
uninterrupted run would have seen. A run resumes with the number of processes it started with.
"""

from __future__ import annotations

import functools
import gc
import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import DistributedSampler

from dws_edit import distributed as dist
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
    """INRs per step and process (under torchrun the step's global batch is this times the processes)."""
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
    """torch CPU threads of the node (under torchrun shared by its processes: LOCAL_WORLD_SIZE)."""
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
        dist.check_device(self.device)


@dataclass
class StepBatch:
    """What the loop hands a task for one training step."""

    step: int
    indices: Tensor
    """This process's training items of the step: ``batch_size`` indices into the task's ``train_size()`` items
    (long, CPU), in torch's DistributedSampler order (:func:`batch_indices`)."""
    generator: torch.Generator
    """A CPU generator for the step's other random draws (augmentations, points), seeded by :func:`batch_seed`."""
    nets: dict[str, nn.Module]
    """The task's modules to run the training forward pass through: DistributedDataParallel wrappers under torchrun
    (read attributes from the modules themselves), the modules themselves in one process."""


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

    def train_size(self) -> int:
        """The number of training items the batches' ``indices`` point into."""

    def train_loss(self, batch: StepBatch) -> Tensor:
        """The scalar loss (a mean over the items) of this process's part of a step's batch, its forward pass
        through ``batch.nets``."""

    def validate(self) -> dict[str, float]:
        """Validation metrics (run under ``torch.no_grad`` with the modules in eval mode, on rank 0 only);
        ``"score"`` (lower is better) picks the best model."""


def batch_seed(cfg: LoopConfig, step: int, rank: int = 0, world_size: int = 1) -> int:
    """The seed of the generator that draws the training batch of ``step`` on process ``rank``: a function of
    (seed, step, rank), distinct for every step and rank (steps < 1,000,003); for one process,
    ``seed * 1_000_003 + step``."""
    return (cfg.seed * 1_000_003 + step) * world_size + rank


@functools.lru_cache(maxsize=4)
def _epoch_order(size: int, world_size: int, rank: int, seed: int, epoch: int) -> Tensor:
    sampler = DistributedSampler(range(size), num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler), dtype=torch.long)


def batch_indices(cfg: LoopConfig, step: int, size: int, rank: int = 0, world_size: int = 1) -> Tensor:
    """The training items of ``step`` on process ``rank`` of ``world_size``: positions [step * B, (step + 1) * B)
    (B = ``cfg.batch_size``) of the process's stream, the orders of torch's DistributedSampler (shuffled, seed
    ``cfg.seed``) for epochs 0, 1, ... one after another. Across the ranks a step covers the items one process
    would take at B x ranks (for a ``size`` divisible by the ranks). Raises ValueError for no items."""
    if size < 1:
        raise ValueError("the task has no training items")
    per_rank = math.ceil(size / world_size)  # the sampler's num_samples (drop_last False: padded)
    out, position, end = [], step * cfg.batch_size, (step + 1) * cfg.batch_size
    while position < end:
        epoch, offset = divmod(position, per_rank)
        out.append(_epoch_order(size, world_size, rank, cfg.seed, epoch)[offset : offset + end - position])
        position += len(out[-1])
    return torch.cat(out)


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


def save_state_dicts(path: Path, modules: dict[str, nn.Module]) -> None:
    """One module: its state dict; several: every module's, keys prefixed ``<name>.`` (dws_edit.io)."""
    if len(modules) == 1:
        write_file(path, next(iter(modules.values())).state_dict())
    else:
        write_file(path, {f"{n}.{k}": v for n, m in modules.items() for k, v in m.state_dict().items()})


def _another_run(out: Path, theirs: dict, ours: dict) -> str:
    """Why the run in ``out`` (identity ``theirs``) is not this command's (``ours``), in one line."""
    was, now = theirs.get("world_size", 1), ours.get("world_size", 1)
    if was != now and {**theirs, "world_size": 0} == {**ours, "world_size": 0}:
        how = "without torchrun" if was == 1 else f"under torchrun with {was} processes in all"
        return (
            f"{out} holds a run started with {was} process(es), this command has {now}: rerun it {how} to "
            "resume it (its global batch and data order depend on the processes), or use another --out"
        )
    return f"{out} holds a run with another configuration; use another --out or delete it"


def _resume_state(out: Path, identity: dict, modules: dict, opts: dict) -> dict | None:
    """Rank 0 reads ``out``'s state.pt (None when there is none) and every rank receives it; a state of another
    run or layout stops every rank with the same one line (ValueError)."""
    state, error = None, None
    if dist.is_lead() and (out / STATE).exists():
        state = torch.load(out / STATE, weights_only=True, map_location="cpu")
        if state["identity"] != identity:
            error = ValueError(_another_run(out, state["identity"], identity))
        elif set(state.get("modules", ())) != set(modules) or set(state.get("optimizers", ())) != set(opts):
            error = ValueError(f"{out} holds a state.pt of an older loop's layout; use another --out or delete it")
    dist.raise_if_failed(error)
    return dist.broadcast(state)


def train(
    task: Task,
    cfg: LoopConfig,
    out: str | Path,
    identity: dict[str, Any],
    save_model: Callable[[Path, dict[str, nn.Module]], None] | None = None,
    progress: bool = True,
) -> dict:
    """Train ``task``'s modules for ``cfg.steps`` steps into the run folder ``out``; resume if it holds a run.

    ``identity``: what defines the run (task config, data checksum, ...), stored in the state with the loop's
    config (and the number of processes, when more than one): a rerun with another identity raises ValueError (one
    line) instead of resuming someone else's run, and so does a state.pt of another layout (an older loop's).
    ``save_model(path, modules)`` writes the best model (default: the modules' state dicts through dws_edit.io).
    Under torchrun every rank calls it with the same arguments (:mod:`dws_edit.distributed`); rank 0 alone writes.
    Returns the results (the run record: command, git revision, seed, wall time, identity, ``best_val_score`` and
    ``history``, one entry per validation with ``step``, ``train_loss`` (the mean over the ranks), ``wall_s`` and the
    task's metrics; under torchrun also ``distributed``: the world size and the steps at which the parameters were
    checked equal on every rank; on ranks other than 0 ``best_val_score`` is None and ``history`` empty). Raises
    FloatingPointError when the training loss is not finite, RuntimeError when the ranks' parameters differ.
    """
    cfg.check()
    out = Path(out)
    rank, world = dist.rank(), dist.world_size()
    lead = rank == 0
    torch.set_num_threads(dist.local_threads(cfg.threads))
    device = torch.device(cfg.device)
    modules = task.modules()
    if device.type != "cpu":
        for module in modules.values():
            module.to(device)
    params = _unique(p for m in modules.values() for p in m.parameters())
    opts = build_optimizers(task, cfg, params)
    save_model = save_model or save_state_dicts
    identity = {"loop": asdict(cfg), **({"world_size": world} if world > 1 else {}), **identity}
    step, best, history, elapsed, synced = 0, math.inf, [], 0.0, []
    state = _resume_state(out, identity, modules, opts)
    if state is not None:
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        for name, opt in opts.items():
            opt.load_state_dict(state["optimizers"][name])
        step, best, history, elapsed = state["step"], state["best"], state["history"], state["elapsed"]
        synced = state.get("synced", [])
        if lead:
            console.print(f"resuming {out} at step {step}/{cfg.steps}")
    if lead:
        out.mkdir(parents=True, exist_ok=True)
    nets = {name: dist.wrap(module) for name, module in modules.items()}  # after loading: every rank starts equal
    size = task.train_size()
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
            "synced": synced,
        }
        torch.save(state, buf)
        atomic_write_bytes(out / STATE, buf.getvalue())

    try:
        with progress_bar(f"training {out.name}", cfg.steps, progress and lead) as bar:
            bar.advance(step)
            while step < cfg.steps:
                for module in modules.values():
                    module.train()
                for opt in opts.values():
                    for group in opt.param_groups:
                        group["lr"] = _lr_at(step, cfg) * group["lr_mult"]
                g = torch.Generator().manual_seed(batch_seed(cfg, step, rank, world))
                batch = StepBatch(step, batch_indices(cfg, step, size, rank, world), g, nets)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                    loss = task.train_loss(batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"training loss is {loss.item()} at step {step}; lower --lr")
                for p in params:  # every module's (as opt.zero_grad(set_to_none=True) for the optimized ones)
                    p.grad = None
                loss.backward()  # under torchrun DistributedDataParallel averages the gradients over the ranks
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                for opt in opts.values():
                    opt.step()
                step += 1
                bar.advance(1)
                if step % cfg.eval_every == 0 or step == cfg.steps:
                    if world > 1:  # every rank, before rank 0 validates
                        dist.check_in_sync(params, step)
                        synced.append(step)
                    train_loss = dist.mean(loss.item())
                    if lead:
                        for module in modules.values():
                            module.eval()
                        torch.set_num_threads(cfg.threads)  # the other ranks wait, blocked: all the node's threads
                        with torch.no_grad():
                            metrics = task.validate()
                        torch.set_num_threads(dist.local_threads(cfg.threads))
                        history.append({"step": step, "train_loss": train_loss, "wall_s": time.time() - started,
                                        **metrics})  # fmt: skip
                        if metrics["score"] < best:
                            best = metrics["score"]
                            save_model(out / BEST, modules)
                        console.print(
                            f"step {step}: train loss {train_loss:.3e}, "
                            + ", ".join(f"val {k} {v:.4g}" for k, v in metrics.items())
                        )
                        checkpoint()
    finally:  # the DDP wrappers go before the process group: one that outlives it aborts the process at exit
        nets.clear()
        gc.collect()  # a DistributedDataParallel sits in a reference cycle: dropping the last name does not free it
    extra = {"distributed": {"world_size": world, "params_equal_at_steps": synced}} if world > 1 else {}
    results = run_record(
        identity.get("program", "dws-edit"),
        cfg.seed,
        started,
        identity=identity,
        best_val_score=best if lead else None,
        history=history if lead else [],
        **extra,
    )
    if lead:
        atomic_write_json(out / RESULTS, results)
    dist.barrier()  # every rank leaves with the run's files on disk (a next stage may read them)
    return results
