"""Self-supervised INR embeddings: InfoNCE, the linear probe, the task's runs, report and t-SNE plot."""

import json
import math

import pytest
import torch
from helpers.cli import run

from dws_edit.checkpoints import load_checkpoint
from dws_edit.data import FitOptions, SineSource, fit_zoo
from dws_edit.tasks.ssl import EvalSSL, TrainSSL, info_nce, probe_mse


@pytest.fixture(scope="module")
def tiny_sines(tmp_path_factory):
    out = tmp_path_factory.mktemp("sines")
    source = SineSource(total=80, val_count=12, test_count=12, points=256)
    fit_zoo(source, out, FitOptions.for_source(source, max_steps=150, min_reached=0.0), progress=False)
    return out


def test_info_nce_is_low_for_matching_views_and_high_for_shuffled_ones():
    z = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    matched = info_nce(torch.cat([z, z + 0.01]), 0.1)
    shuffled = info_nce(torch.cat([z, z[torch.randperm(32)]]), 0.1)
    assert matched < 0.5 and shuffled > 2.0


def test_the_linear_probe_recovers_a_linear_map_and_not_noise():
    g = torch.Generator().manual_seed(1)
    x, w = torch.randn(200, 5, generator=g), torch.randn(5, 2, generator=g)
    assert probe_mse(x[:150], x[:150] @ w + 3, x[150:], x[150:] @ w + 3) < 1e-10
    assert probe_mse(x[:150], torch.randn(150, 2, generator=g), x[150:], torch.randn(50, 2, generator=g)) > 0.5


def test_train_ssl_writes_runs_report_and_tsne_and_eval_repeats_it(tiny_sines, tmp_path):
    out = tmp_path / "ssl"
    cmd = TrainSSL(zoo=tiny_sines, out=out, models=("dws", "inr2vec"), seeds=(0,), steps=12, batch_size=8, hidden=4,
                   threads=1, probe_extent=math.pi)  # fmt: skip
    results = cmd.run()
    assert {r["model"] for r in results["runs"]} == {"dws", "inr2vec"}
    assert all(r["probe_mse"] > 0 for r in results["runs"])
    assert (out / "tsne.png").read_bytes()[:4] == b"\x89PNG" and (out / "curves.png").exists()
    encoder = load_checkpoint(out / "dws-seed0" / "best.safetensors")
    assert encoder.card["task"] == "ssl" and encoder.embed_dim == 16
    # the probes span the sines' domain [-pi, pi) (--probe-extent), and the checkpoint rebuilds them there
    assert encoder.card["model_kwargs"]["probe_extent"] == pytest.approx(math.pi)
    assert encoder.probes.points.max() == pytest.approx(math.pi * 15 / 16) and encoder.probes.points.shape == (16, 1)
    history = json.loads((out / "dws-seed0" / "results.json").read_text())["history"]
    assert history[-1]["step"] == 12 and "probe_mse" in history[-1]
    again = EvalSSL(zoo=tiny_sines, out=out, models=("dws", "inr2vec"), seeds=(0,)).run()
    assert again["summary"] == results["summary"]


def test_ssl_refuses_a_zoo_of_classes_and_bad_settings_in_one_line(tiny_image_zoo, capsys):
    assert run("train", "ssl", "--zoo", tiny_image_zoo) == 2
    assert "labels are classes" in capsys.readouterr().err
    assert run("train", "ssl", "--mask", "2") == 2
    assert "--mask 2.0: expected a fraction" in capsys.readouterr().err
    assert run("train", "ssl", "--probe-extent", "0") == 2
    assert "--probe-extent 0.0: expected a positive half-width" in capsys.readouterr().err
