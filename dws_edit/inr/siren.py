"""SIREN architectures of the INR families, and their initialisation.

The image variant is the one the anchors (DWSNets, NFN, Neural Graphs) use: 2 -> 32 -> 32 -> 1,
``sin(30 x)`` activations, output offset +0.5, biases initialised to zero, coordinates on the pixel
grid in [-1, 1]^2. The other families keep two hidden layers of 32 so that their weight spaces stay
as small as the images' (about 1.2k parameters): an edit model trains on thousands of them on a CPU.
"""

from __future__ import annotations

import math

import torch

from dws_edit.weights import NetworkSpec, WeightSpace


def image_spec(channels: int = 1, hidden: tuple[int, ...] = (32, 32), w0: float = 30.0) -> NetworkSpec:
    """Image INR: (x, y) in [-1, 1]^2 -> intensity (or RGB) in [0, 1]."""
    return NetworkSpec((2, *hidden, channels), activation="sine", w0=w0, output_offset=0.5)


def sine_spec(hidden: tuple[int, ...] = (32, 32), w0: float = 30.0) -> NetworkSpec:
    """Sine-wave INR: x in [-pi, pi) -> a sin(b x)."""
    return NetworkSpec((1, *hidden, 1), activation="sine", w0=w0, output_offset=0.0)


def sdf_spec(hidden: tuple[int, ...] = (32, 32), w0: float = 15.0) -> NetworkSpec:
    """3-D signed distance INR: (x, y, z) in [-1, 1]^3 -> signed distance (negative inside)."""
    return NetworkSpec((3, *hidden, 1), activation="sine", w0=w0, output_offset=0.0)


def field_spec(hidden: tuple[int, ...] = (32, 32), w0: float = 15.0) -> NetworkSpec:
    """NeRF-like field INR: (x, y, z) -> (density logit, r, g, b), view-independent."""
    return NetworkSpec((3, *hidden, 4), activation="sine", w0=w0, output_offset=0.0)


VSITZMANN_W0 = 30.0
"""The w0 of every sine layer in vsitzmann/siren's released networks (Sitzmann et al. 2020)."""

INIT_SCHEMES = ("zero-bias", "vsitzmann")


def init_siren(
    spec: NetworkSpec, batch: int, generator: torch.Generator | None = None, scheme: str = "zero-bias"
) -> WeightSpace:
    """SIREN initialisation (Sitzmann et al. 2020): first layer U(-1/d0, 1/d0), later layers U(-sqrt(6/n)/w0,
    sqrt(6/n)/w0). ``scheme``: ``"zero-bias"`` (the zoos' and the anchors' image INRs: biases zero, at ``spec``'s
    w0) or ``"vsitzmann"`` (as vsitzmann/siren's released code builds a network: w0 = 30 in every sine layer and
    PyTorch's default biases U(-1/sqrt(n), 1/sqrt(n)), then written exactly at ``spec``'s w0 and output offset by
    :func:`respec`: the same functions, the weights a user's SIREN starts from). Returns [batch, 1, ...] of ``spec``.
    Raises ValueError (one line) for another scheme, or ``"vsitzmann"`` on a non-sine spec."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init_siren: scheme {scheme!r} is not accepted; accepted: {', '.join(INIT_SCHEMES)}")
    if scheme == "vsitzmann" and spec.activation != "sine":
        raise ValueError(f"init_siren: the vsitzmann scheme builds sine networks; got a {spec.activation} spec")
    built = NetworkSpec(spec.layer_sizes, spec.activation, VSITZMANN_W0, 0.0) if scheme == "vsitzmann" else spec
    weights = []
    for i, (o, n) in enumerate(built.weight_shapes):
        bound = 1.0 / n if i == 0 else math.sqrt(6.0 / n) / (built.w0 if built.activation == "sine" else 1.0)
        weights.append((torch.rand(batch, 1, o, n, generator=generator) * 2 - 1) * bound)
    if scheme == "zero-bias":
        return WeightSpace(spec, tuple(weights), tuple(torch.zeros(batch, 1, o) for (o,) in spec.bias_shapes))
    biases = [
        (torch.rand(batch, 1, o, generator=generator) * 2 - 1) / math.sqrt(n)
        for (o,), (_, n) in zip(built.bias_shapes, built.weight_shapes, strict=True)
    ]
    return respec(WeightSpace(built, tuple(weights), tuple(biases)), spec.w0, spec.output_offset)


def canonical_phases(ws: WeightSpace) -> WeightSpace:
    """The same SIRENs with every hidden bias moved by whole periods 2 pi / w0 into [-pi/w0, pi/w0]: exact, since
    sin(w0 (z + 2 pi k / w0)) = sin(w0 z) (a symmetry of sine networks beyond the permutations of hidden neurons).
    The zoos' INRs, fitted from zero biases, already lie there (every INR of the image, SDF and field zoos: largest
    |bias| 0.09 at w0 = 30 against 0.105, 0.14 at w0 = 15 against 0.21) and come back unchanged; SIRENs
    initialised as vsitzmann/siren does (biases up to 1/sqrt(fan_in)) come closer to them. ``ws`` [B, C, ...] of
    any spec; non-sine specs and the output layer's bias are returned as they are. The edit models apply it to
    their input (:class:`~dws_edit.nn.models.EditNet`); an INR of the project's own whose biases moved past pi/w0
    (an exact translate, a chain of learned edits) is edited from this form too: the same function, weights the
    models were trained nearer to."""
    if ws.spec.activation != "sine":
        return ws
    period = 2 * math.pi / ws.spec.w0
    last = len(ws.biases) - 1
    biases = tuple(b if i == last else b - period * torch.round(b / period) for i, b in enumerate(ws.biases))
    return WeightSpace(ws.spec, ws.weights, biases)


def canonical_signs(ws: WeightSpace) -> WeightSpace:
    """The same SIRENs with every hidden neuron's sign fixed: a neuron whose bias is negative (or zero, with a
    negative sum of incoming weights) is negated, its incoming weights, bias and outgoing weights alike. Exact, since
    sin is odd (``WeightSpace.flip_signs``); after it, two fits that differ only by the sign symmetry of sine networks
    have the same weights up to the permutations of hidden neurons, which the DWS layers are equivariant to (the
    canonicalisation of ScaleGMN, Kalogeropoulos et al. 2024). Layers are fixed in order (a flip in layer k changes
    the incoming weights of layer k + 1). ``ws`` [B, C, ...]: the signs are decided on channel 0; non-sine specs come
    back as they are."""
    if ws.spec.activation != "sine":
        return ws
    for k in range(len(ws.spec.hidden_sizes)):
        bias, incoming = ws.biases[k][:, 0], ws.weights[k][:, 0].sum(-1)  # [B, d]
        negative = (bias < 0) | ((bias == 0) & (incoming < 0))
        signs = [torch.ones_like(b[:, 0]) for b in ws.biases[:-1]]
        signs[k] = torch.where(negative, -1.0, 1.0).to(bias)
        ws = ws.flip_signs(signs)
    return ws


def grid_coords(height: int, width: int) -> torch.Tensor:
    """Pixel-centre coordinates on [-1, 1]^2 as [H*W, 2] in (x, y) order, row-major like the image."""
    ys = torch.linspace(-1, 1, height)
    xs = torch.linspace(-1, 1, width)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=-1)


def cube_grid(resolution: int, lo: float = -1.0, hi: float = 1.0) -> torch.Tensor:
    """The regular grid ``[R, R, R, 3]`` (float64, ``indexing="ij"``: x, y, z) of ``resolution`` points per axis
    from ``lo`` to ``hi``, ends included."""
    g = torch.linspace(lo, hi, resolution, dtype=torch.float64)
    return torch.stack(torch.meshgrid(g, g, g, indexing="ij"), dim=-1)  # [R, R, R, 3]


def respec(ws: WeightSpace, w0: float, output_offset: float) -> WeightSpace:
    """The same SIRENs written at another ``w0`` and ``output_offset``, exactly: every sine layer's weights and bias
    scaled by ``ws.spec.w0 / w0`` (``sin(w0_a (W x + b)) = sin(w0_b (W' x + b'))`` with ``W' = (w0_a / w0_b) W``), and
    the output offset moved into the last bias. An INR imported from another layout (no offset, another w0) so
    becomes one a shipped model accepts. Raises ValueError (one line) for a non-sine spec with another w0."""
    s = ws.spec
    if s.activation != "sine" and w0 != s.w0:
        raise ValueError(f"respec: a {s.activation} network has no w0 to change; accepted: sine networks")
    scale = s.w0 / w0
    last = len(ws.weights) - 1
    weights = tuple(w if i == last else w * scale for i, w in enumerate(ws.weights))
    biases = tuple(b + (s.output_offset - output_offset) if i == last else b * scale for i, b in enumerate(ws.biases))
    spec = NetworkSpec(s.layer_sizes, s.activation, w0, output_offset)
    return WeightSpace(spec, weights, biases)
