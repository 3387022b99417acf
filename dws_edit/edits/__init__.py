"""Each edit of INRs defined once, in ONE registry (``REGISTRY``): learned edits as functional targets, exact edits
as closed forms on the weights, both with typed parameters per domain.

Learned edits (``EDITS``, a view of the registry; an edit model learns them, training and evaluation compare against
the target)::

    from dws_edit.edits import get_edit, domain_of
    edit = get_edit("smooth")
    domain = domain_of(ws.spec)                                  # "image" | "sdf" | "field"
    params = edit.sample(64, generator, domain)                  # {"sigma": [64]} for training
    cond = edit.encode(params, domain)                           # [64, edit.cond_dim(domain)]
    y = edit.target(lambda c: evaluate(ws, c), coords, params, domain)   # [64, M, dL]

Exact edits (``EXACT_EDITS``; closed form on the weights, exact to float precision)::

    from dws_edit.edits import mirror, rotate, blend, get_edit
    flipped = mirror(ws, "x"); turned = get_edit("rotate").apply(ws, angle=0.3); mix = blend(ws_a, ws_b, 0.5)

Sits on ``dws_edit.inr`` and ``dws_edit.weights`` only.
"""

from dws_edit.edits.base import DOMAINS, REGISTRY, Domain, EditDef, domain_of, get_edit
from dws_edit.edits.exact import (
    affine,
    blend,
    cube_symmetries,
    mirror,
    rotate,
    scale,
    symmetrize_exact,
    translate,
)
from dws_edit.edits.params import BoxParam, ChoiceParam, FloatParam, Param, ValueParam, VectorParam
from dws_edit.edits.registry import EDITS, EXACT_EDITS, get_exact_edit
from dws_edit.edits.targets import box_sdf, gaussian_quadrature, sphere_sdf

__all__ = [
    "DOMAINS",
    "EDITS",
    "EXACT_EDITS",
    "REGISTRY",
    "BoxParam",
    "ChoiceParam",
    "Domain",
    "EditDef",
    "FloatParam",
    "Param",
    "ValueParam",
    "VectorParam",
    "affine",
    "blend",
    "box_sdf",
    "cube_symmetries",
    "domain_of",
    "gaussian_quadrature",
    "get_edit",
    "get_exact_edit",
    "mirror",
    "rotate",
    "scale",
    "sphere_sdf",
    "symmetrize_exact",
    "translate",
]
