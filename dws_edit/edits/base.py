"""Edit domains and the definition of a learned edit (``EditDef``): parameters, conditioning vector, target.

Domains (which INRs an edit applies to), decided from a ``NetworkSpec`` by :func:`domain_of`:

========  ====  ==========  =====================================================================
domain    d0    dL          meaning
========  ====  ==========  =====================================================================
image     2     1 or 3      (x, y) in [-1, 1]^2 -> intensity or RGB in [0, 1] (background 0)
sdf       3     1           (x, y, z) in [-1, 1]^3 -> signed distance, negative inside
field     3     4           (x, y, z) in [-1, 1]^3 -> (density in [0, 1], r, g, b)
========  ====  ==========  =====================================================================

An :class:`EditDef` is the ONE definition of an edit that training, evaluation, the fine-tune baseline and
the front doors share: ``target(f, coords, params, domain)`` is the edited function evaluated at ``coords``,
computed from the original function ``f`` (a callable ``[B, M', d0] -> [B, M', dL]``, typically
``lambda c: evaluate(ws, c)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from dws_edit.edits.params import Param
from dws_edit.inr import evaluate
from dws_edit.weights import NetworkSpec, WeightSpace


@dataclass(frozen=True)
class Domain:
    """An INR family an edit can act on: input dimension ``d0`` and accepted output dimensions."""

    name: str
    d0: int
    out_dims: tuple[int, ...]
    doc: str

    def describe(self) -> str:
        outs = " or ".join(str(d) for d in self.out_dims)
        return f"{self.name} (d0={self.d0}, dL={outs})"


DOMAINS: dict[str, Domain] = {
    "image": Domain("image", 2, (1, 3), "(x, y) in [-1, 1]^2 -> intensity or RGB in [0, 1]"),
    "sdf": Domain("sdf", 3, (1,), "(x, y, z) in [-1, 1]^3 -> signed distance, negative inside"),
    "field": Domain("field", 3, (4,), "(x, y, z) in [-1, 1]^3 -> (density in [0, 1], r, g, b)"),
}


def domain_of(spec: NetworkSpec | WeightSpace) -> str:
    """The edit domain of an INR spec (or of a WeightSpace's spec): ``"image"``, ``"sdf"`` or ``"field"``.

    Raises ValueError (one line, naming the accepted domains) for a spec of no domain, e.g. a 1-D sine INR.
    """
    spec = spec.spec if isinstance(spec, WeightSpace) else spec
    d0, dL = spec.layer_sizes[0], spec.layer_sizes[-1]
    for dom in DOMAINS.values():
        if d0 == dom.d0 and dL in dom.out_dims:
            return dom.name
    accepted = ", ".join(d.describe() for d in DOMAINS.values())
    raise ValueError(f"an INR with spec {spec.layer_sizes} (d0={d0}, dL={dL}) has no edit domain; accepted: {accepted}")


def check_domain_name(domain: str) -> Domain:
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; accepted: {', '.join(DOMAINS)}")
    return DOMAINS[domain]


class TargetFn(Protocol):
    def __call__(
        self, f: Callable[[Tensor], Tensor], coords: Tensor, params: dict[str, Tensor], domain: str, **options: Any
    ) -> Tensor: ...


@dataclass(frozen=True, eq=False)
class EditDef:
    """A learned edit, defined once as a functional target.

    ``params_by_domain[domain]`` lists its parameters there (ranges may differ by domain; an edit without
    parameters has an empty tuple). ``fn`` computes the target from validated (canonical) parameters;
    ``options`` documents its keyword options (quadrature size, chunking, ...).
    """

    name: str
    summary: str
    params_by_domain: Mapping[str, tuple[Param, ...]]
    fn: TargetFn
    options: Mapping[str, str]
    source: str = ""

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(self.params_by_domain)

    def check_domain(self, domain: str) -> None:
        """Raise ValueError (one line) unless this edit applies to ``domain``."""
        check_domain_name(domain)
        if domain not in self.params_by_domain:
            raise ValueError(
                f"edit {self.name!r} does not apply to {domain} INRs; it accepts: {', '.join(self.domains)}"
            )

    def params(self, domain: str) -> tuple[Param, ...]:
        self.check_domain(domain)
        return self.params_by_domain[domain]

    def cond_dim(self, domain: str) -> int:
        """Length of the conditioning vector for ``domain`` (0 for an edit without parameters)."""
        return sum(p.size for p in self.params(domain))

    def describe(self, domain: str | None = None) -> str:
        """One line of help: name, summary and accepted parameters (for one domain, or all)."""
        doms = [domain] if domain else list(self.domains)
        parts = []
        for d in doms:
            ps = "; ".join(p.accepted() for p in self.params(d)) or "no parameters"
            parts.append(f"{d}: {ps}")
        return f"{self.name}: {self.summary} ({' | '.join(parts)})"

    # ------------------------------------------------------------------ parameters
    def validate(self, params: Mapping[str, Any] | None, domain: str, like: Tensor | None = None) -> dict[str, Tensor]:
        """Check user parameters and return them canonical: every tensor with the same leading batch ``B``
        (1 when all values are shared). Numbers become float tensors of ``like``'s dtype and device (default:
        torch's default float dtype), choices long indices. Ends of ranges have a 1e-6 tolerance (float32).
        Raises ValueError (one line, naming the parameter, its value and what is accepted).
        """
        specs = self.params(domain)
        given = dict(params or {})
        names = [p.name for p in specs]
        where = f"edit {self.name!r} ({domain})"
        unknown = sorted(set(given) - set(names))
        missing = [n for n in names if n not in given]
        if unknown or missing:
            what = f"unknown parameter(s) {unknown}" if unknown else f"missing parameter(s) {missing}"
            accepted = "; ".join(p.accepted() for p in specs) or "no parameters"
            raise ValueError(f"{where}: {what}; accepted: {accepted}")
        out = {p.name: p.canonical(given[p.name], where) for p in specs}
        sizes = {t.shape[0] for t in out.values()} - {1}
        if len(sizes) > 1:
            shapes = {k: tuple(v.shape) for k, v in out.items()}
            raise ValueError(f"{where}: parameters have different batch sizes {shapes}; use one B (or 1 to share)")
        batch = sizes.pop() if sizes else 1
        float_dtype = like.dtype if like is not None else torch.get_default_dtype()
        for k, t in out.items():
            t = t.expand(batch, *t.shape[1:])
            t = t.to(dtype=float_dtype) if t.is_floating_point() else t
            out[k] = t if like is None else t.to(like.device)
        return out

    def sample(self, n: int, generator: torch.Generator | None, domain: str) -> dict[str, Tensor]:
        """``n`` random parameter sets (canonical, leading axis ``n``) drawn from the valid ranges, on CPU."""
        return {p.name: p.sample(n, generator) for p in self.params(domain)}

    def encode(self, params: Mapping[str, Any] | None, domain: str, batch: int | None = None) -> Tensor:
        """The conditioning vector ``[B, cond_dim(domain)]`` (default float dtype): the parameters'
        encodings concatenated in parameter order (see each parameter class). Shared parameters are
        repeated to ``batch`` when it is given (an edit without parameters needs it to give B > 1)."""
        canon = self.validate(params, domain)
        specs = self.params(domain)
        n = next(iter(canon.values())).shape[0] if canon else 1
        if batch is not None and n not in (1, batch):
            raise ValueError(f"edit {self.name!r}: parameters hold {n} sets for a batch of {batch}")
        n = batch if batch is not None else n
        parts = [p.encode(canon[p.name]).to(torch.get_default_dtype()).expand(n, p.size) for p in specs]
        return torch.cat(parts, dim=1) if parts else torch.zeros(n, 0)

    # ------------------------------------------------------------------ the target
    def target(
        self,
        f: Callable[[Tensor], Tensor],
        coords: Tensor,
        params: Mapping[str, Any] | None,
        domain: str,
        **options: Any,
    ) -> Tensor:
        """The edited function at ``coords``: ``[B, M, dL]``.

        ``f`` maps coords ``[M', d0]`` or ``[B, M', d0]`` to ``[B, M', dL]``; ``coords`` is ``[M, d0]``
        (shared) or ``[B, M, d0]``; ``params`` are numbers / names / sequences (shared) or tensors with a
        leading ``[B]``. ``options`` are this edit's keyword options (``self.options``). Gradients flow
        through ``f``; wrap in ``torch.no_grad()`` for fixed targets. Raises ValueError (one line) for a
        domain the edit does not apply to, coords of the wrong shape, bad parameters or unknown options.
        """
        self.check_domain(domain)
        d0 = DOMAINS[domain].d0
        if coords.dim() not in (2, 3) or coords.shape[-1] != d0:
            raise ValueError(
                f"edit {self.name!r}: coords of shape {tuple(coords.shape)}; expected [M, {d0}] or [B, M, {d0}] "
                f"for {domain} INRs"
            )
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"edit {self.name!r}: unknown option(s) {unknown}; accepted: {sorted(self.options)}")
        canon = self.validate(params, domain, like=coords)
        n = next(iter(canon.values())).shape[0] if canon else 1
        if coords.dim() == 3 and n not in (1, coords.shape[0]):
            raise ValueError(f"edit {self.name!r}: parameters hold {n} sets for {coords.shape[0]} coordinate sets")
        return self.fn(f, coords, canon, domain, **options)

    def target_of(self, ws: WeightSpace, coords: Tensor, params: Mapping[str, Any] | None, **options: Any) -> Tensor:
        """``target`` for a batch of INRs: ``f = evaluate(ws, .)``, domain from ``ws.spec``."""
        return self.target(lambda c: evaluate(ws, c), coords, params, domain_of(ws.spec), **options)


def batched_coords(coords: Tensor) -> Tensor:
    """``coords`` as ``[n, M, d0]``: shared ``[M, d0]`` coords get a batch axis of 1 (which broadcasts)."""
    return coords[None] if coords.dim() == 2 else coords


def call_shared(f: Callable[[Tensor], Tensor], coords: Tensor) -> Tensor:
    """Call ``f`` on ``[n, M, d0]`` coords, as ``[M, d0]`` when ``n == 1`` so that ``f`` broadcasts them
    over its own batch of INRs."""
    return f(coords[0]) if coords.shape[0] == 1 else f(coords)


__all__ = ["DOMAINS", "Domain", "EditDef", "batched_coords", "call_shared", "check_domain_name", "domain_of"]
