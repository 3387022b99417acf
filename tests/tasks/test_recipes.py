"""Named training recipes: every shipped model's recipe runs (a couple of steps, on the tiny zoos), chains its
stages through --init, names itself in the cards, skips finished stages, and the CLI lists and refuses in one line."""

import dataclasses
import json
import re

import pytest

from dws_edit.checkpoints import load_checkpoint
from dws_edit.cli import main
from dws_edit.tasks.edit import TrainEdit
from dws_edit.tasks.loop import BEST, RESULTS, STATE, LoopConfig
from dws_edit.tasks.recipes import RECIPES, run_recipe, stage_command

SMALL = dict(batch_size=2, points=64, val_count=4, threads=1)  # the recipes' own model sizes, tiny data


def _zoo(name, image, shapes):
    return image if name.startswith("image-") else shapes[name.split("-", 1)[0]]


def test_every_stage_is_a_valid_config_and_starts_only_from_an_earlier_stage_of_its_recipe():
    names = [s.name for stages in RECIPES.values() for s in stages]
    assert len(names) == len(set(names)) == 71  # one run folder each: the training scripts' 44, issue 32's 27
    fields = {f.name for f in dataclasses.fields(TrainEdit)} | {f.name for f in dataclasses.fields(LoopConfig)}
    for name, stages in RECIPES.items():
        assert stages[-1].name.startswith(name.removesuffix("-mlp"))
        for i, stage in enumerate(stages):
            assert set(stage.flags) <= fields - {"init", "out", "loop", "recipe", "recipe_steps"}, stage.name
            assert stage.init is None or stage.init in [s.name for s in stages[:i]], stage.name
            assert (stage.init is None) == (i == 0)
    mixed = stage_command(RECIPES["sdf-remove"][-1])  # a tuple field: its values after one flag, as tyro reads them
    assert " --extra-zoo zoos/sdf-deepsdf --init runs/sdf-remove-band/best.safetensors " in mixed
    assert stage_command(RECIPES["sdf-remove"][1]).endswith(
        "--init runs/sdf-remove-keep/best.safetensors --out runs/sdf-remove"
    )


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_trains_its_stages_in_a_chain(tiny_image_zoo, tiny_shape_zoos, tmp_path, name):
    zoo = _zoo(name, tiny_image_zoo, tiny_shape_zoos)
    extra = {"extra_zoo": (zoo,)} if any("extra_zoo" in s.flags for s in RECIPES[name]) else {}  # the tiny zoo again
    results = run_recipe(name, TrainEdit, tmp_path, zoo, steps=2, overrides={**SMALL, **extra})
    stages = RECIPES[name]
    assert list(results) == [s.name for s in stages]
    for stage in stages:
        assert results[stage.name]["history"][-1]["step"] == 2
        card = load_checkpoint(tmp_path / stage.name / BEST).card
        assert card["recipe"] == {"name": name, "stage": stage.name}
        if stage.init:
            assert card["started_from"]["checkpoint"] == str(tmp_path / stage.init / BEST)
        identity = results[stage.name]["identity"]
        config = {**identity["config"], **identity["loop"]}  # the stage's flags, but for the test's zoo and sizes
        skip = ("zoo", "steps", *SMALL, *extra)
        assert all(config[k] == v for k, v in stage.flags.items() if k not in skip), stage.name


def test_a_rerun_skips_finished_stages_and_another_config_is_refused(tiny_image_zoo, tmp_path, capsys):
    first = run_recipe("image-smooth", TrainEdit, tmp_path, tiny_image_zoo, steps=2, overrides=SMALL)
    mtimes = {s: (tmp_path / s / STATE).stat().st_mtime_ns for s in first}
    capsys.readouterr()
    again = run_recipe("image-smooth", TrainEdit, tmp_path, tiny_image_zoo, steps=2, overrides=SMALL)
    assert capsys.readouterr().out.count("skipped") == 4 and again == first  # the mixed stage on the given zoo alone
    assert "extra_zoos" not in load_checkpoint(tmp_path / "image-smooth-mixed" / BEST).card["data"]
    assert mtimes == {s: (tmp_path / s / STATE).stat().st_mtime_ns for s in first}
    with pytest.raises(ValueError, match="another configuration"):  # 3 steps: not the finished run
        run_recipe("image-smooth", TrainEdit, tmp_path, tiny_image_zoo, steps=3, overrides=SMALL)


def test_the_command_line_runs_a_recipe_on_another_zoo_and_the_card_names_it(tiny_image_zoo, tmp_path, monkeypatch):
    args = ["train", "edit", "--recipe", "image-dilate-mlp", "--zoo", str(tiny_image_zoo), "--recipe-steps", "2"]
    monkeypatch.setattr("sys.argv", ["dws-edit", *args, "--out", str(tmp_path)])
    main([*args, "--out", str(tmp_path), "--threads", "1"])
    card = load_checkpoint(tmp_path / "image-dilate-mlp" / BEST).card
    assert card["recipe"] == {"name": "image-dilate-mlp", "stage": "image-dilate-mlp"}
    assert "--recipe image-dilate-mlp" in card["command"] and card["data"]["zoo"] == str(tiny_image_zoo)
    results = json.loads((tmp_path / "image-dilate-mlp" / RESULTS).read_text())
    assert results["identity"]["loop"]["steps"] == 2 and results["identity"]["loop"]["batch_size"] == 64


def test_the_command_line_lists_the_recipes(capsys):
    main(["train", "edit", "--recipe", "list"])
    out = capsys.readouterr().out
    assert all(name in out for name in RECIPES)
    line = next(x for x in out.splitlines() if x.endswith("--out runs/sdf-symmetrize-p4"))  # a whole command line
    assert "--passes 4 " in line and "--init runs/sdf-symmetrize-p3/best.safetensors" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["--recipe", "nope"], "--recipe nope: no such recipe; expected list or one of image-symmetrize"),
        (["--recipe", "image-remove", "--lr", "0.1", "--no-augment"], "only --zoo, .* \\(got --augment --lr\\)"),
        (["--recipe", "image-remove", "--recipe-steps", "0"], "--recipe-steps 0: expected a positive integer"),
        (["--recipe-steps", "3"], "--recipe-steps 3: goes with --recipe"),
    ],
)
def test_recipe_mistakes_are_one_line_errors(capsys, tmp_path, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "edit", *args, "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("dws-edit: error: ") and re.search(message, err), err
    assert not (tmp_path / "runs").exists()
