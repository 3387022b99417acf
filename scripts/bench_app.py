"""Time the app's edit round trip through gradio_client (an edit, its 64^3 marching-cubes mesh, the .glb views
back to the client; no fitting) against re-fitting the INR (the baseline: what a change costs without a
weight-space edit), in the same run, and save a screenshot of the page by headless Debian chromium.

    .venv/bin/python scripts/bench_app.py [--repeats 10] [--screenshot docs/app.png]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import app  # noqa: E402
from dws_edit.session import MESH_FIT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--screenshot", type=Path, default=Path("docs/app.png"))
    args = parser.parse_args()
    import torch
    from gradio_client import Client

    torch.set_num_threads(1)  # as app.main: one thread per concurrent request
    demo = app.build_app().queue(default_concurrency_limit=app.CONCURRENCY)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        t = time.perf_counter()
        client.predict(None, "mug", api_name="/fit")  # fitted once per process: later loads are cached
        first_fit = time.perf_counter() - t
        times = {}
        for name, exact in (("symmetrize", True), ("mirror", True)):
            runs = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                client.predict(name, exact=exact, axis="x", api_name="/edit")  # the others as the page starts
                runs.append(time.perf_counter() - t)
                client.predict(api_name="/undo")
            times[name] = statistics.median(runs)
        print(f"fitting the mug (SDF INR, {MESH_FIT['max_steps']} steps): {first_fit:.2f} s")
        for name, seconds in times.items():
            print(f"edit round trip ({name}, exact, 64^3 mesh to the client): median {seconds:.3f} s over "
                  f"{args.repeats}; re-fitting takes {first_fit / seconds:.0f}x as long")  # fmt: skip
        if shutil.which("chromium") and args.screenshot:
            _screenshot(demo.local_url, args.screenshot)
            print(f"screenshot: {args.screenshot}")
    finally:
        demo.close()


def _screenshot(url: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_text("step 0: fit MNIST digit 3").wait_for(timeout=60_000)
        page.get_by_label("or a built-in example").click()
        page.get_by_role("option", name="mug").click()
        page.get_by_role("button", name="Fit / load").click()
        page.get_by_text("step 0: fit procedural mug").wait_for(timeout=120_000)
        page.get_by_label("exact closed form").check()
        page.get_by_role("button", name="Edit", exact=True).click()
        page.get_by_text("symmetrize(axis=x) [exact]").wait_for(timeout=60_000)
        page.wait_for_timeout(3000)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=False)
        browser.close()


if __name__ == "__main__":
    main()
