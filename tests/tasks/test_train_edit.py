"""Edit training: the loop trains, validates, checkpoints, and resumes a killed run exactly."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch

from dws_edit.checkpoints import load_checkpoint
from dws_edit.data import load_zoo
from dws_edit.edits import get_edit
from dws_edit.inr import evaluate
from dws_edit.runner import run_edit_model
from dws_edit.tasks.edit import EditTask, TrainEdit, with_shapes
from dws_edit.tasks.loop import LoopConfig


def _config(zoo, out, steps=12, **kw):
    loop = LoopConfig(steps=steps, batch_size=8, lr=3e-3, warmup=2, eval_every=4, threads=1)
    return TrainEdit(edit="symmetrize", zoo=zoo, hidden=4, depth=2, outputs=2, val_count=8, loop=loop, out=out, **kw)


def test_training_lowers_the_validation_error_and_writes_a_loadable_model(tiny_image_zoo, tmp_path):
    results = _config(tiny_image_zoo, tmp_path / "run", steps=40).run()
    history = results["history"]
    assert [h["step"] for h in history] == list(range(4, 41, 4))
    assert results["best_val_score"] < history[0]["identity_mse"]  # better than no edit at all
    assert results["command"].startswith("dws-edit") and results["identity"]["zoo_sha256"]
    model = load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert model.card["edit"] == "symmetrize" and model.card["accepts"]["hidden_widths_trained"] == [32, 32]
    assert json.loads((tmp_path / "run" / "results.json").read_text())["best_val_score"] == results["best_val_score"]


def test_training_on_inrs_turned_by_cube_symmetries_beats_no_edit(tiny_image_zoo, tmp_path):
    results = _config(tiny_image_zoo, tmp_path / "run", steps=40, symmetries=0.5).run()
    assert results["best_val_score"] < results["history"][0]["identity_mse"]
    assert json.loads((tmp_path / "run" / "results.json").read_text())["identity"]["config"]["symmetries"] == 0.5


@pytest.mark.parametrize("edit, symmetries", [("symmetrize", 1.5), ("remove_part", 0.5)])
def test_symmetries_out_of_range_or_for_remove_part_are_refused_before_anything_is_written(
    tiny_image_zoo, tmp_path, edit, symmetries
):
    with pytest.raises(ValueError, match="--symmetries"):
        TrainEdit(edit=edit, zoo=tiny_image_zoo, symmetries=symmetries, out=tmp_path / "run").run()
    assert not (tmp_path / "run").exists()


def test_training_with_sign_flips_and_mixup_beats_no_edit_and_records_both(tiny_image_zoo, tmp_path):
    results = _config(tiny_image_zoo, tmp_path / "run", steps=40, sign_flips=0.5, mixup=0.5).run()
    assert results["best_val_score"] < results["history"][0]["identity_mse"]
    config = results["identity"]["config"]
    assert (config["sign_flips"], config["mixup"]) == (0.5, 0.5)


@pytest.mark.parametrize("edit, flags", [("symmetrize", {"sign_flips": 1.5}), ("symmetrize", {"mixup": -0.1}),
                                         ("remove_part", {"mixup": 0.5})])  # fmt: skip
def test_sign_flips_or_mixup_out_of_range_or_for_remove_part_are_refused(tiny_image_zoo, tmp_path, edit, flags):
    with pytest.raises(ValueError, match="--sign-flips|--mixup"):
        TrainEdit(edit=edit, zoo=tiny_image_zoo, out=tmp_path / "run", **flags).run()
    assert not (tmp_path / "run").exists()


def test_extra_zoos_add_training_inrs_and_one_of_another_spec_is_refused(tiny_image_zoo, tiny_shape_zoos, tmp_path):
    own = load_zoo(tiny_image_zoo, "train").ws.batch_size
    results = _config(tiny_image_zoo, tmp_path / "run", steps=4, extra_zoo=(tiny_image_zoo,)).run()
    card = load_checkpoint(tmp_path / "run" / "best.safetensors").card
    assert card["data"]["train_inrs"] == 2 * own and list(card["data"]["extra_zoos"]) == [str(tiny_image_zoo)]
    assert results["identity"]["extra_zoo_sha256"] == card["data"]["extra_zoos"]
    assert "removed_extra" in results["history"][-1]  # the extra zoo's validation INRs join validation, and apart
    task = EditTask(_config(tiny_image_zoo, tmp_path / "unused", extra_zoo=(tiny_image_zoo,)))
    own_val = min(8, load_zoo(tiny_image_zoo, "val").ws.batch_size)
    assert task.val_main == own_val and task.val_ws.batch_size == 2 * own_val
    assert torch.equal(task.val_ws.weights[0][:own_val], task.val_ws.weights[0][own_val:])
    assert "removed_extra" not in EditTask(_config(tiny_image_zoo, tmp_path / "unused")).validate()
    with pytest.raises(ValueError, match=r"--extra-zoo .*expected the spec of"):
        _config(tiny_image_zoo, tmp_path / "bad", steps=4, extra_zoo=(tiny_shape_zoos["sdf"],)).run()
    assert not (tmp_path / "bad").exists()


def test_rerun_with_another_config_is_refused(tiny_image_zoo, tmp_path):
    _config(tiny_image_zoo, tmp_path / "run", steps=4).run()
    with pytest.raises(ValueError, match="another configuration"):
        _config(tiny_image_zoo, tmp_path / "run", steps=4, augment=False).run()


@pytest.mark.slow
def test_killed_run_resumes_where_it_was_and_ends_as_an_uninterrupted_run(tiny_image_zoo, tmp_path):
    flags = ["train", "edit", "--edit", "symmetrize", "--zoo", str(tiny_image_zoo), "--hidden", "4", "--depth", "2"]
    flags += ["--val-count", "8", "--steps", "400", "--batch-size", "8", "--eval-every", "20", "--threads", "1"]
    cmd = [sys.executable, "-c", "from dws_edit.cli import main; main()", *flags]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(killed)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not (killed / "state.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    step_at_kill = torch.load(killed / "state.pt", weights_only=True)["step"]
    assert 0 < step_at_kill < 400, "the run was not killed in the middle"
    rerun = subprocess.run([*cmd, "--out", str(killed)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming {killed} at step" in rerun.stdout
    whole = subprocess.run([*cmd, "--out", str(tmp_path / "whole")], capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    a = torch.load(killed / "state.pt", weights_only=True)
    b = torch.load(tmp_path / "whole" / "state.pt", weights_only=True)
    assert a["step"] == b["step"] == 400
    for key, value in b["modules"]["model"].items():
        torch.testing.assert_close(a["modules"]["model"][key], value, rtol=0, atol=0, msg=f"{key} differs after resume")


def test_edit_targets_broadcast_shared_parameters_over_chunks():
    from dws_edit.edits import get_edit
    from dws_edit.inr import grid_coords, image_spec, init_siren
    from dws_edit.runner import edit_targets

    ws = init_siren(image_spec(), 5, torch.Generator().manual_seed(0))
    coords = grid_coords(6, 6)
    edit = get_edit("symmetrize")
    chunked = edit_targets(edit, ws, coords, {"axis": "x"}, "image", chunk=2)
    torch.testing.assert_close(chunked, edit.target_of(ws, coords, {"axis": "x"}))


@pytest.mark.parametrize(
    "domain, edit", [("sdf", "symmetrize"), ("sdf", "remove_part"), ("field", "remove"), ("field", "smooth")]
)
def test_3d_edit_training_lowers_the_validation_error(tiny_shape_zoos, tmp_path, domain, edit):
    loop = LoopConfig(steps=24, batch_size=4, lr=3e-3, warmup=2, eval_every=12, threads=1)
    cfg = TrainEdit(edit=edit, zoo=tiny_shape_zoos[domain], hidden=4, depth=2, val_count=4, points=256, loop=loop,
                    out=tmp_path / "run")  # fmt: skip
    results = cfg.run()
    history = results["history"]
    assert results["best_val_score"] < history[0]["identity_mse"]
    model = load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert model.card["domain"] == domain and model.card["edit"] == edit


@pytest.mark.parametrize("gradient", [False, True])
def test_a_keep_run_trains_a_source_plus_correction_model_that_reloads(tiny_shape_zoos, tmp_path, gradient):
    loop = LoopConfig(steps=24, batch_size=4, lr=3e-3, warmup=2, eval_every=12, threads=1)
    edit = "remove" if gradient else "remove_part"
    cfg = TrainEdit(edit=edit, zoo=tiny_shape_zoos["sdf"], hidden=4, depth=2, val_count=4, points=256, loop=loop,
                    outputs=1, keep=True, gradient=gradient, out=tmp_path / "run")  # fmt: skip
    results = cfg.run()
    assert results["best_val_score"] < results["history"][0]["identity_mse"]
    model = load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert model.keep and model.card["model_kwargs"]["keep"] is True
    val = load_zoo(tiny_shape_zoos["sdf"], "val").ws[:2]
    cond = torch.rand(2, model.cond_dim) if model.cond_dim else None
    coords = torch.rand(64, 3) * 2 - 1
    target = evaluate(val, coords) - 0.1 if gradient else None  # a gradient model takes the loss gradient there
    edited = run_edit_model(model, val, cond, coords=coords, target=target) if gradient else model(val, cond)
    assert edited.spec.hidden_sizes == tuple(2 * w for w in val.spec.hidden_sizes)  # source + one correction
    n = val.spec.hidden_sizes[0]
    assert torch.equal(edited.weights[0][:, :, :n], val.weights[0])  # the source's block is kept as it is


def test_remove_part_trains_only_on_shapes_with_parts(tiny_shape_zoos, tmp_path):
    from dws_edit.tasks.edit import EditTask

    loop = LoopConfig(steps=1, batch_size=2, threads=1)
    task = EditTask(TrainEdit(edit="remove_part", zoo=tiny_shape_zoos["sdf"], hidden=4, depth=2, val_count=50,
                              points=64, loop=loop))  # fmt: skip
    train = load_zoo(tiny_shape_zoos["sdf"], "train")
    with_parts = sum(m["family"] in ("mug", "table") for m in train.meta)
    assert task.train_ws.batch_size == with_parts < train.ws.batch_size
    assert {s.family for s in task.train_shapes} <= {"mug", "table"}
    assert task.val_coords.shape == (task.val_ws.batch_size, 64, 3)
    primitives_only = SimpleNamespace(meta=[{"family": "primitive"}, {"family": "compose"}])
    with pytest.raises(ValueError, match="procedural shapes with parts"):
        with_shapes(get_edit("remove_part"), primitives_only, 10)


def test_gradient_models_get_the_gradient_of_the_edits_loss_at_the_source(tiny_image_zoo, tmp_path):
    """``run_edit_model`` (used by training, dws_edit.edit and the benches) feeds a gradient model the autograd
    gradient of each INR's MSE against the edit's exact target on the 28x28 grid; the API gives the same edit;
    training such a model on a tiny zoo beats no edit; remove_part is refused (its target is not from the INR)."""
    import dws_edit
    from dws_edit.data import load_zoo
    from dws_edit.edits import get_edit
    from dws_edit.inr import evaluate, grid_coords
    from dws_edit.nn import DWSEditNet
    from dws_edit.runner import edit_targets, run_edit_model
    from dws_edit.weights import WeightSpace

    ws = load_zoo(tiny_image_zoo, "val").ws[:3]
    edit, params = get_edit("remove"), {"box": (-0.5, -0.5, 0.4, 0.3)}
    torch.manual_seed(0)
    model = DWSEditNet(ws.spec, hidden=4, depth=2, cond_dim=4, outputs=2, gradient=True, init_scale=0.3).eval()
    cond = edit.encode(params, "image", batch=3)
    coords = grid_coords(28, 28)
    target = edit_targets(edit, ws, coords, params, "image")
    leaves = [t.detach().clone().requires_grad_(True) for t in ws.tensors()]
    per_inr = (evaluate(WeightSpace(ws.spec, tuple(leaves[0::2]), tuple(leaves[1::2])), coords) - target).square()
    grads = torch.autograd.grad(per_inr.mean(dim=(1, 2)).sum(), leaves)
    with torch.no_grad():
        expected = model(ws, cond, WeightSpace(ws.spec, tuple(grads[0::2]), tuple(grads[1::2])))
        got = run_edit_model(model, ws, cond, edit, params)
        via_api = dws_edit.edit(ws, "remove", model=model, guard=None, width="wide", **params)  # the pass alone
    torch.testing.assert_close(got.flatten(), expected.flatten(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(via_api.flatten(), expected.flatten(), atol=1e-5, rtol=1e-4)

    with pytest.raises(ValueError, match="takes none of them"):
        _config(tiny_image_zoo, tmp_path / "mlp", steps=4, gradient=True, model="mlp").run()
    results = _config(tiny_image_zoo, tmp_path / "run", steps=40, gradient=True, probes=2).run()
    assert results["best_val_score"] < results["history"][0]["identity_mse"]
    model = load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert model.gradient and model.probes is not None
    with torch.no_grad():  # refine on float64 INRs (the pass and the fine-tuning in float32, returned as float64)
        refined = dws_edit.edit(ws.to(torch.float64), "symmetrize", model=model, axis="x", refine=2)
    assert refined.dtype == torch.float64


def test_a_run_starts_from_a_checkpoint_and_adds_refinement_passes(tiny_image_zoo, tmp_path):
    """--init: the first pass starts as the checkpoint's model (every tensor equal), the added pass near the
    identity; trained on, it beats no edit; a checkpoint of other options, or --passes without --gradient, is
    refused in one line."""
    from dws_edit.tasks.edit import EditTask

    _config(tiny_image_zoo, tmp_path / "one", steps=8, gradient=True).run()
    source = load_checkpoint(tmp_path / "one" / "best.safetensors")
    cfg = _config(tiny_image_zoo, tmp_path / "two", steps=24, gradient=True, passes=2,
                  init=tmp_path / "one" / "best.safetensors")  # fmt: skip
    task = EditTask(cfg)
    state = task.model.state_dict()
    for name, tensor in source.state_dict().items():
        torch.testing.assert_close(state[name], tensor, rtol=0, atol=0)
    assert any(k.startswith("refiners.0.") for k in state)
    results = cfg.run()
    assert results["best_val_score"] < results["history"][0]["identity_mse"]
    trained = load_checkpoint(tmp_path / "two" / "best.safetensors")
    assert trained.refiners is not None and trained.card["model_kwargs"]["passes"] == 2
    assert trained.card["started_from"]["sha256"] == hashlib.sha256(cfg.init.read_bytes()).hexdigest()
    assert trained.card["started_from"]["git"] and "started_from" not in trained.card["started_from"]
    again = _config(
        tiny_image_zoo, tmp_path / "three", steps=4, gradient=True, passes=2, init=tmp_path / "two" / "best.safetensors"
    )
    again.run()  # the lineage goes back to the first run
    lineage = load_checkpoint(tmp_path / "three" / "best.safetensors").card["started_from"]
    assert lineage["started_from"]["sha256"] == trained.card["started_from"]["sha256"]
    with pytest.raises(ValueError, match="only --passes may be higher"):
        EditTask(_config(tiny_image_zoo, tmp_path / "x", gradient=True, film=True, init=cfg.init))
    with pytest.raises(ValueError, match="--passes 2: each pass takes the loss gradient; add --gradient"):
        EditTask(_config(tiny_image_zoo, tmp_path / "y", passes=2))


def test_gradient_models_are_refused_for_remove_part(tiny_shape_zoos):
    from dws_edit.tasks.edit import EditTask

    loop = LoopConfig(steps=1, batch_size=2, threads=1)
    cfg = TrainEdit(edit="remove_part", zoo=tiny_shape_zoos["sdf"], hidden=4, depth=2, val_count=4, points=64,
                    gradient=True, loop=loop)  # fmt: skip
    with pytest.raises(ValueError, match="remove_part's target is the generator's shape"):
        EditTask(cfg)


@pytest.mark.parametrize("bad", [dict(steps=0), dict(batch_size=0), dict(eval_every=0), dict(lr=0.0)])
def test_loop_values_out_of_range_fail_in_one_line_before_anything_is_written(tiny_image_zoo, tmp_path, bad):
    cfg = _config(tiny_image_zoo, tmp_path / "run")
    cfg.loop = LoopConfig(**{**cfg.loop.__dict__, **bad})
    with pytest.raises(ValueError, match=f"{next(iter(bad))} 0(\\.0)?: expected a positive"):
        cfg.run()
    assert not (tmp_path / "run").exists()


def test_a_model_published_as_float16_is_half_the_file_and_loads_as_float32(tiny_image_zoo, tmp_path, monkeypatch):
    """``models publish --half``: the parameters stored as float16 (the card says so), loaded back as float32 and
    equal to the run's model rounded to float16; statistics buffers stay float32."""
    from safetensors import safe_open

    from dws_edit.bench.cards import write_quality
    from dws_edit.checkpoints import publish

    _config(tiny_image_zoo, tmp_path / "run", steps=4, gradient=True, passes=2).run()
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(tmp_path / "checkpoints"))
    full, half = publish(tmp_path / "run", "image-a"), publish(tmp_path / "run", "image-b", half=True)
    write_quality("image-b", {"inrs": 4, "dws_mse": 0.5})  # the bench's --write-cards keeps the precision
    assert half.stat().st_size < 0.75 * full.stat().st_size
    with safe_open(half, "pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert dtypes == {torch.float16, torch.float32}
    a, b = load_checkpoint(full), load_checkpoint(half)
    assert b.card["stored_as"] == "float16" and "stored_as" not in a.card and b.card["quality"]["mse"] == 0.5
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert y.dtype == torch.float32, name
        torch.testing.assert_close(y, x.half().float() if name in dict(a.named_parameters()) else x, rtol=0, atol=0)


@pytest.mark.parametrize("zoo, clamp", [("image", 0.05), ("field", 0.6), ("sdf", -0.1)])
def test_a_clamp_outside_its_domain_s_range_is_refused_before_anything_is_written(
    tiny_image_zoo, tiny_shape_zoos, tmp_path, zoo, clamp
):
    path = tiny_image_zoo if zoo == "image" else tiny_shape_zoos[zoo]
    loop = LoopConfig(steps=1, batch_size=2, threads=1)
    cfg = TrainEdit(edit="remove", zoo=path, hidden=4, depth=2, val_count=4, points=64, clamp=clamp, loop=loop,
                    out=tmp_path / "run")  # fmt: skip
    with pytest.raises(ValueError, match=f"--clamp {clamp}: expected .* this zoo holds {zoo} INRs"):
        cfg.run()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("domain", ["sdf", "field"])
def test_the_clamped_loss_keeps_the_surface_band_only(tiny_shape_zoos, domain):
    from dws_edit.tasks.edit import EditTask

    loop = LoopConfig(steps=1, batch_size=2, threads=1)
    task = EditTask(TrainEdit(edit="remove", zoo=tiny_shape_zoos[domain], hidden=4, depth=2, val_count=4, points=64,
                              clamp=0.2, loop=loop))  # fmt: skip
    values = torch.tensor([[[0.95, 0.1, 0.9, 0.0]], [[0.05, 0.6, 0.2, 1.0]], [[-0.5, 0.3, 0.3, 0.3]]])
    if domain == "sdf":
        values = values[..., :1]
        expected = torch.tensor([[[0.2]], [[0.05]], [[-0.2]]])
    else:  # the density (channel 0) to [0.3, 0.7]; the colors as they are
        expected = torch.cat([torch.tensor([0.7, 0.3, 0.3]).reshape(3, 1, 1), values[..., 1:]], dim=-1)
    torch.testing.assert_close(task._loss_values(values), expected)
