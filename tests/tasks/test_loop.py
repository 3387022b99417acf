"""The loop's Task protocol: several modules and optimizers, resume of all of them, ranks and their seeds."""

import pytest
import torch
from torch import nn

from dws_edit.tasks.loop import BEST, RESULTS, STATE, LoopConfig, batch_seed, train


class TwoModules:
    """A toy task: y = b(a(x)) fitted to a fixed linear map; module a and module b each with its own optimizer
    (b's learning rate halved). Records the seed of every step's batch generator; ``fail_at`` raises at that step
    (a killed run)."""

    def __init__(self, fail_at: int | None = None):
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 1)
        self.truth = torch.tensor([[1.0, -2.0, 0.5]])
        self.seeds, self.fail_at = [], fail_at
        self.x_val = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))

    def modules(self):
        return {"a": self.a, "b": self.b}

    def optimizers(self):
        return {
            "a": [{"params": list(self.a.parameters())}],
            "b": [{"params": list(self.b.parameters()), "lr_mult": 0.5}],
        }

    def _loss(self, x):
        return (self.b(self.a(x)) - x @ self.truth.T).square().mean()

    def train_loss(self, step, generator):
        if step == self.fail_at:
            raise KeyboardInterrupt("killed")
        self.seeds.append(generator.initial_seed())
        return self._loss(torch.randn(16, 3, generator=generator))

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


def test_ranks_draw_different_batches_and_only_rank_0_writes(tmp_path):
    cfg = _cfg(steps=6, seed=3)
    seeds = {}
    for rank, world in ((0, 1), (0, 2), (1, 2)):
        task = TwoModules()
        results = train(task, cfg, tmp_path / f"r{rank}-of-{world}", {"task": "toy"}, progress=False, rank=rank,
                        world_size=world)  # fmt: skip
        seeds[rank, world] = task.seeds
        assert (tmp_path / f"r{rank}-of-{world}").exists() == (rank == 0)  # rank 1 writes nothing
        assert bool(results["history"]) == (rank == 0)
    assert seeds[0, 1] == [3 * 1_000_003 + s for s in range(6)]  # one process: as before ranks existed
    assert len(set(seeds[0, 2]) | set(seeds[1, 2])) == 12  # every (step, rank) its own batch


@pytest.mark.parametrize("bad", ["foreign", "empty", "none"])
def test_optimizers_of_parameters_outside_the_modules_are_refused(tmp_path, bad):
    task = TwoModules()
    groups = {"foreign": {"x": [{"params": [nn.Parameter(torch.zeros(2))]}]}, "empty": {"x": [{"params": []}]},
              "none": {}}[bad]  # fmt: skip
    task.optimizers = lambda: groups
    with pytest.raises(ValueError, match="optimizer 'x'|no optimizer"):
        train(task, _cfg(), tmp_path / "run", {"task": "toy"}, progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("rank, world", [(2, 2), (-1, 1)])
def test_a_rank_outside_the_world_is_refused(tmp_path, rank, world):
    with pytest.raises(ValueError, match="expected 0 <= rank < world size"):
        train(TwoModules(), _cfg(), tmp_path / "run", {}, progress=False, rank=rank, world_size=world)


def _distributed_worker(rank: int, world: int, init: str, out: str, queue) -> None:
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        task = TwoModules()
        train(task, _cfg(steps=6), out, {"task": "toy"}, progress=False, rank=rank, world_size=world)
        queue.put((rank, [p.tolist() for m in task.modules().values() for p in m.parameters()]))  # no shared memory
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_processes_average_their_gradients_and_stay_in_step(tmp_path):
    """Under torch.distributed (gloo, two CPU processes) the ranks draw different batches, average the gradients
    and so end with the same modules; rank 0 alone writes the run."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [ctx.Process(target=_distributed_worker, args=(r, 2, init, str(tmp_path / "run"), queue)) for r in (0, 1)]
    for p in procs:
        p.start()
    params = dict(queue.get() for _ in procs)
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert params[0] == params[1]
    alone = TwoModules()
    train(alone, _cfg(steps=6), tmp_path / "alone", {"task": "toy"}, progress=False)
    assert alone.a.weight.tolist() != params[0][0]  # two processes' batches, not one's
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [BEST, RESULTS, STATE]
