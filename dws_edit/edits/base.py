"""The definition of an edit (``EditDef``), learned and exact alike: typed parameters per domain, and either a
functional target (learned edits) or a closed form on the weights (exact edits).

An :class:`EditDef` is the ONE definition of an edit that training, evaluation, the fine-tune baseline and the front
doors share. A learned edit's ``target(f, coords, params, domain)`` is the edited function evaluated at ``coords``,
computed from the original function ``f`` (a callable ``[B, M', d0] -> [B, M', dL]``, typically
``lambda c: evaluate(ws, c)``); an exact edit's ``apply(ws, **params)`` is the edited INR. What differs between
edits is said by their fields (``exact_form``, ``from_generator``, ``quadrature``, ``draw``), so that no caller
outside ``dws_edit.edits`` branches on an edit's name. Domains (which INRs an edit applies to) are
:mod:`dws_edit.inr.domains`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import Tensor

from dws_edit.edits.params import Param
from dws_edit.inr import evaluate
from dws_edit.inr.domains import DOMAINS, Domain, domain_of, get_domain
from dws_edit.weights import WeightSpace


def check_domain_name(domain: str) -> Domain:
    return get_domain(domain)


class TargetFn(Protocol):
    def __call__(
        self, f: Callable[[Tensor], Tensor], coords: Tensor, params: dict[str, Tensor], domain: str, **options: Any
    ) -> Tensor: ...


@dataclass(frozen=True, eq=False)
class EditDef:
    """An edit, defined once.

    ``params_by_domain[domain]`` lists its parameters there (ranges may differ by domain; an edit without
    parameters has an empty tuple). ``kind``: ``"learned"`` (``fn`` computes the functional target from validated,
    canonical parameters; an edit model learns it) or ``"exact"`` (``fn(ws, **params)`` is the closed form on the
    weights, which checks its own values). ``options`` documents the target's keyword options (quadrature size,
    chunking, ...). ``exact_form``: the exact edit computing the same target (``edit(..., exact=True)`` picks it).
    ``from_generator``: the target is the generator's shape, not a function of the INR (it needs the option
    ``shapes``; no gradient, refine or symmetry augmentation). ``quadrature``: the target is an integral whose
    cost the domain's quadrature presets bound (:attr:`dws_edit.inr.domains.Domain.quadrature`). ``draw``: how
    training draws its parameters when not from the ranges (``draw(n, generator, domain, shapes)``).
    ``examples``: parameters the demo shows per domain. ``on_pixels``: the same edit of images ``[N, H, W]`` on
    their pixels, as a published protocol defines it (dilate: the benches compare with it). ``widths(ws, **params)``:
    the hidden widths an exact edit returns where it adds neurons (symmetrize_exact, blend; others keep ``ws``'s).
    """

    name: str
    summary: str
    params_by_domain: Mapping[str, tuple[Param, ...]]
    fn: Callable[..., Any]
    options: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    kind: Literal["learned", "exact"] = "learned"
    exact_form: str | None = None
    from_generator: bool = False
    quadrature: bool = False
    draw: Callable[..., dict[str, Tensor]] | None = None
    examples: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    on_pixels: Callable[[Tensor], Tensor] | None = None
    widths: Callable[..., tuple[int, ...]] | None = None

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
        where = f"edit {self.name!r} ({domain})"
        self.check_names(given, domain)
        given |= {p.name: p.default for p in specs if p.name not in given and getattr(p, "default", None) is not None}
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

    def sample(self, n: int, generator: torch.Generator | None, domain: str, shapes: list | None = None,
               wide: bool = False, fixed: Mapping[str, Any] | None = None) -> dict:  # fmt: skip
        """``n`` random parameter sets (canonical, leading axis ``n``, on CPU) for training or evaluation: drawn from
        the trained ranges (the wide ones when ``wide``: the wide recipes), or by ``draw`` (``remove_part``: the part
        group each INR's procedural shape in ``shapes`` has). ``fixed``: values that replace the drawn ones (the
        ``mode`` a model learns); a choice not encoded (``mode``) is drawn as its default, drawing nothing, so the
        other parameters' draws do not depend on it. Raises ValueError (one line) for a bad fixed value."""
        if self.draw is not None:
            out = self.draw(n, generator, domain, shapes)
        else:
            out = {p.name: p.sample(n, generator, wide=wide) for p in self.params(domain)}
        if fixed:
            self.check_names({**out, **fixed}, domain)
            where = f"edit {self.name!r} ({domain})"
            specs = {p.name: p for p in self.params(domain)}
            canon = {k: specs[k].canonical(v, where) for k, v in fixed.items()}
            out |= {k: t.expand(n, *t.shape[1:]).clone() for k, t in canon.items()}
        return out

    def mode_param(self, domain: str):
        """The choice of the target's form that is not in the encoding (symmetrize's ``mode``), or None."""
        return next((p for p in self.params(domain) if getattr(p, "encoded", True) is False), None)

    def untrained(self, params: Mapping[str, Any] | None, domain: str, wide: bool = False) -> list[str]:
        """Clauses naming the parameter values outside the ranges a model samples in training (the wide ones when
        ``wide``), one per parameter; [] when all lie inside. Raises ValueError as :meth:`validate`."""
        canon = self.validate(params, domain)
        notes = (p.untrained(canon[p.name], wide) for p in self.params(domain) if hasattr(p, "untrained"))
        return [n for n in notes if n]

    def target_options(self, domain: str, purpose: str = "exact", shapes: list | None = None) -> dict[str, Any]:
        """Keyword options of the target for ``purpose`` (``"exact"``, ``"grid"``, ``"preview"``): the domain's
        quadrature preset for an integral target (smooth; images: the target's default), the procedural
        ``shapes`` (one per INR) for a target from the generator, else none."""
        if self.from_generator:
            return {"shapes": shapes}
        if self.quadrature:
            return dict(get_domain(domain).quadrature.get(purpose, {}))
        return {}

    def check_from_source(self, what: str) -> None:
        """Raise ValueError (one line, starting with ``what``) unless the target is a function of the source INR
        (``what`` needs it: a gradient, refine steps, turned INRs)."""
        if self.from_generator:
            from_source = ", ".join(n for n, e in REGISTRY.items() if e.kind == "learned" and not e.from_generator)
            raise ValueError(
                f"{what}: {self.name}'s target is the generator's shape (exact, not a function of the INR); "
                f"accepted edits: {from_source}"
            )

    def check_names(self, params: Mapping[str, Any], domain: str) -> None:
        """Raise ValueError (one line, naming what is accepted) for unknown or missing parameters in ``domain``."""
        specs = self.params(domain)
        names = [p.name for p in specs]
        unknown = sorted(set(params) - set(names))
        missing = [p.name for p in specs if not p.optional and p.name not in params]
        if unknown or missing:
            what = f"unknown parameter(s) {unknown}" if unknown else f"missing parameter(s) {missing}"
            accepted = "; ".join(p.accepted() + (" (optional)" if p.optional else "") for p in specs)
            kind = "exact edit" if self.kind == "exact" else "edit"
            raise ValueError(f"{kind} {self.name!r} ({domain}): {what}; accepted: {accepted or 'no parameters'}")

    def apply(self, ws: WeightSpace, **params: Any) -> WeightSpace:
        """An exact edit of ``ws``: its parameter names checked here (one line), their values by the closed form.
        Raises ValueError for a learned edit (it needs a model: :func:`dws_edit.edit`)."""
        if self.kind != "exact":
            raise ValueError(f"{self.name!r} is a learned edit: run it with dws_edit.edit (a model performs it)")
        domain = domain_of(ws.spec)
        self.check_domain(domain)
        self.check_names(params, domain)
        return self.fn(ws, **params)

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


REGISTRY: dict[str, EditDef] = {}
"""Every edit by name, learned and exact (filled by :mod:`dws_edit.edits.registry`)."""


def get_edit(name: str, kind: str | None = None) -> EditDef:
    """The edit called ``name`` (of ``kind`` "learned" or "exact" when given); ValueError (one line, listing the
    accepted names) otherwise."""
    names = [n for n, e in REGISTRY.items() if kind in (None, e.kind)]
    if name not in names:
        if kind:
            raise ValueError(f"unknown {kind} edit {name!r}; accepted: {', '.join(names)}")
        groups = {k: ", ".join(n for n, e in REGISTRY.items() if e.kind == k) for k in ("learned", "exact")}
        raise ValueError(f"unknown edit {name!r}; accepted: learned {groups['learned']}; exact {groups['exact']}")
    return REGISTRY[name]


__all__ = [
    "DOMAINS",
    "REGISTRY",
    "Domain",
    "EditDef",
    "batched_coords",
    "call_shared",
    "check_domain_name",
    "domain_of",
    "get_edit",
]
