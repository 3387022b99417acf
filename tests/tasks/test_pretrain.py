"""Pretraining: an edit model's DWS layers started from a task's encoder (``dws-edit train edit --init-encoder``)."""

import pytest
import torch

from dws_edit.bench import BenchPretrain
from dws_edit.checkpoints import accepts_of, load_checkpoint, save_checkpoint
from dws_edit.inr.siren import image_spec
from dws_edit.nn import DWSClassifier
from dws_edit.tasks.edit import EditTask, TrainEdit
from dws_edit.tasks.loop import LoopConfig
from dws_edit.weights import NetworkSpec


def _encoder(path, spec, hidden=4, depth=2):
    torch.manual_seed(5)
    kwargs = {"num_classes": 10, "hidden": hidden, "depth": depth}
    model = DWSClassifier(spec, **kwargs)
    save_checkpoint(path, model, kwargs, {"task": "classify", "command": "dws-edit train classify", "model_kwargs":
                                          kwargs, "accepts": accepts_of(spec)})  # fmt: skip
    return model


def _edit(zoo, out, **kw):
    loop = LoopConfig(steps=8, batch_size=8, lr=3e-3, warmup=2, eval_every=4, threads=1)
    options = dict(edit="smooth", zoo=zoo, hidden=4, depth=2, outputs=2, val_count=8, loop=loop, out=out)
    return TrainEdit(**(options | kw))


def test_the_edit_model_starts_from_the_encoders_dws_layers_and_trains(tiny_image_zoo, tmp_path):
    encoder = _encoder(tmp_path / "enc.safetensors", image_spec())
    task = EditTask(_edit(tiny_image_zoo, tmp_path / "run", init_encoder=tmp_path / "enc.safetensors"))
    scratch = EditTask(_edit(tiny_image_zoo, tmp_path / "other"))
    for i, layer in enumerate(encoder.blocks.layers):
        mine, fresh = task.model.blocks.layers[i].state_dict(), scratch.model.blocks.layers[i].state_dict()
        assert all(torch.equal(mine[key], value) for key, value in layer.state_dict().items())
        assert any(not torch.equal(fresh[key], value) for key, value in layer.state_dict().items())
    assert task.started_from["encoder"] and task.started_from["layers"] == 2 and task.started_from["params_copied"]
    # the output layer and the maps of the edit's parameters keep the edit model's own start (the same seed)
    layers = [[m.blocks.layers[i].state_dict() for i in range(3)] for m in (task.model, scratch.model)]
    assert all(torch.equal(v, layers[1][2][k]) for k, v in layers[0][2].items())
    assert all(torch.equal(v, layers[1][0][k]) for k, v in layers[0][0].items() if k.startswith("cond."))
    results = _edit(tiny_image_zoo, tmp_path / "run", init_encoder=tmp_path / "enc.safetensors").run()
    assert results["identity"]["init_sha256"] == task.started_from["sha256"]  # a rerun resumes only from this file
    card = load_checkpoint(tmp_path / "run" / "best.safetensors").card
    assert card["started_from"]["checkpoint"] == str(tmp_path / "enc.safetensors")


def test_an_encoder_that_does_not_fit_is_refused_in_one_line(tiny_image_zoo, tmp_path):
    _encoder(tmp_path / "wide.safetensors", image_spec(), hidden=8)
    _encoder(tmp_path / "sdf.safetensors", NetworkSpec((3, 32, 32, 1), w0=15.0))
    _encoder(tmp_path / "deep.safetensors", image_spec(), depth=2)
    (tmp_path / "enc.pt").write_bytes(b"\x80\x04")  # a pickle: never read
    cases = [
        (
            dict(init_encoder=tmp_path / "wide.safetensors"),
            "2 DWS layers x 8 channels .* accepted: --hidden 8, --depth 2 or more, no --gradient",
        ),
        (dict(init_encoder=tmp_path / "sdf.safetensors"), "an encoder of INRs 3->32->32->1"),
        (
            dict(init_encoder=tmp_path / "deep.safetensors", depth=1),
            r"--depth 2 or more.*\(given --hidden 4, --depth 1",
        ),
        (dict(init_encoder=tmp_path / "deep.safetensors", gradient=True), r"given --hidden 4, --depth 2, --gradient"),
        (dict(init_encoder=tmp_path / "deep.safetensors", init=tmp_path / "deep.safetensors"), "give one"),
        (dict(init_encoder=tmp_path / "deep.safetensors", model="mlp"), "accepted: --model dws"),
        (dict(init_encoder="fmnist-classifier"), "4 DWS layers x 32 channels"),  # a shipped name
        (dict(init_encoder="image-smooth"), "image-smooth: a DWSEditNet; accepted: a DWS encoder"),
        (dict(init_encoder=tmp_path / "enc.pt"), "not a dws-edit checkpoint.*never loaded"),
    ]
    for flags, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            EditTask(_edit(tiny_image_zoo, tmp_path / "run", **flags))
        assert "\n" not in str(err.value)


def test_the_pretraining_bench_trains_both_arms_alike_and_prints_their_ratio(tiny_image_zoo, tmp_path, capsys):
    _encoder(tmp_path / "enc.safetensors", image_spec())
    bench = BenchPretrain(encoder=str(tmp_path / "enc.safetensors"), zoo=tiny_image_zoo, steps=6, batch_size=4,
                          eval_every=3, val_count=8, threads=1, out=tmp_path / "bench")  # fmt: skip
    results = bench.run()
    assert [r["step"] for r in results["rows"]] == [3, 6, "kept"]
    for r in results["rows"]:
        assert r["ratio"] == pytest.approx(r["encoder"] / r["scratch"]) and r["scratch"] > 0 and r["scratch_std"] == 0
    cards = {arm: load_checkpoint(tmp_path / "bench" / f"smooth-{arm}-seed0" / "best.safetensors").card
             for arm in ("scratch", "encoder")}  # fmt: skip
    assert "started_from" not in cards["scratch"] and cards["encoder"]["started_from"]["encoder"]
    assert "encoder / scratch" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--encoder sines-encoder: an encoder of INRs 1->32->32->1"):
        BenchPretrain(encoder="sines-encoder", zoo=tiny_image_zoo, out=tmp_path / "none").run()
    assert not (tmp_path / "none").exists()
