"""Drive a page served over HTTP in headless Chromium: run JavaScript, wait for a condition, read back the
responses it received, its console errors and a screenshot.

Built on :func:`pathfocus.report.browser.launch_chromium` (standard library and Debian's ``chromium``
only). Used by the slide viewer's browser test and to make the README's screenshot of the viewer.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

from pathfocus.report.browser import _errors, _Pipe, launch_chromium


class LivePage:
    """One tab of headless Chromium; every method waits for its DevTools reply."""

    def __init__(self, pipe: _Pipe, session: str, timeout: float) -> None:
        self.pipe, self.session, self.timeout = pipe, session, timeout

    def goto(self, url: str) -> None:
        """Navigate to ``url`` and wait for its load event."""
        self.pipe.events.clear()
        self.pipe.send("Page.navigate", {"url": url}, session=self.session, timeout=self.timeout)
        self.pipe.wait_for("Page.loadEventFired", self.timeout)

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        """The JSON value of ``expression`` in the page; raises with the page's message if it throws."""
        reply = self.pipe.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                    "awaitPromise": await_promise},
                               session=self.session, timeout=self.timeout)
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            message = details.get("exception", {}).get("description") or details.get("text")
            msg = f"the page threw on {expression[:80]!r}: {message}"
            raise RuntimeError(msg)
        return reply.get("result", {}).get("value")

    def wait_until(self, expression: str, timeout: float | None = None, interval: float = 0.1) -> Any:
        """Evaluate ``expression`` until it is truthy; return its value (RuntimeError when time runs out)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                msg = f"the page never made {expression!r} true; its console said: {self.console_errors()}"
                raise RuntimeError(msg)
            time.sleep(interval)

    def wait_for_responses(self, contains: str, count: int, timeout: float | None = None) -> list[dict]:
        """Wait until ``count`` responses whose URL contains ``contains`` arrived; return them all."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while len(found := self.responses(contains)) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return found

    def responses(self, contains: str = "") -> list[dict[str, Any]]:
        """``{url, status, type}`` of every response received so far whose URL contains ``contains``."""
        self.pipe.poll()
        found = []
        for event in self.pipe.events:
            if event.get("method") == "Network.responseReceived":
                response = event["params"]["response"]
                if contains in response["url"]:
                    found.append({"url": response["url"], "status": response["status"],
                                  "type": response.get("mimeType", "")})
        return found

    def requests(self) -> list[str]:
        """The URL of every request the page made so far."""
        self.pipe.poll()
        return [e["params"]["request"]["url"] for e in self.pipe.events
                if e.get("method") == "Network.requestWillBeSent"]

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions, error log entries and failed loads so far."""
        self.pipe.poll()
        return _errors(self.pipe.events)

    def click(self, selector: str) -> None:
        """Click the first element matching the CSS ``selector``."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        shot = self.pipe.send("Page.captureScreenshot", {"format": "png"}, session=self.session,
                              timeout=self.timeout)
        return base64.b64decode(shot["data"])


@contextlib.contextmanager
def open_live_page(url: str, width: int = 1280, height: int = 800, chromium: str | None = None,
                   timeout: float = 60.0) -> Iterator[LivePage]:
    """Headless Chromium showing ``url`` (loaded); the browser is closed when the block ends."""
    with launch_chromium(width, height, chromium, timeout, what=url) as (pipe, session):
        page = LivePage(pipe, session, timeout)
        page.goto(url)
        yield page
