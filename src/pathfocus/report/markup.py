"""Small HTML building blocks for the report: escaped text, tables, embedded images, the page shell.

The page must open anywhere, offline and forever: every image is a base64 ``data:`` URI, the CSS is
inline, and there is no script and no external resource.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

GALLERY_SIDE = 320
FIGURE_SIDE = 900

CSS = """
:root { --ink: #1f2430; --muted: #5f6b7a; --line: #d9dee5; --band: #f4f6f9; --accent: #2f6db5; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: var(--ink);
       background: #fff; }
header { background: var(--ink); color: #fff; padding: 22px 32px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; color: #c8d0db; font-size: 13px; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 32px 48px; }
nav { margin: 16px 0; font-size: 14px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
section { border-top: 1px solid var(--line); padding-top: 8px; margin-top: 28px; }
h2 { font-size: 20px; margin: 12px 0; }
h3 { font-size: 16px; margin: 18px 0 8px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; max-width: 100%; }
.tables { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
.tables p { margin: 6px 0 0; font-size: 13px; color: var(--muted); }
.figures { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure { margin: 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; max-width: 420px; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 14px; }
.gallery img { width: 100%; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin-bottom: 18px; }
.note { color: var(--muted); font-size: 13px; font-style: italic; }
details { margin: 6px 0 12px; font-size: 13px; }
code { background: var(--band); padding: 1px 4px; border-radius: 3px; font-size: 12px; }
"""


def esc(value: Any) -> str:
    """Text safe for HTML content and attributes."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A readable cell: floats to 3-4 significant places, big integers with separators, None as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """An HTML table of dict rows (columns: the given ones, else the union in first-seen order)."""
    if not rows:
        return ""
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            css = ' class="num"' if numeric else ""
            cells.append(f"<td{css}>{esc(fmt(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>")


def key_value_table(mapping: Mapping[str, Any]) -> str:
    """A two-column table of a flat mapping."""
    return table([{"key": k, "value": v} for k, v in mapping.items()], ["key", "value"])


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys (lists stay values), for configuration tables."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def scalars(mapping: Mapping[str, Any], max_list: int = 20) -> dict[str, Any]:
    """The top-level numbers, strings, booleans and short lists of them (for metrics tables)."""
    def plain(value: Any) -> bool:
        return isinstance(value, int | float | str | bool) or value is None

    return {k: v for k, v in mapping.items()
            if plain(v) or (isinstance(v, list) and len(v) <= max_list and all(plain(x) for x in v))}


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def shrink_png(source: bytes | str | os.PathLike[str], max_side: int) -> bytes:
    """PNG bytes of an image file or PNG bytes, downscaled so neither side exceeds ``max_side``."""
    from PIL import Image

    handle = Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source))
    with handle as image:
        image.load()
        if max(image.size) <= max_side and image.format == "PNG" and isinstance(source, bytes):
            return source
        converted = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
        converted.thumbnail((max_side, max_side))
        buffer = io.BytesIO()
        converted.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()


def figure(source: bytes | str | os.PathLike[str], caption: str, max_side: int = FIGURE_SIDE) -> str:
    """An embedded image with a caption (alt text = caption)."""
    data = shrink_png(source, max_side)
    return (f'<figure><img src="{png_uri(data)}" alt="{esc(caption)}"><figcaption>{esc(caption)}'
            "</figcaption></figure>")


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: Iterable[tuple[str, str, str]]) -> str:
    """The whole document from (anchor, title, body) triples, with a table of contents."""
    parts = list(sections)
    toc = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in parts)
    body = "".join(section(a, t, b) for a, t, b in parts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<main><nav>{toc}</nav>{body}</main></body></html>\n"
    )
