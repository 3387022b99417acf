"""The public edit API: exact and learned edits, shipped-model lookup, spec checks."""

import json
import warnings

import pytest
import torch

import dws_edit
from dws_edit.checkpoints import save_checkpoint
from dws_edit.data import load_zoo
from dws_edit.edits import mirror
from dws_edit.inr import evaluate, grid_coords, image_spec, init_siren
from dws_edit.inr.siren import respec
from dws_edit.nn import DWSEditNet


@pytest.fixture
def image_ws():
    return init_siren(image_spec(), 3, torch.Generator().manual_seed(0))


def test_exact_edits_through_the_api(image_ws):
    x = torch.rand(64, 2) * 2 - 1
    flipped = dws_edit.edit(image_ws, "mirror", axis="x")
    torch.testing.assert_close(evaluate(flipped, x), evaluate(mirror(image_ws, "x"), x))
    sym = dws_edit.edit(image_ws, "symmetrize", exact=True, axis="y")
    assert sym.spec.hidden_sizes == (64, 64)
    mirrored_x = x * torch.tensor([1.0, -1.0])
    torch.testing.assert_close(evaluate(sym, x), evaluate(sym, mirrored_x), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="no exact closed form"):
        dws_edit.edit(image_ws, "smooth", exact=True, sigma=0.05)


def test_unknown_edit_and_bad_parameters_are_one_line_errors(image_ws):
    with pytest.raises(ValueError, match="accepted") as err:
        dws_edit.edit(image_ws, "sharpen")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="sigma"):
        dws_edit.edit(image_ws, "smooth", sigma=5.0, model=DWSEditNet(image_spec(), hidden=4, depth=1, cond_dim=1))


@pytest.fixture
def shipped(tmp_path, monkeypatch, tiny_image_zoo):
    """A checkpoints/ folder holding one (untrained) symmetrize model with a card, as the repo ships them."""
    spec = image_spec()
    model = DWSEditNet(spec, hidden=4, depth=2, cond_dim=2, outputs=2, init_scale=0.05)
    model.set_stats(load_zoo(tiny_image_zoo, "train").stats)
    accepts = dict(depth=3, d0=2, dL=1, activation="sine", w0=30.0, output_offset=0.5, hidden_widths_trained=[32, 32])
    card = {"edit": "symmetrize", "domain": "image", "accepts": accepts, "does": "test model"}
    kwargs = dict(hidden=4, depth=2, cond_dim=2, outputs=2, init_scale=0.05)
    save_checkpoint(tmp_path / "image-symmetrize.safetensors", model, kwargs, card)
    monkeypatch.setenv("DWS_EDIT_CHECKPOINTS", str(tmp_path))
    dws_edit.checkpoints._shipped.cache_clear()
    yield model
    dws_edit.checkpoints._shipped.cache_clear()


def test_learned_edit_runs_the_shipped_model(shipped, image_ws):
    assert "image-symmetrize" in dws_edit.available_models()
    loaded = dws_edit.load_model("image-symmetrize")
    assert loaded.card["edit"] == "symmetrize"
    out = dws_edit.edit(image_ws, "symmetrize", axis="x", guard=None, width="wide")  # the pass alone
    cond = torch.tensor([[1.0, 0.0]]).expand(3, 2)
    with torch.no_grad():
        want = shipped.eval()(image_ws, cond)
    coords = grid_coords(28, 28)
    torch.testing.assert_close(evaluate(out, coords), evaluate(want, coords))
    listed = {e["name"]: e for e in dws_edit.available_edits()}
    assert listed["symmetrize"]["models"][0]["name"] == "image-symmetrize"


def test_other_specs_are_refused_or_warned(shipped):
    wide = init_siren(image_spec(hidden=(48, 48)), 2, torch.Generator().manual_seed(1))
    with pytest.warns(UserWarning, match="trained on hidden widths"):
        out = dws_edit.edit(wide, "symmetrize", axis="y")
    assert out.spec.hidden_sizes == (48, 48)  # compacted back to the input's widths (width="input")
    other = init_siren(image_spec(w0=10.0), 1)  # another w0: written at the model's exactly, then edited
    out = dws_edit.edit(other, "symmetrize", axis="y", guard=None)
    assert (out.spec.w0, out.spec.output_offset) == (30.0, 0.5)
    want = dws_edit.edit(respec(other, 30.0, 0.5), "symmetrize", axis="y", guard=None)
    assert all(torch.equal(a, b) for a, b in zip(out.tensors(), want.tensors(), strict=True))
    rgb = init_siren(image_spec(channels=3), 1)  # another shape: no w0/offset hint
    with pytest.raises(ValueError, match=r"spec \(2, 32, 32, 3\).*accepted: image-symmetrize") as err:
        dws_edit.edit(rgb, "symmetrize", axis="y")
    assert "offset differ" not in str(err.value)
    with warnings.catch_warnings(record=True) as caught:  # the trained widths: no width warning (the guard may warn:
        warnings.simplefilter("always")  # a random SIREN is near its own mirror image)
        dws_edit.edit(init_siren(image_spec(), 1), "symmetrize", axis="y")
    assert not [w for w in caught if "trained on hidden widths" in str(w.message)]


def test_corrupt_checkpoint_is_refused_naming_the_file(shipped, tmp_path):
    path = tmp_path / "image-symmetrize.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    dws_edit.checkpoints._shipped.cache_clear()
    with pytest.raises(ValueError, match="image-symmetrize.safetensors"):
        dws_edit.load_model("image-symmetrize")
    assert json.loads((tmp_path / "image-symmetrize.json").read_text())["edit"] == "symmetrize"


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("mirror", {}, "missing parameter(s) ['axis']"),
        ("rotate", {}, "missing parameter(s) ['angle']"),
        ("mirror", {"axis": "x", "sigma": 0.1}, "unknown parameter(s) ['sigma']"),
        ("blend", {"t": 0.5}, "missing parameter(s) ['b']"),
    ],
)
def test_exact_edit_parameter_mistakes_are_one_line_errors(image_ws, name, params, message):
    with pytest.raises(ValueError) as err:
        dws_edit.edit(image_ws, name, **params)
    assert message in str(err.value) and "accepted" in str(err.value) and "\n" not in str(err.value)


def test_writing_onto_a_directory_is_a_one_line_error(image_ws, tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        dws_edit.save_inr(tmp_path, image_ws)


def test_half_checkpoints_load_as_float32_with_their_statistics(tmp_path, image_ws):
    """``half=True`` stores the parameters as float16 (baselines do, to keep checkpoints/ small); the model comes
    back float32, its statistics buffers exact, its output within float16 rounding of the original's."""
    from dws_edit.checkpoints import load_checkpoint
    from dws_edit.io import read_file
    from dws_edit.nn import FlatMLPEditNet
    from dws_edit.stats import WeightStats

    spec = image_spec()
    kwargs = dict(hidden=16, depth=2, cond_dim=2, outputs=2, init_scale=0.5)
    model = FlatMLPEditNet(spec, **kwargs).eval()
    model.set_stats(WeightStats.of(image_ws * 1.7))
    save_checkpoint(tmp_path / "m.safetensors", model, kwargs, {"edit": "symmetrize"}, half=True)
    tensors, _ = read_file(tmp_path / "m.safetensors")
    assert tensors["scale"].dtype == torch.float16 and tensors["normalizer.std"].dtype == torch.float32
    loaded = load_checkpoint(tmp_path / "m.safetensors")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    torch.testing.assert_close(loaded.normalizer.std, model.normalizer.std, rtol=0, atol=0)
    cond = torch.tensor([[0.0, 1.0]]).expand(3, 2)
    coords = grid_coords(28, 28)
    with torch.no_grad():
        a, b = evaluate(model(image_ws, cond), coords), evaluate(loaded(image_ws, cond), coords)
    assert 0 < (a - b).abs().max() < 1e-2


def test_film_and_skip_models_round_trip_through_a_checkpoint(tmp_path, image_ws):
    from dws_edit.checkpoints import load_checkpoint

    kwargs = dict(hidden=4, depth=2, cond_dim=2, outputs=2, init_scale=0.3, film=True, skip=True)
    torch.manual_seed(0)
    model = DWSEditNet(image_spec(), **kwargs).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # FiLM gates away from their initial 1
    save_checkpoint(tmp_path / "m.safetensors", model, kwargs, {"edit": "symmetrize"})
    loaded = load_checkpoint(tmp_path / "m.safetensors")
    cond = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    with torch.no_grad():
        for x, y in zip(model(image_ws, cond).tensors(), loaded(image_ws, cond).tensors()):
            torch.testing.assert_close(x, y)


def test_a_model_given_for_another_edit_or_domain_is_refused_in_one_line(image_ws):
    from dws_edit.inr import init_siren as init
    from dws_edit.inr import sdf_spec

    with pytest.raises(ValueError, match="performs 'smooth' on image INRs, not 'symmetrize' on image INRs"):
        dws_edit.edit(image_ws, "symmetrize", axis="x", model="image-smooth")
    sdf = init(sdf_spec(), 1, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="not 'symmetrize' on sdf INRs; accepted: sdf-symmetrize"):
        dws_edit.edit(sdf, "symmetrize", axis="x", model="image-symmetrize")


def test_an_unwritable_output_names_the_path_given(image_ws, tmp_path):
    (tmp_path / "a_file").write_text("x")
    target = tmp_path / "a_file" / "out.safetensors"  # a folder that is a file
    with pytest.raises(ValueError, match=f"cannot write {target}"):
        dws_edit.save_inr(target, image_ws)


def test_parameters_of_the_wrong_type_are_one_line_errors_naming_them(image_ws):
    model = DWSEditNet(image_spec(), hidden=4, depth=1, cond_dim=1)
    with pytest.raises(ValueError, match=r"sigma='0.05' is not accepted; expected numbers"):
        dws_edit.edit(image_ws, "smooth", sigma="0.05", model=model)
    with pytest.raises(ValueError, match="box=None is not accepted"):
        dws_edit.edit(image_ws, "remove", box=None, model=DWSEditNet(image_spec(), hidden=4, depth=1, cond_dim=4))
    with pytest.raises(ValueError, match="blend's b is a str; accepted: an INR"):
        dws_edit.edit(image_ws, "blend", b="other.safetensors", t=0.5)


def test_fit_mesh_takes_scenes_and_refuses_unknown_or_out_of_range_options():
    import trimesh

    parts = [trimesh.creation.box((0.6, 0.6, 0.6)), trimesh.creation.box((0.6, 0.6, 0.6))]
    parts[1].apply_translation((0.4, 0.0, 0.0))
    scene = trimesh.Scene(parts)
    ws = dws_edit.fit_mesh(scene, points=256, max_steps=2)
    assert ws.batch_size == 1 and ws.spec.layer_sizes == (3, 32, 32, 1)
    for options, message in [
        ({"foo": 1}, r"unknown option\(s\) \['foo'\]; accepted: hidden, points"),
        ({"points": 0}, "points=0: expected an integer >= 64"),
        ({"max_steps": -1}, "max_steps=-1: expected an integer >= 1"),
        ({"hidden": 0}, "hidden=0: expected an integer >= 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            dws_edit.fit_mesh(parts[0], **options)
    with pytest.raises(ValueError, match="max_steps=0: expected an integer >= 1"):
        dws_edit.fit_image(torch.rand(8, 8), max_steps=0)


def test_shape_fits_use_the_learning_rate_of_the_3d_zoos():
    """fit_mesh/fit_shape INRs must lie where the 3-D edit models were trained (their rate; docstring of fit_shape)."""
    import inspect

    from dws_edit.data.sources import SHAPE_FIT_DEFAULTS

    assert inspect.signature(dws_edit.api.fit_shape).parameters["lr"].default == SHAPE_FIT_DEFAULTS["lr"]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_every_floating_dtype_is_edited_in_the_models_dtype_and_comes_back_in_its_own(shipped, image_ws, dtype):
    """The dtype rule (dws_edit.nn.models): one for the API and for a model called directly."""
    given = image_ws.to(dtype)
    assert dws_edit.edit(given, "symmetrize", axis="x").dtype == dtype  # with the never-worse guard
    out = dws_edit.edit(given, "symmetrize", axis="x", guard=None)
    want = dws_edit.edit(given.to(torch.float32), "symmetrize", axis="x", guard=None).to(dtype)  # the pass, float32
    assert all(torch.equal(a, b) for a, b in zip(out.tensors(), want.tensors(), strict=True))
    cond = torch.tensor([[1.0, 0.0]], dtype=dtype).expand(3, 2)
    with torch.no_grad():
        direct = shipped.eval()(given, cond)
    assert direct.dtype == dtype
    encoder = dws_edit.nn.DWSEncoder(image_spec(), embed_dim=4, hidden=4, depth=1).eval()
    with torch.no_grad():
        assert encoder(given).dtype == torch.float32


def test_weights_that_are_not_floating_point_are_refused_in_one_line(shipped, image_ws):
    ints = image_ws.map(lambda t: t.round().to(torch.int64))
    for call in (lambda: dws_edit.edit(ints, "symmetrize", axis="x"), lambda: shipped(ints, torch.zeros(3, 2))):
        with pytest.raises(ValueError, match="int64") as err:
            call()
        assert "floating" in str(err.value) and "\n" not in str(err.value)


def test_fit_mesh_makes_a_colored_field_of_a_mesh():
    import trimesh

    ws = dws_edit.fit_mesh(trimesh.creation.box((0.8, 0.8, 0.8)), field=True, points=512, max_steps=30)
    assert ws.spec.layer_sizes == (3, 32, 32, 4) and dws_edit.edits.domain_of(ws.spec) == "field"
    with torch.no_grad():
        inside, outside = evaluate(ws, torch.tensor([[0.0, 0.0, 0.0], [0.95, 0.95, 0.95]]))[0, :, 0]
    assert inside > outside


def test_respec_writes_the_same_siren_at_another_w0_and_offset(image_ws):
    coords = torch.rand(100, 2) * 2 - 1
    moved = respec(image_ws, 12.0, -0.25)
    assert (moved.spec.w0, moved.spec.output_offset) == (12.0, -0.25)
    torch.testing.assert_close(evaluate(moved, coords), evaluate(image_ws, coords), atol=1e-5, rtol=0)


def test_an_image_siren_exported_and_imported_back_is_editable_again(shipped, image_ws):
    """Other layouts keep no output offset (vsitzmann's folds it into the last bias): the import is offset 0, and the
    learned edit writes it at the model's spec exactly instead of refusing it."""
    state = dws_edit.export_siren(image_ws[:1], format="vsitzmann")[0]
    back = dws_edit.import_siren(state, format="vsitzmann")
    assert back.spec.output_offset == 0.0
    out = dws_edit.edit(back, "symmetrize", axis="x", guard=None)
    want = dws_edit.edit(image_ws[:1], "symmetrize", axis="x", guard=None)
    coords = grid_coords(28, 28)
    torch.testing.assert_close(evaluate(out, coords), evaluate(want, coords), atol=1e-4, rtol=0)


def test_edits_that_would_widen_past_the_cap_are_refused_in_one_line(shipped):
    from dws_edit.api import MAX_HIDDEN

    wide = init_siren(image_spec(hidden=(MAX_HIDDEN // 2 + 8,) * 2), 1)
    for call in (
        lambda: dws_edit.edit(wide, "symmetrize", exact=True, axis="x"),  # doubles
        lambda: dws_edit.edit(wide, "blend", b=wide, t=0.5),  # adds
        lambda: dws_edit.edit(wide, "symmetrize", axis="x"),  # the learned model (k = 2) doubles
    ):
        with pytest.raises(ValueError, match=f"above the cap of {MAX_HIDDEN}") as err:
            call()
        assert "\n" not in str(err.value)
    assert dws_edit.edit(wide, "mirror", axis="x").spec.hidden_sizes == wide.spec.hidden_sizes  # no widening


def test_fit_options_of_the_wrong_type_or_range_are_one_line_errors():
    import trimesh

    box = trimesh.creation.box((0.8, 0.8, 0.8))
    for options, message in [
        ({"lr": "x"}, "lr='x': expected a finite number > 0 and < 1"),
        ({"lr": -1.0}, "lr=-1.0"),
        ({"target_rmse": float("nan")}, "target_rmse=nan"),
        ({"field": "yes"}, "field='yes': expected True"),
    ]:
        with pytest.raises(ValueError, match=message):
            dws_edit.fit_mesh(box, points=256, max_steps=2, **options)
    with pytest.raises(ValueError, match="target_psnr='x'"):
        dws_edit.fit_image(torch.rand(8, 8), target_psnr="x")
