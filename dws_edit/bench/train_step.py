"""``dws-edit bench train-step``: seconds per training step of an edit model, as its recipe trains it (float32,
eager) and under the speed levers (bf16 autocast, ``torch.compile`` of each pass), on the same batches in one run.

A step is what :func:`dws_edit.tasks.loop.train` does per step: the task's loss (sample points, the edit's target,
the loss gradients a gradient model takes, the model's passes, the edited INRs evaluated), its backward pass and
one AdamW step. Only same-run ratios compare (machines of one type differ several-fold in absolute speed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from dws_edit.console import console
from dws_edit.records import atomic_write_json, run_record

VARIANTS = ("float32", "bf16", "compile")


@dataclass
class BenchTrainStep:
    """Time training steps of one recipe stage under each variant; prints seconds per step and the ratio to float32."""

    recipe: str = "sdf-symmetrize"
    """A recipe of ``dws-edit train edit --recipe list``."""
    stage: int = -1
    """Which of its stages (python index; default the last, the one with the most passes). Its --init is not
    loaded: the weights do not change a step's cost."""
    zoo: Path | None = None
    """A zoo in place of the recipe's (its domain's), and of the stage's extra zoos."""
    steps: int = 10
    """Timed steps per variant."""
    warmup: int = 2
    """Untimed steps first (torch.compile compiles in them; its time is reported apart)."""
    variants: tuple[str, ...] = VARIANTS
    """float32 (as the recipes train), bf16 (forward and backward under torch.autocast bfloat16, the loop's
    --bf16), compile (each pass of the model through torch.compile, float32)."""
    threads: int = 2
    """torch CPU threads."""
    out: Path | None = None
    """Optional JSON file for the results."""

    def run(self) -> dict:
        from dws_edit.checks import at_least
        from dws_edit.tasks.recipes import get_recipe

        at_least("--steps", self.steps, 1)
        at_least("--warmup", self.warmup, 0)
        if unknown := [v for v in self.variants if v not in VARIANTS]:
            raise ValueError(f"--variants {' '.join(unknown)}: not accepted; accepted: {', '.join(VARIANTS)}")
        stages = get_recipe(self.recipe)
        if not -len(stages) <= self.stage < len(stages):
            raise ValueError(f"--stage {self.stage}: recipe {self.recipe} has {len(stages)} stage(s)")
        torch.set_num_threads(self.threads)
        started, rows = time.time(), []
        for variant in self.variants:
            rows.append({"variant": variant, **self._time(stages[self.stage], variant)})
        base = next((r["s_per_step"] for r in rows if r["variant"] == "float32"), None)
        table = Table(title=f"training step of {self.recipe} stage {stages[self.stage].name}")
        for col in ("variant", "s/step", "speed-up vs float32", "warmup s"):
            table.add_column(col)
        for r in rows:
            r["speedup"] = base / r["s_per_step"] if base else None
            speedup = f"{r['speedup']:.2f}x" if base else "-"
            table.add_row(r["variant"], f"{r['s_per_step']:.3f}", speedup, f"{r['warmup_s']:.1f}")
        console.print(table)
        results = run_record("dws-edit bench train-step", 0, started, recipe=self.recipe, rows=rows)
        if self.out is not None:
            atomic_write_json(self.out, results)
        return results

    def _time(self, stage, variant: str) -> dict:
        from dws_edit.tasks.edit import EditTask, TrainEdit
        from dws_edit.tasks.loop import LoopConfig, StepBatch, batch_indices
        from dws_edit.tasks.recipes import stage_flags

        task_flags, loop_flags = stage_flags(stage, zoo=self.zoo)
        task_flags.update(init=None, val_count=8)  # a step's cost does not depend on either
        if self.zoo is not None and task_flags.get("extra_zoo"):
            task_flags["extra_zoo"] = (self.zoo,)  # its extra zoos too: the same spec, the same step
        cfg = TrainEdit(**task_flags, loop=LoopConfig(**loop_flags, bf16=variant == "bf16"))
        task = EditTask(cfg)
        if variant == "compile":
            for net in (task.model, *(task.model.refiners or ())):
                net._one_pass = torch.compile(net._one_pass, dynamic=False)
        params = list(task.model.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.loop.lr)

        def step(k: int) -> None:
            batch = StepBatch(k, batch_indices(cfg.loop, k, task.train_size()), torch.Generator().manual_seed(k),
                              task.modules())  # fmt: skip
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.loop.bf16):
                loss = task.train_loss(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        t0 = time.perf_counter()
        for k in range(self.warmup):
            step(k)
        t1 = time.perf_counter()
        for k in range(self.steps):
            step(1000 + k)  # the same batches for every variant
        return {"s_per_step": (time.perf_counter() - t1) / self.steps, "warmup_s": t1 - t0}
