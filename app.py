"""dws-edit in the browser: upload an image, a mesh or an INR (or pick a built-in example), edit it in weight space,
compare before and after, chain, undo and redo, download.

    .venv/bin/python app.py            # serves http://127.0.0.1:7860 (--port; --host to bind elsewhere)

Thin: every step is a method of :class:`dws_edit.session.EditSession` (fit, edit, undo, redo, view, export), kept
per browser session in ``gr.State``. Named endpoints for gradio_client: ``/fit``, ``/edit``, ``/undo``, ``/redo``,
``/export``. Errors in the input come back as one line in the page (``gr.Error``) and leave the session as it was.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
from pathlib import Path

import gradio as gr
import torch

from dws_edit.checkpoints import available_models
from dws_edit.edits import EDITS, EXACT_EDITS, get_edit
from dws_edit.session import EXAMPLES, IMAGE_SUFFIXES, INR_SUFFIXES, MESH_SUFFIXES, EditSession

CONCURRENCY = 2
"""Requests served at once: one per CPU core of the target machine, each with one torch thread, so that two users
editing at the same time do not slow each other down (torch's own threads would compete for the same cores)."""
EDIT_CHOICES = [n for n in EDITS if any(c.get("edit") == n for c in available_models().values())] + [
    n for n in EXACT_EDITS if n not in ("affine", "blend", "symmetrize_exact")
]
"""Learned edits with a shipped model, then the exact edits the widgets can drive."""
MAX_FILE_SIZE = "50mb"
"""Gradio's own upload cap (the session refuses larger files too, with a message: dws_edit.session.MAX_UPLOAD_BYTES)."""
MAX_REFINE = 500
"""Most refine steps (dws_edit.refine) the app runs after a learned edit."""


def _guard(fn):
    """Run a session step; a user's mistake (ValueError) or anything unexpected becomes one line in the page."""

    @functools.wraps(fn)  # gradio reads the signature (gr.Progress, API parameter names) through __wrapped__
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ValueError as err:
            raise gr.Error(str(err).splitlines()[0]) from None
        except Exception as err:  # never a stack trace in the page
            raise gr.Error(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'failed'}") from None

    return wrapped


def _views(session: EditSession):
    """(before image, after image, before 3-D, after 3-D) updates: images for image INRs, meshes otherwise."""
    folder = Path(tempfile.mkdtemp(prefix="dws-edit-view-"))
    before = session.view(session.before, folder, "before")
    try:
        after = session.view(session.current, folder, "after")
    except ValueError as err:  # an edit that leaves no surface: say so, keep the before view
        gr.Warning(str(err))
        after = None
    image = session.domain == "image"
    after = None if after is None else str(after)
    # 3-D viewers stay mounted (a Model3D made visible later draws nothing); the idle pair is cleared
    return (str(before) if image else None, after if image else None, None if image else str(before),
            None if image else after)  # fmt: skip


def _outputs(session: EditSession):
    for note in session.notes:
        gr.Warning(note)
    return (*_views(session), session.summary(), session)


@_guard
def fit(upload, example: str, session: EditSession, progress=gr.Progress()):  # noqa: B008 (gradio idiom)
    """Fit (or load) the input: the uploaded file if there is one, else the chosen example."""
    source = upload if upload else example
    if not source:
        raise gr.Error("upload an image, a mesh or an INR file, or pick an example")
    new = EditSession().fit(source, progress=lambda f: progress(f, desc="fitting the INR"))
    return _outputs(new)


def _numbers(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"{what} {text!r}: expected numbers separated by spaces or commas") from None
    return values


def edit_params(name: str, exact: bool, domain: str, sigma, axis, box, part, extra) -> dict:
    """The parameters ``name`` takes, from the widgets (sigma, axis, box, part) and the JSON of the others."""
    try:
        more = json.loads(extra) if extra and extra.strip() else {}
    except json.JSONDecodeError as err:
        raise ValueError(f'other parameters: not JSON ({err.msg}); e.g. {{"radius": 0.3}}') from None
    if not isinstance(more, dict):
        raise ValueError('other parameters: expected a JSON object, e.g. {"offset": [0.1, 0]}')
    if name in EDITS and not exact:
        names = allowed = [p.name for p in get_edit(name).params(domain)]
    else:
        import inspect

        exact_name = "symmetrize_exact" if name == "symmetrize" else name
        if exact_name not in EXACT_EDITS:
            raise ValueError(f"edit {name!r} has no exact closed form; exact: {', '.join(EXACT_EDITS)}")
        signature = inspect.signature(EXACT_EDITS[exact_name].fn).parameters
        allowed = list(signature)[1:]
        names = [n for n in allowed if signature[n].default is inspect.Parameter.empty or n in more]
        if name == "rotate" and domain != "image" and "axis" not in names:
            names.append("axis")
    unknown = sorted(set(more) - set(allowed))
    if unknown:
        raise ValueError(f"other parameters {unknown} are not parameters of {name!r}; accepted: {', '.join(allowed)}")
    widgets = {"sigma": sigma, "axis": axis, "part": part}
    params = {}
    for n in names:
        if n in more:
            params[n] = more[n]
        elif n == "box":
            params[n] = _numbers(box, "box")
        elif n in widgets:
            params[n] = widgets[n]
        else:
            raise ValueError(f'edit {name!r} needs {n!r}: give it in other parameters, e.g. {{"{n}": ...}}')
    return params


@_guard
def edit(
    name: str,
    exact: bool,
    sigma: float,
    axis: str,
    box: str,
    part: str,
    extra: str,
    refine: float,
    refit: bool,
    session: EditSession,
    progress=gr.Progress(),  # noqa: B008 (gradio idiom)
):
    """Apply one edit to the current INR (learned: the DWS model, on the INR fitted anew first if ``refit`` (3-D),
    then ``refine`` fine-tuning steps on the edit's target; exact: the closed form)."""
    if session is None or not session.steps:
        raise gr.Error("nothing to edit yet: fit an input first")
    params = edit_params(name, exact, session.domain, sigma, axis, box, part, extra)
    refine = refine or 0
    if not float(refine).is_integer() or not 0 <= refine <= MAX_REFINE:
        raise ValueError(f"refine steps: {refine!r} is not accepted; accepted: a whole number in [0, {MAX_REFINE}]")
    on_step = lambda f: progress(f, desc="refining")  # noqa: E731
    return _outputs(session.edit(name, exact=exact, refine=int(refine), on_step=on_step, refit=bool(refit), **params))


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


def build_app() -> gr.Blocks:
    accepted = list(IMAGE_SUFFIXES + MESH_SUFFIXES + INR_SUFFIXES)
    with gr.Blocks(title="dws-edit: edit neural fields in weight space") as demo:
        gr.Markdown(
            "# dws-edit\nEdit implicit neural representations directly in weight space: a DWS network maps the "
            "INR's weights to the edited INR's weights, without rendering or fine-tuning. Upload an image, a mesh "
            "(watertight or not) or an INR file, or pick an example; then edit, compare, chain, undo and download."
        )
        state = gr.State(EditSession())
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="image, mesh or INR file", file_types=accepted, type="filepath")
                example = gr.Dropdown(list(EXAMPLES), value="digit 3", label="or a built-in example")
                fit_btn = gr.Button("Fit / load", variant="primary")
                name = gr.Dropdown(EDIT_CHOICES, value="symmetrize", label="edit")
                exact = gr.Checkbox(False, label="exact closed form (symmetrize, mirror, translate, rotate, scale)")
                sigma = gr.Slider(0.02, 0.15, value=0.05, step=0.005, label="sigma (smooth)")
                axis = gr.Radio(["x", "y", "z"], value="x", label="axis (symmetrize, mirror, rotate in 3-D)")
                box = gr.Textbox("-1 -1 0 0", label="box: min corner then max corner (remove; 4 numbers 2-D, 6 in 3-D)")
                part = gr.Dropdown(["handle", "legs", "wheels"], value="handle", label="part (remove_part)")
                refine = gr.Slider(
                    0, MAX_REFINE, value=0, step=10, label="refine steps (learned edits: fine-tune after the DWS model)"
                )
                refit = gr.Checkbox(
                    False, label="refit first (learned 3-D edits of an INR file fitted by other code; seconds)"
                )
                extra = gr.Textbox("", label='other parameters as JSON, e.g. {"radius": 0.3, "center": [0, 0, 0]}')
                with gr.Row():
                    edit_btn = gr.Button("Edit", variant="primary")
                    undo_btn = gr.Button("Undo")
                    redo_btn = gr.Button("Redo")
                kind = gr.Radio(["inr", "glb", "obj", "png"], value="inr", label="download as")
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
        fit_btn.click(fit, [upload, example, state], views, api_name="fit")
        edit_btn.click(edit, [name, exact, sigma, axis, box, part, extra, refine, refit, state], views, api_name="edit")
        undo_btn.click(undo, [state], views, api_name="undo")
        redo_btn.click(redo, [state], views, api_name="redo")
        export_btn.click(export, [kind, state], [download], api_name="export")
        demo.load(fit, [upload, example, state], views, api_name=False)
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The dws-edit Gradio app")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    demo = build_app().queue(default_concurrency_limit=CONCURRENCY)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_FILE_SIZE)


if __name__ == "__main__":
    main()
