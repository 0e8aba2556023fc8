"""Open a report in headless Chromium and read back what a person would see: console errors, requests
that left the file, every image's decoded size, and a screenshot.

Talks the DevTools protocol over ``--remote-debugging-pipe`` (JSON messages separated by NUL on file
descriptors 3 and 4), so it needs only the standard library and Debian's ``chromium``
(``scripts/ensure-chromium.sh`` installs it). Used by the report's browser test and to make the
README's screenshot; :func:`launch_chromium` is also what ``live_page`` drives the slide viewer with.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathfocus.errors import InputError

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe")
# Collects every <img> after decoding; a broken image has naturalWidth 0.
IMAGES_SCRIPT = """
(async () => {
  const images = Array.from(document.images);
  await Promise.all(images.map(i => i.decode().catch(() => null)));
  return images.map(i => ({alt: i.alt, width: i.naturalWidth, height: i.naturalHeight,
                           complete: i.complete, scheme: i.src.split(':')[0]}));
})()
"""


@dataclass
class PageCheck:
    """What the browser saw: console errors and exceptions, requests to anything but the file itself
    and ``data:`` URIs, every image's natural size, the page's text, and a PNG screenshot."""

    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    text: str = ""
    screenshot: bytes = b""


def find_chromium() -> str | None:
    """The Chromium executable (``$CHROMIUM`` first), or None when there is none."""
    for candidate in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


class _Pipe:
    """A DevTools session over Chromium's pipe: send commands, wait for replies, keep the events."""

    def __init__(self, process: subprocess.Popen, to_browser: int, from_browser: int) -> None:
        self.process, self.writer, self.next_id = process, os.fdopen(to_browser, "wb"), 0
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._read, args=(from_browser,), daemon=True).start()

    def _read(self, fd: int) -> None:
        buffer = b""
        with os.fdopen(fd, "rb") as reader:
            while chunk := reader.read1(1 << 16):
                buffer += chunk
                *complete, buffer = buffer.split(b"\0")
                for message in complete:
                    self.messages.put(json.loads(message))
        self.messages.put(None)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.writer.write(json.dumps(message).encode() + b"\0")
        self.writer.flush()
        deadline = time.monotonic() + timeout
        while True:
            reply = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if reply is None:
                msg = f"Chromium closed the DevTools pipe while waiting for {method}"
                raise RuntimeError(msg)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    msg = f"DevTools {method} failed: {reply['error']}"
                    raise RuntimeError(msg)
                return reply.get("result", {})
            self.events.append(reply)

    def poll(self) -> None:
        """Move the events that have arrived into ``events`` without waiting."""
        with contextlib.suppress(queue.Empty):
            while (event := self.messages.get_nowait()) is not None:
                self.events.append(event)
            self.messages.put(None)  # the pipe closed: keep saying so to whoever waits next

    def wait_for(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        if found := next((e for e in self.events if e.get("method") == method), None):
            return found
        deadline = time.monotonic() + timeout
        while True:
            event = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if event is None:
                msg = f"Chromium closed the DevTools pipe while waiting for {method}"
                raise RuntimeError(msg)
            self.events.append(event)
            if event.get("method") == method:
                return event


def check_page(html_path: str | os.PathLike[str], width: int = 1280, height: int = 900,
               full_page: bool = False, chromium: str | None = None, timeout: float = 60.0) -> PageCheck:
    """Load ``html_path`` in headless Chromium and report what it saw (see :class:`PageCheck`)."""
    path = Path(html_path).resolve()
    if not path.is_file():
        msg = f"{path} does not exist; build the report first"
        raise InputError(msg)
    with launch_chromium(width, height, chromium, timeout, what=str(path)) as (pipe, session):
        return _inspect(pipe, session, path, width, full_page, timeout)


@contextlib.contextmanager
def launch_chromium(width: int = 1280, height: int = 900, chromium: str | None = None, timeout: float = 60.0,
                    what: str = "the page") -> Iterator[tuple[_Pipe, str]]:
    """Headless Chromium with one blank tab of ``width`` x ``height``: yields the DevTools pipe and the
    tab's session id (Page, Runtime, Log and Network events enabled); the browser is closed afterwards."""
    executable = chromium or find_chromium()
    if executable is None:
        msg = "no Chromium found; run scripts/ensure-chromium.sh or set CHROMIUM=/path/to/chromium"
        raise InputError(msg)
    with tempfile.TemporaryDirectory(prefix="pathfocus-chromium-") as profile:
        to_read, to_browser = os.pipe()
        from_browser, to_write = os.pipe()
        # NOTE: move our ends out of the way first so dup2 onto 3 and 4 cannot clobber one of them.
        child_in, child_out = (os.dup2(fd, fd + 100) if fd < 5 else fd for fd in (to_read, to_write))

        def wire_descriptors() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        args = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                "about:blank"]
        with open(Path(profile) / "stderr.log", "wb") as log:
            process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       preexec_fn=wire_descriptors, close_fds=False)
        for fd in {to_read, to_write, child_in, child_out}:
            os.close(fd)
        pipe = _Pipe(process, to_browser, from_browser)
        try:
            yield pipe, _open_tab(pipe, width, height, timeout)
        except (RuntimeError, queue.Empty, OSError) as error:
            tail = (Path(profile) / "stderr.log").read_text(errors="replace")[-2000:]
            msg = f"{executable} failed on {what}: {error or 'no reply in time'}; its stderr ends:\n{tail}"
            raise RuntimeError(msg) from error
        finally:
            _close(pipe)


def _open_tab(pipe: _Pipe, width: int, height: int, timeout: float) -> str:
    target = pipe.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                     "mobile": False}, session=session)
    pipe.events.clear()
    return session


def _inspect(pipe: _Pipe, session: str, path: Path, width: int, full_page: bool, timeout: float) -> PageCheck:
    pipe.send("Page.navigate", {"url": path.as_uri()}, session=session)
    pipe.wait_for("Page.loadEventFired", timeout)
    images = pipe.send("Runtime.evaluate", {"expression": IMAGES_SCRIPT, "awaitPromise": True,
                                            "returnByValue": True}, session=session, timeout=timeout)
    summary = pipe.send("Runtime.evaluate", {"expression": "[document.title, document.body.innerText]",
                                             "returnByValue": True}, session=session)
    clip = None
    if full_page:
        size = pipe.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": width, "height": min(size["height"], 16000), "scale": 1}
    shot_params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
    if clip:
        shot_params["clip"] = clip
    shot = pipe.send("Page.captureScreenshot", shot_params, session=session, timeout=timeout)
    title, text = summary["result"]["value"]
    return PageCheck(console_errors=_errors(pipe.events), external_requests=_external(pipe.events),
                     images=images["result"]["value"], title=title, text=text,
                     screenshot=base64.b64decode(shot["data"]))


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            values = (a.get("value", a.get("description", "")) for a in params.get("args", []))
            found.append(" ".join(map(str, values)))
        elif method == "Runtime.exceptionThrown":
            found.append(params.get("exceptionDetails", {}).get("text", "exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            found.append(f"{entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.loadingFailed":
            found.append(f"failed to load: {params.get('errorText')}")
    return found


def _external(events: list[dict[str, Any]]) -> list[str]:
    urls = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    return [url for url in urls if url.split(":", 1)[0] not in ("data", "file", "about")]


def _close(pipe: _Pipe) -> None:
    """Ask the browser to quit, kill it if it does not within 10 s (it is our own child process)."""
    with contextlib.suppress(RuntimeError, queue.Empty, OSError):
        pipe.send("Browser.close", timeout=5)
    try:
        pipe.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pipe.process.kill()
        pipe.process.wait()
    with contextlib.suppress(OSError):
        pipe.writer.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m pathfocus.report.browser REPORT.html [--screenshot OUT.png] [--full-page]``: check a
    report in Chromium (exit 1 on console errors, external requests or broken images), save a screenshot."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--full-page", action="store_true")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    check = check_page(args.report, width=args.width, height=args.height, full_page=args.full_page)
    broken = [image["alt"] for image in check.images if not (image["width"] and image["height"])]
    if args.screenshot:
        from pathfocus.fileio import write_bytes

        write_bytes(args.screenshot, check.screenshot)
    problems = [*check.console_errors, *(f"external request: {u}" for u in check.external_requests),
                *(f"broken image: {alt}" for alt in broken)]
    for problem in problems:
        print(problem)  # noqa: T201 -- a command-line tool's output
    print(f"{args.report}: {len(check.images)} images, {len(problems)} problems")  # noqa: T201
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
