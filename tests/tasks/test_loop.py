"""The loop's Task protocol: several modules and optimizers, resume of all of them, the batches' order (torch's
DistributedSampler) and seeds, two processes under DistributedDataParallel."""

import pytest
import torch
from torch import nn

from dws_edit.tasks.loop import BEST, RESULTS, STATE, LoopConfig, batch_indices, batch_seed, train


class TwoModules:
    """A toy task: y = b(a(x)) fitted to a fixed linear map on 40 training points; module a and module b each with
    its own optimizer (b's learning rate halved). Records every step's items and the seed of its generator;
    ``fail_at`` raises at that step (a killed run)."""

    def __init__(self, fail_at: int | None = None):
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 1)
        self.truth = torch.tensor([[1.0, -2.0, 0.5]])
        self.seeds, self.items, self.fail_at = [], [], fail_at
        self.x_val = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
        self.x_train = torch.randn(40, 3, generator=torch.Generator().manual_seed(2))

    def modules(self):
        return {"a": self.a, "b": self.b}

    def optimizers(self):
        return {
            "a": [{"params": list(self.a.parameters())}],
            "b": [{"params": list(self.b.parameters()), "lr_mult": 0.5}],
        }

    def _loss(self, x, net=None):
        return ((net or (lambda v: self.b(self.a(v))))(x) - x @ self.truth.T).square().mean()

    def train_size(self):
        return len(self.x_train)

    def train_loss(self, batch):
        if batch.step == self.fail_at:
            raise KeyboardInterrupt("killed")
        self.seeds.append(batch.generator.initial_seed())
        self.items.append(batch.indices.tolist())
        return self._loss(self.x_train[batch.indices], lambda v: batch.nets["b"](batch.nets["a"](v)))

    def validate(self):
        loss = self._loss(self.x_val).item()
        return {"score": loss, "mse": loss}


def _cfg(**kw):
    return LoopConfig(**{"steps": 12, "batch_size": 16, "lr": 1e-2, "warmup": 2, "eval_every": 4, "threads": 1, **kw})


def test_two_modules_with_two_optimizers_train_checkpoint_and_resume_exactly(tmp_path):
    task = TwoModules()
    before = {k: v.clone() for k, v in task.b.state_dict().items()} | {"a": task.a.weight.clone()}
    results = train(task, _cfg(), tmp_path / "whole", {"task": "toy"}, progress=False)
    assert [h["step"] for h in results["history"]] == [4, 8, 12]
    assert results["best_val_score"] < TwoModules().validate()["score"]
    assert not torch.equal(task.a.weight, before["a"]) and not torch.equal(task.b.weight, before["weight"])
    state = torch.load(tmp_path / "whole" / STATE, weights_only=True)
    assert set(state["modules"]) == set(state["optimizers"]) == {"a", "b"}
    lr_a, lr_b = (state["optimizers"][k]["param_groups"][0]["lr"] for k in "ab")
    assert lr_b == pytest.approx(0.5 * lr_a)  # each group's lr_mult times the shared schedule
    best = (tmp_path / "whole" / BEST).exists() and (tmp_path / "whole" / RESULTS).exists()
    assert best and task.seeds == [batch_seed(_cfg(), s) for s in range(12)] == list(range(12))

    with pytest.raises(KeyboardInterrupt):  # killed after the checkpoint of step 8
        train(TwoModules(fail_at=9), _cfg(), tmp_path / "killed", {"task": "toy"}, progress=False)
    resumed = TwoModules()
    again = train(resumed, _cfg(), tmp_path / "killed", {"task": "toy"}, progress=False)
    assert resumed.seeds == list(range(8, 12))  # continued at step 8 with the batches of steps 8 to 11
    for name in ("a", "b"):
        for key, value in task.modules()[name].state_dict().items():
            torch.testing.assert_close(resumed.modules()[name].state_dict()[key], value, rtol=0, atol=0)
    assert [h["train_loss"] for h in again["history"]] == [h["train_loss"] for h in results["history"]]

    with pytest.raises(ValueError, match="another configuration"):
        train(TwoModules(), _cfg(), tmp_path / "whole", {"task": "other"}, progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        train(TwoModules(), _cfg(lr=2e-2), tmp_path / "whole", {"task": "toy"}, progress=False)


def test_batches_follow_the_distributed_sampler_and_ranks_split_the_global_batch():
    cfg = _cfg(batch_size=8, seed=3)
    one = [batch_indices(cfg, s, 40) for s in range(10)]  # 2 epochs of 40 items
    assert sorted(torch.cat(one[:5]).tolist()) == list(range(40)) == sorted(torch.cat(one[5:]).tolist())
    assert torch.cat(one[:5]).tolist() != torch.cat(one[5:]).tolist()  # each epoch its own order
    half = _cfg(batch_size=4, seed=3)
    for step in range(10):  # two ranks at half the batch take the items one process takes at the whole
        both = torch.cat([batch_indices(half, step, 40, rank, 2) for rank in (0, 1)])
        assert sorted(both.tolist()) == sorted(one[step].tolist())
    assert len(batch_indices(_cfg(batch_size=8), 0, 3)) == 8  # fewer items than a batch: the epochs follow
    assert batch_seed(cfg, 5) == 3 * 1_000_003 + 5 and len({batch_seed(cfg, 5, r, 2) for r in (0, 1)}) == 2


@pytest.mark.parametrize("bad", ["foreign", "empty", "none"])
def test_optimizers_of_parameters_outside_the_modules_are_refused(tmp_path, bad):
    task = TwoModules()
    groups = {"foreign": {"x": [{"params": [nn.Parameter(torch.zeros(2))]}]}, "empty": {"x": [{"params": []}]},
              "none": {}}[bad]  # fmt: skip
    task.optimizers = lambda: groups
    with pytest.raises(ValueError, match="optimizer 'x'|no optimizer"):
        train(task, _cfg(), tmp_path / "run", {"task": "toy"}, progress=False)
    assert not (tmp_path / "run").exists()


class Drifting(TwoModules):
    """On rank 1, a parameter is changed outside the optimizer at step 2 (a rank that trains on something else)."""

    def train_loss(self, batch):
        if batch.step == 2 and torch.distributed.get_rank() == 1:
            with torch.no_grad():
                self.a.bias.add_(1e-3)
        return super().train_loss(batch)


def _distributed_worker(rank: int, init: str, out: str, task_class, queue) -> None:
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        task = task_class()
        results = train(task, _cfg(steps=6, batch_size=8), out, {"task": "toy"}, progress=False)
        params = [p.tolist() for m in task.modules().values() for p in m.parameters()]
        queue.put((rank, (params, task.items, results)))  # plain lists: no shared memory
    except RuntimeError as err:
        queue.put((rank, str(err)))
    finally:
        torch.distributed.destroy_process_group()


def _spawn_two(tmp_path, target, *args) -> dict:
    """Run ``target(rank, init, *args, queue)`` in two spawned processes that meet at a file rendezvous; returns
    rank -> what each put on the queue."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [ctx.Process(target=target, args=(r, init, *args, queue)) for r in (0, 1)]
    for p in procs:
        p.start()
    got = dict(queue.get() for _ in procs)
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    return got


def _two_processes(tmp_path, task_class=TwoModules) -> dict:
    return _spawn_two(tmp_path, _distributed_worker, str(tmp_path / "run"), task_class)


@pytest.mark.slow
def test_two_processes_train_as_one_process_at_the_global_batch(tmp_path):
    """Under torch.distributed (gloo, two CPU processes) with DistributedDataParallel each rank takes its half of
    every step's batch, the gradients are averaged, the modules stay equal on both ranks and equal (to float
    rounding) those of one process at the whole batch; rank 0 alone writes the run."""
    got = _two_processes(tmp_path)
    assert got[0][0] == got[1][0]  # the parameters, exactly equal on both ranks
    alone = TwoModules()
    record = train(alone, _cfg(steps=6, batch_size=16), tmp_path / "alone", {"task": "toy"}, progress=False)
    for step, items in enumerate(alone.items):  # the same items in each step, split between the ranks
        assert sorted(got[0][1][step] + got[1][1][step]) == sorted(items)
    for mine, theirs in zip([p for m in alone.modules().values() for p in m.parameters()], got[0][0]):
        torch.testing.assert_close(mine, torch.tensor(theirs), rtol=1e-5, atol=1e-6)
    results = got[0][2]
    assert results["distributed"] == {"world_size": 2, "params_equal_at_steps": [4, 6]}
    assert results["identity"]["world_size"] == 2 and got[1][2]["history"] == []
    losses = [h["train_loss"] for h in results["history"]]  # the mean over the ranks: the global batch's loss
    assert losses == pytest.approx([h["train_loss"] for h in record["history"]], rel=1e-5)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [BEST, RESULTS, STATE]
    with pytest.raises(ValueError, match="started with 2 process.es., this command has 1: rerun it under torchrun"):
        train(TwoModules(), _cfg(steps=6, batch_size=8), tmp_path / "run", {"task": "toy"}, progress=False)


@pytest.mark.slow
def test_ranks_whose_parameters_drift_apart_stop_at_the_next_validation(tmp_path):
    got = _two_processes(tmp_path, Drifting)
    assert got[0] == got[1] == "step 4: the parameters of rank(s) [1] differ from rank 0's"


def _info_nce_worker(rank: int, init: str, z: torch.Tensor, queue) -> None:
    from dws_edit.tasks.ssl import global_info_nce

    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        n = z.shape[0] // 2  # two views of n items: this rank takes items [rank * n / 2, (rank + 1) * n / 2)
        mine = torch.cat([z[rank * n // 2 : (rank + 1) * n // 2], z[n + rank * n // 2 : n + (rank + 1) * n // 2]])
        mine.requires_grad_(True)
        loss = global_info_nce(mine, 0.5)
        loss.backward()
        queue.put((rank, (loss.item(), (mine.grad / 2).tolist())))  # / 2: DDP's average over the ranks
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_info_nce_is_one_process_s_with_its_gradient(tmp_path):
    """SSL's loss under torchrun: each rank's views gathered, the negatives of the global batch; the loss and (after
    DDP's average) each rank's gradient are those of one process holding the whole batch."""
    from dws_edit.tasks.ssl import info_nce

    z = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))  # 4 items, 2 views
    got = _spawn_two(tmp_path, _info_nce_worker, z)
    whole = z.clone().requires_grad_(True)
    loss = info_nce(whole, 0.5)
    loss.backward()
    assert got[0][0] == pytest.approx(loss.item(), rel=1e-6) and got[1][0] == pytest.approx(loss.item(), rel=1e-6)
    for rank in (0, 1):
        rows = [2 * rank, 2 * rank + 1, 4 + 2 * rank, 5 + 2 * rank]
        torch.testing.assert_close(torch.tensor(got[rank][1]), whole.grad[rows], rtol=1e-5, atol=1e-6)
