"""The demo and the benches run end to end at tiny sizes and report what they measured."""

import json

import pytest
import torch

from dws_edit.bench import BenchFit, BenchLayers
from dws_edit.demo import Demo


@pytest.mark.slow
def test_demo_fits_checks_symmetry_and_edits(tmp_path):
    result = Demo(count=2, out=tmp_path).run()
    assert result["inrs"] >= 2 and result["mean_psnr_db"] > 35
    assert result["permuted_output_max_abs_change"] < 1e-4
    assert result["dws_embedding_relative_change"] < 1e-4 < result["mlp_embedding_relative_change"]
    exact = [e for e in result["edits"] if e["kind"] == "exact"]
    assert exact and exact[0]["mse"] < 1e-10 < exact[0]["identity_mse"]
    assert (tmp_path / "symmetrize-exact.png").exists()
    one_pass = {e["edit"]: e["mse"] for e in result["edits"] if e["kind"] == "DWS model"}
    refined = {e["edit"]: e["mse"] for e in result["edits"] if e["kind"] == "DWS + 100 refine steps"}
    assert refined.keys() == one_pass.keys() and all(refined[n] < one_pass[n] for n in refined)
    assert json.loads((tmp_path / "demo.json").read_text())["command"].startswith("dws-edit")


def test_bench_layers_measures_both_models_in_one_run(tmp_path):
    out = tmp_path / "layers.json"
    result = BenchLayers(batch=8, hidden=4, depth=2, warmup=1, steps=1, repeats=1, out=out).run()
    names = [r["model"] for r in result["rows"]]
    assert any("DWSClassifier" in n for n in names)
    assert all(r["inrs_per_s"] > 0 for r in result["rows"])
    assert json.loads(out.read_text())["bench"] == "layers"


@pytest.mark.slow
def test_bench_fit_compares_the_batched_fitter_with_the_loop(tmp_path):
    result = BenchFit(count=3, target_psnr=25.0, max_steps=300, out=tmp_path / "fit.json").run()
    rows = {r["method"].split(",")[0]: r for r in result["rows"]}
    assert set(rows) == {"batched fitter", "loop of nn.Module per image"}
    loop = result["rows"][-1]
    assert loop["ratio_to_loop"] == pytest.approx(1.0)
    assert all(r["reached"] <= 3 for r in result["rows"])


@pytest.fixture
def shipped_dilate(tmp_path, monkeypatch, tiny_image_zoo):
    """A checkpoints/ folder holding a briefly trained image-dilate model of the tiny MNIST zoo, with its card and a
    FlatMLPEditNet baseline (baselines/image-dilate-mlp): what the image bench measures, wherever it runs."""
    from dws_edit.checkpoints import publish
    from dws_edit.tasks.edit import TrainEdit
    from dws_edit.tasks.loop import LoopConfig

    folder = tmp_path / "checkpoints"
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(folder))
    for model in ("dws", "mlp"):
        loop = LoopConfig(steps=6, batch_size=8, warmup=1, eval_every=6, threads=1)
        run = tmp_path / f"dilate-{model}"
        TrainEdit(edit="dilate", zoo=tiny_image_zoo, model=model, hidden=4, depth=2, mlp_hidden=16, val_count=8,
                  loop=loop, out=run).run()  # fmt: skip
        publish(run, "image-dilate" + ("-mlp" if model == "mlp" else ""), baseline=model == "mlp")
    return folder


@pytest.mark.slow
def test_bench_edit_measures_every_method_on_a_shipped_model(shipped_dilate, tiny_image_zoo, tmp_path):
    from dws_edit.bench import BenchEdit

    bench = BenchEdit(models=("image-dilate",), count=8, loop_count=2, finetune_steps=(2, 5), hybrid_steps=(2,),
                      other_widths=(16,), out=tmp_path / "bench", write_cards=True)  # fmt: skip
    r = bench.run()["results"]["image-dilate"]
    assert r["zoo"] == str(tiny_image_zoo) and r["inrs"] == 8
    assert r["finetune"][1]["mse"] < r["identity_mse"]  # fine-tuning on the target lowers the error
    assert len(r["finetune"]) == 2 and len(r["hybrid"]) == 1 and "mlp_mse" in r and r["mlp_mse"] != r["dws_mse"]
    assert r["loop_fitted"]["inrs"] == 2 and set(r["other_widths"]) == {"16"}
    assert r["vs_dilated_original"]["mse_nfn_scale"] == pytest.approx(4 * r["vs_dilated_original"]["mse_01"])
    assert (tmp_path / "bench" / "image-dilate-error-vs-time.png").exists()
    assert (tmp_path / "bench" / "image-dilate-before-after.png").exists()
    card = json.loads((shipped_dilate / "image-dilate.json").read_text())
    assert card["quality"]["mse"] == r["dws_mse"] and card["quality"]["test_inrs"] == 8


@pytest.fixture
def shipped_sdf(tmp_path, monkeypatch, tiny_shape_zoos):
    """A checkpoints/ folder holding two briefly trained SDF edit models (symmetrize, remove_part) with cards, and a
    FlatMLPEditNet baseline of the first (baselines/sdf-symmetrize-mlp)."""
    import dws_edit.api
    from dws_edit.checkpoints import publish
    from dws_edit.tasks.edit import TrainEdit
    from dws_edit.tasks.loop import LoopConfig

    folder = tmp_path / "checkpoints"
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(folder))
    for edit, model in (("symmetrize", "dws"), ("remove_part", "dws"), ("symmetrize", "mlp")):
        loop = LoopConfig(steps=6, batch_size=4, warmup=1, eval_every=6, threads=1)
        run = tmp_path / f"{edit}-{model}"
        TrainEdit(edit=edit, zoo=tiny_shape_zoos["sdf"], model=model, hidden=4, depth=2, mlp_hidden=16, val_count=4,
                  points=128, loop=loop, out=run).run()  # fmt: skip
        publish(run, f"sdf-{edit}" + ("-mlp" if model == "mlp" else ""), baseline=model == "mlp")
    dws_edit.checkpoints._shipped.cache_clear()
    yield folder
    dws_edit.checkpoints._shipped.cache_clear()


@pytest.mark.parametrize(
    ("option", "message"),
    [({"held_out_draws": 0}, "--held-out-draws=0: expected an integer >= 1"),
     ({"count": 0}, "--count=0: expected an integer >= 1"),
     ({"iou_resolution": 1}, "--iou-resolution=1: expected an integer >= 2"),
     ({"finetune_steps": (5, 0)}, "--finetune-steps=0: expected an integer >= 1")],
)  # fmt: skip
def test_bench_edit_refuses_counts_below_one_naming_the_option(option, message, tmp_path):
    from dws_edit.bench import BenchEdit

    with pytest.raises(ValueError, match=message):
        BenchEdit(domain="sdf", out=tmp_path / "bench", **option).run()
    assert not (tmp_path / "bench").exists()  # refused before anything is measured or written


def test_changed_subset_averages_only_the_inrs_the_edit_changes():
    from dws_edit.bench.edit3d import changed_subset

    per = {"identity": torch.tensor([1.0, 0.5, 0.995, 0.8]), "dws": torch.tensor([0.2, 0.7, 0.1, 0.9])}
    out = changed_subset(per)  # INRs 1 and 3: no edit's IoU below 0.99
    assert out["inrs"] == 2 and out["identity_iou"] == pytest.approx(0.65) and out["dws_iou"] == pytest.approx(0.8)
    none = changed_subset({"identity": torch.ones(3), "dws": torch.zeros(3)})
    assert none["inrs"] == 0 and none["dws_iou"] is None


@pytest.mark.slow
def test_bench_edit_3d_measures_iou_chamfer_and_writes_cards(shipped_sdf, tmp_path, monkeypatch):
    from dws_edit.bench import BenchEdit

    monkeypatch.chdir(tmp_path)  # no runs/<model>-mlp baseline of this checkout's own training runs

    bench = BenchEdit(domain="sdf", count=4, iou_resolution=24, mesh_count=1, finetune_steps=(2, 4), hybrid_steps=(2,),
                      mesh_fit_steps=10, held_out_draws=2, points=256, out=tmp_path / "bench",
                      write_cards=True, other_fit_steps=5)  # fmt: skip
    rows = bench.run()["results"]
    assert set(rows) == {"sdf-symmetrize", "sdf-remove_part"}
    for row in rows.values():
        assert 0 <= row["identity_iou"] <= 1 and 0 <= row["dws_iou"] <= 1 and len(row["finetune"]) == 2
        assert row["finetune"][1]["mse"] < row["identity_mse"]  # fine-tuning on the target lowers the error
    held = rows["sdf-symmetrize"]["held_out_meshes"]  # 2 draws of the axis on each of the 8 meshes: 16 edits
    assert len(held["per_mesh_dws_iou"]) == 8 and held["draws"] == 2 and held["changed"]["inrs"] <= 16
    assert held["dws_iou"] == pytest.approx(sum(held["per_mesh_dws_iou"].values()) / 8, abs=1e-5)
    for row in rows.values():  # the INRs the edit changes: a subset, measured on the same IoU
        assert 0 <= row["changed"]["inrs"] <= row["inrs"] and row["changed"]["threshold"] == 0.99
    assert "held_out_meshes" not in rows["sdf-remove_part"]  # part removal is for the generator's shapes
    sym, part = rows["sdf-symmetrize"], rows["sdf-remove_part"]
    assert sym["exact_mse"] < 1e-8 and sym["exact_iou"] > 0.99  # the closed form is the target, to float precision
    # the edited shapes refitted as the zoo fits its own: closer to the target than the source INRs of the full shapes
    assert part["refit_mse"] < part["identity_mse"] and 0 <= part["refit_iou"] <= 1 and part["refit_seconds"] > 0
    card = json.loads((shipped_sdf / "sdf-symmetrize.json").read_text())
    assert card["quality"]["iou"] == rows["sdf-symmetrize"]["dws_iou"]
    index = (shipped_sdf / "README.md").read_text()
    assert "## SDF edits" in index and "| sdf-remove_part | remove_part |" in index
    assert f"| refit {part['refit_iou']:.3f} |" in index and f"| exact {sym['exact_iou']:.3f} |" in index
    # the FlatMLPEditNet baseline, where there is one, on the same INRs (test split and held-out meshes)
    assert 0 <= sym["mlp_iou"] <= 1 and 0 <= held["mlp_iou"] <= 1 and sym["mlp_mse"] != sym["dws_mse"]
    assert sym["mlp_baseline"]["parameters"] > 0 and "command" in sym["mlp_baseline"]
    assert "mlp_iou" not in part and "mlp_baseline" not in part
    returned = f", returned {held['guarded_iou']:.3f}"  # what dws_edit.edit returns by default, on the same INRs
    assert (
        f"| {held['identity_iou']:.3f} / {held['dws_iou']:.3f} (MLP {held['mlp_iou']:.3f}){returned}; 16 edits;"
        in index
    )
    assert 0 <= sym["guarded_iou"] <= 1 and 0 <= sym["guarded_worse"] <= sym["inrs"] and sym["guarded_seconds"] > 0
    assert 0 <= held["guarded_worse"] <= 16 and "guarded_iou" not in part  # remove_part: nothing to refine or check
    assert f"| {sym['dws_iou']:.3f} ({sym['guarded_iou']:.3f}) |" in index
    # the same meshes fitted by other code (two recipes), edited as they are and after refit=True
    others = rows["sdf-symmetrize"]["other_fits"]
    assert set(others) == {"eikonal", "deepsdf"} and "other_fits" not in rows["sdf-remove_part"]
    for o in others.values():
        assert all(0 <= o[f"{k}_iou"] <= 1 for k in ("identity", "dws", "mlp", "refit_dws")) and o["draws"] == 2
    o = others["deepsdf"]
    assert f"; deepsdf fits {o['identity_iou']:.3f} / {o['dws_iou']:.3f} (MLP {o['mlp_iou']:.3f}), refitted " in index
    assert f"{o['refit_dws_iou']:.3f}, returned {o['guarded_iou']:.3f}" in index
    assert (tmp_path / "bench" / "sdf-symmetrize-error-vs-time.png").exists()


@pytest.mark.slow
def test_bench_edit_field_measures_held_out_meshes_as_fields(tmp_path, monkeypatch, tiny_shape_zoos):
    from dws_edit.bench import BenchEdit
    from dws_edit.checkpoints import publish
    from dws_edit.tasks.edit import TrainEdit
    from dws_edit.tasks.loop import LoopConfig

    loop = LoopConfig(steps=6, batch_size=4, warmup=1, eval_every=6, threads=1)
    TrainEdit(edit="remove", zoo=tiny_shape_zoos["field"], hidden=4, depth=2, val_count=4, points=128, loop=loop,
              out=tmp_path / "run").run()  # fmt: skip
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.chdir(tmp_path)  # no runs/field-remove-mlp baseline of this checkout's own training runs
    publish(tmp_path / "run", "field-remove")
    bench = BenchEdit(domain="field", count=4, iou_resolution=24, mesh_count=1, finetune_steps=(2,), hybrid_steps=(2,),
                      mesh_fit_steps=10, points=256, out=tmp_path / "bench", write_cards=True)  # fmt: skip
    held = bench.run()["results"]["field-remove"]["held_out_meshes"]
    assert len(held["per_mesh_dws_iou"]) == 8 and 0 <= held["dws_iou"] <= 1
    # where a box misses a shape, no edit's views are the target's (psnr caps at 120 dB); the edited INRs' are not
    assert 0 < held["identity_psnr"] <= 120 and 0 < held["dws_psnr"] < 60
    index = (tmp_path / "checkpoints" / "README.md").read_text()
    assert f"{held['identity_iou']:.3f} / {held['dws_iou']:.3f}, returned {held['guarded_iou']:.3f}, " in index
    assert f"{held['identity_psnr']:.1f} / {held['dws_psnr']:.1f} dB" in index


@pytest.mark.slow
def test_demo_3d_fits_and_edits_a_mug(shipped_sdf, tmp_path):
    import trimesh

    from dws_edit.demo3d import demo_3d

    rows = demo_3d(tmp_path, steps=150, refine=60)
    kinds = {(r["edit"], r["kind"]) for r in rows}
    assert kinds == {
        ("symmetrize", "DWS model"),
        ("symmetrize", "DWS + 60 refine steps"),
        ("remove_part", "DWS model"),  # no refine: its target needs the procedural shape
        ("symmetrize", "exact"),
    }
    exact = next(r for r in rows if r["kind"] == "exact")
    assert exact["iou"] > 0.99 and exact["iou"] >= exact["identity_iou"]
    assert trimesh.load(tmp_path / "mug.glb", force="mesh").is_watertight
    assert (tmp_path / "mug-symmetrize-exact.png").exists()


@pytest.mark.slow
def test_bench_mesh_fit_reports_chamfer_and_time_per_width(tmp_path):
    from dws_edit.bench import BenchMeshFit

    result = BenchMeshFit(widths=(8, 16), max_steps=30, points=1024, out=tmp_path / "m.json").run()
    assert [r["width"] for r in result["rows"]] == [8, 16] and result["rows"][0]["chamfer_ratio"] == 1.0
    assert all(len(r["chamfer"]) == 8 and r["mean_chamfer"] > result["sampling_floor"] for r in result["rows"])


def test_the_index_gives_every_command_of_a_model_started_from_a_checkpoint():
    from dws_edit.bench.cards import _commands, model_input

    card = {
        "command": "dws-edit train edit B",
        "model_kwargs": {"gradient": True, "passes": 2},
        "started_from": {"checkpoint": "x.safetensors", "sha256": "ab" * 32, "command": "dws-edit train edit A"},
    }
    expected = "`dws-edit train edit A`, then `dws-edit train edit B` (from that run's model, SHA-256 abababababab)"
    assert _commands(card) == expected
    assert model_input(card) == "weights + loss gradient, 2 passes"
    card["started_from"]["command"] = None
    assert _commands(card).startswith("an untracked model (x.safetensors), then `dws-edit train edit B`")
    assert _commands({"command": "c"}) == "`c`"
    card["started_from"] = {"sha256": "cd" * 32, "command": "B0",
                            "started_from": {"sha256": "ef" * 32, "command": "A0"}}  # fmt: skip
    assert _commands(card) == ("`A0`, then `B0` (from that run's model, SHA-256 efefefefefef), then "
                               "`dws-edit train edit B` (from that run's model, SHA-256 cdcdcdcdcdcd)")  # fmt: skip
    assert model_input({"model_kwargs": {"gradient": True}}) == "weights + loss gradient"
    assert model_input({"model_kwargs": {}}) == "weights"


def test_bench_guard_counts_what_the_guard_did_and_times_it_against_the_pass(shipped_dilate, tmp_path):
    from dws_edit.bench import BenchGuard

    result = BenchGuard(models=("image-dilate",), count=4, mesh_fit_steps=0, out=tmp_path / "guard.json").run()
    (row,) = result["rows"]
    assert row["model"] == "image-dilate" and row["set"].endswith("test") and row["inrs"] == 4
    assert sum(row["outcomes"].values()) == 4 and row["returned_not_worse"] == 4  # the guard's promise
    assert row["seconds_per_inr"] > 0 and row["cost_ratio"] == pytest.approx(
        row["seconds_per_inr"] / row["pass_seconds_per_inr"]
    )
    assert json.loads((tmp_path / "guard.json").read_text())["rows"] == result["rows"]
    with pytest.raises(ValueError, match="no shipped model"):
        BenchGuard(models=("image-nothing",)).run()


@pytest.mark.slow
def test_bench_guard_measures_sdf_models_on_meshes_fitted_by_other_code(tmp_path, monkeypatch):
    from dws_edit.bench import BenchGuard
    from dws_edit.checkpoints import save_checkpoint
    from dws_edit.inr import sdf_spec
    from dws_edit.nn import DWSEditNet

    model = DWSEditNet(sdf_spec(), hidden=4, depth=1, cond_dim=1, outputs=2, init_scale=1e-4)
    accepts = dict(depth=3, d0=3, dL=1, activation="sine", w0=15.0, output_offset=0.0, hidden_widths_trained=[32, 32])
    card = {"name": "sdf-smooth", "edit": "smooth", "domain": "sdf", "accepts": accepts, "data": {"zoo": "no/zoo"}}
    kwargs = dict(hidden=4, depth=1, cond_dim=1, outputs=2, init_scale=1e-4)
    save_checkpoint(tmp_path / "sdf-smooth.safetensors", model, kwargs, card)
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(tmp_path))
    rows = BenchGuard(models=("sdf-smooth",), mesh_fit_steps=0, other_fit_steps=2).run()["rows"]
    assert [r["set"] for r in rows] == [f"held-out meshes, {r} fits by other code" for r in ("eikonal", "deepsdf")]
    assert all(r["inrs"] == 8 and r["returned_not_worse"] == 8 for r in rows)
