"""``dws-edit bench scaling``: fitting and training throughput with one process and with N processes under torchrun,
measured in the same run, and whether the results match.

Fitting: ``dws-edit fit sines`` of the same zoo by one process at the machine's default threads, by one process at
one thread, and by ``torchrun --nproc-per-node N`` (torchrun gives each process one thread); INRs per second of
fitting (the manifest's wall time), and whether the N-process zoo equals the one-thread zoo file for file (the
shards' SHA-256). Training: ``dws-edit train classify`` (the DWS model, one seed) by one process at the global batch
and by N processes at batch / N each (``--threads`` of the node shared by its processes); training INRs per second
(steps x global batch / the run's wall time, validations included alike), and the validation curves side by side.
Every arm starts from an empty folder of its own: a rerun of the bench measures again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from dws_edit.console import console
from dws_edit.data.zoo import read_manifest
from dws_edit.records import atomic_write_json, run_record


def _launch(args: list[str], processes: int, threads: int | None) -> float:
    """Run ``dws-edit ARGS`` in one plain process (``processes`` 0) or under torchrun with ``processes`` processes;
    ``threads`` sets OMP_NUM_THREADS (None: the machine's default; torchrun sets 1). Returns the command's wall
    time (s), launch included. Raises ValueError (one line) with the command's error line when it fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "WORLD_SIZE", "RANK")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    cmd = [*(launcher if processes else [sys.executable]), "-m", "dws_edit.cli", *args]
    started = time.time()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # the command's own error line (torchrun's summary follows it), else the last line
        lines = (done.stderr + done.stdout).strip().splitlines() or ["no output"]
        said = [line for line in lines if "dws-edit: error:" in line] or lines[-1:]
        raise ValueError(f"the arm dws-edit {' '.join(args)} failed (exit {done.returncode}): {said[0].strip()}")
    return time.time() - started


def _fresh(folder: Path) -> Path:
    """``folder`` (an arm's zoo or run inside the bench's --out) emptied: every arm measures from nothing."""
    shutil.rmtree(folder, ignore_errors=True)
    return folder


@dataclass
class BenchScaling:
    """Fitting and training throughput with 1 process and with N processes under torchrun; prints the ratios."""

    processes: int = 2
    """Processes of the torchrun arms (on one node)."""
    fit_count: int = 1024
    """Sine-wave INRs fitted by each fitting arm."""
    zoo: Path = Path("zoos/fmnist")
    """A labelled image zoo (dws-edit fit images) for the training arms."""
    steps: int = 200
    """Training steps of each training arm."""
    batch_size: int = 128
    """Global batch: one process takes it whole, each of N processes batch / N."""
    eval_every: int = 50
    """Steps between validations (the curves compared)."""
    threads: int = 2
    """torch CPU threads of the node in the training arms (torchrun shares them among its processes)."""
    out: Path = Path("runs/bench-scaling")
    """Folder of the arms' zoos and runs (fit-0..2, train-1, train-N: each emptied before its arm) and results.json."""

    def run(self) -> dict:
        if self.processes < 2:
            raise ValueError(f"--processes {self.processes}: expected 2 or more (the one-process arms always run)")
        if self.batch_size % self.processes or min(self.fit_count - 20, self.steps, self.eval_every) < 1:
            raise ValueError(f"--batch-size {self.batch_size}: expected a multiple of --processes {self.processes}; "
                             "--fit-count above 20, --steps and --eval-every positive")  # fmt: skip
        manifest = read_manifest(self.zoo) if (self.zoo / "manifest.json").is_file() else {}
        if manifest.get("source", {}).get("type") != "ImageSource":
            raise ValueError(f"--zoo {self.zoo}: not a zoo of images; accepted: a labelled image zoo (dws-edit fit "
                             "images)")  # fmt: skip
        self.out.mkdir(parents=True, exist_ok=True)
        fit = self._fit_arms()
        train = self._train_arms()
        results = run_record("dws-edit", None, None, processes=self.processes, cpus=os.cpu_count(), fit=fit,
                             train=train)  # fmt: skip
        atomic_write_json(self.out / "results.json", results)
        self._print(fit, train)
        return results

    def _fit_arms(self) -> list[dict]:
        n = self.processes
        arms = [("1 process, default threads", 0, None), ("1 process, 1 thread", 0, 1), (f"{n} processes", n, None)]
        rows = []
        for name, processes, threads in arms:
            zoo = _fresh(self.out / f"fit-{len(rows)}")
            held_out = str(max(1, self.fit_count // 10))  # validation and test INRs each
            args = ["fit", "sines", "--total", str(self.fit_count), "--val-count", held_out, "--test-count", held_out,
                    "--shard-size", str(max(1, self.fit_count // (4 * n))), "--out", str(zoo)]  # fmt: skip
            wall = _launch(args, processes, threads)
            manifest = json.loads((zoo / "manifest.json").read_text())
            seconds = manifest["record"]["wall_time_s"]
            rows.append({"arm": name, "processes": max(processes, 1), "inrs": manifest["count"], "fit_s": seconds,
                         "wall_s": wall, "inrs_per_s": manifest["count"] / seconds,
                         "shards_sha256": [s["sha256"] for s in manifest["shards"]]})  # fmt: skip
        rows[-1]["same_zoo_as"] = {r["arm"]: r["shards_sha256"] == rows[-1]["shards_sha256"] for r in rows[:-1]}
        return rows

    def _train_arms(self) -> list[dict]:
        rows = []
        for processes in (0, self.processes):
            run = _fresh(self.out / f"train-{max(processes, 1)}")
            batch = self.batch_size // max(processes, 1)
            args = ["train", "classify", "--zoo", str(self.zoo), "--models", "dws", "--seeds", "0", "--steps",
                    str(self.steps), "--batch-size", str(batch), "--eval-every", str(self.eval_every), "--threads",
                    str(self.threads), "--out", str(run)]  # fmt: skip
            wall = _launch(args, processes, None)
            record = json.loads((run / "dws-seed0" / "results.json").read_text())
            seconds = record["wall_time_s"]
            rows.append({"arm": f"{max(processes, 1)} process{'es' if processes else ''} x batch {batch}",
                         "processes": max(processes, 1), "train_s": seconds, "wall_s": wall,
                         "inrs_per_s": self.steps * self.batch_size / seconds,
                         "val_accuracy": [h["accuracy"] for h in record["history"]],
                         "train_loss": [h["train_loss"] for h in record["history"]],
                         "steps": [h["step"] for h in record["history"]]})  # fmt: skip
        return rows

    def _print(self, fit: list[dict], train: list[dict]) -> None:
        table = Table(title=f"fitting {fit[0]['inrs']} sine INRs", caption="ratio: INRs/s over the first row's")
        for column in ("arm", "fit s", "INRs/s", "ratio", "same zoo as 1 process, 1 thread"):
            table.add_column(column, justify="right")
        for r in fit:
            same = r.get("same_zoo_as", {}).get("1 process, 1 thread")
            ratio = r["inrs_per_s"] / fit[0]["inrs_per_s"]
            table.add_row(r["arm"], f"{r['fit_s']:.1f}", f"{r['inrs_per_s']:.1f}", f"{ratio:.2f}",
                          "-" if same is None else str(same))  # fmt: skip
        console.print(table)
        table = Table(title=f"training the DWS classifier, {self.steps} steps at global batch {self.batch_size}",
                      caption="ratio: INRs/s over the first row's; validation accuracy at each evaluation")  # fmt: skip
        for column in ("arm", "train s", "INRs/s", "ratio", "val accuracy", "train loss"):
            table.add_column(column, justify="right")
        for r in train:
            table.add_row(r["arm"], f"{r['train_s']:.1f}", f"{r['inrs_per_s']:.1f}",
                          f"{r['inrs_per_s'] / train[0]['inrs_per_s']:.2f}",
                          " ".join(f"{a:.4f}" for a in r["val_accuracy"]),
                          " ".join(f"{v:.4f}" for v in r["train_loss"]))  # fmt: skip
        console.print(table)
        gap = max(abs(a - b) for a, b in zip(train[0]["val_accuracy"], train[1]["val_accuracy"]))
        console.print(f"largest validation-accuracy difference between the arms: {gap:.4f}; results: "
                      f"{self.out / 'results.json'}")  # fmt: skip
