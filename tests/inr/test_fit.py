import pytest
import torch

from dws_edit.data.images import load_sklearn_digits
from dws_edit.inr import evaluate, fit, fit_images, grid_coords, image_spec, psnr_from_mse, sine_spec


@pytest.fixture(scope="module")
def digits():
    return load_sklearn_digits()[0][:16]


def test_fit_images_reaches_the_target_and_reports_true_psnr(digits):
    ws, psnr = fit_images(digits, target_psnr=35.0, max_steps=400)
    assert ws.batch_size == 16 and ws.spec == image_spec()
    assert (psnr >= 35.0).all()
    pred = evaluate(ws, grid_coords(8, 8)).reshape(16, 8, 8)
    recomputed = psnr_from_mse((pred - digits).square().mean(dim=(1, 2)))
    torch.testing.assert_close(recomputed, psnr, atol=1e-3, rtol=0)


def test_early_stop_keeps_the_weights_that_reached_the_target(digits):
    targets = digits.reshape(16, -1, 1)
    result = fit(image_spec(), grid_coords(8, 8), targets, target_mse=10 ** (-3.0), max_steps=500)
    assert (result.steps < 500).all() and (result.mse <= 1e-3).all()
    # a looser target stops earlier than a tighter one
    tight = fit(image_spec(), grid_coords(8, 8), targets, target_mse=10 ** (-3.5), max_steps=500)
    assert (result.steps <= tight.steps).all() and (result.steps < tight.steps).any()


def test_fitting_is_deterministic_and_can_share_its_initialisation(digits):
    a, _ = fit_images(digits[:4], max_steps=20, seed=3)
    b, _ = fit_images(digits[:4], max_steps=20, seed=3)
    assert torch.equal(a.flatten(), b.flatten())
    targets = digits[:4].reshape(4, -1, 1)
    start = fit(image_spec(), grid_coords(8, 8), targets, max_steps=0, shared_init=True).ws.flatten()
    assert torch.equal(start[0], start[3])
    separate = fit(image_spec(), grid_coords(8, 8), targets, max_steps=0).ws.flatten()
    assert not torch.equal(separate[0], separate[3])


def test_per_inr_coordinates_and_other_specs():
    x = torch.linspace(-3, 3, 200)
    targets = torch.stack([torch.sin(x), 2 * torch.sin(3 * x)])[..., None]
    coords = x[None, :, None].expand(2, -1, -1)
    result = fit(sine_spec(), coords, targets, target_mse=1e-4, max_steps=1500)
    assert (result.mse <= 1e-4).all()


def test_bad_images_are_rejected():
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        fit_images(torch.full((2, 8, 8), 2.0))
    with pytest.raises(ValueError, match="expected"):
        fit_images(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="does not map"):
        fit_images(torch.zeros(2, 3, 8, 8), spec=image_spec(channels=1))


@pytest.mark.parametrize("shared", [True, False])
def test_written_out_gradients_match_autograd(shared):
    from dws_edit.inr.fitting import mse_and_grads
    from dws_edit.weights import NetworkSpec, WeightSpace

    spec = NetworkSpec((2, 7, 5, 3), w0=4.0, output_offset=0.5)
    ws = WeightSpace.randn(spec, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.5
    coords = torch.rand(4, 30, 2, dtype=torch.float64)
    coords = coords[0] if shared else coords
    targets = torch.rand(4, 30, 3, dtype=torch.float64)
    mse, grads = mse_and_grads(spec, list(ws.tensors()), coords, targets)
    leaves = [t.clone().requires_grad_(True) for t in ws.tensors()]
    pred = evaluate(WeightSpace(spec, tuple(leaves[0::2]), tuple(leaves[1::2])), coords)
    expected = (pred - targets).square().mean(dim=(1, 2))
    torch.testing.assert_close(mse, expected.detach())
    for got, want in zip(grads, torch.autograd.grad(expected.sum(), leaves)):
        torch.testing.assert_close(got, want)


def test_many_points_fit_in_smaller_chunks_with_the_result_of_one(monkeypatch):
    from dws_edit.inr import fitting

    x = torch.rand(6, 300, 1, generator=torch.Generator().manual_seed(0)) * 2 - 1
    targets = torch.sin(3 * x)
    whole = fit(sine_spec(), x, targets, max_steps=20, chunk=6)
    chunks = []
    real = fitting._fit_chunk
    monkeypatch.setattr(fitting, "_fit_chunk", lambda start, *a: chunks.append(start.batch_size) or real(start, *a))
    monkeypatch.setattr(fitting, "FIT_ELEMENTS", 2 * 300 * max(sine_spec().layer_sizes))  # two INRs a chunk
    sliced = fit(sine_spec(), x, targets, max_steps=20, chunk=6)
    assert chunks == [2, 2, 2]
    torch.testing.assert_close(sliced.ws.flatten(), whole.ws.flatten(), atol=1e-6, rtol=0)
    torch.testing.assert_close(sliced.mse, whole.mse, atol=1e-9, rtol=1e-5)
