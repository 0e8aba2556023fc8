"""``pathfocus view``: the local web slide viewer (parsing and the URL only; see pathfocus.viewer)."""

from __future__ import annotations

from pathlib import Path

import typer

from pathfocus.cli.common import console, err_console, user_errors


@user_errors
def view(
    slides: list[Path] = typer.Argument(..., help="Slide files and/or folders of slides (searched "
                                        "recursively)."),
    analysis: list[Path] = typer.Option([], "--analysis", "-a", help="Output folder of `pathfocus analyze` "
                                        "(or a folder of them, e.g. one per method); repeat for several."),
    annotations: list[Path] = typer.Option([], "--annotations", help="Folder of lesion annotations "
                                           "(<id>.geojson, <id>.xml, <id>_lesion.png); masks/ beside the "
                                           "slides' folder is found without it."),
    geojson: list[Path] = typer.Option([], "--geojson", help="GeoJSON file, or folder of <id>*.geojson, "
                                       "shown as outlines; repeat for several."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 serves your "
                             "network (anyone who can reach it sees the slides)."),
    port: int = typer.Option(8765, "--port", help="Port to listen on (0: any free port)."),
) -> None:
    """Look at slides in your browser, with SEW's focus, regions and the baseline's attention over them.

    Prints the URL to open; serves only the slides and folders given, until Ctrl-C.
    """
    from pathfocus.viewer.app import build_server

    server = build_server(slides, analysis, annotations, geojson, host=host, port=port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"[yellow]note:[/] listening on {host}: other machines may reach these slides")
    console.print(f"Viewer: {server.url}  (Ctrl-C stops it)", highlight=False)
    server.run()


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the root ``view`` command."""
    app.command("view")(view)
