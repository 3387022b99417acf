"""dws-edit in the browser: upload an image, a mesh or an INR (or pick a built-in example), edit it in weight space,
compare before and after, chain, undo and redo, download.

    .venv/bin/python app.py            # serves http://127.0.0.1:7860 (--host, --port; or GRADIO_SERVER_NAME,
                                       # GRADIO_SERVER_PORT, as Hugging Face Spaces and containers set them)

Thin: every step is a method of :class:`dws_edit.session.EditSession` (fit, edit, undo, redo, view, export), kept
per browser session in ``gr.State``. The edit form comes from the edit registry (:data:`dws_edit.edits.REGISTRY`):
one widget per parameter name of the edits offered (:func:`dws_edit.session.edit_choices`), typed by its parameter
class, and only the chosen edit's parameters for the current INR's domain shown. Named endpoints for gradio_client:
``/fit``, ``/edit`` (name, exact, refine, refit, then one argument per parameter name: :data:`PARAM_NAMES`),
``/undo``, ``/redo``, ``/export``. Errors in the input come back as one line in the page (``gr.Error``), are one
line in the server's log (no traceback), and leave the session as it was.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import logging
import os
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not os.environ.get("GRADIO_SERVER_PORT", "0").strip().isdigit():  # gradio reads it
    # at import and dies with a traceback on a non-number: say it in one line first
    raise SystemExit(f"app.py: error: GRADIO_SERVER_PORT={os.environ['GRADIO_SERVER_PORT']!r} is not accepted; "
                     "accepted: a port number in [1, 65535]")  # fmt: skip

import gradio as gr  # noqa: E402
import torch  # noqa: E402

from dws_edit.edits import BoxParam, ChoiceParam, EditDef, FloatParam, Param, VectorParam, get_edit
from dws_edit.inr.domains import get_domain
from dws_edit.session import (
    EXAMPLES,
    IMAGE_SUFFIXES,
    IMPORT_SUFFIXES,
    INR_SUFFIXES,
    MESH_SUFFIXES,
    EditSession,
    edit_choices,
    export_kinds,
)

CONCURRENCY = 2
"""Requests served at once: one per CPU core of the target machine, each with one torch thread, so that two users
editing at the same time do not slow each other down (torch's own threads would compete for the same cores)."""
MAX_FILE_SIZE = "50mb"
"""Gradio's own upload cap (the session refuses larger files too, with a message: dws_edit.session.MAX_UPLOAD_BYTES)."""
MAX_REFINE = 500
"""Most refine steps (dws_edit.runner.refine) the app runs after a learned edit."""
DEFAULT_EXAMPLE = "digit 3"
DEFAULT_EDIT = "symmetrize"
EDIT_CHOICES = edit_choices()
"""Every edit the app offers, for INRs of any domain; the dropdown shows those of the current INR's domain."""
WIDGETS = {FloatParam: gr.Number, ChoiceParam: gr.Radio, VectorParam: gr.Textbox, BoxParam: gr.Textbox}
"""The widget of each parameter class: a number, a radio of the choices, a text of numbers."""


def form_params() -> dict[str, list[Param]]:
    """The parameters of the offered edits (and of their closed forms) by name, over every domain: one widget each.
    Raises TypeError for a name whose parameters would need different widgets."""
    out: dict[str, list[Param]] = {}
    for name in EDIT_CHOICES:
        definition = get_edit(name)
        for edit in [definition] + ([get_edit(definition.exact_form)] if definition.exact_form else []):
            for domain in edit.domains:
                for p in edit.params(domain):
                    out.setdefault(p.name, []).append(p)
    for name, params in out.items():
        widgets = {WIDGETS[type(p)].__name__ for p in params}
        if len(widgets) > 1:
            raise TypeError(f"parameter {name!r} of the offered edits needs different widgets: {sorted(widgets)}")
    return out


FORM = form_params()
PARAM_NAMES = tuple(FORM)
"""The parameter widgets, in the order of the /edit endpoint's arguments after name, exact, refine, refit."""


# ---------------------------------------------------------------------------------------------------- the form
def _numbers(p: Param) -> bool:
    return isinstance(p, (VectorParam, BoxParam))


def parse_value(p: Param, raw: Any) -> Any:
    """A widget's value as the edit takes it (a list of numbers for a vector or a box, a number, a choice's name),
    None where it was left empty; ValueError (one line) for a text that is not numbers. The values are checked by the
    edit (:func:`dws_edit.edit`)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if _numbers(p):
        text = str(raw)
        try:
            return [float(v) for v in text.translate(str.maketrans(",[]()", "     ")).split()]
        except ValueError:
            raise ValueError(f"{p.name} {text!r}: expected numbers separated by spaces or commas; accepted: "
                             f"{p.accepted()}") from None  # fmt: skip
    if isinstance(p, FloatParam):
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{p.name} {raw!r}: expected a number; accepted: {p.accepted()}") from None
    return raw


def _shown(p: Param, value: Any) -> Any:
    """A parameter value as its widget shows it."""
    if _numbers(p):
        return "" if value is None else " ".join(f"{float(v):g}" for v in value)
    return value


def _valid(p: Param, raw: Any, choices: tuple[str, ...] | None) -> bool:
    try:
        value = parse_value(p, raw)
        if value is None:
            return p.optional
        if choices is not None:
            return value in choices
        p.canonical(value, p.name)
    except (ValueError, TypeError):
        return False
    return True


def _run_by(definition: EditDef, exact: bool) -> EditDef:
    """The edit that runs for ``definition`` with the exact box as given: its closed form where it has one."""
    return get_edit(definition.exact_form) if exact and definition.exact_form else definition


def _props(p: Param, definition: EditDef, domain: str, session: EditSession, raw: Any, reset: bool) -> dict:
    """The shown widget of parameter ``p`` of ``definition`` in ``domain``: label, accepted values, choices, and its
    value where ``reset`` or the one it has is not accepted (the edit's example where it has one, else empty or the
    first choice)."""
    props: dict[str, Any] = {"visible": True, "label": p.name + (f" ({p.unit})" if p.unit else "")}
    props["info"] = f"{p.doc}; accepted: {p.accepted()}" + (
        "; optional: leave empty for its default" if p.optional else ""
    )
    choices = session.choices(definition.name, p) if isinstance(p, ChoiceParam) else None
    if choices is not None:
        props["choices"] = list(choices)
    if reset or not _valid(p, raw, choices):
        example = definition.examples.get(domain, {})
        props["value"] = _shown(p, example[p.name]) if p.name in example else choices[0] if choices else _shown(p, None)
    return props


def form(session: EditSession, name: str, exact: bool, kind: str, *values: Any, reset: bool = False) -> list[dict]:
    """Updates of [edit, exact, refine, refit, download kind, *parameter widgets] for ``session``'s domain: the edits
    of the domain, only the chosen edit's parameters shown (typed, with what each accepts), the exact box where the
    edit has a closed form or is one, the download kinds of the domain. Values stay where they are accepted (after a
    fit, undo or redo; a value the user just set is never overwritten); ``reset`` (another edit chosen) sets the
    chosen edit's examples."""
    if not session or not session.steps:
        return [gr.update() for _ in range(5 + len(PARAM_NAMES))]
    domain = session.domain
    names = edit_choices(domain, session.current.spec)  # only the learned edits a model accepts this INR for
    name_update = gr.update(choices=list(names))
    if name not in names:
        name, reset = (DEFAULT_EDIT if DEFAULT_EDIT in names else names[0]), True
        name_update["value"] = name
    definition = get_edit(name)
    is_exact = definition.kind == "exact"
    exact_update = gr.update(visible=is_exact or definition.exact_form is not None, interactive=not is_exact)
    if is_exact or definition.exact_form is None or reset:
        exact = is_exact
        exact_update["value"] = exact
    run = _run_by(definition, bool(exact))
    params = {p.name: p for p in run.params(domain)}
    learned = run.kind == "learned"
    tunable = learned and not run.from_generator  # refine steps aim at a target computed from the INR
    refine = gr.update(visible=tunable, **({} if tunable else {"value": 0}))
    refittable = learned and get_domain(domain).has_surface  # refit fits a 3-D INR anew: images have none
    refit = gr.update(visible=refittable, **({} if refittable else {"value": False}))
    kinds = export_kinds(domain)
    kind_update = gr.update(choices=list(kinds), **({} if kind in kinds else {"value": kinds[0]}))
    widgets = [
        gr.update(**_props(params[n], definition, domain, session, raw, reset))
        if n in params
        else gr.update(visible=False)
        for n, raw in zip(PARAM_NAMES, values, strict=True)
    ]
    return [name_update, exact_update, refine, refit, kind_update, *widgets]


def edit_params(name: str, exact: bool, domain: str, values: Mapping[str, Any]) -> dict:
    """The parameters of edit ``name`` (its closed form if ``exact``) in ``domain`` from the widgets' values (by
    parameter name), parsed by their types; the empty ones left out (the edit then says what it misses)."""
    params = {}
    for p in _run_by(get_edit(name), exact).params(domain):
        value = parse_value(p, values.get(p.name))
        if value is not None:
            params[p.name] = value
    return params


# ---------------------------------------------------------------------------------------------------- the steps
LOG = logging.getLogger("dws-edit.app")
"""The server's log: one line per refused input (a user's mistake, as the page shows it); a traceback only for an
unexpected failure (a bug)."""


def _guard(fn):
    """Run a session step; a user's mistake (ValueError) or anything unexpected becomes one line in the page, and one
    line in the server's log (gr.Error with print_exception=False: gradio prints no traceback of its own); an
    unexpected failure's traceback is logged once, as the bug it is."""

    @functools.wraps(fn)  # gradio reads the signature (gr.Progress, API parameter names) through __wrapped__
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (gr.Error, ValueError) as err:
            line = ((err.message if isinstance(err, gr.Error) else str(err)).strip().splitlines() or ["refused"])[0]
            LOG.warning("%s refused: %s", fn.__name__, line)
            raise gr.Error(line, print_exception=False) from None
        except Exception as err:  # never a stack trace in the page
            LOG.exception("%s failed", fn.__name__)
            line = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'failed'}"
            raise gr.Error(line, print_exception=False) from None

    return wrapped


def _views(session: EditSession):
    """(before image, after image, before 3-D, after 3-D) updates: images for image INRs, meshes otherwise; each
    step's view is built once (a fresh fit's before and after are one file)."""
    folder = Path(tempfile.gettempdir()) / f"dws-edit-view-{uuid.uuid4().hex}"
    shown: dict[int, str | None] = {}
    for step, stem in ((session.before_step, "before"), (session.steps[-1], "after")):
        if id(step) not in shown:
            try:
                shown[id(step)] = str(session.view(step, folder, stem))
            except ValueError as err:  # an edit that leaves no surface: say so, show the rest
                gr.Warning(str(err))
                shown[id(step)] = None
    before, after = shown[id(session.before_step)], shown[id(session.steps[-1])]
    image = not get_domain(session.domain).has_surface
    # 3-D viewers stay mounted (a Model3D made visible later draws nothing); the idle pair is cleared
    return (before if image else None, after if image else None, None if image else before,
            None if image else after)  # fmt: skip


def _outputs(session: EditSession):
    for note in session.notes:
        gr.Warning(note)
    return (*_views(session), session.summary(), session)


@_guard
def fit(upload, example: str, session: EditSession, progress=gr.Progress()):  # noqa: B008 (gradio idiom)
    """Fit (or load) the input: the uploaded file if there is one, else the chosen example (choosing an example in
    the page clears the upload)."""
    source = upload if upload else example
    if not source:
        raise gr.Error("upload an image, a mesh or an INR file, or pick an example")
    new = EditSession().fit(source, progress=lambda f: progress(f, desc="fitting the INR"))
    return _outputs(new)


def run_edit(
    session: EditSession, name: str, exact: bool = False, refine: float = 0, refit: bool = False, on_step=None, **values
) -> EditSession:
    """Apply one edit to the session's INR with the form's values (by parameter name; see :func:`edit_params`)."""
    if session is None or not session.steps:
        raise ValueError("nothing to edit yet: fit an input first")
    params = edit_params(name, bool(exact), session.domain, values)
    refine = refine or 0
    if not float(refine).is_integer() or not 0 <= refine <= MAX_REFINE:
        raise ValueError(f"refine steps: {refine!r} is not accepted; accepted: a whole number in [0, {MAX_REFINE}]")
    return session.edit(name, exact=bool(exact), refine=int(refine), on_step=on_step, refit=bool(refit), **params)


def _edit_endpoint():
    """The /edit endpoint: (name, exact, refine, refit, session, *one value per PARAM_NAMES, progress). Its signature
    names every widget, so that gradio_client takes them by name."""
    names = ("name", "exact", "refine", "refit", "session", *PARAM_NAMES)

    def edit(*args):
        *inputs, progress = args
        given = dict(zip(names, inputs, strict=True))
        session, values = given.pop("session"), {n: given.pop(n) for n in PARAM_NAMES}
        on_step = lambda f: progress(f, desc="refining")  # noqa: E731
        return _outputs(run_edit(session, **given, on_step=on_step, **values))

    edit.__doc__ = """Apply one edit to the current INR (learned: the DWS model, on the INR fitted anew first if
    ``refit`` (3-D), then ``refine`` fine-tuning steps on the edit's target; exact: the closed form)."""
    guarded = _guard(edit)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter("name", kind)] + [inspect.Parameter(n, kind, default=None) for n in names[1:]]
    parameters.append(inspect.Parameter("progress", kind, default=gr.Progress()))
    guarded.__signature__ = inspect.Signature(parameters)
    return guarded


edit = _edit_endpoint()


@_guard
def undo(session: EditSession):
    """Go back one edit."""
    return _outputs((session or EditSession()).undo())


@_guard
def redo(session: EditSession):
    """Apply again the edit undone last."""
    return _outputs((session or EditSession()).redo())


@_guard
def export(kind: str, session: EditSession):
    """The current INR as a file: inr (.safetensors), glb or obj (3-D), png (images)."""
    if session is None or not session.steps:
        raise gr.Error("nothing to export yet: fit an input first")
    return str(session.export(Path(tempfile.mkdtemp(prefix="dws-edit-export-")), kind))


def clear_upload():
    """Choosing an example clears the upload, so that Fit fits the example (an upload wins only when chosen last)."""
    return None


# ---------------------------------------------------------------------------------------------------- the page
def _widget(name: str, initial: dict) -> gr.components.Component:
    """The widget of parameter ``name``: typed by its parameter class; choices: every choice of every edit (the form
    narrows them to the current edit and INR)."""
    params = FORM[name]
    first = params[0]
    props = {"label": name, "visible": False, "value": _shown(first, None)} | {
        k: v for k, v in initial.items() if k != "choices"
    }
    if isinstance(first, ChoiceParam):
        props["choices"] = list(dict.fromkeys(c for p in params for c in p.choices))
    return WIDGETS[type(first)](**props)


def build_app() -> gr.Blocks:
    accepted = list(IMAGE_SUFFIXES + MESH_SUFFIXES + INR_SUFFIXES + IMPORT_SUFFIXES)
    first = get_edit(DEFAULT_EDIT)
    initial = {p.name: _props(p, first, "image", EditSession(), None, True) for p in first.params("image")}
    kinds = list(dict.fromkeys(k for d in ("image", "sdf") for k in export_kinds(d)))
    with gr.Blocks(title="dws-edit: edit neural fields in weight space") as demo:
        gr.Markdown(
            "# dws-edit\nEdit implicit neural representations directly in weight space: a DWS network maps the "
            "INR's weights to the edited INR's weights, without rendering or fine-tuning. Upload an image, a mesh "
            "(watertight or not) or an INR file (dws-edit's, or a SIREN state dict saved by other code), or pick an "
            "example; then edit, compare, chain, undo and download."
        )
        state = gr.State(EditSession())
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="image, mesh or INR file", file_types=accepted, type="filepath")
                example = gr.Dropdown(list(EXAMPLES), value=DEFAULT_EXAMPLE, label="or a built-in example")
                fit_btn = gr.Button("Fit / load", variant="primary")
                name = gr.Dropdown(list(EDIT_CHOICES), value=DEFAULT_EDIT, label="edit")
                exact = gr.Checkbox(False, label="exact closed form", info="the edit's closed form on the weights")
                widgets = [_widget(n, initial.get(n, {})) for n in PARAM_NAMES]
                refine = gr.Slider(
                    0, MAX_REFINE, value=0, step=10, label="refine steps (learned edits: fine-tune after the DWS model)"
                )
                refit = gr.Checkbox(
                    False, label="refit first (learned 3-D edits of an INR file fitted by other code; seconds)"
                )
                with gr.Row():
                    edit_btn = gr.Button("Edit", variant="primary")
                    undo_btn = gr.Button("Undo")
                    redo_btn = gr.Button("Redo")
                kind = gr.Radio(kinds, value="inr", label="download as")
                export_btn = gr.Button("Download")
                download = gr.File(label="download")
            with gr.Column(scale=2):
                with gr.Row():
                    before_img = gr.Image(label="before (image)", type="filepath", interactive=False, height=240)
                    after_img = gr.Image(label="after (image)", type="filepath", interactive=False, height=240)
                with gr.Row():
                    before_3d = gr.Model3D(label="before (3-D)", interactive=False, height=360)
                    after_3d = gr.Model3D(label="after (3-D)", interactive=False, height=360)
                summary = gr.Markdown()
        views = [before_img, after_img, before_3d, after_3d, summary, state]
        form_in, form_out = [state, name, exact, kind, *widgets], [name, exact, refine, refit, kind, *widgets]
        quick = {"api_name": False, "show_progress": "hidden", "concurrency_limit": None}
        keep = functools.partial(form, reset=False)
        example.input(clear_upload, None, upload, **quick)
        fit_btn.click(fit, [upload, example, state], views, api_name="fit").then(keep, form_in, form_out, **quick)
        edit_inputs = [name, exact, refine, refit, state, *widgets]
        edit_btn.click(edit, edit_inputs, views, api_name="edit")
        undo_btn.click(undo, [state], views, api_name="undo").then(keep, form_in, form_out, **quick)
        redo_btn.click(redo, [state], views, api_name="redo").then(keep, form_in, form_out, **quick)
        export_btn.click(export, [kind, state], [download], api_name="export")
        name.input(functools.partial(form, reset=True), form_in, form_out, **quick)
        exact.input(keep, form_in, form_out, **quick)
        demo.load(fit, [upload, example, state], views, api_name=False).then(keep, form_in, form_out, **quick)
    return demo


def launch_kwargs(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """``demo.launch``'s address from the command line, else from gradio's documented environment variables (as
    Hugging Face Spaces and containers set them): ``--host``, else ``GRADIO_SERVER_NAME``, else 127.0.0.1 (this
    machine only); ``--port``, else ``GRADIO_SERVER_PORT``, else None (gradio's default: 7860, or the next free port).
    Exits with one line for a GRADIO_SERVER_PORT that is not a port number."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description="The dws-edit Gradio app")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="port to serve on (default: $GRADIO_SERVER_PORT, else 7860 or the next free one)",
    )
    parser.add_argument(
        "--host", default=None, help="address to bind (default: $GRADIO_SERVER_NAME, else 127.0.0.1: this machine only)"
    )
    args = parser.parse_args(argv)
    port = args.port
    if port is None and environ.get("GRADIO_SERVER_PORT", "").strip():
        text = environ["GRADIO_SERVER_PORT"].strip()
        if not text.isdigit() or not 0 < int(text) < 65536:
            parser.error(f"GRADIO_SERVER_PORT={text!r} is not accepted; accepted: a port number in [1, 65535]")
        port = int(text)
    host = args.host or environ.get("GRADIO_SERVER_NAME", "").strip() or "127.0.0.1"
    return {"server_name": host, "server_port": port, "max_file_size": MAX_FILE_SIZE}


def main(argv: list[str] | None = None, **launch: Any) -> gr.Blocks:
    """Serve the app (``launch``: more keyword arguments of ``demo.launch``, e.g. ``prevent_thread_lock=True``)."""
    kwargs = launch_kwargs(argv)
    torch.set_num_threads(1)
    demo = build_app().queue(default_concurrency_limit=CONCURRENCY)
    demo.launch(**kwargs, **launch)
    return demo


if __name__ == "__main__":
    main()
