"""The demo and the benches run end to end at tiny sizes and report what they measured."""

import json
from pathlib import Path

import pytest

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


@pytest.mark.slow
def test_bench_edit_measures_every_method_on_a_shipped_model(tmp_path):
    from dws_edit.bench import BenchEdit
    from dws_edit.checkpoints import available_models

    card = available_models()["image-dilate"]
    if not Path(card["data"]["zoo"]).exists():
        pytest.skip(f"the zoo {card['data']['zoo']} is not fitted here (bash scripts/fit_zoos.sh)")
    bench = BenchEdit(models=("image-dilate",), count=8, loop_count=2, finetune_steps=(2, 5), hybrid_steps=(2,),
                      other_widths=(16,), out=tmp_path)  # fmt: skip
    r = bench.run()["results"]["image-dilate"]
    assert r["dws_mse"] < r["identity_mse"] and len(r["finetune"]) == 2 and "vs_dilated_original" in r
    assert (tmp_path / "image-dilate-error-vs-time.png").exists()
