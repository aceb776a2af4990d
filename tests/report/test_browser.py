"""The campaign's HTML report in headless Chromium: headings, figures, no errors, no network.

How the browser is driven: Chromium's DevTools protocol over a pipe
(``--remote-debugging-pipe``: the browser reads commands on fd 3 and writes
replies and events on fd 4, one JSON object per message, each ending in a NUL
byte). That needs only the standard library (no websocket client, no port to
allocate, nothing listening on the network), and unlike ``--dump-dom`` it
sees the page as rendered: decoded images, console messages, exceptions,
blocked loads (CSP violations) and every request the page tries to make.

Chromium is Debian's ``chromium`` package (``CHROMIUM`` overrides the
executable). Without it the test is skipped, except under ``CI=true``, where
it fails: CI installs it (``.ci/run``). ``NARWHAL_BROWSER_ARTIFACTS=DIR``
keeps the screenshots in DIR. The report is the session's completed exchange
(``tests/conftest.py``: plan and report run through the real commands); the
browser's profile and screenshots go to a directory of this module's own, so
the shared report stays as the commands wrote it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread

from linkage.report import SECTION_IDS
from tests.conftest import EXCHANGE_ID, Exchange

pytestmark = [pytest.mark.integration, pytest.mark.slow]

X = EXCHANGE_ID
WIDTH, HEIGHT = 1280, 900
INSTALL = "apt-get update && apt-get install -y chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
    f"--window-size={WIDTH},{HEIGHT}",
)
# Moves the pipe ends to fds 3 and 4 in the child, then becomes Chromium
# (subprocess can keep fds open but not renumber them).
TRAMPOLINE = (
    "import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); "
    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


def chromium() -> str:
    """Path of the browser, or skip (fail under CI) with what to install."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    message = f"chromium not found; install it with: {INSTALL}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


def _high_fd(fd: int) -> int:
    """Duplicate ``fd`` to a number >= 10 (so dup2 onto 3/4 cannot clobber it)."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser = os.pipe()
        from_browser = os.pipe()
        self._browser_in, self._write = (_high_fd(fd) for fd in to_browser)
        self._read, self._browser_out = (_high_fd(fd) for fd in from_browser)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                TRAMPOLINE,
                str(self._browser_in),
                str(self._browser_out),
                executable,
                *FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            pass_fds=(self._browser_in, self._browser_out),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(self._browser_in)
        os.close(self._browser_out)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _send(self, method: str, params: dict[str, Any], session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._read], [], [], max(left, 0.0))
            if not ready:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send a command and return its result; events met meanwhile are kept."""
        wanted = self._send(method, params or {}, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, event: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """The first event named ``event`` (already received or still to come)."""
        for i, message in enumerate(self.events):
            if message.get("method") == event:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline)
            if message.get("method") == event:
                return message
            self.events.append(message)

    def close(self) -> None:
        # The browser may drop the pipe before it answers: that is a close too.
        with contextlib.suppress(EOFError, TimeoutError, OSError, RuntimeError):
            self.call("Browser.close", timeout=5.0)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._write)
        os.close(self._read)


@dataclass
class Rendered:
    """What the browser saw of one page."""

    dom: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    screenshots: dict[str, Path] = field(default_factory=dict)


DOM_PROBE = """(async () => {
  const images = [...document.images];
  const decoded = await Promise.all(images.map(i => i.decode().then(() => true, () => false)));
  return JSON.stringify({
    title: document.title,
    h2: [...document.querySelectorAll('h2')].map(h => [h.id, h.textContent]),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    figures: [...document.querySelectorAll('figure')].map(f => f.id),
    images: images.map((img, n) => ({
      decoded: decoded[n], width: img.naturalWidth, height: img.naturalHeight,
      shown: img.getBoundingClientRect().width, scheme: img.src.split(':')[0]})),
    exchange: (document.getElementById('exchange-id') || {}).textContent,
    text: document.body.innerText,
  });
})()"""


def render(
    url: str, out_dir: Path, *, shots: tuple[str, ...] = ("top", "heatmaps", "plan")
) -> Rendered:
    """Load ``url`` in a fresh headless Chromium; probe the DOM, collect errors, screenshot."""
    browser = DevTools(chromium(), out_dir / "profile")
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Page", "Network"):
            browser.call(f"{domain}.enable", session=session)
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.call("Page.navigate", {"url": url}, session=session)
        browser.wait_for("Page.loadEventFired")
        probe = browser.call(
            "Runtime.evaluate",
            {"expression": DOM_PROBE, "awaitPromise": True, "returnByValue": True},
            session=session,
        )
        rendered = Rendered(json.loads(probe["result"]["value"]))
        for name in shots:
            if name != "top":
                browser.call(
                    "Runtime.evaluate",
                    {"expression": f"document.getElementById('{name}')?.scrollIntoView()"},
                    session=session,
                )
            shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
            path = out_dir / f"screenshot-{name}.png"
            path.write_bytes(base64.b64decode(shot["data"]))
            rendered.screenshots[name] = path
        # A last round trip, so events the page raised before it are in.
        browser.call("Runtime.evaluate", {"expression": "0"}, session=session)
    finally:
        browser.close()
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            rendered.errors.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            rendered.errors.append(f"console.{params['type']}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            rendered.errors.append(f"log: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent":
            rendered.requests.append(params["request"]["url"])
    return rendered


@pytest.fixture(scope="module")
def browser() -> str:
    return chromium()


@pytest.fixture(scope="module")
def report_dir(browser: str, exchange: Exchange) -> Path:
    """The session exchange's report directory (plan and report), read-only.

    ``browser`` comes first: without Chromium the test skips before the
    exchange is built.
    """
    return exchange.report


@pytest.fixture(scope="module")
def rendered(report_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render((report_dir / "report.html").as_uri(), tmp_path_factory.mktemp("browser"))


def test_headings_render_in_order(rendered: Rendered) -> None:
    assert [h2_id for h2_id, _ in rendered.dom["h2"]] == list(SECTION_IDS)
    assert rendered.dom["exchange"] == X
    assert X in rendered.dom["title"]
    assert "Match rates" in rendered.dom["text"]


def test_every_figure_decodes_and_is_shown(rendered: Rendered, report_dir: Path) -> None:
    images = rendered.dom["images"]
    # One chart per segment and day type, the same ones written beside the page.
    charts = sorted(report_dir.glob("heatmap_*.png"))
    assert len(charts) >= 4
    assert len(images) == len(rendered.dom["figures"]) == len(charts)
    for image in images:
        assert image["decoded"] and image["scheme"] == "data"
        assert image["width"] > 200 and image["height"] > 200
        assert image["shown"] > 100
    assert "figure-persuadable-weekday" in rendered.dom["figures"]


def test_plan_section_matches_the_files(rendered: Rendered, report_dir: Path) -> None:
    ids = set(rendered.dom["ids"])
    if (report_dir / "plan.csv").exists():
        assert "plan-table" in ids and "no-plan" not in ids
    else:
        assert "no-plan" in ids


def test_no_console_errors_and_no_network(rendered: Rendered) -> None:
    assert rendered.errors == []
    fetched = [u for u in rendered.requests if not u.startswith(("file:", "data:"))]
    assert fetched == []


def test_screenshots_show_the_page(rendered: Rendered) -> None:
    keep = os.environ.get("NARWHAL_BROWSER_ARTIFACTS")
    for name, path in rendered.screenshots.items():
        if keep:  # e.g. a CI artifact directory, to look at the page
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / path.name)
        pixels = np.asarray(imread(path))
        assert pixels.shape[:2] == (HEIGHT, WIDTH), name
        assert float(pixels[..., :3].std()) > 0.02, f"{name} screenshot is blank"

    # The heatmap view is chart: more colour than the text-only top (on this
    # small world most cells are hatched grey, more so since the statewide rows
    # keep 0.4 of the release's rho and the markets the rest: not a fixed share).
    def coloured(name: str) -> float:
        pixels = np.asarray(imread(rendered.screenshots[name]))[..., :3]
        return float(((pixels.max(axis=-1) - pixels.min(axis=-1)) > 0.3).mean())

    assert coloured("heatmaps") > max(0.01, coloured("top"))


def test_the_harness_sees_errors_and_requests(tmp_path: Path) -> None:
    # A page that breaks every rule: without this, a silent harness would pass anything.
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>bad</title></head><body><h2 id='x'>x</h2>"
        "<img src='http://127.0.0.1:9/missing.png'>"
        "<script>console.error('boom'); undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    seen = render(page.as_uri(), tmp_path, shots=())
    assert seen.dom["h2"] == [["x", "x"]]
    assert "console.error" in seen.errors
    assert any(e.startswith("exception:") for e in seen.errors)
    assert "http://127.0.0.1:9/missing.png" in seen.requests
