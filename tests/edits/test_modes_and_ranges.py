"""Issue 32: symmetrize's modes (average, union, intersection) and the accepted parameter ranges separated from the
trained ones: targets against independent computations, encodings unchanged for what was accepted before, one-line
refusals, the model a card's modes pick, and learned passes outside training warned about and never worse."""

import math
import warnings

import pytest
import torch

import dws_edit
from dws_edit import checkpoints
from dws_edit.edits import DOMAINS, get_edit, symmetrize_exact
from dws_edit.guard import GUARD_GRID, JUDGES
from dws_edit.inr import evaluate, field_spec, image_spec, init_siren, sdf_spec
from dws_edit.inr.domains import get_domain
from dws_edit.metrics import iou, occupancy
from dws_edit.weights import WeightSpace

SPECS = {"image": image_spec(), "sdf": sdf_spec(), "field": field_spec()}
SYM = get_edit("symmetrize")


def siren(spec, seed: int, batch: int = 2) -> WeightSpace:
    g = torch.Generator().manual_seed(seed)
    ws = init_siren(spec, batch, generator=g).to(torch.float64)
    biases = tuple(0.3 * torch.randn(b.shape, generator=g, dtype=torch.float64) / spec.w0 for b in ws.biases)
    return WeightSpace(spec, ws.weights, biases)


def points(d0: int, seed: int, n: int = 200) -> torch.Tensor:
    return torch.rand(n, d0, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1


def flipped(x: torch.Tensor, axis: int) -> torch.Tensor:
    y = x.clone()
    y[:, axis] *= -1
    return y


# ------------------------------------------------------------------------------------------------ modes: targets


@pytest.mark.parametrize("domain", list(SPECS))
@pytest.mark.parametrize("mode", ["union", "intersection"])
def test_union_and_intersection_targets_per_domain(domain, mode):
    ws, x = siren(SPECS[domain], 1), points(DOMAINS[domain].d0, 2)
    got = SYM.target_of(ws, x, {"axis": "y", "mode": mode})
    a, b = evaluate(ws, x), evaluate(ws, flipped(x, 1))
    union = mode == "union"
    if domain == "sdf":  # inside is negative: the union keeps the solid of either side
        want = torch.minimum(a, b) if union else torch.maximum(a, b)
    elif domain == "image":  # ink is bright: the union keeps the ink of either side
        want = torch.maximum(a, b) if union else torch.minimum(a, b)
    else:  # density max (union) or min, with the colors of the side it comes from
        pick_a = (a[..., :1] > b[..., :1]) if union else (a[..., :1] < b[..., :1])
        want = torch.where(pick_a, a, b)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    # every mode is mirror-symmetric: the target at M x is the target at x
    torch.testing.assert_close(SYM.target_of(ws, flipped(x, 1), {"axis": "y", "mode": mode}), got, rtol=0, atol=0)


def test_field_colors_where_the_densities_tie_are_the_mean():
    from dws_edit.edits.targets import combine_mirrored

    a = torch.tensor([[[0.5, 1.0, 0.0, 0.2]]])
    b = torch.tensor([[[0.5, 0.0, 1.0, 0.4]]])
    for mode in (1, 2):
        out = combine_mirrored(a, b, torch.tensor([mode]), "field")
        torch.testing.assert_close(out, torch.tensor([[[0.5, 0.5, 0.5, 0.3]]]))


def test_average_is_the_default_unchanged_and_one_batch_mixes_modes():
    ws, x = siren(SPECS["sdf"], 3, batch=3), points(3, 4)
    plain = SYM.target_of(ws, x, {"axis": "x"})
    torch.testing.assert_close(SYM.target_of(ws, x, {"axis": "x", "mode": "average"}), plain, rtol=0, atol=0)
    torch.testing.assert_close(evaluate(symmetrize_exact(ws, "x", mode="average"), x), plain, rtol=0, atol=1e-12)
    mixed = SYM.target_of(ws, x, {"axis": "x", "mode": torch.tensor([0, 1, 2])})
    for i, mode in enumerate(("average", "union", "intersection")):
        torch.testing.assert_close(mixed[i], SYM.target_of(ws[i], x, {"axis": "x", "mode": mode})[0])


def test_the_mode_is_not_in_the_encoding_and_does_not_change_the_draws():
    assert SYM.cond_dim("sdf") == 3 and SYM.cond_dim("image") == 2  # the shipped models' conditioning
    torch.testing.assert_close(SYM.encode({"axis": "y", "mode": "union"}, "sdf"), torch.tensor([[0.0, 1.0, 0.0]]))
    drawn = SYM.sample(16, torch.Generator().manual_seed(0), "sdf")
    fixed = SYM.sample(16, torch.Generator().manual_seed(0), "sdf", fixed={"mode": "union"})
    axes = torch.randint(3, (16,), generator=torch.Generator().manual_seed(0))  # what the axis draw always was
    assert torch.equal(drawn["axis"], axes) and torch.equal(fixed["axis"], axes)
    assert drawn["mode"].tolist() == [0] * 16 and fixed["mode"].tolist() == [1] * 16


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: SYM.validate({"axis": "x", "mode": "max"}, "sdf"), "mode='max' is not accepted; accepted: mode one"),
        (
            lambda: dws_edit.edit(siren(SPECS["sdf"], 0, 1).to(torch.float32), "symmetrize", exact=True, axis="x",
                                  mode="union"),
            "mode='union' has no closed form",
        ),
        (lambda: SYM.sample(2, None, "sdf", fixed={"part": "legs"}), "unknown parameter(s) ['part']"),
    ],
)  # fmt: skip
def test_mode_mistakes_are_one_line_errors(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert "\n" not in str(err.value) and message in str(err.value), str(err.value)


# ------------------------------------------------------------------------------------------------ modes: models


def test_cards_say_their_modes_and_the_model_trained_on_the_asked_mode_is_picked(monkeypatch):
    shipped = checkpoints.available_models()["sdf-symmetrize"]
    assert checkpoints.modes_of(shipped) == ("average",)  # a card written before modes: the default
    cards = {"sdf-symmetrize": shipped, "sdf-symmetrize-union": dict(shipped, name="x", modes=["union"])}
    monkeypatch.setattr(checkpoints, "available_models", lambda: cards)
    monkeypatch.setattr(checkpoints, "shipped_model", lambda name: name)
    pick = lambda **p: checkpoints.model_for(sdf_spec(), "symmetrize", params={"axis": "x", **p})  # noqa: E731
    assert pick(mode="union") == "sdf-symmetrize-union"
    assert pick() == pick(mode="average") == pick(mode="intersection") == "sdf-symmetrize"


def test_a_mode_without_a_model_starts_from_the_average_pass_and_the_guard_refines_toward_its_target(tmp_path):
    from dws_edit.data.shapes import sample_shape

    ws = dws_edit.fit_shape(sample_shape("mug", torch.Generator().manual_seed(1)), max_steps=60, points=2048)
    with pytest.warns(UserWarning, match="trained on mode average, not union: its pass is the start") as caught:
        out, report = dws_edit.edit(ws, "symmetrize", axis="x", mode="union", report=True)
    assert all("\n" not in str(w.message) for w in caught)
    assert "not union" in report.note and "not union" in report.summary()
    assert report.asked_refine == get_domain("sdf").start_steps  # the average's pass is a start: refine steps follow
    assert report.loss_out[0] <= report.loss_no_edit[0]  # never worse than no edit, by the union's own loss
    grid = lambda fn: occupancy(fn, "sdf", GUARD_GRID, jitter=1)  # noqa: E731  (the guard's jittered grid)
    union = lambda p: dws_edit.runner.edit_targets(SYM, ws, p, {"axis": "x", "mode": "union"}, "sdf")  # noqa: E731
    judged = 1 - iou(grid(lambda p: evaluate(out, p)), grid(union))  # the guard judges an SDF by IoU
    assert report.judged_by == JUDGES["iou"] and 0 < report.loss_out[0] < 1
    torch.testing.assert_close(judged, torch.tensor(report.loss_out[:1]))
    _, plain = dws_edit.edit(ws, "symmetrize", axis="x", report=True)
    assert plain.note == ""  # the mode the model was trained on: nothing to say
    assert plain.asked_refine == get_domain("sdf").start_steps  # an SDF's pass is a start in any mode
    with pytest.raises(ValueError, match=r"not union; accepted: the guard with refine steps") as err:
        dws_edit.edit(ws, "symmetrize", axis="x", mode="union", guard=None)
    assert "\n" not in str(err.value)


def test_training_a_union_model_writes_its_mode_on_the_card(tiny_image_zoo, tmp_path):
    from dws_edit.checkpoints import load_checkpoint
    from dws_edit.tasks.edit import TrainEdit
    from dws_edit.tasks.loop import LoopConfig

    loop = LoopConfig(steps=2, batch_size=4, eval_every=2, warmup=1)
    TrainEdit(edit="symmetrize", mode="union", zoo=tiny_image_zoo, hidden=4, depth=2, val_count=4, loop=loop,
              out=tmp_path / "u").run()  # fmt: skip
    card = load_checkpoint(tmp_path / "u" / "best.safetensors").card
    assert card["modes"] == ["union"] and checkpoints.modes_of(card) == ("union",) and "wide_params" not in card
    assert card["does"].endswith("; this model: mode union")
    fixed = checkpoints.trained_fixed(card)  # the benches draw its parameters as it was trained: mode union
    drawn = SYM.sample(5, torch.Generator().manual_seed(0), "image", fixed=fixed)
    assert fixed == {"mode": "union"} and drawn["mode"].tolist() == [SYM.mode_param("image").choices.index("union")] * 5
    assert checkpoints.trained_fixed(checkpoints.available_models()["image-symmetrize"]) is None
    assert checkpoints.trained_fixed(dict(card, modes=["average"])) is None  # the default: nothing to fix
    with pytest.raises(ValueError, match="--mode union: remove has no modes; accepted: edits symmetrize"):
        TrainEdit(edit="remove", mode="union", zoo=tiny_image_zoo, loop=loop, out=tmp_path / "r").run()
    assert "mode" not in TrainEdit().identity_config()["config"]  # runs from before modes resume as they were


# ------------------------------------------------------------------------------------------------ ranges


def test_encodings_inside_the_trained_ranges_are_the_old_formulas():
    g = torch.Generator().manual_seed(0)
    center, radius = torch.rand(64, 3, generator=g) * 1.6 - 0.8, 0.1 + torch.rand(64, generator=g) * 0.5
    enc = get_edit("remove_sphere").encode({"center": center, "radius": radius}, "sdf")
    assert torch.equal(enc, torch.cat([2 * (center + 0.8) / 1.6 - 1, (2 * (radius - 0.1) / 0.5 - 1)[:, None]], 1))
    box = get_edit("remove").sample(64, g, "sdf")["box"]
    assert torch.equal(get_edit("remove").encode({"box": box}, "sdf"), box)
    # the draws of training are what they were: sides in [0.2, 1.2], then the min corner where the box fits
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    side = 0.2 + torch.rand(8, 3, generator=g1) * 1.0
    low = -1.0 + torch.rand(8, 3, generator=g1) * (2.0 - side)
    assert torch.equal(get_edit("remove").sample(8, g2, "sdf")["box"], torch.cat([low, low + side], 1))


@pytest.mark.parametrize(
    "name,params",
    [
        ("remove", {"box": [-1, -1, -1, 1, 1, 1]}),  # the whole cube
        ("remove", {"box": [-1, -1, -1, 0, 1, 1]}),  # a half
        ("remove", {"box": [-1, -0.05, -1, 1, 0.05, 1]}),  # a thin slab
        ("remove", {"box": [-1, -1, 1, 1]}),  # a whole image
        ("remove_sphere", {"center": [1, -1, 1], "radius": math.sqrt(3)}),
        ("remove_sphere", {"center": [0, 0, 0], "radius": 0.01}),
    ],
)
def test_any_box_in_the_cube_and_any_ball_centered_in_it_is_accepted_and_noted_outside_training(name, params):
    edit = get_edit(name)
    domain = "image" if len(params.get("box", [0] * 6)) == 4 else "sdf"
    canon = edit.validate(params, domain)
    assert edit.encode(params, domain).shape == (1, edit.cond_dim(domain))
    notes = edit.untrained(params, domain)
    assert len(notes) >= 1 and all("outside the trained range [" in n for n in notes)
    assert all(t.shape[0] == 1 for t in canon.values())


@pytest.mark.parametrize(
    "name,params,message",
    [
        ("remove", {"box": [0, 0, 0, 0, 1, 1]}, "side along x (max - min) = 0 is outside the accepted range (0, 2]"),
        ("remove", {"box": [0, 0, 0, 1, 1, 1.5]}, "corner value 1.5 is outside the accepted range [-1, 1]"),
        ("remove_sphere", {"center": [0, 0, 0], "radius": 0}, "radius=0 is outside the accepted range (0, 1.73205]"),
        ("remove_sphere", {"center": [0, 0, 0], "radius": 2}, "radius=2 is outside the accepted range (0, 1.73205]"),
        ("remove_sphere", {"center": [0, 1.2, 0], "radius": 0.3}, "value 1.2 is outside the accepted range [-1, 1]"),
    ],
)
def test_values_outside_the_accepted_ranges_are_one_line_errors(name, params, message):
    with pytest.raises(ValueError) as err:
        get_edit(name).validate(params, "sdf")
    assert "\n" not in str(err.value) and message in str(err.value), str(err.value)


def test_wide_draws_reach_beyond_the_trained_ranges_and_stay_accepted():
    for name in ("remove", "remove_sphere"):
        edit = get_edit(name)
        drawn = edit.sample(512, torch.Generator().manual_seed(0), "sdf", wide=True)
        edit.validate(drawn, "sdf")  # every draw is accepted
        assert edit.untrained(drawn, "sdf")  # and some lie beyond the shipped models' training
        assert not edit.untrained(drawn, "sdf", wide=True)
    sides = (lambda b: b[:, 3:] - b[:, :3])(get_edit("remove").sample(512, torch.Generator(), "sdf", wide=True)["box"])
    assert sides.max() > 1.8 and sides.min() >= 0.1


def test_a_learned_pass_outside_the_trained_range_warns_once_and_is_never_worse(tmp_path):
    from dws_edit.data.shapes import sample_shape

    ws = dws_edit.fit_shape(sample_shape("table", torch.Generator().manual_seed(2)), max_steps=60, points=2048)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, report = dws_edit.edit(ws, "remove", box=(-1, -1, -1, 0, 1, 1), report=True)
    ranges = [str(w.message) for w in caught if "trained range" in str(w.message)]
    assert ranges == ["sdf-remove: box side along y (max - min) 2 is outside the trained range [0.2, 1.2]: the pass "
                      "extrapolates, the guard checks it"]  # fmt: skip
    assert "trained range [0.2, 1.2]" in report.note and report.loss_out[0] <= report.loss_no_edit[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, inside = dws_edit.edit(ws, "remove", box=(0.0, -0.6, -0.6, 1.0, 0.2, 0.6), report=True)
    assert not [w for w in caught if "trained range" in str(w.message)] and inside.note == ""
