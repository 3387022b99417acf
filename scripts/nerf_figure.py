"""Before/after figure of ns-edit on dws-nerf runs, from a `dws-edit bench nerf` work folder.

Rows: the exactly edited scene's test views (the target), the unedited run and the edited runs, each rendered by
ns-render (the bench's renders/ folder); one column per test view.

    .venv/bin/python scripts/nerf_figure.py --work runs/bench-nerf --scene mug --edit remove \
        --out checkpoints/figures/nerf-mug-remove.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/bench-nerf"))
    parser.add_argument("--scene", default="mug")
    parser.add_argument("--edit", default="remove")
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    truth = sorted((args.work / "scenes" / f"{args.scene}-{args.edit}" / "test").glob("*.png"))
    rows = {"target (exact edit of the scene)": truth,
            "unedited run (ns-render)": _renders(args.work, f"{args.scene}-base"),
            f"dws-{args.edit} (ns-edit, ns-render)": _renders(args.work, f"{args.scene}-dws-{args.edit}")}  # fmt: skip
    exact = args.work / "renders" / f"{args.scene}-exact-{args.edit}"
    if exact.is_dir():
        rows[f"{args.edit}-exact (ns-edit, ns-render)"] = _renders(args.work, f"{args.scene}-exact-{args.edit}")
    for name, files in rows.items():
        if len(files) < args.views:
            raise SystemExit(f"nerf_figure: {name}: {len(files)} images in {args.work}; run dws-edit bench nerf first")
    tiles = [[np.asarray(Image.open(f).convert("RGB")) for f in files[: args.views]] for files in rows.values()]
    h, w, _ = tiles[0][0].shape
    label = 230
    sheet = Image.new("RGB", (label + args.views * w * args.scale, len(rows) * h * args.scale), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (name, row) in enumerate(zip(rows, tiles)):
        draw.text((6, r * h * args.scale + h * args.scale // 2 - 6), name, fill="black")
        for c, tile in enumerate(row):
            image = Image.fromarray(tile).resize((w * args.scale, h * args.scale), Image.NEAREST)
            sheet.paste(image, (label + c * w * args.scale, r * h * args.scale))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")


def _renders(work: Path, tag: str) -> list[Path]:
    return sorted((work / "renders" / tag / "test" / "rgb").glob("*.png"))


if __name__ == "__main__":
    main()
