"""The training-data check of learned edits the never-worse guard cannot check (remove_part): fitted by
``dws-edit train ood`` on a (tiny) zoo, it flags INRs unlike the model's training data in ``dws_edit.edit``'s
warning and guard report, is invariant to the INR's neuron order, and stays silent for a model fitted on other
parameters or without a detector."""

import json
import warnings

import pytest
import torch

import dws_edit
from dws_edit.checkpoints import save_checkpoint
from dws_edit.data import load_zoo
from dws_edit.nn import DWSEditNet
from dws_edit.ood import UNLIKE, Detector, detector_for, detector_path, invariant_features

NAME = "sdf-remove_part"
KWARGS = {"hidden": 4, "depth": 3, "cond_dim": 3, "keep": True, "outputs": 1}


@pytest.fixture(scope="module")
def shipped(tiny_shape_zoos, tmp_path_factory):
    """An (untrained) remove_part model shipped in a temporary checkpoints folder, its detector fitted by the
    command on the tiny SDF zoo; returns (folder, zoo)."""
    from dws_edit.cli import main

    zoo = tiny_shape_zoos["sdf"]
    folder = tmp_path_factory.mktemp("checkpoints")
    train = load_zoo(zoo, "train")
    torch.manual_seed(0)
    net = DWSEditNet(train.spec, **KWARGS)
    net.set_stats(train.stats)
    card = {"name": NAME, "edit": "remove_part", "domain": "sdf", "model_kwargs": KWARGS, "data": {"zoo": str(zoo)}}
    save_checkpoint(folder / f"{NAME}.safetensors", net, KWARGS, card)
    argv = ["train", "ood", "--model", NAME, "--layers", "2", "--threads", "1"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DWS_EDIT_CHECKPOINTS", str(folder))
        mp.setattr("sys.argv", ["dws-edit", *argv])  # the command the card records
        main(argv)
    return folder, zoo


@pytest.fixture
def model(shipped, monkeypatch):
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(shipped[0]))
    return dws_edit.checkpoints.shipped_model(NAME)


def test_the_command_writes_a_small_detector_and_describes_it_in_the_card(shipped, model):
    folder, zoo = shipped
    file = detector_path(NAME)
    assert file.exists() and file.stat().st_size < 20_000
    card = json.loads((folder / f"{NAME}.json").read_text())
    entry = card["ood"]
    assert entry["threshold"] > 0 and entry["quantile"] == 0.99 and entry["zoo"] == str(zoo)
    assert (
        entry["command"].startswith("dws-edit train ood --model sdf-remove_part") and "Mahalanobis" in entry["detector"]
    )
    assert set(entry["test_split"]) <= {"trained", "other_params", "other_families"}
    assert model.card["ood"] == entry  # the checkpoint's header holds the same card
    detector_card = json.loads(file.with_suffix(".json").read_text())  # the detector file's own card
    assert detector_card["detector_of"] == NAME and detector_card["threshold"] == entry["threshold"]
    assert NAME + ".ood" not in dws_edit.checkpoints.available_models()
    detector = detector_for(model)
    assert detector is not None and sorted(detector.classes) == ["mug", "table"] and detector.layers == 2


def test_an_inr_unlike_the_training_data_is_warned_about_and_reported(model, shipped):
    ws = load_zoo(shipped[1], "val").ws[:1]
    far = dws_edit.weights.WeightSpace(ws.spec, tuple(w * 8 for w in ws.weights), ws.biases)
    with pytest.warns(UserWarning, match=r"unlike sdf-remove_part's training data .*Mahalanobis distance .* above"):
        _, report = dws_edit.edit(far, "remove_part", part="handle", model=NAME, report=True)
    assert report.outcome == (UNLIKE,) and "Mahalanobis" in report.note
    assert UNLIKE in report.summary()


def test_training_inrs_asked_as_trained_are_mostly_not_warned_about(model, shipped):
    detector = detector_for(model)
    train = load_zoo(shipped[1], "train")
    mugs = [i for i, m in enumerate(train.meta) if m["family"] == "mug"]
    ws = train.ws[torch.tensor(mugs)]
    cond = dws_edit.edits.get_edit("remove_part").encode({"part": "handle"}, "sdf", batch=ws.batch_size)
    dist, nearest = detector.distances(invariant_features(model, ws, cond, detector.layers), cond)
    assert (dist <= detector.threshold).float().mean() >= 0.75
    assert set(nearest.tolist()) == {detector.classes.index("mug")}  # asked for the handle: compared with mugs only
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an INR like the training data: no warning
        inside = int(torch.argmin(dist))
        _, report = dws_edit.edit(ws[inside : inside + 1], "remove_part", part="handle", model=NAME, report=True)
    assert report.outcome == ("unchecked",)


def test_the_features_do_not_depend_on_the_order_of_hidden_neurons(model, shipped):
    ws = load_zoo(shipped[1], "val").ws[:3]
    g = torch.Generator().manual_seed(1)
    perm = [torch.randperm(h, generator=g) for h in ws.spec.hidden_sizes]
    weights, biases = list(ws.weights), list(ws.biases)
    for i, p in enumerate(perm):
        weights[i], biases[i] = weights[i][:, :, p], biases[i][:, :, p]
        weights[i + 1] = weights[i + 1][:, :, :, p]
    permuted = dws_edit.weights.WeightSpace(ws.spec, tuple(weights), tuple(biases))
    cond = torch.eye(3)[[0, 1, 2]]
    a, b = invariant_features(model, ws, cond, 2), invariant_features(model, permuted, cond, 2)
    assert torch.allclose(a, b, atol=1e-5) and not torch.allclose(a[0], a[1])


def test_a_detector_of_another_model_is_not_used(model, shipped, monkeypatch):
    other = DWSEditNet(model.spec, **KWARGS)  # other parameters, the same card
    other.card = model.card
    assert detector_for(other) is None
    detector = Detector.load(detector_path(NAME))
    assert detector.threshold == pytest.approx(model.card["ood"]["threshold"], abs=1e-3)
    bad = shipped[0] / "bad.ood.safetensors"
    bad.write_bytes(b"not safetensors at all")
    with pytest.raises(ValueError, match="bad.ood.safetensors"):
        Detector.load(bad)


def test_the_bench_counts_warnings_on_the_zoo(shipped, model, capsys):
    from dws_edit.bench.ood import BenchOOD

    rows = BenchOOD(mesh_fit_steps=0, other_fit_steps=0, threads=1).run()["rows"]
    sets = {r["set"].split(": ", 1)[1]: r for r in rows}
    assert set(sets) <= {"families it trained on, asked as trained", "the same, asked for another family's part",
                         "families without the part, asked each"}  # fmt: skip
    assert all(0 <= r["warned"] <= r["inrs"] for r in rows)
    assert "training-data check" in capsys.readouterr().out
