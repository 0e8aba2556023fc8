"""The viewer's ASGI app (Starlette): the page, the slide list and details, Deep Zoom tiles and overlays.

Routes (every slide is named by its opaque id from :mod:`pathfocus.viewer.slides`; no route takes a path)::

    GET /                                  the page (static/viewer.html)
    GET /static/...                        OpenSeadragon and the page's script and style, from the package
    GET /api/slides                        [{id, name}]
    GET /api/slides/{id}                   metadata, predictions, layers and the Deep Zoom description,
                                           or the slide's one-sentence error
    GET /tiles/{id}/{level}/{col}_{row}.jpeg|png
    GET /overlays/{id}/{key}.png           an image layer (tissue, heatmap, lesion)

A tile that cannot be read is answered with an error tile (status 500) and one log line; the server goes
on. Requests whose ``Host`` is not the address the server was started on are refused (DNS rebinding).
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pathfocus.errors import InputError, PathfocusError
from pathfocus.viewer.overlays import OverlayFinder
from pathfocus.viewer.slides import TILE_FORMATS, SlideLibrary, TileError, TileNotFound, error_tile

log = logging.getLogger(__name__)

TILE_ADDRESS = re.compile(r"(\d{1,7})_(\d{1,7})\.(jpeg|png)")
OVERLAY_KEY = re.compile(r"([a-z]+(?:-\d{1,4})?)\.png")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Nothing but this server: the page works offline and cannot reach anything else.
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
                                "'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"),
}


def static_dir() -> Path:
    """The package's static folder (OpenSeadragon, the page, its script and style)."""
    return Path(str(resources.files("pathfocus.viewer") / "static"))


def create_app(library: SlideLibrary, overlays: OverlayFinder | None = None,
               allowed_hosts: list[str] | None = None) -> Starlette:
    """The viewer app over ``library``'s slides; ``allowed_hosts`` defaults to this machine's names."""
    overlays = overlays or OverlayFinder()
    page = (static_dir() / "viewer.html").read_text(encoding="utf-8")

    def index(request: Request) -> Response:
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    def slides(request: Request) -> Response:
        return _json([{"id": entry.id, "name": entry.name} for entry in library])

    def slide_details(request: Request) -> Response:
        entry = library.get(request.path_params["slide_id"])
        if entry is None:
            return _json({"error": "no such slide"}, status=404)
        info = entry.info()
        if info.get("error"):
            return _json({**info, "analyses": [], "layers": []})
        found = overlays.describe(entry)
        return _json({**info, "dzi": entry.dzi(), "analyses": found["analyses"], "layers": found["layers"]})

    def tile(request: Request) -> Response:
        entry = library.get(request.path_params["slide_id"])
        address = TILE_ADDRESS.fullmatch(request.path_params["address"])
        if entry is None or address is None or not request.path_params["level"].isdigit():
            return Response("no such tile", status_code=404, media_type="text/plain")
        col, row, tile_format = int(address[1]), int(address[2]), address[3]
        level = int(request.path_params["level"])
        try:
            body = entry.tile(level, col, row, tile_format)
        except TileNotFound as error:
            return Response(str(error), status_code=404, media_type="text/plain")
        except (TileError, PathfocusError) as error:
            log.error("viewer: %s", error)
            return Response(error_tile(tile_format), status_code=500, media_type=_media(tile_format),
                            headers={"X-Pathfocus-Error": _header_text(str(error)), **SECURITY_HEADERS})
        return Response(body, media_type=_media(tile_format),
                        headers={"Cache-Control": "private, max-age=3600", **SECURITY_HEADERS})

    def overlay(request: Request) -> Response:
        entry = library.get(request.path_params["slide_id"])
        key = OVERLAY_KEY.fullmatch(request.path_params["name"])
        if entry is None or key is None:
            return Response("no such overlay", status_code=404, media_type="text/plain")
        try:
            body = overlays.image(entry, key[1])
        except PathfocusError as error:
            log.error("viewer: overlay %s of %s: %s", key[1], entry.id, error)
            return Response(str(error), status_code=500, media_type="text/plain")
        if body is None:
            return Response("no such overlay", status_code=404, media_type="text/plain")
        return Response(body, media_type="image/png", headers=SECURITY_HEADERS)

    routes = [
        Route("/", index),
        Route("/api/slides", slides),
        Route("/api/slides/{slide_id}", slide_details),
        Route("/tiles/{slide_id}/{level}/{address}", tile),
        Route("/overlays/{slide_id}/{name}", overlay),
        Mount("/static", StaticFiles(directory=static_dir()), name="static"),
    ]
    hosts = allowed_hosts if allowed_hosts is not None else list(LOCAL_HOSTS)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        library.close()

    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
                     lifespan=lifespan)


def _json(document: Any, status: int = 200) -> Response:
    return JSONResponse(document, status_code=status, headers=SECURITY_HEADERS)


def _media(tile_format: str) -> str:
    return f"image/{TILE_FORMATS[tile_format].lower()}"


def _header_text(text: str) -> str:
    """A one-line, ASCII-only version of ``text`` that fits in an HTTP header."""
    return " ".join(text.encode("ascii", "replace").decode().split())[:300]


def hosts_for(host: str) -> list[str]:
    """The ``Host`` names to accept when bound to ``host``: this machine's names, plus ``host`` itself;
    anything when bound to every interface (the user chose to serve the network)."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    return list(dict.fromkeys([*LOCAL_HOSTS, host]))


class ViewerServer:
    """uvicorn serving the app on a socket bound before it starts, so the URL is known (``port=0``: any
    free port). ``run()`` blocks (Ctrl-C stops it); ``start()``/``stop()`` run it on a thread (tests)."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 8765) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port))
        except OSError as error:
            self.socket.close()
            msg = f"cannot listen on {host}:{port} ({error.strerror}); pass another --port (0: any free one)"
            raise InputError(msg) from None
        self.socket.listen(128)
        self.host, self.port = host, self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{self.port}/"

    def run(self) -> None:
        """Serve until interrupted."""
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.socket.close()

    def start(self, timeout: float = 10.0) -> ViewerServer:
        """Serve on a daemon thread; returns once the server accepts requests."""
        self._thread = threading.Thread(target=self.run, name="pathfocus-viewer", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                msg = "the viewer did not start (see the log above) within its time limit"
                raise RuntimeError(msg)
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)


def build_server(slides: list[Path], analysis: list[Path] | None = None,
                 annotations: list[Path] | None = None, geojson: list[Path] | None = None,
                 host: str = "127.0.0.1", port: int = 8765) -> ViewerServer:
    """The viewer over ``slides`` (files and folders) with their overlays, bound to ``host:port``."""
    from pathfocus.viewer.slides import build_library

    library = build_library(slides)
    finder = OverlayFinder(analysis, annotations, geojson)
    return ViewerServer(create_app(library, finder, hosts_for(host)), host=host, port=port)
