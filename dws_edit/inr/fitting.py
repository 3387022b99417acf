"""Batched fitting: thousands of INRs at once, one Adam state each, per-INR early stop."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dws_edit.inr.evaluate import evaluate
from dws_edit.inr.losses import OutputGrad, clamped_l1
from dws_edit.inr.siren import grid_coords, image_spec, init_siren
from dws_edit.weights import NetworkSpec, WeightSpace

FIT_ELEMENTS = 1 << 20
"""Most hidden values (INRs x points x the widest layer) one chunk of :func:`fit` computes at once (4 MB in float32):
fewer INRs per chunk than ``chunk`` asks where their points are many. 32 SDFs at 4,096 points fitted 1.7x faster
in chunks of 8 than all at once, 256 images at 784 pixels 1.05x faster in chunks of 41 than of 64 (2 CPU cores; the
memory traffic of large layers): ``dws-edit bench evaluate`` times both ways in one run."""


@dataclass
class FitResult:
    ws: WeightSpace  # the fitted INRs, in input order
    mse: Tensor  # [N] final mean squared error of each INR (at the weights returned)
    steps: Tensor  # [N] steps each INR took (early stop, or max_steps)


def psnr_from_mse(mse: Tensor, peak: float = 1.0) -> Tensor:
    return 10 * torch.log10(peak**2 / mse.clamp_min(1e-12))


def mse_from_psnr(psnr: float, peak: float = 1.0) -> float:
    return peak**2 * 10 ** (-psnr / 10)


def image_targets(images: Tensor) -> tuple[Tensor, Tensor]:
    """[N, C, H, W] images -> (pixel-grid coords [H*W, 2], targets [N, H*W, C]) for fitting."""
    n, c, h, w = images.shape
    return grid_coords(h, w), images.float().permute(0, 2, 3, 1).reshape(n, h * w, c)


def fit(
    spec: NetworkSpec,
    coords: Tensor,
    targets: Tensor,
    target_mse: float = 0.0,
    max_steps: int = 1000,
    lr: float = 2e-3,
    seed: int = 0,
    init: WeightSpace | None = None,
    chunk: int = 64,
    on_done=None,
    shared_init: bool = False,
    on_step=None,
    init_scheme: str = "zero-bias",
    clamp: float = 0.0,
    loss: OutputGrad | None = None,
) -> FitResult:
    """Fit one INR per target: ``targets`` [N, M, dL] at ``coords`` [M, d0] (shared) or [N, M, d0].

    Adam on the mean squared error of each INR separately; an INR stops (and keeps the weights that
    reached it) once its MSE is at most ``target_mse``. ``init`` (B = 1 or N) replaces the SIREN
    initialisation; ``shared_init`` starts every INR from one seeded SIREN initialisation. ``chunk``
    INRs train at once (fewer where they hold more than :data:`FIT_ELEMENTS` hidden values); ``on_done(n)`` is
    called as n more INRs finish (e.g. a progress bar's advance), and
    ``on_step(fraction)`` after every step with the fraction of the whole fit done (steps of all chunks).
    ``init_scheme``: the SIREN initialisation (:func:`~dws_edit.inr.siren.init_siren`: ``"zero-bias"``, the zoos',
    or ``"vsitzmann"``, vsitzmann/siren's). ``clamp`` > 0: Adam follows DeepSDF's loss instead of the MSE, the L1
    distance of outputs and targets both clamped to [-clamp, clamp] (Park et al. 2019, Eq. 4; SDFs, delta 0.1 there);
    ``loss``: another loss Adam follows instead of the MSE, as the gradient of each INR's mean loss w.r.t. its
    outputs (:mod:`dws_edit.inr.losses`; the domains' refine losses). With either, the early stop and the returned
    errors stay the MSE.
    """
    n = targets.shape[0]
    if targets.dim() != 3 or targets.shape[-1] != spec.layer_sizes[-1]:
        raise ValueError(f"targets of shape {tuple(targets.shape)}: expected [N, M, {spec.layer_sizes[-1]}]")
    chunk = min(chunk, max(1, FIT_ELEMENTS // (max(1, targets.shape[1]) * max(spec.layer_sizes))))
    g = torch.Generator().manual_seed(seed)
    start = init_siren(spec, 1 if shared_init else n, g, init_scheme) if init is None else init
    if start.batch_size == 1 and n > 1:
        start = start.map(lambda t: t.expand(n, *t.shape[1:]).clone())
    outs, mses, steps = [], [], []
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        c = coords if coords.dim() == 2 else coords[lo:hi]
        step_done = None
        if on_step is not None:
            step_done = lambda k, lo=lo, hi=hi: on_step(min(1.0, (lo + (hi - lo) * k / max(max_steps, 1)) / n))  # noqa: E731
        r = _fit_chunk(start[lo:hi], c, targets[lo:hi], target_mse, max_steps, lr, on_done, step_done, clamp, loss)
        outs.append(r.ws)
        mses.append(r.mse)
        steps.append(r.steps)
    return FitResult(WeightSpace.cat(outs), torch.cat(mses), torch.cat(steps))


def _fit_chunk(start, coords, targets, target_mse, max_steps, lr, on_done, on_step=None, clamp=0.0, loss=None):
    n = start.batch_size
    spec = start.spec
    params = [t.detach().clone() for t in start.tensors()]
    exp_avg = [torch.zeros_like(p) for p in params]
    exp_sq = [torch.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    final = [t.detach().clone() for t in start.tensors()]
    final_mse = torch.full((n,), math.inf)
    final_steps = torch.full((n,), max_steps, dtype=torch.long)
    active = torch.arange(n)  # which INRs the working tensors hold
    shared = coords.dim() == 2
    for step in range(max_steps + 1):
        mse, grads = mse_and_grads(spec, params, coords if shared else coords[active], targets[active], clamp, loss)
        done = (mse <= target_mse) if step < max_steps else torch.ones_like(mse, dtype=torch.bool)
        if done.any():  # keep the weights that reached the target (before this step's update)
            idx = active[done]
            for f, p in zip(final, params):
                f[idx] = p.detach()[done]
            final_mse[idx] = mse.detach()[done]
            final_steps[idx] = step
            if on_done:
                on_done(int(done.sum()))
            keep = ~done
            if not keep.any():
                break
            active = active[keep]
            params = [p[keep] for p in params]
            grads = [gr[keep] for gr in grads]
            exp_avg = [m[keep] for m in exp_avg]
            exp_sq = [v[keep] for v in exp_sq]
        if on_step is not None:
            on_step(step + 1)
        with torch.no_grad():
            t = step + 1
            torch._foreach_mul_(exp_avg, beta1)
            torch._foreach_add_(exp_avg, grads, alpha=1 - beta1)
            torch._foreach_mul_(exp_sq, beta2)
            torch._foreach_addcmul_(exp_sq, grads, grads, value=1 - beta2)
            denom = torch._foreach_sqrt(exp_sq)
            torch._foreach_div_(denom, math.sqrt(1 - beta2**t))
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, exp_avg, denom, value=-lr / (1 - beta1**t))
    ws = WeightSpace(spec, tuple(final[0::2]), tuple(final[1::2]))
    return FitResult(ws, final_mse, final_steps)


def mse_and_grads(spec: NetworkSpec, params: list[Tensor], coords: Tensor, targets: Tensor, clamp: float = 0.0,
                  loss: OutputGrad | None = None):  # fmt: skip
    """Each INR's mean squared error [B] and its gradient w.r.t. params (W_1, b_1, ...: [B, 1, ...]); with
    ``clamp`` > 0 the gradient is of DeepSDF's clamped L1 loss instead (see :func:`fit`), with ``loss`` (an
    :data:`~dws_edit.inr.losses.OutputGrad`) of the loss it gives; the error returned stays the MSE.

    For sine networks the backward pass is written out: the activation's cosine is computed in place
    over the pre-activation, and w0 is folded into the small matrices, which saves several full-size
    passes per layer over autograd. Other activations use autograd.
    """
    grad_of = loss or (clamped_l1(clamp) if clamp else None)
    if spec.activation != "sine":
        leaves = [p.detach().requires_grad_(True) for p in params]
        with torch.enable_grad():
            pred = evaluate(WeightSpace(spec, tuple(leaves[0::2]), tuple(leaves[1::2])), coords)
            resid = pred.detach() - targets
            mse = resid.square().mean(dim=(1, 2))
            out_grad = grad_of(pred.detach(), targets) if grad_of else resid * (2 / targets[0].numel())
            grads = torch.autograd.grad(pred, leaves, out_grad)
        return mse, list(grads)
    w0, last = spec.w0, spec.num_layers - 1
    weights = [p[:, 0] for p in params[0::2]]  # [B, o, n]
    biases = [p[:, 0] for p in params[1::2]]  # [B, o]
    B = weights[0].shape[0]
    h = coords.expand(B, *coords.shape[-2:]) if coords.dim() == 2 else coords
    inputs, cosines = [], []
    with torch.no_grad():
        for i, (w, b) in enumerate(zip(weights, biases)):
            inputs.append(h)
            scale = w0 if i < last else 1.0
            z = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2), beta=scale, alpha=scale)
            if i < last:
                h = torch.sin(z)
                cosines.append(z.cos_())
            else:
                h = z
        resid = h + spec.output_offset - targets
        mse = resid.square().mean(dim=(1, 2))
        if grad_of is not None:
            g = grad_of(h + spec.output_offset, targets)
        else:
            g = resid.mul_(2.0 / (resid.shape[1] * resid.shape[2]))  # d(mse)/d(output), in place
        grads: list[Tensor] = [None] * len(params)
        for i in range(last, -1, -1):
            scale = w0 if i < last else 1.0
            if i < last:
                g = g.mul_(cosines[i])  # d/dz of sin(z): z = w0 (h W^T + b) carries the w0 below
            grads[2 * i] = (torch.bmm(g.transpose(1, 2), inputs[i]) * scale)[:, None]
            grads[2 * i + 1] = (g.sum(1) * scale)[:, None]
            if i > 0:
                g = torch.bmm(g, weights[i] * scale)
    return mse, grads


def fit_images(
    images: Tensor | np.ndarray,
    spec: NetworkSpec | None = None,
    target_psnr: float = 40.0,
    max_steps: int = 1000,
    seed: int = 0,
    lr: float = 5e-3,
    on_done=None,
    channels_last: bool = False,
    on_step=None,
) -> tuple[WeightSpace, Tensor]:
    """Fit one SIREN per image, on the pixel grid of [-1, 1]^2 (``grid_coords``).

    ``images``: a torch tensor or numpy array [N, H, W] (grayscale) or [N, C, H, W] with C = 1 or 3;
    with ``channels_last=True``, [N, H, W, C] (as numpy/PIL images come) is permuted to that. Values:
    float in [0, 1], or uint8 0..255 (divided by 255). N = 0 gives an empty WeightSpace and PSNR.
    ``spec``: default ``image_spec(channels=C)``. Adam stops each INR once its PSNR reaches
    ``target_psnr`` dB, else after ``max_steps``. Returns ``(ws, psnr)``: the WeightSpace [N, 1, ...] and
    each INR's PSNR [N] in dB. Raises ValueError (one line) for another layout, channel count, dtype
    or value range, or a spec that does not map (x, y) to C outputs. ``on_done``/``on_step``: see :func:`fit`.
    """
    images = _image_batch(images, channels_last)
    n, c, h, w = images.shape
    spec = spec or image_spec(channels=c)
    if spec.layer_sizes[0] != 2 or spec.layer_sizes[-1] != c:
        raise ValueError(f"spec {spec.layer_sizes} does not map (x, y) to {c} channel(s)")
    if n == 0:
        return WeightSpace.zeros(spec, batch=0), torch.empty(0)
    coords, targets = image_targets(images)
    result = fit(
        spec, coords, targets, mse_from_psnr(target_psnr), max_steps, lr, seed, on_done=on_done, on_step=on_step
    )
    return result.ws, psnr_from_mse(result.mse)


def _image_batch(images, channels_last: bool) -> Tensor:
    """The API boundary of ``fit_images``: any accepted input -> float32 [N, C, H, W] in [0, 1]."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, Tensor):
        raise ValueError(f"images of type {type(images).__name__}: expected a torch tensor or numpy array")
    shape = tuple(images.shape)
    if channels_last:
        if images.dim() != 4:
            raise ValueError(f"images of shape {shape} with channels_last=True: expected [N, H, W, C]")
        images = images.permute(0, 3, 1, 2)
    if images.dim() == 3:
        images = images[:, None]
    if images.dim() != 4:
        raise ValueError(f"images of shape {shape}: expected [N, H, W] or [N, C, H, W] (C = 1 or 3)")
    if images.shape[1] not in (1, 3):
        hint = "; channels-last [N, H, W, C] images need channels_last=True" if not channels_last else ""
        raise ValueError(f"images of shape {shape} have {images.shape[1]} channels: expected C = 1 or 3{hint}")
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    elif not images.is_floating_point():
        raise ValueError(f"images of dtype {images.dtype}: expected float values in [0, 1] or uint8 0..255")
    images = images.float()
    if images.numel() and (not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1):
        raise ValueError("image values must be finite and in [0, 1] (float), or uint8 0..255")
    return images
