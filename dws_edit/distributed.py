"""Several processes on one job, through torch's own engine: ``torchrun`` starts them, ``torch.distributed`` joins
them (gloo for CPU tensors, NCCL for CUDA ones), ``DistributedDataParallel`` averages the gradients.

``torchrun --nproc-per-node N -m dws_edit.cli fit ...|train ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
``LOCAL_WORLD_SIZE`` (PyTorch, "torchrun (Elastic Launch)"); :func:`session` reads them, joins the process group and
leaves it. Without torchrun nothing changes: one process, rank 0 of 1. Rank 0 alone reads and writes the run's and
the zoo's files and prints; the other ranks receive what they need from it (:func:`broadcast`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import torch
from torch import Tensor, nn

TIMEOUT = timedelta(minutes=30)
"""How long a collective waits for a process that does not answer (a rank validating, a rank that hangs)."""


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher) as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launched_rank() -> int:
    """This process's rank as the launcher set it (``RANK``; 0 without torchrun), before or after :func:`session`."""
    return int(os.environ.get("RANK", "0")) if launched() else 0


def _joined() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def active() -> bool:
    """Whether a process group of more than one process is joined."""
    return _joined() and world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return torch.distributed.get_rank() if _joined() else 0


def world_size() -> int:
    """The number of processes of the job (1 without a process group)."""
    return torch.distributed.get_world_size() if _joined() else 1


def is_lead() -> bool:
    """Whether this process writes files and prints: rank 0, or the only process."""
    return rank() == 0


def local_processes() -> int:
    """The processes of the job on this node (``LOCAL_WORLD_SIZE``, set by torchrun; 1 without it)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def local_threads(threads: int) -> int:
    """Torch CPU threads for this process when the node's ``threads`` are shared by its processes: at least 1."""
    return max(1, threads // local_processes())


@contextmanager
def session() -> Iterator[None]:
    """Join the job's process group when torchrun started this process as one of several, and leave it at the end.

    The backend is ``cpu:gloo,cuda:nccl`` where NCCL is available and the node has a GPU for each of its processes
    (each rank on GPU ``LOCAL_RANK``), else ``gloo``. Without torchrun (``WORLD_SIZE`` unset or 1) it does nothing."""
    if not launched() or _joined():
        yield
        return
    backend = "gloo"
    if _gpu_per_process():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "cpu:gloo,cuda:nccl"
    torch.distributed.init_process_group(backend, timeout=TIMEOUT)
    try:
        yield
    finally:
        torch.distributed.destroy_process_group()


def _gpu_per_process() -> bool:
    available = torch.cuda.is_available() and torch.distributed.is_nccl_available()
    return available and torch.cuda.device_count() >= local_processes()


def check_device(device: str) -> None:
    """Under torchrun, raises ValueError (one line) for a device the processes cannot share: a numbered GPU (each
    process takes GPU ``LOCAL_RANK``: give ``cuda``), or ``cuda`` on a node with fewer GPUs than processes."""
    if not launched() or not device.startswith("cuda"):
        return
    if device != "cuda":
        raise ValueError(f"--device {device}: under torchrun each process takes GPU LOCAL_RANK; give --device cuda")
    if not _gpu_per_process():
        gpus, processes = torch.cuda.device_count(), local_processes()
        raise ValueError(f"--device cuda: {processes} processes on this node and {gpus} GPUs with NCCL; accepted: "
                         "one GPU per process, or --device cpu")  # fmt: skip


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (pickled between the job's own processes by
    ``torch.distributed.broadcast_object_list``); ``value`` itself with one process."""
    if not active():
        return value
    box = [value if is_lead() else None]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank (``all_gather_object``); ``[value]`` with one process."""
    if not active():
        return [value]
    out: list[Any] = [None] * world_size()
    torch.distributed.all_gather_object(out, value)
    return out


def collect(value: Any) -> list[Any] | None:
    """Every rank's ``value``, in rank order, on rank 0 (``gather_object``) and None on the others; ``[value]``
    with one process."""
    if not active():
        return [value]
    out: list[Any] | None = [None] * world_size() if is_lead() else None
    torch.distributed.gather_object(value, out, dst=0)
    return out


def gather_batch(x: Tensor) -> Tensor:
    """Every rank's ``x`` stacked, ``[world size, *x.shape]`` in rank order, with gradients flowing back to each
    rank's own part (the backward sums what every rank's loss sends back, so a loss computed alike on every rank,
    then DDP's average, gives the gradient of that one loss);
    ``x[None]`` with one process. For losses over the whole global batch (InfoNCE's negatives)."""
    if not active():
        return x[None]
    return _GatherBatch.apply(x)


class _GatherBatch(torch.autograd.Function):
    """:func:`gather_batch`'s all-gather with its backward: every rank's gradient of the stacked parts summed
    (all-reduce), each rank keeping its own part's. Plain blocking gloo/NCCL collectives (the autograd-aware
    ``torch.distributed.nn.functional.all_gather``, deprecated, aborted 1 in 3 spawned gloo processes at exit here)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        parts = [torch.empty_like(x) for _ in range(world_size())]
        torch.distributed.all_gather(parts, x.contiguous())
        return torch.stack(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)  # all_reduce works in place
        torch.distributed.all_reduce(grad)
        return grad[rank()]


def mean(value: float) -> float:
    """The mean of every rank's ``value`` (``value`` itself with one process)."""
    values = gather(value)
    return sum(values) / len(values)


def barrier() -> None:
    """Wait until every rank gets here (nothing with one process)."""
    if active():
        torch.distributed.barrier()


def raise_if_failed(error: Exception | None) -> None:
    """Raise rank 0's error (or None) on every rank: a check made by rank 0 alone (a file it read) stops all ranks
    with the same one line (marked ``every_rank`` on the others: rank 0 says it)."""
    error = broadcast(error)
    if error is not None:
        if not is_lead():
            error.every_rank = True
        raise error


def is_lost_peer(err: BaseException) -> bool:
    """Whether ``err`` is a collective that failed because another process of the job is gone (torch's DistError,
    or gloo's and NCCL's connection errors, raised as RuntimeError)."""
    text = str(err)
    return isinstance(err, torch.distributed.DistError) or any(
        s in text for s in ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL")
    )


def wrap(module: nn.Module) -> nn.Module:
    """``module`` wrapped in DistributedDataParallel when a process group is joined (on GPU ``LOCAL_RANK`` for a
    CUDA module), else ``module`` itself. Read attributes through :func:`unwrap`: the wrapper hides them. Every
    trainable parameter must take part in the loss (DDP waits for each one's gradient): freeze those that do not."""
    if not active() or not any(p.requires_grad for p in module.parameters()):
        return module
    on_gpu = next(module.parameters()).device.type == "cuda"
    return nn.parallel.DistributedDataParallel(module, device_ids=[torch.cuda.current_device()] if on_gpu else None)


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or ``module`` itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def fingerprint(params: list[torch.Tensor]) -> str:
    """SHA-256 of the parameters' bytes (the same on every rank exactly when the parameters are)."""
    h = hashlib.sha256()
    for p in params:
        h.update(p.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_in_sync(params: list[torch.Tensor], step: int) -> None:
    """Raises RuntimeError (one line) when the parameters differ between ranks (DistributedDataParallel keeps them
    equal; a difference means a rank trained on something else). Nothing with one process."""
    if not active():
        return
    prints = gather(fingerprint(params))
    if len(set(prints)) > 1:
        differ = [r for r, p in enumerate(prints) if p != prints[0]]
        raise RuntimeError(f"step {step}: the parameters of rank(s) {differ} differ from rank 0's")
