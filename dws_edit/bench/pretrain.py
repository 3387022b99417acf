"""``dws-edit bench pretrain``: does starting an edit model's DWS layers from a validation task's encoder
(``dws-edit train edit --init-encoder``, :mod:`dws_edit.tasks.pretrain`) beat training it from scratch at an equal
budget? One edit trained twice per seed, the same zoo, steps, batches and seed, once from scratch and once from the
encoder; both arms' validation MSE to the edit's exact target (the loop's fixed validation INRs of the zoo's
validation split, never trained on) at every evaluation, relative to not editing, and the ratio of the arms.

The last evaluation's MSE involves no choice of step; the row "kept" is at the step the loop keeps (chosen on the
same validation INRs, alike for both arms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from dws_edit.console import console
from dws_edit.records import atomic_write_json, run_record

ARMS = ("scratch", "encoder")


@dataclass
class BenchPretrain:
    """Train one edit from scratch and from a task's encoder, same seeds and budget; prints the MSE ratios."""

    encoder: str = "fmnist-classifier"
    """A DWS encoder of dws-edit train classify or ssl for INRs of the zoo's spec: a shipped name or a .safetensors
    file (its channels and depth are the edit model's)."""
    edit: str = "smooth"
    """The learned edit (dws_edit.edits.EDITS)."""
    zoo: Path = Path("zoos/fmnist")
    """The edit's zoo (train split trains, validation split measures)."""
    seeds: tuple[int, ...] = (0,)
    """Seeds; each trains both arms (initialisation and batch order)."""
    steps: int = 600
    """Optimizer steps of each arm."""
    batch_size: int = 32
    """INRs per step."""
    lr: float = 1e-3
    """Peak AdamW learning rate (warmup 100 steps, then cosine)."""
    eval_every: int = 100
    """Steps between validations."""
    points: int = 2048
    """3-D zoos: sample points per INR and step (image zoos: the 28x28 grid)."""
    val_count: int = 256
    """Validation INRs."""
    outputs: int = 2
    """Output-capacity expansion of the edit model (train edit --outputs)."""
    threads: int = 2
    """torch CPU threads."""
    out: Path = Path("runs/bench-pretrain")
    """Folder of the runs (``<edit>-<arm>-seed<k>``, resumable) and ``results.json``."""

    def run(self) -> dict:
        from dws_edit.data.zoo import read_manifest
        from dws_edit.tasks.edit import TrainEdit
        from dws_edit.tasks.loop import LoopConfig
        from dws_edit.tasks.pretrain import check_encoder_fits, load_encoder
        from dws_edit.weights import NetworkSpec

        encoder = load_encoder(self.encoder, "--encoder")  # a misfit fails in one line before any training
        hidden, depth = encoder.blocks.layers[0].out_channels, len(encoder.blocks.layers)
        spec = NetworkSpec.from_dict(read_manifest(self.zoo)["spec"])
        check_encoder_fits(encoder, self.encoder, spec, hidden, depth, flag="--encoder")
        runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
        for seed in self.seeds:
            for arm in ARMS:
                loop = LoopConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                                  eval_every=self.eval_every, seed=seed, threads=self.threads)  # fmt: skip
                cmd = TrainEdit(edit=self.edit, zoo=self.zoo, hidden=hidden, depth=depth, outputs=self.outputs,
                                points=self.points, val_count=self.val_count, loop=loop,
                                init_encoder=self.encoder if arm == "encoder" else None,
                                out=self.out / f"{self.edit}-{arm}-seed{seed}")  # fmt: skip
                runs[arm].append(cmd.run())
        rows = _rows(runs)
        results = run_record("dws-edit", None, None, encoder=str(self.encoder), edit=self.edit, zoo=str(self.zoo),
                             seeds=list(self.seeds), steps=self.steps, rows=rows)  # fmt: skip
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out / "results.json", results)
        _print(rows, self)
        return results


def _rows(runs: dict[str, list[dict]]) -> list[dict]:
    """Per evaluation step: each arm's validation MSE relative to no edit (mean and sample std over the seeds) and
    the ratio of the means; then at the step each run keeps (its best validation score)."""

    def row(step: int | str, values: dict[str, list[float]]) -> dict:
        out: dict = {"step": step}
        for arm, v in values.items():
            mean = sum(v) / len(v)
            std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
            out |= {arm: mean, f"{arm}_std": std}
        return out | {"ratio": out["encoder"] / out["scratch"]}

    def relative(point: dict) -> float:
        return point["mse"] / point["identity_mse"]

    rows = []
    for i, point in enumerate(runs["scratch"][0]["history"]):
        rows.append(row(point["step"], {arm: [relative(r["history"][i]) for r in runs[arm]] for arm in ARMS}))
    kept = {arm: [relative(min(r["history"], key=lambda h: h["score"])) for r in runs[arm]] for arm in ARMS}
    return rows + [row("kept", kept)]


def _print(rows: list[dict], bench: BenchPretrain) -> None:
    table = Table(title=f"{bench.edit} on {bench.zoo}, {len(bench.seeds)} seed(s)",
                  caption=f"validation MSE / no-edit MSE (mean ± std over seeds); encoder {bench.encoder}")  # fmt: skip
    for column in ("step", "from scratch", "from the encoder", "encoder / scratch"):
        table.add_column(column, justify="right")
    for r in rows:
        ok = all(math.isfinite(r[a]) for a in ARMS)
        cells = [f"{r[a]:.4f} ± {r[f'{a}_std']:.4f}" for a in ARMS]
        table.add_row(str(r["step"]), *cells, f"{r['ratio']:.3f}" if ok else "-")
    console.print(table)
