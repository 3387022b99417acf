"""DWSNet models: equivariant blocks, invariant pooling, classifier, encoder and the residual edit network."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from dws_edit.checks import floating_weights
from dws_edit.inr.siren import canonical_phases
from dws_edit.nn.layer import DWSLayer, weight_space_slots
from dws_edit.nn.probes import ProbeFeatures
from dws_edit.stats import WeightStats
from dws_edit.weights import NetworkSpec, WeightSpace, concat_networks

GradientFn = Callable[[WeightSpace], WeightSpace]
"""The loss gradient of an edit at given INRs: INRs [B, ...] -> a WeightSpace of their shapes, no graph."""

# Features inside a stack of DWS layers stay in the layer's channels-last canonical form: a list of
# tensors [B, *hidden axes, fixed_size * C], one per weight-space tensor in flat order (see layer.py).
Features = list[Tensor]


class FeatureReLU(nn.Module):
    """Pointwise ReLU (pointwise maps are equivariant); in place on the layer's fresh outputs."""

    def forward(self, feats: Features) -> Features:
        return [torch.relu_(x) for x in feats]


class FeatureDropout(nn.Module):
    """Pointwise dropout; an identity in eval mode (``model.eval()``)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, feats: Features) -> Features:
        if not self.training or self.p == 0:
            return feats
        return [nn.functional.dropout(x, self.p, training=True) for x in feats]


class FeatureLayerNorm(nn.Module):
    """Normalize each tensor of each network over its entries and channels; per-channel affine.

    The statistics are sums over whole tensors, hence invariant, so the normalization is equivariant.
    """

    def __init__(self, spec: NetworkSpec, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.slots = weight_space_slots(spec)
        self.scale = nn.Parameter(torch.ones(len(self.slots), channels))
        self.shift = nn.Parameter(torch.zeros(len(self.slots), channels))

    def forward(self, feats: Features) -> Features:
        out = []
        for k, (s, x) in enumerate(zip(self.slots, feats)):
            normed = nn.functional.layer_norm(x, x.shape[1:], eps=self.eps)  # one fused kernel
            out.append(torch.addcmul(self.shift[k].repeat(s.fixed_size), normed, self.scale[k].repeat(s.fixed_size)))
        return out


class DWSBlocks(nn.Module):
    """A stack of DWS layers with ReLU (and optional normalization / dropout) between them.

    ``channels = (c_in, c_1, ..., c_out)``; no nonlinearity after the last layer. ``cond_dim`` feeds a
    conditioning vector into every layer (``film``: also multiplicatively, see DWSLayer). Converts to the
    canonical form once, not per layer.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        channels: tuple[int, ...],
        norm: bool = False,
        dropout: float = 0.0,
        cond_dim: int = 0,
        film: bool = False,
    ):
        super().__init__()
        self.layers = nn.ModuleList(DWSLayer(spec, a, b, cond_dim, film) for a, b in zip(channels[:-1], channels[1:]))
        between = []
        for c in channels[1:-1]:
            parts: list[nn.Module] = [FeatureLayerNorm(spec, c)] if norm else []
            parts.append(FeatureReLU())
            if dropout:
                parts.append(FeatureDropout(dropout))
            between.append(nn.Sequential(*parts))
        self.between = nn.ModuleList(between)
        self.cond_dim = cond_dim

    def features(
        self, ws: WeightSpace, cond: Tensor | None = None, extra: Features | None = None, layers: int | None = None
    ) -> Features:
        """Run the stack and return the last layer's output in canonical form; ``extra`` (canonical, one
        tensor per slot, broadcastable) is added to the first layer's output, before its nonlinearity. ``layers``:
        run only the first this many layers (with the nonlinearity after each of them; default all)."""
        self.layers[0].check_input(ws)
        feats = self.layers[0].canonical(ws)
        for k, layer in enumerate(self.layers[:layers]):
            feats = layer.forward_canonical(feats, cond)
            if k == 0 and extra is not None:
                feats = [f + e for f, e in zip(feats, extra)]
            if k < len(self.between):
                feats = self.between[k](feats)
        return feats

    def forward(self, ws: WeightSpace, cond: Tensor | None = None) -> WeightSpace:
        return self.layers[-1].from_canonical(self.features(ws, cond), ws.spec)


class InvariantPool(nn.Module):
    """Mean over every hidden axis, keeping the unpermuted axes (layer 0's inputs, layer L's outputs).

    This is the complete invariant linear map of a weight space; it maps canonical features to
    [B, out_features].
    """

    def __init__(self, spec: NetworkSpec, channels: int):
        super().__init__()
        self.slots = weight_space_slots(spec)
        self.out_features = channels * sum(s.fixed_size for s in self.slots)

    def forward(self, feats: Features) -> Tensor:
        return torch.cat([x.mean(tuple(range(1, x.dim() - 1))) if x.dim() > 2 else x for x in feats], dim=1)


def _mlp(sizes: tuple[int, ...], dropout: float = 0.0) -> nn.Sequential:
    parts: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        parts.append(nn.Linear(a, b))
        if k < len(sizes) - 2:
            parts.append(nn.ReLU())
            if dropout:
                parts.append(nn.Dropout(dropout))
    return nn.Sequential(*parts)


class WeightNormalizer(nn.Module):
    """Per-tensor weight statistics of a model's training zoo, held as buffers.

    Buffers ``mean`` and ``std`` [2L, C] (flat order W_0, b_0, W_1, ...) are in ``state_dict()`` and
    move with ``.to()``, so a reloaded model normalizes in the units it was trained in. They start as
    the identity (mean 0, std 1). The model is the one owner of normalization: data stays raw.
    """

    def __init__(self, spec: NetworkSpec, channels: int = 1):
        super().__init__()
        self.register_buffer("mean", torch.zeros(2 * spec.num_layers, channels))
        self.register_buffer("std", torch.ones(2 * spec.num_layers, channels))

    def set_stats(self, stats: WeightStats) -> None:
        """Copy ``stats`` (e.g. ``WeightStats.of(train.ws)`` or a zoo's ``.stats``) into the buffers."""
        means = [m for pair in zip(stats.weight_mean, stats.bias_mean) for m in pair]
        stds = [s for pair in zip(stats.weight_std, stats.bias_std) for s in pair]
        if len(means) != self.mean.shape[0] or any(m.numel() != self.mean.shape[1] for m in means):
            raise ValueError(
                f"statistics for {len(means) // 2} layers x {means[0].numel()} channels do not fit this model "
                f"({self.mean.shape[0] // 2} layers x {self.mean.shape[1]} channels)"
            )
        with torch.no_grad():
            self.mean.copy_(torch.stack([m.reshape(-1) for m in means]))
            self.std.copy_(torch.stack([s.reshape(-1) for s in stds]))

    @property
    def stats(self) -> WeightStats:
        m, s = self.mean, self.std
        return WeightStats(tuple(m[0::2]), tuple(s[0::2]), tuple(m[1::2]), tuple(s[1::2]))

    def normalize(self, ws: WeightSpace) -> WeightSpace:
        """(ws - mean) / std per tensor and channel."""
        return self._per_tensor(ws, lambda t, m, s: (t - m) / s)

    def scale(self, ws: WeightSpace) -> WeightSpace:
        """ws * std: turns a difference in normalized units into weight units."""
        return self._per_tensor(ws, lambda t, m, s: t * s)

    def _per_tensor(self, ws: WeightSpace, fn) -> WeightSpace:
        out = []
        for k, t in enumerate(ws.tensors()):
            view = (1, -1) + (1,) * (t.dim() - 2)
            out.append(fn(t, self.mean[k].to(t.dtype).reshape(view), self.std[k].to(t.dtype).reshape(view)))
        return WeightSpace(ws.spec, tuple(out[0::2]), tuple(out[1::2]))


class _Normalized(nn.Module):
    """A model that normalizes its input weights with statistics it owns (``set_stats``)."""

    def __init__(self, spec: NetworkSpec, channels: int = 1):
        super().__init__()
        self.normalizer = WeightNormalizer(spec, channels)

    def set_stats(self, stats: WeightStats) -> None:
        self.normalizer.set_stats(stats)

    def normalize(self, ws: WeightSpace) -> WeightSpace:
        return self.normalizer.normalize(ws)

    def own_dtype(self, ws: WeightSpace) -> WeightSpace:
        """The dtype rule of every model: INR weights of any floating dtype (float64 from numpy, float16, bfloat16)
        are cast to the dtype of the model's parameters; others are refused with a one-line ValueError."""
        floating_weights(ws.dtype)
        dtype = next(self.parameters()).dtype
        return ws if ws.dtype == dtype else ws.to(dtype)


class EditNet(_Normalized):
    """The residual edit shared by every edit model: ``edited = ws + scale * std * delta(normalize(ws), cond)``.

    ``scale`` is a learned scalar per tensor that starts small (``init_scale``), so an untrained model is
    close to the identity edit; ``std`` turns the residual from normalized units back into weight
    units. With ``outputs = k > 1`` the model emits k residuals (k output channels) and returns the
    INR averaging the k edited networks, built exactly by ``concat_networks``: hidden widths x k
    (output-capacity expansion, as in GMN). ``keep``: the edited INR keeps the source network unchanged as
    one block and adds the average of k correction networks, ``f' = f + (1/k) sum_j g_j`` (hidden widths
    x (k + 1)); each g_j has the source's hidden layers plus the residual, but only the residual as its last
    layer, so it starts near zero and an untrained model is the identity edit to ``init_scale``. The kept
    surface then moves only where the corrections reach, not with every change of the hidden weights.
    Subclasses define ``delta`` -> WeightSpace [B, k, ...].
    """

    def __init__(
        self, spec: NetworkSpec, cond_dim: int = 0, outputs: int = 1, init_scale: float = 1e-3, keep: bool = False
    ):
        super().__init__(spec)
        if outputs < 1:
            raise ValueError(f"outputs = {outputs}: an edit model emits at least one network")
        self.spec, self.cond_dim, self.outputs, self.keep = spec, cond_dim, outputs, bool(keep)
        self.scale = nn.Parameter(torch.full((2 * spec.num_layers,), float(init_scale)))
        self.refiners: nn.ModuleList | None = None  # further passes (DWSEditNet's ``passes``)

    def set_stats(self, stats: WeightStats) -> None:
        """The zoo's statistics, for every pass."""
        super().set_stats(stats)
        for refiner in self.refiners or ():
            refiner.set_stats(stats)

    def delta(
        self, ws: WeightSpace, cond: Tensor | None, raw: WeightSpace, grad: WeightSpace | None = None
    ) -> WeightSpace:
        """The residual [B, k, ...] in normalized units from the normalized weights ``ws`` (``raw``: the same
        INRs as given, for models that evaluate them; ``grad``: the loss gradient, for models that take it)."""
        raise NotImplementedError

    gradient = False
    """Whether the model also takes ``grad``, the gradient of the edit's functional loss at ``ws``."""

    @property
    def widening(self) -> int:
        """How many times wider the hidden layers of an edited INR are than its input's (k networks, and the kept
        source with ``keep``, per pass)."""
        factor = self.outputs + self.keep
        for refiner in self.refiners or ():
            factor *= refiner.outputs + refiner.keep
        return factor

    def forward(
        self, ws: WeightSpace, cond: Tensor | None = None, grad: WeightSpace | GradientFn | None = None
    ) -> WeightSpace:
        """``ws`` [B, 1, ...], ``cond`` [B, cond_dim] (and for a model with ``gradient``, ``grad``: the loss gradient
        like ``ws``, or a function of the INRs that returns it, which a model with refinement passes needs) ->
        the edited INRs (hidden widths x ``outputs``) in ``ws``'s dtype (weights of any floating dtype are edited in
        the model's: :meth:`own_dtype`). SIREN inputs are first brought to
        :func:`~dws_edit.inr.siren.canonical_phases` (the same functions; the zoos' INRs unchanged), so SIRENs
        fitted by other code, whose hidden biases spread over many periods, reach the model nearer the zoo's."""
        given = ws.dtype
        ws = canonical_phases(self.own_dtype(ws))
        if cond is not None and cond.dtype != ws.dtype:
            cond = cond.to(ws.dtype)
        if self.cond_dim and (cond is None or cond.shape != (ws.batch_size, self.cond_dim)):
            got = "none" if cond is None else tuple(cond.shape)
            raise ValueError(
                f"this edit model needs edit parameters of shape [{ws.batch_size}, {self.cond_dim}]; got {got}"
            )
        gradient_of = grad if callable(grad) else None
        if gradient_of is not None:  # computed only for a model that takes it
            grad = gradient_of(ws) if self.gradient else None
        if self.gradient and (grad is None or grad.batch_size != ws.batch_size):
            raise ValueError(
                "this edit model takes the gradient of the edit's loss at the source INRs (grad=, one per INR); "
                "dws_edit.runner.run_edit_model and dws_edit.edit compute it"
            )
        if self.refiners and gradient_of is None:
            raise ValueError(
                "this edit model refines its output with the loss gradient there: grad= must be a function of the "
                "INRs (dws_edit.runner.run_edit_model passes one)"
            )
        edited = self._one_pass(ws, cond, grad)
        for refiner in self.refiners or ():
            # not refiner(...): the outer checks hold for every pass, and a pass's output is edited as it is (only
            # the model's input is brought to its canonical phases)
            edited = refiner._one_pass(edited, cond, gradient_of(edited))
        return edited if edited.dtype == given else edited.to(given)

    def _one_pass(self, ws: WeightSpace, cond: Tensor | None, grad: WeightSpace | None) -> WeightSpace:
        delta = self.normalizer.scale(self.delta(self.normalize(ws), cond if self.cond_dim else None, ws, grad))
        s, base_w, base_b = self.scale, list(ws.weights), list(ws.biases)
        if self.keep:  # the corrections' last layer is the residual alone (its bias less the output offset, which
            # concat_networks adds once per block), so each g_j starts near zero
            base_w[-1] = torch.zeros_like(base_w[-1])
            base_b[-1] = torch.full_like(base_b[-1], -ws.spec.output_offset)
        edited = [
            WeightSpace(
                ws.spec,
                tuple(w + s[2 * i] * d[:, j : j + 1] for i, (w, d) in enumerate(zip(base_w, delta.weights))),
                tuple(b + s[2 * i + 1] * d[:, j : j + 1] for i, (b, d) in enumerate(zip(base_b, delta.biases))),
            )
            for j in range(self.outputs)
        ]
        if self.keep:
            return concat_networks([ws, *edited], [1.0] + [1.0 / self.outputs] * self.outputs)
        return edited[0] if self.outputs == 1 else concat_networks(edited, [1.0 / self.outputs] * self.outputs)


class DWSEditNet(EditNet):
    """Equivariant edit model: ``delta`` is a stack of DWS layers ending in ``outputs`` channels.

    ``cond`` [B, cond_dim] carries the edit's parameters into every layer (``film``: also as a
    multiplicative gate). ``skip``: one more DWS layer maps the input straight to the residual and is
    added to the stack's output, so edits that are linear in the weights (a mirror of the input
    coordinates, a scale of the output) have an exact path that does not pass through ReLUs. Equivariant:
    permuting the input's hidden neurons permutes the edited INR's (each of its k blocks) the same way.
    ``probes = p > 0``: the INR's hidden activations at p^d0 probe points feed the first layer per neuron,
    and its outputs there join ``cond`` (``dws_edit.nn.probes``). ``gradient``: the model also takes the
    gradient of the edit's functional MSE at the source weights (``forward(ws, cond, grad)``), as a second
    input channel, each tensor scaled to unit RMS per INR, with the log10 of those RMS values joining ``cond``
    (gradients as equivariant inputs, as in GradMetaNet, Gelberg et al. 2025): the direction fine-tuning's
    first step takes, which the model turns into the whole edit. Per-tensor RMS is invariant, so the model
    stays equivariant. ``passes = p > 1`` (gradient models): p - 1 further DWSEditNets (``refiners``, one
    output each, so the widths stay; no probe features) each take the previous pass's output and the loss
    gradient there: an unrolled learned optimizer (as in learned gradient descent, Andrychowicz et al. 2016),
    each pass one more backward pass through the INR.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        hidden: int = 32,
        depth: int = 4,
        cond_dim: int = 0,
        norm: bool = False,
        dropout: float = 0.0,
        init_scale: float = 1e-3,
        outputs: int = 1,
        film: bool = False,
        skip: bool = False,
        probes: int = 0,
        gradient: bool = False,
        passes: int = 1,
        keep: bool = False,
    ):
        super().__init__(spec, cond_dim, outputs, init_scale, keep)
        if passes < 1 or (passes > 1 and not gradient):
            raise ValueError(f"passes = {passes}: expected 1, or more with gradient=True (each pass takes it)")
        self.gradient = bool(gradient)
        if passes > 1:  # outputs=1: the first pass's widths stay
            same = dict(hidden=hidden, depth=depth, cond_dim=cond_dim, norm=norm, dropout=dropout, film=film, skip=skip)
            self.refiners = nn.ModuleList(
                DWSEditNet(spec, **same, init_scale=init_scale, gradient=True) for _ in range(passes - 1)
            )
        inputs = 2 if gradient else 1
        channels = (inputs,) + (hidden,) * depth + (outputs,)
        self.probes = ProbeFeatures(spec, probes, hidden, cond_dim) if probes else None
        block_cond = cond_dim + (self.probes.out_features if probes else 0) + (2 * spec.num_layers if gradient else 0)
        self.blocks = DWSBlocks(spec, channels, norm=norm, dropout=dropout, cond_dim=block_cond, film=film)
        self.skip = DWSLayer(spec, inputs, outputs, block_cond, film) if skip else None

    def delta(
        self, ws: WeightSpace, cond: Tensor | None, raw: WeightSpace, grad: WeightSpace | None = None
    ) -> WeightSpace:
        extra = None
        if self.probes is not None:  # gated by the edit's parameters only
            extra, values = self.probes(raw, cond)
            cond = values if cond is None else torch.cat([cond.to(values.dtype), values], dim=-1)
        if self.gradient:
            ws, cond = _with_gradient(ws, grad, cond)
        feats = self.blocks.features(ws, cond, extra)
        if self.skip is not None:
            direct = self.skip.forward_canonical(self.skip.canonical(ws), cond)
            feats = [a + b for a, b in zip(feats, direct)]
        return self.blocks.layers[-1].from_canonical(feats, ws.spec)


def _with_gradient(ws: WeightSpace, grad: WeightSpace, cond: Tensor | None) -> tuple[WeightSpace, Tensor]:
    """``ws`` with the gradient as a second channel, each tensor scaled to unit RMS per INR, and ``cond`` with the
    log10 of those RMS values [B, 2L] appended."""
    grads = [g.to(ws.dtype) for g in grad.tensors()]
    rms = torch.stack([g.flatten(1).square().mean(1).sqrt() for g in grads], dim=1) + 1e-12  # [B, 2L]
    scaled = [g / r.reshape(-1, *(1,) * (g.dim() - 1)) for g, r in zip(grads, rms.unbind(1))]
    both = [torch.cat([w, g], dim=1) for w, g in zip(ws.tensors(), scaled)]
    log_rms = torch.log10(rms)
    cond = log_rms if cond is None else torch.cat([cond.to(ws.dtype), log_rms], dim=1)
    return WeightSpace(ws.spec, tuple(both[0::2]), tuple(both[1::2])), cond
