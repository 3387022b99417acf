"""``dws-edit bench evaluate``: evaluation and fitting sliced by memory against one call, same INRs, same run."""

import importlib
import json

import pytest

from dws_edit.bench.evaluate import BenchEvaluate


def test_each_case_runs_both_ways_with_the_same_values_and_writes_the_ratios(tmp_path):
    evaluate_module = importlib.import_module("dws_edit.inr.evaluate")
    fitting = importlib.import_module("dws_edit.inr.fitting")
    kept = evaluate_module.EVAL_ELEMENTS, fitting.FIT_ELEMENTS
    out = tmp_path / "evaluate.json"
    bench = BenchEvaluate(zoo=tmp_path / "no-zoo", count=2, models=("sdf-remove",), steps=2, repeats=1, out=out)
    rows = bench.run()["rows"]
    assert len(rows) == 6 and rows[-1]["case"].startswith("dws_edit.edit with sdf-remove")
    for r in rows:
        assert r["one call"] > 0 and r["sliced"] > 0
        assert r["speedup"] == pytest.approx(r["one call"] / r["sliced"])
        assert r["max_difference"] <= 1e-5  # slicing changes the time, not the values
    assert json.loads(out.read_text())["rows"] == rows
    assert (evaluate_module.EVAL_ELEMENTS, fitting.FIT_ELEMENTS) == kept  # the one-call way is undone


def test_bad_options_are_refused_in_one_line():
    with pytest.raises(ValueError, match="--count"):
        BenchEvaluate(count=0).run()
    with pytest.raises(ValueError, match="--steps"):
        BenchEvaluate(steps=0).run()
