"""Classifier domain adaptation: the target domain, the classifier population, import/export of classifiers, the
per-neuron baselines, the task's runs and report, and ``dws-edit adapt``."""

import json

import pytest
import torch
from helpers.cli import run
from torch import nn

from dws_edit.checkpoints import load_checkpoint
from dws_edit.data import load_zoo
from dws_edit.data.classifiers import (
    classifier_spec,
    classifier_state_dict,
    corrupt,
    domain_images,
    fit_population,
    fold_input_affine,
    import_classifier,
    init_classifiers,
    input_moments,
    reduce,
)
from dws_edit.inr import evaluate
from dws_edit.io import read_file, write_file
from dws_edit.nn.baselines import NeuronEditNet, neuron_tokens, tokens_to_weights
from dws_edit.tasks.adapt import EvalAdapt, TrainAdapt
from dws_edit.weights import WeightSpace


def test_the_target_domain_is_a_deterministic_corruption_in_range():
    images = torch.rand(6, 28, 28, generator=torch.Generator().manual_seed(0))
    a, b = corrupt(images, seed=3), corrupt(images, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, corrupt(images, seed=4))
    assert a.shape == images.shape and a.min() >= 0 and a.max() <= 1
    assert (a - images).abs().mean() > 0.05  # really another domain
    assert reduce(images, 7).shape == (6, 49)
    assert torch.allclose(reduce(images, 7)[0, 0], images[0, :4, :4].mean())


def test_a_classifier_state_dict_round_trips_and_keeps_its_function():
    net = nn.Sequential(nn.Linear(49, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 10))
    ws = import_classifier(net.state_dict())
    assert ws.spec == classifier_spec(7, (8, 6))
    x = torch.rand(5, 49)
    assert torch.allclose(evaluate(ws, x)[0], net(x), atol=1e-5)
    back = nn.Sequential(nn.Linear(49, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 10))
    back.load_state_dict(classifier_state_dict(ws))
    assert torch.allclose(back(x), net(x))
    with pytest.raises(ValueError, match="not an nn.Sequential of nn.Linear layers"):
        import_classifier({"fc.weight": torch.zeros(2, 2), "head.weight": torch.zeros(1, 2)})


def test_moment_matching_undoes_a_per_pixel_affine_corruption_exactly_in_the_first_layer():
    g = torch.Generator().manual_seed(2)
    ws = WeightSpace.randn(classifier_spec(7, (8, 6)), 3, generator=g)
    source = torch.rand(500, 49, generator=g)
    scale, shift = torch.rand(49, generator=g) + 0.2, torch.rand(49, generator=g)
    target = source * scale + shift  # contrast and brightness, per pixel
    matched = fold_input_affine(ws, *input_moments(source, target))
    assert torch.allclose(evaluate(matched, target), evaluate(ws, source), atol=1e-4)
    assert not torch.allclose(evaluate(ws, target), evaluate(ws, source), atol=1e-2)
    assert all(torch.equal(a, b) for a, b in zip(matched.tensors()[2:], ws.tensors()[2:]))  # first layer only


def test_per_neuron_tokens_invert_and_the_token_baselines_edit():
    spec = classifier_spec(7, (8, 6))
    ws = WeightSpace.randn(spec, 3, generator=torch.Generator().manual_seed(1))
    back = tokens_to_weights(neuron_tokens(ws, 50), spec)
    assert all(torch.equal(a, b) for a, b in zip(back.tensors(), ws.tensors()))
    for kind in ("transformer", "inr2vec"):
        out = NeuronEditNet(spec, kind)(ws)
        assert out.spec == spec and all(torch.isfinite(t).all() for t in out.tensors())


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    out = tmp_path_factory.mktemp("population")
    fit_population(out, count=24, size=7, hidden=(8, 8), steps=60, val_count=4, test_count=4, progress=False)
    return out


def test_the_population_is_a_zoo_of_trained_classifiers(population):
    train = load_zoo(population, "train")
    assert len(train) == 16 and train.spec == classifier_spec(7, (8, 8))
    images, labels = domain_images("source", "test", 7)
    acc = (evaluate(train.ws, images).argmax(-1) == labels).float().mean(1)
    assert torch.allclose(acc, train.labels[:, 0], atol=1e-6)  # labels: each classifier's source test accuracy
    untrained = (
        evaluate(init_classifiers(train.spec, 16, torch.Generator().manual_seed(0)), images).argmax(-1) == labels
    )
    assert acc.mean() > untrained.float().mean() + 0.1  # they learned the source domain
    again = fit_population(population, count=24, size=7, hidden=(8, 8), steps=60, val_count=4, test_count=4)
    assert again["summary"] == json.loads((population / "manifest.json").read_text())["summary"]
    assert run("zoo", "info", population) == 0  # the zoo command reads a population too
    with pytest.raises(ValueError, match="another zoo"):
        fit_population(population, count=24, size=7, hidden=(8, 8), steps=31, val_count=4, test_count=4)


def test_train_adapt_runs_and_dws_edit_adapt_writes_a_loadable_state_dict(population, tmp_path, capsys, monkeypatch):
    out = tmp_path / "adapt"
    cmd = TrainAdapt(zoo=population, out=out, models=("dws", "mlp-align", "transformer"), seeds=(0,), steps=6,
                     batch_size=4, images=16, hidden=4, threads=1)  # fmt: skip
    results = cmd.run()
    references = {"no-adaptation", "moment-matching"}  # the rows without training
    assert {r["model"] for r in results["runs"]} == {"dws", "mlp-align", "transformer"} | references
    assert list(results["summary"])[-2:] == sorted(references)
    assert 0 < results["no_adaptation_target_accuracy"] < results["no_adaptation_source_accuracy"]
    assert results["summary"]["no-adaptation"]["gain"]["mean"] == 0
    again = EvalAdapt(zoo=population, out=out, models=("dws", "mlp-align", "transformer"), seeds=(0,)).run()
    assert again["summary"] == results["summary"]
    adapter = out / "dws-seed0" / "best.safetensors"
    assert load_checkpoint(adapter).card["task"] == "adapt"
    classifier = tmp_path / "classifier.safetensors"
    write_file(classifier, classifier_state_dict(load_zoo(population, "test").ws[:1]))
    adapted = tmp_path / "adapted.pt"
    assert run("adapt", classifier, "--out", adapted, "--model", adapter) == 0
    net = nn.Sequential(nn.Linear(49, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 10))
    net.load_state_dict(torch.load(adapted, weights_only=True))
    capsys.readouterr()
    assert run("adapt", classifier, "--out", classifier, "--model", adapter) == 2
    assert "is the input file" in capsys.readouterr().err
    assert run("adapt", classifier, "--out", tmp_path / "a.png", "--model", adapter) == 2
    assert "accepted a path ending in .safetensors" in capsys.readouterr().err
    wide = tmp_path / "wide.safetensors"
    write_file(wide, {"0.weight": torch.zeros(8, 196), "0.bias": torch.zeros(8), "2.weight": torch.zeros(10, 8),
                      "2.bias": torch.zeros(10)})  # fmt: skip
    assert run("adapt", wide, "--out", tmp_path / "b.pt", "--model", adapter) == 2
    assert "accepts 49->" in capsys.readouterr().err
    assert not (tmp_path / "b.pt").exists() and read_file(classifier)[0]
    assert run("adapt", tmp_path / "none.pt", "--out", tmp_path / "c.pt") == 2  # the user's file is checked first
    assert "none.pt does not exist" in capsys.readouterr().err
    assert run("adapt", classifier, "--out", tmp_path / "c.pt") == 0  # the shipped fmnist-adapter
    net.load_state_dict(torch.load(tmp_path / "c.pt", weights_only=True))
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(tmp_path))  # a checkpoints folder without it
    assert run("adapt", classifier, "--out", tmp_path / "d.pt") == 2
    assert "no adapter is shipped" in capsys.readouterr().err


def test_adapters_started_from_moment_matching_take_folded_weights_and_the_cli_folds_them_too(population, tmp_path):
    out = tmp_path / "adapt-moments"
    TrainAdapt(zoo=population, out=out, models=("dws",), seeds=(0,), steps=4, batch_size=4, images=16, hidden=4,
               threads=1, start="moments").run()  # fmt: skip
    best = out / "dws-seed0" / "best.safetensors"
    net = load_checkpoint(best)
    scale, shift = (torch.tensor(net.card["input_affine"][k]) for k in ("scale", "shift"))
    assert scale.shape == shift.shape == (49,) and (scale > 1).float().mean() > 0.5  # the halved contrast, undone
    classifier = load_zoo(population, "test").ws[:1]
    write_file(tmp_path / "c.safetensors", classifier_state_dict(classifier))
    assert run("adapt", tmp_path / "c.safetensors", "--out", tmp_path / "a.safetensors", "--model", best) == 0
    with torch.no_grad():
        expected = classifier_state_dict(net(fold_input_affine(classifier, scale, shift)))
    got = read_file(tmp_path / "a.safetensors")[0]
    assert all(torch.allclose(got[k], expected[k], atol=1e-6) for k in expected)
    with pytest.raises(ValueError, match="--start nope: accepted weights, moments"):
        TrainAdapt(zoo=population, out=tmp_path / "x", start="nope", steps=2).run()
