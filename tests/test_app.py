"""The Gradio app end to end: gradio_client on 127.0.0.1 (fit, edit, chain, undo, redo, export, bad input,
8 concurrent sessions), the form built from the edit registry, the launch address, and a real headless browser
(Debian chromium driven by Playwright)."""

import io
import shutil
import socket
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

import dws_edit
from dws_edit.edits import get_edit
from dws_edit.inr import evaluate, grid_coords, init_siren, sdf_spec
from dws_edit.inr.domains import get_domain
from dws_edit.session import EditSession, Step, edit_choices

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import app  # noqa: E402

pytestmark = pytest.mark.slow
FORM_OUTPUTS = ("name", "exact", "refine", "refit", "kind", *app.PARAM_NAMES)
START = get_domain("sdf").start_steps  # refine steps after an SDF's learned pass


@pytest.fixture(scope="module")
def server():
    demo = app.build_app().queue(default_concurrency_limit=app.CONCURRENCY)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, max_file_size=app.MAX_FILE_SIZE)
    yield demo
    demo.close()


def client(server):
    from gradio_client import Client

    return Client(server.local_url, verbose=False)


def call_edit(c, name, **kw):
    """/edit by keyword: exact, refine, refit and the parameters by name (app.PARAM_NAMES); the others as the page
    starts (empty, or the first edit's example)."""
    return c.predict(name, api_name="/edit", **kw)


@pytest.fixture(scope="module")
def box_obj(tmp_path_factory):
    path = tmp_path_factory.mktemp("meshes") / "brick.obj"
    mesh = trimesh.creation.box(extents=(40.0, 20.0, 10.0))  # millimetres, off-centre: normalized on fitting
    mesh.apply_translation((100.0, 0.0, 5.0))
    mesh.export(path)
    return path


def test_fit_edit_chain_undo_redo_export_images(server, tmp_path):
    c = client(server)
    r = c.predict(None, "digit 3", api_name="/fit")
    assert r[0].endswith(".png") and r[2] is None and "MNIST digit 3" in r[4]
    r = call_edit(c, "mirror", exact=True, axis="y")
    r = call_edit(c, "rotate", angle=0.3)
    assert "step 1: mirror(axis=y) [exact]" in r[4] and "step 2: rotate(angle=0.3) [exact]" in r[4]
    r = c.predict(api_name="/undo")
    assert "step 2: rotate" not in r[4] and "can be redone" in r[4]
    r = c.predict(api_name="/redo")
    assert "step 2: rotate" in r[4]
    inr = dws_edit.load_inr(c.predict("inr", api_name="/export"))
    want = EditSession().fit("digit 3").edit("mirror", axis="y").edit("rotate", angle=0.3).current
    coords = grid_coords(28, 28)
    torch.testing.assert_close(evaluate(inr, coords), evaluate(want, coords), atol=1e-5, rtol=0)
    png = Image.open(c.predict("png", api_name="/export"))
    assert png.size == (28 * 8, 28 * 8)  # one 28x28 image, no border


def _edited_mse(summary: str, step: int) -> float:
    line = next(x for x in summary.splitlines() if f"step {step}:" in x)
    return float(line.split("MSE on the 28x28 grid ")[1].split()[0])


def test_refine_slider_fine_tunes_after_a_learned_edit(server):
    c = client(server)
    c.predict(None, "digit 7", api_name="/fit")
    one_pass = _edited_mse(call_edit(c, "symmetrize", axis="y")[4], 1)
    c.predict(api_name="/undo")
    r = call_edit(c, "symmetrize", axis="y", refine=100)
    assert "[learned + 100 refine steps]" in r[4]
    assert _edited_mse(r[4], 1) < 0.2 * one_pass
    inr = dws_edit.load_inr(c.predict("inr", api_name="/export"))
    assert inr.spec.hidden_sizes == (64, 64)  # the DWS pass's width, refined in place (refine: width "wide")
    r = call_edit(c, "mirror", exact=True, refine=100)  # the slider is for learned edits: exact ones say so
    assert "step 2: mirror(axis=x) [exact]" in r[4] and "mirror is exact: the refine steps are for learned" in r[4]


def test_mesh_upload_edit_and_export(server, box_obj):
    from gradio_client import handle_file

    c = client(server)
    r = c.predict(handle_file(str(box_obj)), "digit 3", api_name="/fit")  # the upload wins over the example
    assert r[0] is None and r[2].endswith(".glb") and "brick.obj" in r[4]
    r = call_edit(c, "symmetrize", exact=True, axis="z")
    assert "symmetrize(axis=z, mode=average) [exact]" in r[4] and r[3].endswith(".glb")
    glb = trimesh.load(c.predict("glb", api_name="/export"), force="mesh")
    obj = trimesh.load(c.predict("obj", api_name="/export"), force="mesh")
    assert glb.is_watertight and len(glb.faces) == len(obj.faces) > 100
    assert np.abs(glb.bounds).max() < 0.9  # the brick, normalized to [-0.8, 0.8]^3
    inr = dws_edit.load_inr(c.predict("inr", api_name="/export"))
    assert inr.spec.layer_sizes == (3, 64, 64, 1)  # the exact symmetrization doubles the widths


def test_a_siren_state_dict_from_other_code_is_imported_and_refitted_before_a_learned_edit(server, tmp_path):
    from gradio_client import handle_file

    from dws_edit.bench.other_fits import fit_siren_sdf

    ring = fit_siren_sdf(trimesh.creation.annulus(0.25, 0.6, 0.5), "deepsdf", steps=300)  # vsitzmann/siren's kind
    path = tmp_path / "ring.pth"  # as that code saves it: torch.save(model.state_dict()), read with weights_only
    torch.save(dws_edit.export_siren(ring, "vsitzmann")[0], path)
    c = client(server)
    r = c.predict(handle_file(str(path)), "digit 3", api_name="/fit")
    assert "ring.pth" in r[4] and "sdf INR" in r[4] and r[2].endswith(".glb")
    inr = dws_edit.load_inr(c.predict("inr", api_name="/export"))
    points = torch.rand(256, 3) * 2 - 1
    torch.testing.assert_close(evaluate(inr, points), evaluate(ring, points), atol=1e-5, rtol=1e-5)
    r = call_edit(c, "remove_sphere", center="0 0 0", radius=0.3, refit=True)  # the sphere's own widgets
    label = (
        f"remove_sphere(center=[0.0, 0.0, 0.0], radius=0.3) [learned, refitted + {START} refine steps]"  # SDF: refined
    )
    assert label in r[4] and r[3].endswith(".glb")
    r = call_edit(c, "mirror", exact=True, refit=True)  # exact edits need no refit: none is run
    assert "mirror(axis=x) [exact]" in r[4]


def test_bad_input_gives_one_line_and_keeps_the_session(server, tmp_path, box_obj):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    c = client(server)
    c.predict(None, "digit 0", api_name="/fit")
    call_edit(c, "mirror", exact=True, axis="x")
    before = dws_edit.load_inr(c.predict("inr", api_name="/export"))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    good = tmp_path / "good.safetensors"
    dws_edit.save_inr(good, before)
    (tmp_path / "truncated.safetensors").write_bytes(good.read_bytes()[:-100])
    sine = dws_edit.inr.init_siren(dws_edit.inr.sine_spec(), 1)
    dws_edit.save_inr(tmp_path / "sine.safetensors", sine)
    flat = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    flat.export(tmp_path / "flat.stl")
    (tmp_path / "garbage.pt").write_bytes(b"not a pickle at all")
    torch.save({"net.0.weight": torch.ones(2, 2), "step": 3}, tmp_path / "other.ckpt")
    cases = {
        "notes.txt": ".pth",  # gradio refuses it first, listing the accepted types
        "garbage.pt": "garbage.pt is not a state dict of tensors",
        "other.ckpt": "are not floating-point tensors",
        "broken.png": "broken.png",
        "truncated.safetensors": "truncated.safetensors",
        "sine.safetensors": "has no edit domain",
        "flat.stl": "encloses no volume",
    }
    for name, message in cases.items():
        with pytest.raises(AppError) as err:
            c.predict(handle_file(str(tmp_path / name)), "digit 0", api_name="/fit")
        assert message in str(err.value) and "Traceback" not in str(err.value), name
    for call, message in (
        (lambda: call_edit(c, "remove", box="0 1"), "box"),
        (lambda: call_edit(c, "remove_part", part="handle"), "does not apply to image INRs"),
        (lambda: call_edit(c, "translate", offset="0.1 oops"), "offset '0.1 oops': expected numbers"),
        (lambda: call_edit(c, "translate"), r"missing parameter\(s\) \['offset'\]; accepted: offset: 2 numbers"),
        (lambda: call_edit(c, "smooth", sigma=0.5), r"sigma=0.5 is outside the accepted range \[0.02, 0.15\]"),
        (lambda: call_edit(c, "symmetrize", axis="z"), "axis='z' is not accepted"),
        (lambda: call_edit(c, "symmetrize", refine=2.5), "refine steps: 2.5 is not accepted"),
        (lambda: c.predict("glb", api_name="/export"), "image INRs export as inr, png"),
    ):
        with pytest.raises(AppError, match=message):
            call()
    after = dws_edit.load_inr(c.predict("inr", api_name="/export"))  # the session is as it was
    coords = grid_coords(28, 28)
    torch.testing.assert_close(evaluate(after, coords), evaluate(before, coords), rtol=0, atol=0)


def test_size_cap(server, tmp_path, monkeypatch):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    import dws_edit.session

    monkeypatch.setattr(dws_edit.session, "MAX_UPLOAD_BYTES", 1000)
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(big)
    with pytest.raises(AppError, match="accepted: files up to"):
        client(server).predict(handle_file(str(big)), "digit 0", api_name="/fit")


def test_eight_concurrent_sessions_each_get_their_own_result(server):
    """8 gradio_client sessions edit different inputs at once; each result equals the same edit done alone."""
    jobs = [("digit 0", "x"), ("digit 3", "y"), ("digit 7", "x"), ("digit 0", "y")] * 2
    sigmas = [0.03 + 0.01 * k for k in range(8)]
    results, errors = [None] * 8, []

    def session(k):
        try:
            c = client(server)
            example, axis = jobs[k]
            c.predict(None, example, api_name="/fit")
            call_edit(c, "mirror", exact=True, axis=axis)
            call_edit(c, "smooth", sigma=sigmas[k])
            results[k] = dws_edit.load_inr(c.predict("inr", api_name="/export"))
        except Exception as err:  # surfaced below with the session's number
            errors.append((k, repr(err)))

    threads = [threading.Thread(target=session, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    coords = grid_coords(28, 28)
    for k, (example, axis) in enumerate(jobs):
        alone = EditSession().fit(example).edit("mirror", axis=axis).edit("smooth", sigma=sigmas[k]).current
        torch.testing.assert_close(evaluate(results[k], coords), evaluate(alone, coords), atol=1e-5, rtol=0)


def _session(ws, source=None) -> EditSession:
    return EditSession((Step(ws, "fit"),), source=source or {"kind": "inr", "name": "test"})


def _form(session, name, exact=False, kind="inr", reset=True, **values) -> dict:
    raw = [values.get(n) for n in app.PARAM_NAMES]
    return dict(zip(FORM_OUTPUTS, app.form(session, name, exact, kind, *raw, reset=reset), strict=True))


def _shown(updates: dict) -> list[str]:
    return [n for n in app.PARAM_NAMES if updates[n].get("visible")]


def test_the_form_comes_from_the_registry_and_the_domain():
    from dws_edit.data.shapes import sample_shape
    from dws_edit.edits import BoxParam, ChoiceParam, FloatParam, ValueParam, VectorParam
    from dws_edit.inr import image_spec

    image, sdf = _session(init_siren(image_spec(), 1)), _session(init_siren(sdf_spec(), 1))
    mug = sample_shape("mug", torch.Generator().manual_seed(1))
    built = _session(init_siren(sdf_spec(), 1), {"kind": "example", "name": "mug", "shape": mug.to_dict()})
    # one widget per parameter name, typed by its class; no matrix or second INR (affine, blend) among them
    assert set(app.PARAM_NAMES) == {"sigma", "axis", "mode", "box", "center", "radius", "part", "offset", "angle",
                                    "factor"}  # fmt: skip
    with app.build_app() as demo:
        widgets = {b.label.split(" (")[0]: b for b in demo.blocks.values() if getattr(b, "label", None)}
    gr = app.gr
    kinds = {FloatParam: gr.Number, ChoiceParam: gr.Radio, VectorParam: gr.Textbox, BoxParam: gr.Textbox}
    for name, params in app.FORM.items():
        assert not any(isinstance(p, ValueParam) for p in params)
        assert type(widgets[name]) is kinds[type(params[0])], name
    # the edits of the domain; only the chosen edit's parameters for this domain, with their examples
    assert _form(image, "smooth")["name"]["choices"] == list(edit_choices("image"))
    assert "remove_part" not in edit_choices("image") and "dilate" not in edit_choices("sdf")
    assert {"remove_sphere", "remove_part", "mirror", "translate", "rotate", "scale"} <= set(edit_choices("sdf"))
    assert not {"affine", "blend", "symmetrize_exact"} & set(app.EDIT_CHOICES)
    u = _form(sdf, "remove")
    assert _shown(u) == ["box"] and u["box"]["value"] == "0 -0.6 -0.6 1 0.2 0.6"  # a 3-D box (was -1 -1 0 0)
    assert "sides in (0, 2] (trained on [0.2, 1.2])" in u["box"]["info"]
    assert u["kind"]["choices"] == ["inr", "glb", "obj"]
    assert _form(image, "remove")["box"]["value"] == "-1 -1 0 0"
    assert _form(image, "smooth")["kind"]["choices"] == ["inr", "png"]  # no png for 3-D, no glb/obj for images
    u = _form(sdf, "remove_sphere")
    assert set(_shown(u)) == {"center", "radius"} and (u["center"]["value"], u["radius"]["value"]) == ("0.3 0 0", 0.3)
    assert "radius in (0, 1.73205] coordinate units (trained on [0.1, 0.6])" in u["radius"]["info"]
    u = _form(image, "smooth")
    assert _shown(u) == ["sigma"] and u["sigma"]["value"] == 0.08 and "sigma in [0.02, 0.15]" in u["sigma"]["info"]
    assert _form(sdf, "symmetrize")["axis"]["choices"] == ["x", "y", "z"]
    u = _form(sdf, "symmetrize")  # issue 32: the mode, average first (the default, what the models learned)
    assert set(_shown(u)) == {"axis", "mode"} and u["mode"]["choices"] == ["average", "union", "intersection"]
    assert u["mode"]["value"] == "average" and "union keeps what either side has" in u["mode"]["info"]
    assert _form(image, "symmetrize")["axis"]["choices"] == ["x", "y"]
    u = _form(image, "rotate")
    assert set(_shown(u)) == {"angle", "center"} and "optional" in u["center"]["info"] and u["center"]["value"] == ""
    # remove_part: the part group the built-in shape has; all groups for a shape the session does not know
    assert _form(built, "remove_part")["part"]["choices"] == ["handle"]
    assert _form(sdf, "remove_part")["part"]["choices"] == ["handle", "legs", "wheels"]
    # the exact box only where the edit has a closed form (checked, fixed) or is one
    assert _form(sdf, "smooth")["exact"]["visible"] is False and _form(sdf, "remove_part")["exact"]["visible"] is False
    exact = _form(sdf, "symmetrize")["exact"]
    assert (exact["visible"], exact["interactive"], exact["value"]) == (True, True, False)
    exact = _form(sdf, "mirror")["exact"]
    assert (exact["visible"], exact["interactive"], exact["value"]) == (True, False, True)
    # a domain change keeps the values still accepted, and replaces the others (the edit, its box, the download kind)
    u = _form(sdf, "symmetrize", exact=True, reset=False, axis="z", box="-1 -1 0 0", sigma=0.09)
    assert "value" not in u["exact"] and "value" not in u["axis"] and "value" not in u["name"]
    u = _form(image, "remove_sphere", kind="glb", reset=False, box="-1 -1 0 0 0 0")
    assert u["name"]["value"] == "symmetrize" and u["kind"]["value"] == "inr" and u["axis"]["value"] == "x"
    assert _form(image, "remove", reset=False, box="-1 -1 0 0")["box"].get("value") is None
    assert _form(image, "remove", reset=False, box="-1 -1 0 0 0 0")["box"]["value"] == "-1 -1 0 0"
    # the examples of every offered learned edit are accepted in each domain it is offered for
    for domain, session in (("image", image), ("sdf", built)):
        for name in edit_choices(domain):
            definition = get_edit(name)
            if definition.kind == "learned":
                u = _form(session, name)
                values = {n: u[n]["value"] for n in _shown(u)}
                definition.validate(app.edit_params(name, False, domain, values), domain)


def test_default_parameters_edit_a_3d_inr():
    mug = EditSession().fit("mug")
    u = _form(mug, "remove")
    edited = app.run_edit(mug, "remove", box=u["box"]["value"])
    assert f"remove(box=[0.0, -0.6, -0.6, 1.0, 0.2, 0.6]) [learned + {START} refine steps]" in edited.steps[-1].label
    assert edited.steps[-1].error["edited"] > edited.steps[-1].error["no_edit"]  # IoU: an SDF's pass, then refined


def test_a_fresh_fit_builds_its_mesh_once(monkeypatch, tmp_path):
    import dws_edit.render

    built = []
    real = dws_edit.render.inr_to_mesh
    monkeypatch.setattr(dws_edit.render, "inr_to_mesh", lambda ws, *a, **k: built.append(ws) or real(ws, *a, **k))
    session = EditSession().fit("mug")
    views = app._views(session)
    assert len(built) == 1 and views[2] == views[3] and views[2].endswith(".glb")  # before is the fitted INR
    edited = session.edit("mirror", axis="z")
    views = app._views(edited)
    assert len(built) == 2 and views[2] != views[3]  # the before view is the fit's, built already
    edited.export(tmp_path, "glb")
    edited.export(tmp_path, "obj")
    assert len(built) == 2  # exports take the view's mesh
    assert app._views(edited.undo())[2] == views[2] and len(built) == 2


def test_choosing_an_example_clears_the_upload():
    """An upload fitted, then an example chosen: Fit fits the example (the browser test does it in a page)."""
    with app.build_app() as demo:
        pass
    upload = next(b for b in demo.blocks.values() if isinstance(b, app.gr.File) and b.label.startswith("image, mesh"))
    example = next(b for b in demo.blocks.values() if getattr(b, "label", None) == "or a built-in example")
    clearing = [f for f in demo.fns.values() if f.fn is app.clear_upload]
    assert len(clearing) == 1 and (example._id, "input") in [(t[0], t[1]) for t in clearing[0].targets]
    assert [o._id for o in clearing[0].outputs] == [upload._id] and app.clear_upload() is None


def test_launch_address_from_flags_then_gradio_environment_variables():
    assert app.launch_kwargs([], {}) == {"server_name": "127.0.0.1", "server_port": None, "max_file_size": "50mb"}
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}
    assert app.launch_kwargs([], env) | {} == {"server_name": "0.0.0.0", "server_port": 7861, "max_file_size": "50mb"}
    flags = app.launch_kwargs(["--host", "127.0.0.2", "--port", "8000"], env)
    assert (flags["server_name"], flags["server_port"]) == ("127.0.0.2", 8000)
    with pytest.raises(SystemExit):
        app.launch_kwargs([], {"GRADIO_SERVER_PORT": "http"})


def test_main_serves_on_gradio_server_port(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("GRADIO_SERVER_PORT", str(port))
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    threads = torch.get_num_threads()
    demo = app.main([], prevent_thread_lock=True, quiet=True)
    try:
        assert demo.server_port == port and demo.server_name == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200
    finally:
        demo.close()
        torch.set_num_threads(threads)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed")
def test_headless_browser_uploads_a_mesh_and_edits_it(server, box_obj, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        flags = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.local_url)
        page.get_by_text("step 0: fit MNIST digit 3").wait_for(timeout=60_000)  # the page opens on a built-in example
        page.locator("input[type=file]").first.set_input_files(str(box_obj))
        page.get_by_role("button", name="Fit / load").click()
        page.get_by_text("step 0: fit brick.obj").wait_for(timeout=300_000)
        page.get_by_label("exact closed form").check()
        page.get_by_role("radio", name="z").check()
        page.get_by_role("button", name="Edit", exact=True).click()
        page.get_by_text("symmetrize(axis=z, mode=average) [exact]").wait_for(timeout=60_000)
        page.wait_for_timeout(3000)  # let the 3-D viewer draw
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        canvases = page.locator("canvas")
        assert canvases.count() >= 2
        shots = [np.asarray(Image.open(io.BytesIO(canvases.nth(i).screenshot()))) for i in range(2)]
        _form_then_example(page)
        browser.close()
    for shot in shots:  # a drawn mesh: the canvas is not one flat colour
        assert shot[..., :3].std() > 5


def _form_then_example(page):
    """The 3-D form: another edit chosen shows only its own widgets with its 3-D example, meshes to download; then an
    example chosen after the upload: Fit fits the example, not the upload again, and the form turns to images (the
    box to the image example, no z axis, png to download)."""
    from playwright.sync_api import expect

    expect(page.get_by_label("box")).to_be_hidden()  # symmetrize: its axis only
    page.get_by_label("edit", exact=True).click()
    page.get_by_role("option", name="remove", exact=True).click()
    expect(page.get_by_label("box")).to_have_value("0 -0.6 -0.6 1 0.2 0.6", timeout=30_000)
    expect(page.get_by_role("radio", name="z")).to_be_hidden()
    expect(page.get_by_label("exact closed form")).to_be_hidden()
    expect(page.get_by_role("radio", name="glb")).to_be_visible()
    expect(page.get_by_role("radio", name="png")).to_be_hidden()
    page.get_by_label("or a built-in example").click()
    page.get_by_role("option", name="digit 0").click()
    page.get_by_role("button", name="Fit / load").click()
    page.get_by_text("step 0: fit MNIST digit 0").wait_for(timeout=300_000)  # a fit on a loaded 2-core machine
    expect(page.get_by_label("box")).to_have_value("-1 -1 0 0", timeout=30_000)
    expect(page.get_by_role("radio", name="png")).to_be_visible()
    expect(page.get_by_role("radio", name="glb")).to_be_hidden()


def test_rgb_image_inrs_are_offered_only_the_edits_a_model_accepts(server, tmp_path):
    """No shipped image model takes RGB INRs (2->...->3): the form offers their exact edits only, and a learned edit
    asked for through the API is refused in one line naming the specs the models accept."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from dws_edit.inr import image_spec

    rgb = _session(init_siren(image_spec(channels=3), 1))
    offered = _form(rgb, "smooth")["name"]
    learned = {n for n in edit_choices("image") if get_edit(n).kind == "learned"}
    assert learned and not learned & set(offered["choices"])  # luminance INRs have them; RGB ones none
    assert {"mirror", "symmetrize_exact", "rotate"} <= set(offered["choices"])
    assert offered["value"] in offered["choices"]  # the learned edit asked for is replaced by one offered
    assert edit_choices("image", init_siren(image_spec(), 1).spec) == edit_choices("image")  # luminance: all
    path = tmp_path / "rgb.safetensors"
    dws_edit.save_inr(path, init_siren(image_spec(channels=3), 1))
    c = client(server)
    c.predict(handle_file(str(path)), "digit 0", api_name="/fit")
    with pytest.raises(AppError, match=r"no shipped model for 'smooth' accepts INRs of spec \(2, 32, 32, 3\)"):
        call_edit(c, "smooth", sigma=0.05)
    assert "mirror(axis=y) [exact]" in call_edit(c, "mirror", exact=True, axis="y")[4]


def test_refit_first_is_hidden_for_images_and_said_to_be_unused_when_asked(server):
    from dws_edit.inr import image_spec

    image = _session(init_siren(image_spec(), 1))
    assert _form(image, "smooth")["refit"] == {"__type__": "update", "visible": False, "value": False}  # unchecked
    assert _form(_session(init_siren(sdf_spec(), 1)), "smooth")["refit"]["visible"] is True
    c = client(server)
    c.predict(None, "digit 3", api_name="/fit")
    summary = call_edit(c, "symmetrize", axis="y", refit=True)[4]  # through the API: never silently ignored
    assert "[learned]" in summary and "refitted" not in summary
    assert "note: 'refit first' is for learned 3-D edits and image INRs are edited as they are: no refit" in summary
    summary = call_edit(c, "mirror", exact=True, refit=True)[4]
    assert "note: 'refit first' is for learned 3-D edits and mirror is exact: no refit was run" in summary


def test_a_refused_input_is_one_line_in_the_server_log_not_a_traceback(server, capsys, caplog):
    from gradio_client.exceptions import AppError

    c = client(server)
    c.predict(None, "digit 0", api_name="/fit")
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level("WARNING", logger="dws-edit.app"), pytest.raises(AppError, match="offset '0.1 oops'"):
        call_edit(c, "translate", offset="0.1 oops")
    assert "Traceback" not in capsys.readouterr().err  # gradio prints none (gr.Error(print_exception=False))
    lines = [r.getMessage() for r in caplog.records if r.name == "dws-edit.app"]
    assert len(lines) == 1 and lines[0].startswith("edit refused: offset '0.1 oops': expected numbers"), lines
    assert "\n" not in lines[0]
