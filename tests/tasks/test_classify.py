"""INR classification: the canonical sign, the encoders' invariances, the task's runs, report and front doors."""

import json

import pytest
import torch
from helpers.cli import run

import dws_edit
from dws_edit.checkpoints import available_models, label_inrs, load_checkpoint
from dws_edit.data import load_zoo
from dws_edit.inr import evaluate, save_inr
from dws_edit.inr.siren import canonical_signs, image_spec
from dws_edit.nn import ENCODERS, DWSEncoder, build_encoder
from dws_edit.tasks.adapt import TrainAdapt
from dws_edit.tasks.classify import EvalClassify, TrainClassify, mix
from dws_edit.weights import WeightSpace


def _random_signs(ws, g):
    return [torch.where(torch.rand(ws.batch_size, d, generator=g) < 0.5, -1.0, 1.0) for d in ws.spec.hidden_sizes]


def test_canonical_signs_keep_the_function_and_undo_any_sign_flip():
    g = torch.Generator().manual_seed(0)
    ws = WeightSpace.randn(image_spec(), 3, generator=g)
    x = torch.rand(50, 2) * 2 - 1
    flipped = ws.flip_signs(_random_signs(ws, g))
    a, b = canonical_signs(ws), canonical_signs(flipped)
    assert torch.allclose(evaluate(a, x), evaluate(ws, x), atol=1e-5)
    for s, t in zip(a.tensors(), b.tensors()):
        assert torch.equal(s, t)
    assert all((bias >= 0).all() for bias in a.biases[:-1])
    assert all(torch.equal(s, t) for s, t in zip(canonical_signs(a).tensors(), a.tensors()))  # idempotent


@pytest.mark.parametrize("probes", [0, 3])
def test_the_dws_encoder_is_invariant_to_permutations_and_with_signs_to_sign_flips(probes):
    g = torch.Generator().manual_seed(1)
    ws = WeightSpace.randn(image_spec(hidden=(6, 5)), 4, generator=g)
    model = DWSEncoder(ws.spec, 7, hidden=4, depth=2, signs=True, probes=probes).eval()
    moved = ws.permute(ws.random_permutations(g)).flip_signs(_random_signs(ws, g))
    assert torch.allclose(model(ws), model(moved), atol=1e-5)
    plain = DWSEncoder(ws.spec, 7, hidden=4, depth=2).eval()
    assert not torch.allclose(plain(ws), plain(ws.flip_signs(_random_signs(ws, g))), atol=1e-4)


def test_every_encoder_builds_and_maps_a_batch_to_embeddings():
    ws = WeightSpace.randn(image_spec(), 5, generator=torch.Generator().manual_seed(2))
    for kind in ENCODERS:
        model = build_encoder(kind, ws.spec, 3, hidden=4, depth=2, reference=ws[:1]).eval()
        out = model(ws.to(torch.float64))  # any floating dtype is taken
        assert out.shape == (5, 3) and torch.isfinite(out).all(), kind
    with pytest.raises(ValueError, match="option of the DWS encoder"):
        build_encoder("mlp", ws.spec, 3, probes=2)


def test_mixup_mixes_weights_and_labels_with_one_coefficient():
    spec = image_spec()
    value = torch.arange(16.0)  # network i: every weight equal to i, class i
    ws = WeightSpace.zeros(spec, 16).map(lambda t: t + value.view(-1, *[1] * (t.dim() - 1)))
    target = torch.eye(16)
    mixed, soft = mix(ws, target, 1.0, torch.Generator().manual_seed(4))
    assert torch.allclose(soft.sum(-1), torch.ones(16))
    expected = soft @ value  # l i + (1 - l) j, read off the mixed label
    for t in mixed.tensors():
        assert torch.allclose(t.reshape(16, -1), expected[:, None].expand(16, t[0].numel()), atol=1e-5)
    assert (soft.max(-1).values < 1).sum() >= 8  # most networks really mixed


def model_of(run_dir):
    return load_checkpoint(run_dir / "best.safetensors")


def _train(zoo, out, **kw):
    options = dict(zoo=zoo, out=out, models=("dws", "mlp"), seeds=(0, 1), steps=40, batch_size=16, lr=3e-3,
                   hidden=8, threads=1) | kw  # fmt: skip
    cmd = TrainClassify(**options)
    cmd_settings = cmd.settings()
    assert cmd_settings.steps == options["steps"]
    return cmd


def test_train_classify_runs_every_model_and_seed_and_writes_the_report(tiny_digit_zoo, tmp_path, monkeypatch, capsys):
    from dws_edit.tasks import classify

    monkeypatch.setitem(classify.PRESETS, "cpu", classify.PRESETS["cpu"].__class__(
        **{**classify.PRESETS["cpu"].__dict__, "eval_every": 20, "val_count": 12, "warmup": 5}))  # fmt: skip
    out = tmp_path / "runs"
    results = _train(tiny_digit_zoo, out).run()
    assert {(r["model"], r["seed"]) for r in results["runs"]} == {("dws", 0), ("mlp", 0), ("dws", 1), ("mlp", 1)}
    assert set(results["summary"]) == {"dws", "mlp"} and results["summary"]["dws"]["test_accuracy"]["n"] == 2
    assert (out / "results.md").read_text().count("|") > 10 and (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "results.json").read_text())["preset"] == "cpu"
    # the DWS run's best model is a checkpoint with a card; it learned the training INRs better than chance
    model = load_checkpoint(out / "dws-seed0" / "best.safetensors")
    assert model.card["task"] == "classify" and len(model.card["classes"]) == 10
    train = load_zoo(tiny_digit_zoo, "train")
    rows = label_inrs(model, train.ws)
    assert len(rows) == train.ws.batch_size and all(0 <= r["probability"] <= 1 for r in rows)
    history = json.loads((out / "dws-seed0" / "results.json").read_text())["history"]
    assert [h["step"] for h in history] == [20, 40]
    # eval alone rebuilds the same table from the runs (baselines from their recorded settings)
    again = EvalClassify(zoo=tiny_digit_zoo, out=out, models=("dws", "mlp"), seeds=(0, 1)).run()
    assert again["summary"] == results["summary"]
    # published, the model's card holds its row of the report; the index and the API find it
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(tmp_path / "checkpoints"))
    (tmp_path / "checkpoints").mkdir()
    assert run("models", "publish", out / "dws-seed1", "--name", "digit-classifier") == 0
    card = available_models("classify")["digit-classifier"]
    row = next(r for r in results["runs"] if (r["model"], r["seed"]) == ("dws", 1))
    assert card["quality"]["test_accuracy"] == row["test_accuracy"] and "mlp" in card["quality"]["models_mean"]
    assert available_models() == {} and "digit-classifier" in (tmp_path / "checkpoints" / "README.md").read_text()
    labels = dws_edit.classify(train.ws[:3], "digit-classifier")
    assert [r["class"] for r in labels] == [r["class"] for r in label_inrs(model_of(out / "dws-seed1"), train.ws[:3])]
    inr = tmp_path / "two.safetensors"
    save_inr(inr, train.ws[:2])
    assert run("classify", inr, "--model", out / "dws-seed0" / "best.safetensors") == 0
    printed = capsys.readouterr().out
    assert "two.safetensors[1]: " in printed and "probability" in printed
    # a rerun with other settings into the same folder is refused in one line, nothing trained
    with pytest.raises(ValueError, match="another configuration"):
        _train(tiny_digit_zoo, out, lr=1e-2).run()


def test_classify_front_doors_refuse_bad_input_in_one_line(tiny_digit_zoo, tmp_path, capsys):
    assert run("train", "classify", "--zoo", tiny_digit_zoo, "--models", "dws", "cnn") == 2
    assert "--models cnn: unknown model; accepted: dws, mlp" in capsys.readouterr().err
    assert run("train", "classify", "--zoo", tiny_digit_zoo, "--mixup", "1.5") == 2
    assert "--mixup 1.5: expected a fraction in [0, 1.0]" in capsys.readouterr().err
    assert run("eval", "classify", "--zoo", tiny_digit_zoo, "--out", tmp_path / "none") == 2
    assert "none does not exist; accepted: the --out folder of a dws-edit train" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run("eval", "classify", "--zoo", tiny_digit_zoo, "--out", tmp_path / "empty") == 2
    assert "holds no finished run" in capsys.readouterr().err
    inr = tmp_path / "x.safetensors"
    save_inr(inr, load_zoo(tiny_digit_zoo, "test").ws[:2])
    assert run("classify", inr, "--model", "image-smooth") == 2
    assert "is not an INR classifier" in capsys.readouterr().err
    assert run("classify") == 2
    assert "no INR file given" in capsys.readouterr().err
    assert run("classify", inr, tmp_path / "missing.safetensors", "--model", "image-smooth") == 2
    captured = capsys.readouterr()
    assert "missing.safetensors does not exist" in captured.err and captured.out == ""  # every file read first
    model = build_encoder("dws", image_spec(), 10, hidden=4, depth=1)
    model.card = {"task": "classify", "accepts": {}}
    ws = load_zoo(tiny_digit_zoo, "test").ws[:2]
    for bad, message in ((ws[0:0], "B >= 1"), (ws * float("nan"), "NaN"), ("x.safetensors", "not str")):
        with pytest.raises(ValueError, match=message):
            label_inrs(model, bad)
    assert not (tmp_path / "none").exists()


def test_a_model_is_a_shipped_name_or_a_safetensors_file_and_errors_name_the_tasks_models(tmp_path):
    ws = WeightSpace.randn(image_spec(), 1, generator=torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match=r"accepted: a shipped name \(fmnist-classifier, mnist-classifier\)"):
        dws_edit.classify(ws, "nope")
    (tmp_path / "model.pt").write_bytes(b"\x80\x04")  # a pickle: never read
    with pytest.raises(ValueError, match="model.pt: not a dws-edit checkpoint.*never loaded"):
        dws_edit.classify(ws, str(tmp_path / "model.pt"))
    with pytest.raises(ValueError, match="gone.safetensors does not exist"):
        dws_edit.classify(ws, str(tmp_path / "gone.safetensors"))
    with pytest.raises(ValueError, match="model None: accepted a shipped model's name or a .safetensors path"):
        dws_edit.classify(ws, None)
    loaded = dws_edit.load_model("fmnist-classifier")  # a model already loaded is taken as it is
    assert dws_edit.classify(ws, loaded)[0]["class"] == dws_edit.classify(ws)[0]["class"]


def test_the_probe_mlp_baseline_reads_the_function_only_and_trains_beside_the_others(tiny_digit_zoo, tmp_path):
    ws = load_zoo(tiny_digit_zoo, "test").ws[:4]
    model = build_encoder("probe-mlp", ws.spec, 5, probes=3).eval()
    moved = ws.permute(ws.random_permutations(torch.Generator().manual_seed(0)))
    assert model.points.shape == (9, 2) and torch.allclose(model(ws), model(moved), atol=1e-5)
    with pytest.raises(ValueError, match="give --probes"):
        build_encoder("probe-mlp", ws.spec, 5, probes=0)
    assert "probe-mlp" in TrainClassify().models and "probe-mlp" not in TrainAdapt().models
    out = tmp_path / "runs"
    results = _train(tiny_digit_zoo, out, models=("probe-mlp",), seeds=(0,), steps=8, probes=3).run()
    assert results["summary"]["probe-mlp"]["test_accuracy"]["n"] == 1
    assert EvalClassify(zoo=tiny_digit_zoo, out=out, models=("probe-mlp",), seeds=(0,)).run()["summary"] == results[
        "summary"]  # fmt: skip
