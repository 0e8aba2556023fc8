"""Safe by default: the viewer binds 127.0.0.1, serves only the slides and folders it was started with
(no path from the browser is ever opened: traversal, encoded traversal, absolute paths and symlinks out
of a folder are refused) and answers only to this machine's host names."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pathfocus.cli.view_cmds import view
from pathfocus.errors import InputError
from pathfocus.viewer.app import ViewerServer, build_server, create_app
from pathfocus.viewer.slides import build_library

LOCAL = "http://127.0.0.1:8765"
PROBES = [
    "/api/slides/..",
    "/api/slides/%2e%2e",
    "/api/slides/..%2fbad%2fnotaslide",
    "/api/slides/%2Fetc%2Fpasswd",
    "/api/slides//etc/passwd",
    "/tiles/%2e%2e/11/0_0.jpeg",
    "/tiles/..%2f..%2foutside%2fsecret/11/0_0.jpeg",
    "/tiles/slide_000/11/..%2f..%2f0_0.jpeg",
    "/tiles//tmp/secret/11/0_0.jpeg",
    "/tiles/secret/11/0_0.jpeg",
    "/overlays/slide_000/..%2f..%2fsew%2fslide_000_heatmap.png",
    "/overlays/slide_000/%2e%2e.png",
    "/static/../pyproject.toml",
    "/static/%2e%2e/app.py",
    "/static/%2e%2e/%2e%2e/errors.py",
    "/static//etc/passwd",
    "/etc/passwd",
]


@pytest.mark.parametrize("probe", PROBES)
def test_paths_from_the_browser_are_never_opened(client, probe):
    response = client.get(probe)
    assert response.status_code in (400, 404), (probe, response.status_code)
    assert b"root:" not in response.content and b"def " not in response.content


def test_a_symlink_out_of_a_folder_is_refused(demo_like, tmp_path, caplog):
    folder = tmp_path / "slides"
    folder.mkdir()
    os.symlink(demo_like["first"], folder / "inside.tiff")  # pointing out of the folder
    os.symlink(demo_like["outside"], folder / "linked_folder")  # a folder outside, linked in
    (folder / "real.tiff").write_bytes(demo_like["second"].read_bytes())
    (folder / "alias.tiff").symlink_to(folder / "real.tiff")  # stays inside: allowed
    library = build_library([folder])
    assert sorted(entry.id for entry in library) == ["real"]
    assert all(entry.path.is_relative_to(folder.resolve()) for entry in library)
    assert "inside.tiff" in caplog.text and "points outside" in caplog.text
    with TestClient(create_app(library), base_url=LOCAL) as client:
        assert client.get("/api/slides/inside").status_code == 404
        assert client.get("/api/slides/secret").status_code == 404
        assert client.get("/tiles/secret/8/0_0.jpeg").status_code == 404


def test_a_slide_file_given_by_itself_is_all_that_is_served(demo_like):
    library = build_library([demo_like["first"]])
    assert [entry.path for entry in library] == [demo_like["first"].resolve()]


def test_ids_are_sanitised_and_unique(tmp_path, demo_like):
    for name in ("a b.tiff", "a_b.tiff", "(weird).tiff"):
        folder = tmp_path / name.replace(".tiff", "")
        folder.mkdir()
        (folder / name).write_bytes(demo_like["second"].read_bytes())
    ids = sorted(entry.id for entry in build_library([tmp_path]))
    assert ids == ["a_b", "a_b-2", "weird"]


def test_missing_inputs_are_one_sentence(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        build_library([tmp_path / "nothing"])
    with pytest.raises(InputError, match="no slide files"):
        build_library([tmp_path])


def test_other_host_names_are_refused(demo_like):
    app = create_app(build_library([demo_like["slides"]]))  # default: this machine's names only
    with TestClient(app, base_url="http://attacker.example") as client:
        assert client.get("/api/slides").status_code == 400
    with TestClient(app, base_url="http://localhost:8765") as client:
        assert client.get("/api/slides").status_code == 200


def test_binds_to_this_machine_unless_told_otherwise(demo_like):
    assert inspect.signature(view).parameters["host"].default.default == "127.0.0.1"
    assert inspect.signature(ViewerServer).parameters["host"].default == "127.0.0.1"
    server = build_server([demo_like["slides"]], port=0)
    try:
        assert server.socket.getsockname()[0] == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}/"
    finally:
        server.socket.close()


def test_a_port_in_use_is_one_sentence(demo_like):
    first = build_server([demo_like["slides"]], port=0)
    try:
        with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            build_server([demo_like["slides"]], port=first.port)
    finally:
        first.socket.close()


def test_the_server_serves_and_stops(demo_like):
    import httpx

    server = build_server([Path(demo_like["slides"])], port=0).start()
    try:
        response = httpx.get(f"{server.url}api/slides", timeout=10)
        assert response.status_code == 200 and len(response.json()) == 2
    finally:
        server.stop()
    assert not server._thread.is_alive()
