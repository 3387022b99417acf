"""``dws-edit bench train-step``: the step of a recipe's stage timed under each speed lever, ratios in one run."""

import json

import pytest

from dws_edit.bench.train_step import BenchTrainStep


def test_times_each_variant_on_the_same_stage_and_writes_the_ratios(tmp_path, tiny_shape_zoos):
    out = tmp_path / "step.json"
    bench = BenchTrainStep(recipe="sdf-symmetrize", stage=4, zoo=tiny_shape_zoos["sdf"], steps=1, warmup=0,
                           variants=("float32", "bf16"), out=out)  # fmt: skip
    rows = bench.run()["rows"]
    assert [r["variant"] for r in rows] == ["float32", "bf16"]
    assert all(r["s_per_step"] > 0 for r in rows)
    assert rows[0]["speedup"] == 1.0 and rows[1]["speedup"] == pytest.approx(
        rows[0]["s_per_step"] / rows[1]["s_per_step"]
    )
    assert json.loads(out.read_text())["rows"] == rows


def test_bad_options_are_refused_in_one_line():
    with pytest.raises(ValueError, match="accepted: float32, bf16, compile"):
        BenchTrainStep(variants=("fp8",)).run()
    with pytest.raises(ValueError, match="has 6 stage"):
        BenchTrainStep(stage=7).run()
    with pytest.raises(ValueError, match="no such recipe"):
        BenchTrainStep(recipe="nope").run()
