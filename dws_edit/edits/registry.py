"""ONE registry of edits, learned and exact alike (``REGISTRY``): each an :class:`~dws_edit.edits.base.EditDef`
with typed, documented parameters per domain. ``available_edits()``, the CLI's options, the app's form and every
validation come from here.

Learned edits (an edit model learns the functional target; training and evaluation compare against it):

=============  =============  =====================================================  ==========================
edit           domains        parameters: accepted (trained = sampled range)         conditioning vector (len)
=============  =============  =====================================================  ==========================
smooth         all            sigma: image [0.02, 0.15], 3-D [0.02, 0.10], log       (log sigma) -> [-1, 1] (1)
                              (accepted = trained)
symmetrize     all            axis: image x | y; 3-D x | y | z; mode: average         one-hot axis (2 / 3); mode
                              (default) | union | intersection                       not encoded (card: modes)
remove         all            box [min corner, max corner], corners in [-1, 1],      corners (4 / 6)
                              sides in (0, 2] (trained [0.2, 1.2])
remove_sphere  sdf, field     center in [-1, 1]^3 (trained [-0.8, 0.8]^3), radius    center/0.8, radius -> [-1, 1]
                              in (0, sqrt 3] (trained [0.1, 0.6])                    over the trained range (4)
remove_part    sdf, field     part: handle | legs | wheels (exact target from the      one-hot (3)
                              generator's shape, option shapes=)
dilate         image          none                                                   empty (0)
=============  =============  =====================================================  ==========================

Ranges: an image pixel of the 28x28 grid is 2/27 = 0.074 wide, so image smoothing goes from a quarter pixel
to two pixels; the 3-D shapes (``dws_edit.data.shapes``) have walls and legs 0.04 to 0.1 thick, which a sigma
above 0.1 erases. The shipped remove models were trained on boxes of side 0.2 to 1.2 (a part of a digit or shape,
not all of it) and balls of radius 0.1 to 0.6 centered in [-0.8, 0.8]^3; any box of positive sides inside the cube
(a slab, a half, the whole cube) and any ball centered in it of radius up to sqrt 3 (from the center, the whole
cube) is accepted: the encoding extrapolates linearly (values inside the trained ranges encode as they always did),
``dws_edit.edit`` warns in one line naming the trained range, and the never-worse guard checks the result against
the exact target (docs/benchmarks.md, "Ranges beyond training"). The wide recipes (``--wide-params``) sample the
accepted ranges (sides up to 2, radius up to 1.2).

symmetrize's modes (which keeps what; :func:`dws_edit.edits.targets.combine_mirrored`): ``average``
``(f(x) + f(M x)) / 2`` keeps what both sides share at full strength and halves what only one side has: on an SDF a
thin part present on one side only (an ear, a handle, a mug's wall off the mirror plane) is averaged with the empty
side's positive distance and disappears; ``union`` keeps everything either side has (sdf ``min``, field density
``max`` with the denser side's colors, image ``max``: the ink of both sides); ``intersection`` keeps only what both
sides have (sdf ``max``, field density ``min``, image ``min``). Only ``average`` has a closed form on the weights
(``exact=True``: ``symmetrize_exact``); the shipped symmetrize models were trained on ``average`` (a card without
``modes`` was trained on the default); for the other modes without a trained model, ``dws_edit.edit`` starts from
the average model's pass and the guard refines toward the mode's own target, saying so in its report.

Exact edits (closed forms on the weights, :mod:`dws_edit.edits.exact`): mirror, translate, rotate, scale, affine,
symmetrize_exact, blend. Image coordinates: x across the columns, y down the rows, so a positive rotate angle turns
the picture clockwise on screen.
"""

from __future__ import annotations

import math

import torch

from dws_edit.edits import exact, targets
from dws_edit.edits.base import REGISTRY, EditDef
from dws_edit.edits.params import BoxParam, ChoiceParam, FloatParam, ValueParam, VectorParam
from dws_edit.edits.targets import SYMMETRIZE_MODES

UNIT = "coordinate units"
INF = math.inf
DOMAINS_3D = ("sdf", "field")


def _sigma(high: float) -> FloatParam:
    return FloatParam("sigma", 0.02, high, "Gaussian std ([-1, 1] spans the INR)", log=True, unit=UNIT)


def _axis(d0: int, doc: str = "input coordinate to mirror (images: x left-right, y top-bottom)") -> ChoiceParam:
    return ChoiceParam("axis", targets.AXES[:d0], doc)


def _box(d0: int) -> BoxParam:
    doc = "axis-aligned box: min corner then max corner (images: y runs down the rows, so -1 -1 0 0 is the top-left"
    return BoxParam("box", d0, 0.2, 1.2, doc + " quarter; 3-D: y up)", unit=UNIT, accept_sides=(0.0, 2.0),
                    wide_sides=(0.1, 2.0))  # fmt: skip


_MODE = ChoiceParam(
    "mode",
    SYMMETRIZE_MODES,
    "average (f(x) + f(Mx)) / 2; union keeps what either side has (sdf min, field max density, image max); "
    "intersection keeps what both have (sdf max, field min density, image min)",
    optional=True,
    encoded=False,
    default="average",
)
_EXACT_MODE = ChoiceParam("mode", SYMMETRIZE_MODES[:1], "the closed form is the average only", optional=True,
                          encoded=False, default="average")  # fmt: skip


def _center(d0: int) -> VectorParam:
    return VectorParam("center", d0, -INF, INF, "the fixed point (default the origin)", unit=UNIT, optional=True)


_SPHERE = (
    VectorParam("center", 3, -0.8, 0.8, "ball center", unit=UNIT, accept=(-1.0, 1.0)),
    FloatParam("radius", 0.1, 0.6, "ball radius", unit=UNIT, accept=(0.0, math.sqrt(3)), low_open=True,
               wide=(0.05, 1.2)),
)  # fmt: skip
_PART = ChoiceParam("part", tuple(targets.PART_GROUPS), "part group: handle (mug), legs (table, chair), wheels (car)")
_ANGLE = FloatParam(
    "angle",
    -INF,
    INF,
    "rotation angle (images: a positive angle turns +x toward +y, which is clockwise on screen; 3-D: right-hand rule)",
    unit="radians",
)

_SMOOTH_OPTIONS = {
    "points": "quadrature points per dimension, odd (default 13; cost points**d0 evaluations of f per point)",
    "extent": "quadrature half-width in sigmas (default 4.0)",
    "chunk": "most points per INR in one call of f (default 65536)",
    "samples": "Monte Carlo instead of quadrature: this many Gaussian offsets per INR, antithetic (default 0: off)",
    "generator": "torch.Generator of the Monte Carlo offsets",
}

_EXAMPLES_3D = {
    "smooth": {"sigma": 0.05},
    "symmetrize": {"axis": "x"},
    "remove": {"box": (0.0, -0.6, -0.6, 1.0, 0.2, 0.6)},
    "remove_sphere": {"center": (0.3, 0.0, 0.0), "radius": 0.3},
    "remove_part": {"part": "handle"},
}
_EXAMPLES_IMAGE = {"smooth": {"sigma": 0.08}, "symmetrize": {"axis": "x"}, "remove": {"box": (-1.0, -1.0, 0.0, 0.0)},
                   "dilate": {}}  # fmt: skip


def _examples(name: str) -> dict:
    """The parameters the demos show ``name`` with, per domain (inside the trained ranges)."""
    out = {"image": _EXAMPLES_IMAGE[name]} if name in _EXAMPLES_IMAGE else {}
    return out | ({d: _EXAMPLES_3D[name] for d in DOMAINS_3D} if name in _EXAMPLES_3D else {})


def _draw_part(n: int, generator, domain: str, shapes: list | None) -> dict:
    """remove_part's training parameters: the part group each INR's procedural shape in ``shapes`` has."""
    if shapes is None:  # no shapes known: the part groups drawn uniformly, as any choice
        return {"part": _PART.sample(n, generator)}
    groups = list(targets.PART_GROUPS)
    return {"part": torch.tensor([groups.index(targets.part_group_of(s.family)) for s in shapes])}


def _dilate_pixels(images: torch.Tensor) -> torch.Tensor:
    """3x3 grey dilation of images ``[N, H, W]`` (scipy's ``grey_dilation``, border "nearest"; = cv2.dilate)."""
    from scipy.ndimage import grey_dilation

    return torch.from_numpy(grey_dilation(images.numpy(), size=(1, 3, 3), mode="nearest"))


def _per_domain(make) -> dict:
    return {"image": make(2), "sdf": make(3), "field": make(3)}


LEARNED = (
    EditDef(
        "smooth",
        "Gaussian smoothing f'(x) = E f(x + e), e ~ N(0, sigma^2 I)",
        {"image": (_sigma(0.15),), "sdf": (_sigma(0.10),), "field": (_sigma(0.10),)},
        targets._smooth,
        _SMOOTH_OPTIONS,
        quadrature=True,
        examples=_examples("smooth"),
    ),
    EditDef(
        "symmetrize",
        "mirror symmetry f'(x) = (f(x) + f(M x)) / 2, M negating coordinate axis (or mode union / intersection)",
        _per_domain(lambda d: (_axis(d), _MODE)),
        targets._symmetrize,
        exact_form="symmetrize_exact",
        examples=_examples("symmetrize"),
    ),
    EditDef(
        "remove",
        "erase the inside of a box (image: background 0; sdf: max(f, -box); field: density 0)",
        _per_domain(lambda d: (_box(d),)),
        targets._remove,
        examples=_examples("remove"),
    ),
    EditDef(
        "remove_sphere",
        "erase the inside of a ball (sdf: max(f, -ball); field: density 0)",
        {d: _SPHERE for d in DOMAINS_3D},
        targets._remove_sphere,
        examples=_examples("remove_sphere"),
    ),
    EditDef(
        "remove_part",
        "remove a part of a procedural shape: a mug's handle, a table's or chair's legs, a car's wheels",
        {d: (_PART,) for d in DOMAINS_3D},
        targets._remove_part,
        {
            "shapes": "the INRs' procedural shapes (dws_edit.data.shapes.Shape), one per INR: the exact target",
            "sharpness": "field: density = sigmoid(-sdf * sharpness), as the field zoo (default 50)",
        },
        from_generator=True,
        draw=_draw_part,
        examples=_examples("remove_part"),
    ),
    EditDef(
        "dilate",
        "3x3 morphological dilation on the 28x28 pixel grid (to compare with published MNIST numbers)",
        {"image": ()},
        targets._dilate,
        {"grid": "pixels per side of the grid the 3x3 window lives on (default 28)"},
        source=(
            "Zhou et al., Permutation Equivariant Neural Functionals, NeurIPS 2023 (github.com/AllanYangZhou/nfn, "
            "experiments/stylize_siren.py: cv2.dilate of the 28x28 MNIST image with np.ones((3, 3)), MSE on "
            "pixels normalized to [-1, 1], i.e. 4x the MSE on [0, 1]); Kofinas et al., Graph Neural Networks "
            "for Learning Equivariant Representations of Neural Networks (Neural Graphs), ICLR 2024, same task"
        ),
        examples=_examples("dilate"),
        on_pixels=_dilate_pixels,
    ),
)


_EXACT_EXAMPLES = {
    "mirror": {d: {"axis": "x"} for d in ("image", *DOMAINS_3D)},
    "symmetrize_exact": {d: {"axis": "x"} for d in ("image", *DOMAINS_3D)},
    "translate": {"image": {"offset": (0.2, 0.0)}} | {d: {"offset": (0.2, 0.0, 0.0)} for d in DOMAINS_3D},
    "rotate": {"image": {"angle": math.pi / 2}} | {d: {"angle": math.pi / 2, "axis": "y"} for d in DOMAINS_3D},
    "scale": {d: {"factor": 1.25} for d in ("image", *DOMAINS_3D)},
}
"""The parameters the app's form starts exact edits with (a quarter turn and a scale up keep the content in view)."""


def _exact(name: str, fn, summary: str, params: dict, widths=None) -> EditDef:
    return EditDef(name, summary, params, fn, kind="exact", examples=_EXACT_EXAMPLES.get(name, {}), widths=widths)


def _doubled(ws, **params) -> tuple[int, ...]:
    return tuple(2 * h for h in ws.spec.hidden_sizes)


def _added(ws, b=None, **params) -> tuple[int, ...]:
    other = getattr(getattr(b, "spec", None), "hidden_sizes", ())  # a bad b is refused by the closed form itself
    return tuple(h + o for h, o in zip(ws.spec.hidden_sizes, other)) or ws.spec.hidden_sizes


EXACT = (
    _exact("mirror", exact.mirror, "f(M x), M negating one input coordinate", _per_domain(lambda d: (_axis(d),))),
    _exact(
        "translate",
        exact.translate,
        "move the content: f(x - offset)",
        _per_domain(
            lambda d: (
                VectorParam(
                    "offset",
                    d,
                    -INF,
                    INF,
                    "the content moves by this vector (images: +y moves it down; 3-D: +y up)",
                    unit=UNIT,
                ),
            )
        ),
    ),
    _exact(
        "rotate",
        exact.rotate,
        "rotate the content about center: f(R^T (x - c) + c)",
        {
            "image": (_ANGLE, _center(2)),
            **{d: (_ANGLE, _axis(3, "rotation axis: x, y, z"), _center(3)) for d in DOMAINS_3D},
        },
    ),
    _exact(
        "scale",
        exact.scale,
        "scale the content about center: f((x - c) / factor + c)",
        _per_domain(
            lambda d: (
                FloatParam("factor", 0.0, INF, "the content grows by this factor (> 0)", unit="times"),
                _center(d),
            )
        ),
    ),
    _exact(
        "affine",
        exact.affine,
        "f(A x + t)",
        _per_domain(
            lambda d: (
                ValueParam("A", f"a [{d}, {d}] matrix (or [B, {d}, {d}])", "the linear map"),
                ValueParam("t", f"{d} numbers (or [B, {d}]), default 0", "the shift", optional=True),
            )
        ),
    ),
    _exact(
        "symmetrize_exact",
        exact.symmetrize_exact,
        "(f(x) + f(M x)) / 2; hidden widths double",
        _per_domain(lambda d: (_axis(d), _EXACT_MODE)),
        _doubled,
    ),
    _exact(
        "blend",
        exact.blend,
        "(1 - t) f_a + t f_b of two INRs; hidden widths add",
        _per_domain(
            lambda d: (
                ValueParam("b", "the second INR (same depth, d0, dL, activation, w0, offset)", "the INR blended in"),
                FloatParam("t", -INF, INF, "the weight of the second INR"),
            )
        ),
        _added,
    ),
)

REGISTRY.update({e.name: e for e in LEARNED + EXACT})
EDITS: dict[str, EditDef] = {n: e for n, e in REGISTRY.items() if e.kind == "learned"}
"""The learned edits of :data:`REGISTRY` (a view, in registry order)."""
EXACT_EDITS: dict[str, EditDef] = {n: e for n, e in REGISTRY.items() if e.kind == "exact"}
"""The exact edits of :data:`REGISTRY` (a view, in registry order)."""


def get_exact_edit(name: str) -> EditDef:
    """The exact edit called ``name``; ValueError (one line, listing the accepted names) otherwise."""
    from dws_edit.edits.base import get_edit

    return get_edit(name, "exact")


__all__ = ["EDITS", "EXACT_EDITS", "REGISTRY", "get_exact_edit"]
