"""Make docs/viewer.png: `pathfocus view` on the demo's slides and analyses, in headless Chromium.

    make demo && .venv/bin/python scripts/viewer-screenshot.py [--slide slide_004] [--out docs/viewer.png]

Opens the slide, centres it on SEW's best region at 2.5x the home zoom, waits for every tile and overlay,
and saves the viewport (reduced to 256 colours, as the README's other pictures are kept small).
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

from PIL import Image

from pathfocus.report.live_page import open_live_page
from pathfocus.viewer.app import build_server

CENTRE_ON_BEST_SEW_REGION = """(() => {
  const v = pathfocus.viewer, width = pathfocus.slide.dimensions[0];
  const sew = Object.values(pathfocus.layers).find(e => e.layer.label === "SEW regions");
  const r = sew.layer.shapes[0];
  v.viewport.panTo(new OpenSeadragon.Point((r.x + r.w / 2) / width, (r.y + r.h / 2) / width), true);
  v.viewport.zoomTo(ZOOM, null, true);
  return null;
})()"""
ALL_LOADED = ("[...Array(pathfocus.viewer.world.getItemCount()).keys()]"
              ".every(i => pathfocus.viewer.world.getItemAt(i).getFullyLoaded())")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, default=Path("runs/demo"))
    parser.add_argument("--slide", default="slide_004")
    parser.add_argument("--zoom", type=float, default=2.5)
    parser.add_argument("--out", type=Path, default=Path("docs/viewer.png"))
    args = parser.parse_args()
    server = build_server([args.demo / "slides" / "slides"], [args.demo / "analysis"], port=0).start()
    try:
        with open_live_page(f"{server.url}#{args.slide}", width=1280, height=800) as page:
            page.wait_until(f"document.body.dataset.ready === {args.slide!r}")
            page.evaluate(CENTRE_ON_BEST_SEW_REGION.replace("ZOOM", str(args.zoom)))
            page.wait_until(ALL_LOADED)
            time.sleep(1.0)  # the last tiles fade in
            page.wait_until(ALL_LOADED)
            errors, shot = page.console_errors(), page.screenshot()
    finally:
        server.stop()
    if errors:
        raise SystemExit(f"console errors: {errors}")
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
