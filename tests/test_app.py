"""The Gradio app end to end: gradio_client on 127.0.0.1 (fit, edit, chain, undo, redo, export, bad input,
8 concurrent sessions) and a real headless browser (Debian chromium driven by Playwright)."""

import io
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

import dws_edit
from dws_edit.inr import evaluate, grid_coords
from dws_edit.session import EditSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import app  # noqa: E402

pytestmark = pytest.mark.slow
EDIT_DEFAULTS = dict(exact=False, sigma=0.05, axis="x", box="-1 -1 0 0", part="handle", extra="", refine=0, refit=False)


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
    a = {**EDIT_DEFAULTS, **kw}
    args = (a["exact"], a["sigma"], a["axis"], a["box"], a["part"], a["extra"], a["refine"], a["refit"])
    return c.predict(name, *args, api_name="/edit")


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
    r = call_edit(c, "rotate", extra='{"angle": 0.3}')
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
    assert inr.spec.hidden_sizes == (64, 64)  # the DWS pass's width, refined in place
    r = call_edit(c, "mirror", exact=True, refine=100)  # the slider is for learned edits: exact ones say so
    assert "step 2: mirror(axis=x) [exact]" in r[4] and "mirror is exact: the refine steps are for learned" in r[4]


def test_mesh_upload_edit_and_export(server, box_obj):
    from gradio_client import handle_file

    c = client(server)
    r = c.predict(handle_file(str(box_obj)), "digit 3", api_name="/fit")  # the upload wins over the example
    assert r[0] is None and r[2].endswith(".glb") and "brick.obj" in r[4]
    r = call_edit(c, "symmetrize", exact=True, axis="z")
    assert "symmetrize(axis=z) [exact]" in r[4] and r[3].endswith(".glb")
    glb = trimesh.load(c.predict("glb", api_name="/export"), force="mesh")
    obj = trimesh.load(c.predict("obj", api_name="/export"), force="mesh")
    assert glb.is_watertight and len(glb.faces) == len(obj.faces) > 100
    assert np.abs(glb.bounds).max() < 0.9  # the brick, normalized to [-0.8, 0.8]^3
    inr = dws_edit.load_inr(c.predict("inr", api_name="/export"))
    assert inr.spec.layer_sizes == (3, 64, 64, 1)  # the exact symmetrization doubles the widths


def test_an_inr_file_fitted_by_other_code_is_refitted_before_a_learned_edit(server, tmp_path):
    from gradio_client import handle_file

    from dws_edit.bench.other_fits import fit_siren_sdf

    path = tmp_path / "ring.safetensors"  # a SIREN of vsitzmann/siren's kind, DeepSDF's loss, imported
    dws_edit.save_inr(path, fit_siren_sdf(trimesh.creation.annulus(0.25, 0.6, 0.5), "deepsdf", steps=300))
    c = client(server)
    r = c.predict(handle_file(str(path)), "digit 3", api_name="/fit")
    extra = '{"center": [0, 0, 0], "radius": 0.3}'
    r = call_edit(c, "remove_sphere", extra=extra, refit=True)
    assert "remove_sphere(center=[0, 0, 0], radius=0.3) [learned, refitted]" in r[4] and r[3].endswith(".glb")
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
    cases = {
        "notes.txt": ".safetensors",  # gradio refuses it first, listing the accepted types
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
        (lambda: call_edit(c, "remove_part"), "does not apply to image INRs"),
        (lambda: call_edit(c, "translate", extra="{oops"), "not JSON"),
        (lambda: call_edit(c, "symmetrize", refine=2.5), "refine steps: 2.5 is not accepted"),
        (lambda: call_edit(c, "mirror", exact=True, extra='{"bogus": 1}'), "not parameters of 'mirror'"),
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
        page.get_by_text("step 0: fit brick.obj").wait_for(timeout=120_000)
        page.get_by_label("exact closed form").check()
        page.get_by_role("radio", name="z").check()
        page.get_by_role("button", name="Edit", exact=True).click()
        page.get_by_text("symmetrize(axis=z) [exact]").wait_for(timeout=60_000)
        page.wait_for_timeout(3000)  # let the 3-D viewer draw
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        canvases = page.locator("canvas")
        assert canvases.count() >= 2
        shots = [np.asarray(Image.open(io.BytesIO(canvases.nth(i).screenshot()))) for i in range(2)]
        browser.close()
    for shot in shots:  # a drawn mesh: the canvas is not one flat colour
        assert shot[..., :3].std() > 5
