"""``pathfocus report``: one self-contained HTML page of whatever the given folders hold.

Sections appear only when their files exist; each missing piece is named in one line under
"Not in this report" instead of being drawn from anything but the files.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

from pathfocus.errors import InputError
from pathfocus.fileio import write_text
from pathfocus.report.collect import Inventory, collect
from pathfocus.report.markup import esc, page, table
from pathfocus.report.sections import gallery_section, run_section, runs_comparison
from pathfocus.report.slide_sections import comparison_section, markers_section, slides_section


def render_report(inventory: Inventory, title: str = "pathfocus report") -> str:
    """The HTML document for an inventory (see :func:`pathfocus.report.collect.collect`)."""
    sections: list[tuple[str, str, str]] = []
    notes: list[str] = []
    found = ([{"kind": f"{r.kind} run", "path": str(r.path)} for r in inventory.runs]
             + [{"kind": f"slide analysis ({a.method})", "path": str(a.path)} for a in inventory.analyses]
             + [{"kind": "Grad-CAM", "path": str(p)} for p, _ in inventory.explains]
             + [{"kind": "markers", "path": str(p)} for p, _ in inventory.markers]
             + [{"kind": "comparison", "path": str(p)} for p, _ in inventory.comparisons])
    sections.append(("inputs", "Inputs", table(found, ["kind", "path"])))
    if inventory.runs:
        bodies = []
        for run in inventory.runs:
            body, run_notes = run_section(run)
            bodies.append(body)
            notes += run_notes
        sections.append(("runs", "Runs", runs_comparison(inventory.runs) + "".join(bodies)))
    else:
        notes.append("no run folders (config.json of kind patch, sew or mil)")
    builders = [
        ("gradcam", "Grad-CAM", inventory.explains, lambda: gallery_section(inventory.explains),
         "no Grad-CAM folders (`pathfocus explain`)"),
        ("slides", "Slides: where each model looked", inventory.analyses,
         lambda: slides_section(inventory.analyses), "no slide analyses (`pathfocus analyze`)"),
        ("sew-vs-exhaustive", "SEW versus exhaustive", True,
         lambda: comparison_section(inventory.comparisons, inventory.runs, inventory.analyses), ""),
        ("markers", "Markers and survival", inventory.markers, lambda: markers_section(inventory.markers),
         "no markers folder (`pathfocus markers`)"),
    ]
    for anchor, heading, present, build, absent in builders:
        if not present:
            notes.append(absent)
            continue
        body, more = build()
        notes += more
        if body:
            sections.append((anchor, heading, body))
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in notes)
        sections.append(("missing", "Not in this report", f"<ul class=\"note\">{items}</ul>"))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return page(title, f"Generated {stamp} from {len(found)} inputs; every figure is drawn from their files.",
                sections)


def build_report(inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                 title: str = "pathfocus report") -> Path:
    """Collect the inputs, render the page and write it atomically to ``out``."""
    inventory = collect(inputs)
    if inventory.is_empty():
        msg = (f"nothing to report in {', '.join(map(str, inputs))}: no run, analysis, explain or markers "
               "folder and no comparison JSON was found")
        raise InputError(msg)
    return write_text(out, render_report(inventory, title))
