"""torchrun: two CPU processes on 127.0.0.1 (gloo) fit the zoo one process fits, bit for bit; train with the
parameters equal on both ranks at every validation and the curve of one process at the global batch; a killed rank
fails the job with a line naming it and the rerun resumes with nothing lost; commands that do not split their work
are refused under torchrun."""

import json
import os
import re
import subprocess
import sys
import time

import psutil
import pytest
import torch
from helpers.cli import run

from dws_edit.data import FitOptions, SineSource, fit_zoo
from dws_edit.distributed import check_device
from dws_edit.io import dump_bytes, load_bytes
from dws_edit.records import command_line
from dws_edit.tasks.classify import TrainClassify

SINES = {"total": 192, "val_count": 16, "test_count": 16}
FIT = ["fit", "sines", *(f"--{k.replace('_', '-')}={v}" for k, v in SINES.items()), "--shard-size=16",
       "--max-steps=150"]  # fmt: skip


def _torchrun(*args) -> list[str]:
    """torchrun with two processes, its rendezvous on 127.0.0.1 (a free port), running dws-edit ARGS."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2", "--rdzv-backend=c10d",
            "--rdzv-endpoint=127.0.0.1:0", "-m", "dws_edit.cli", *map(str, args)]  # fmt: skip


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "WORLD_SIZE", "RANK")}


def _shards(zoo) -> dict[str, str]:
    return {s["file"]: s["sha256"] for s in json.loads((zoo / "manifest.json").read_text())["shards"]}


def _rank_1(job: subprocess.Popen) -> psutil.Process:
    while True:
        for child in psutil.Process(job.pid).children(recursive=True):
            try:
                if child.environ().get("RANK") == "1":
                    return child
            except psutil.Error:
                continue
        assert job.poll() is None, job.communicate()[0][-2000:]
        time.sleep(0.05)


@pytest.mark.slow
def test_torchrun_fits_one_process_s_zoo_and_a_killed_rank_fails_clearly_then_the_rerun_resumes(tmp_path):
    zoo = tmp_path / "zoo"
    job = subprocess.Popen(_torchrun(*FIT, "--out", zoo), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env=_env())  # fmt: skip
    victim = _rank_1(job)
    deadline = time.time() + 120
    while not ((zoo / "manifest.json").exists() and _shards(zoo)) and time.time() < deadline:
        time.sleep(0.02)  # the first round of shards is on disk
    victim.kill()
    output = job.communicate(timeout=120)[0]
    assert job.returncode != 0
    assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)", output) and "SIGKILL" in output, output[-2000:]
    kept = _shards(zoo)
    assert 0 < len(kept) < 12 and not json.loads((zoo / "manifest.json").read_text())["complete"]

    done = subprocess.run(_torchrun(*FIT, "--out", zoo), capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"met_min_reached"') == 1  # the summary, printed by rank 0 alone
    resumed = json.loads((zoo / "manifest.json").read_text())
    assert resumed["complete"] and len(resumed["shards"]) == 12 and resumed["record"]["processes"] == 2
    assert {f: s for f, s in _shards(zoo).items() if f in kept} == kept  # nothing fitted before the kill was lost

    torch.set_num_threads(1)  # one process at the threads torchrun gives each of its processes
    try:
        options = FitOptions.for_source(SineSource, shard_size=16, max_steps=150)
        alone = fit_zoo(SineSource(**SINES), tmp_path / "alone", options, progress=False)
    finally:
        torch.set_num_threads(2)
    assert alone["shards"] == resumed["shards"] and alone["summary"] == resumed["summary"]  # bit for bit
    assert (tmp_path / "alone" / "stats.safetensors").read_bytes() == (zoo / "stats.safetensors").read_bytes()


@pytest.mark.slow
def test_two_nodes_meet_at_a_rendezvous_on_127_0_0_1_and_fit_the_same_zoo(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    node = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1", "--rdzv-backend=c10d",
            f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=two-nodes", "-m", "dws_edit.cli", *FIT[:-1],
            "--max-steps=40", "--min-reached=0"]  # fmt: skip
    jobs = [subprocess.Popen([*node, "--out", str(tmp_path / f"zoo{k}")], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=_env()) for k in (0, 1)]  # fmt: skip
    outputs = [job.communicate(timeout=300)[0] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    written = [k for k in (0, 1) if (tmp_path / f"zoo{k}" / "manifest.json").exists()]
    assert len(written) == 1  # the --out of rank 0's node; the other node's rank writes nothing
    manifest = json.loads((tmp_path / f"zoo{written[0]}" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["record"]["command"].startswith("torchrun --nnodes 2 --nproc-per-node 1")


@pytest.mark.slow
def test_torchrun_trains_with_equal_ranks_as_one_process_at_the_global_batch(tiny_digit_zoo, tmp_path):
    flags = dict(models="dws", seeds=0, steps=4, eval_every=1, hidden=8, lr=3e-3, threads=2)
    args = [f"--{k.replace('_', '-')}={v}" for k, v in flags.items()]
    cmd = _torchrun("train", "classify", "--zoo", tiny_digit_zoo, "--batch-size=4", *args, "--out", tmp_path / "two")
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("dws seed 0: test accuracy") == 1  # rank 0 alone prints
    two = json.loads((tmp_path / "two" / "dws-seed0" / "results.json").read_text())
    assert two["distributed"] == {"world_size": 2, "params_equal_at_steps": [1, 2, 3, 4]}  # after every step
    assert two["identity"]["world_size"] == 2 and (tmp_path / "two" / "results.md").is_file()
    again = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)  # rank 0 reads the state
    assert again.returncode == 0 and again.stdout.count("resuming") == 1, again.stderr[-2000:]
    rerun = json.loads((tmp_path / "two" / "dws-seed0" / "results.json").read_text())
    assert rerun["history"] == two["history"]

    TrainClassify(zoo=tiny_digit_zoo, models=("dws",), seeds=(0,), steps=4, eval_every=1, hidden=8, lr=3e-3,
                  batch_size=8, out=tmp_path / "one").run()  # fmt: skip
    one = json.loads((tmp_path / "one" / "dws-seed0" / "results.json").read_text())
    assert [h["step"] for h in one["history"]] == [h["step"] for h in two["history"]] == [1, 2, 3, 4]
    for a, b in zip(one["history"], two["history"]):  # the same items per step; float sums in another order
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["accuracy"] == pytest.approx(a["accuracy"], abs=0.05)


def test_under_torchrun_rank_0_speaks_and_a_rank_s_own_mistake_names_it(monkeypatch, capsys, tmp_path):
    import contextlib

    import dws_edit.cli as cli

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert run("train", "classify", "--steps", "abc") == 2 and capsys.readouterr().err == ""  # rank 0 says it
    assert run("fit", "sines", "--help") == 0 and capsys.readouterr().out == ""
    monkeypatch.setattr(cli.dist, "session", contextlib.nullcontext)  # no process group: the rank's run alone
    assert run("train", "classify", "--zoo", tmp_path / "missing", "--models", "dws") == 2
    assert capsys.readouterr().err.startswith(f"dws-edit: error: rank 1: {tmp_path / 'missing'}")
    monkeypatch.setenv("RANK", "0")
    assert run("train", "classify", "--steps", "abc") == 2 and "--steps" in capsys.readouterr().err
    with pytest.raises(ValueError, match="each process takes GPU LOCAL_RANK; give --device cuda"):
        check_device("cuda:1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert command_line().startswith("torchrun --nnodes 2 --nproc-per-node 2 -m dws_edit.cli")


def test_commands_that_do_not_split_their_work_are_refused_under_torchrun(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert run("fit", "classifiers", "--out", tmp_path / "z") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dws-edit: error: this command does not run under torchrun (WORLD_SIZE=2)")
    assert "dws-edit train edit|classify|ssl|adapt" in err and not (tmp_path / "z").exists()
    monkeypatch.setenv("RANK", "1")  # the other ranks stop too, silently: rank 0 says why
    assert run("fit", "classifiers", "--out", tmp_path / "z") == 2 and capsys.readouterr().err == ""


def test_safetensors_files_are_the_same_bytes_whatever_the_metadata_s_order():
    tensors = {"w": torch.arange(6.0).reshape(2, 3), "i": torch.arange(3)}
    a = dump_bytes(tensors, {"spec": 'a "quoted" é', "shard": "3", "version": "1"})
    b = dump_bytes(tensors, {"version": "1", "shard": "3", "spec": 'a "quoted" é'})
    assert a == b and (int.from_bytes(a[:8], "little") + 8) % 8 == 0
    loaded, meta = load_bytes(a)
    assert torch.equal(loaded["w"], tensors["w"]) and meta == {"shard": "3", "spec": 'a "quoted" é', "version": "1"}


@pytest.mark.slow
def test_bench_scaling_measures_every_arm_and_checks_the_zoos(tiny_digit_zoo, tmp_path, capsys):
    from dws_edit.bench.scaling import BenchScaling

    out = tmp_path / "bench"
    (out / "fit-2").mkdir(parents=True)  # an arm of an earlier run: measured again from nothing
    (out / "fit-2" / "manifest.json").write_text("{}")
    (out / "notes.txt").write_text("kept")
    results = BenchScaling(fit_count=32, zoo=tiny_digit_zoo, steps=2, batch_size=4, eval_every=1, out=out).run()
    assert [r["processes"] for r in results["fit"] + results["train"]] == [1, 1, 2, 1, 2]
    assert results["fit"][-1]["same_zoo_as"]["1 process, 1 thread"] is True
    assert all(r["inrs_per_s"] > 0 for r in results["fit"] + results["train"]) and (out / "notes.txt").exists()
    assert results["train"][0]["steps"] == results["train"][1]["steps"] == [1, 2]
    assert "largest validation-accuracy difference" in capsys.readouterr().out
    with pytest.raises(ValueError, match="multiple of --processes"):
        BenchScaling(batch_size=5, out=out).run()
