"""The HTML report of a rolled-back release in headless Chromium (Debian ``chromium``).

No network request: Chromium runs with every request sent through a counting proxy on
loopback (a control page with one remote image proves the proxy sees requests). The
decision and the failing metric must be on screen without scrolling at 1280×800 and
390×844: a measuring copy of the page (the same page with a script allowed by its CSP)
paints its verdict and the viewport size into the corner of a second screenshot, read back
pixel by pixel (``--screenshot`` is the mode that honours narrow window sizes).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from matplotlib.image import imread

from mlrollout.report.html import render_html
from report.builders import rolled_back_record
from report.test_hostile import assert_inert

pytestmark = pytest.mark.browser

SIZES = [(1280, 800), (390, 844)]
CHROMIUM_SERVICES = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com")
"""Chromium's own background services (updates, sign-in), which no flag fully silences; the
report is checked not to name them, so a request there cannot come from the report."""
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy" content="[^"]*">')
MEASURE = """<script>
(function () {
  function box(selector) {
    var el = document.querySelector(selector);
    return el ? el.getBoundingClientRect() : null;
  }
  var squares = [0, 20, 40].map(function (left) {
    var d = document.createElement('div');
    d.style.cssText = 'position:fixed;top:0;width:20px;height:20px;z-index:99;left:' + left + 'px';
    document.body.appendChild(d);
    return d;
  });
  function paint(d, rgb) { d.style.background = 'rgb(' + rgb.join(',') + ')'; }
  function measure() {
    var h = window.innerHeight, w = window.innerWidth;
    var boxes = [box('#decision'), box('[data-failing]'), box('tr.Failed')];
    var seen = boxes.every(function (r) { return r && r.top >= 0 && r.bottom <= h; });
    var text = (document.querySelector('#decision') || {}).innerText || '';
    var ok = seen && text.indexOf('ROLLED-BACK') >= 0
      && text.indexOf('tmpl-0/latency-tail') >= 0
      && document.documentElement.scrollWidth <= w;
    paint(squares[0], ok ? [0, 255, 0] : [255, 0, 0]);
    paint(squares[1], [w >> 8, w & 255, 0]);
    paint(squares[2], [h >> 8, h & 255, 0]);
  }
  measure();
  window.addEventListener('resize', measure);
})();
</script>"""
"""Paints three squares at the top left: green when the decision, the failing metric's line
and its table row are all inside the viewport (red otherwise), then the viewport's width and
height encoded as (high byte, low byte, 0)."""


class _Counter(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]]

    def _count(self) -> None:
        type(self).requests.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._count()

    def do_POST(self) -> None:
        self._count()

    def do_HEAD(self) -> None:
        self._count()

    def do_CONNECT(self) -> None:
        self._count()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Counter", (_Counter,), {"requests": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (Debian package chromium)")
        pytest.skip("chromium is not installed (Debian package chromium)")
    return found


def _run(
    browser: str, page: Path, *, size: tuple[int, int], proxy: str, home: Path, extra: list[str]
) -> str:
    argv = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-client-side-phishing-detection",
        "--disable-domain-reliability",
        "--disable-breakpad",
        "--no-pings",
        "--no-service-autorun",
        "--metrics-recording-only",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,"
        "Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
        f"--user-data-dir={home}",
        f"--proxy-server={proxy}",
        "--proxy-bypass-list=<-loopback>",
        f"--window-size={size[0]},{size[1]}",
        *extra,
        page.as_uri(),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def report_page() -> str:
    return render_html(rolled_back_record(steps=10, metrics=6, looks=60))


def test_proxy_sees_a_page_that_makes_a_request(
    tmp_path: Path, proxy: tuple[str, list[str]]
) -> None:
    browser = _chromium()
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><img src="http://report-control.invalid/x.png">')
    _run(
        browser, control, size=(400, 300), proxy=proxy[0], home=tmp_path / "h", extra=["--dump-dom"]
    )
    assert any("report-control.invalid" in r for r in proxy[1]), proxy[1]
    assert not _chromium_service("GET http://report-control.invalid/x.png")
    assert _chromium_service("CONNECT update.googleapis.com:443")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_rolled_back_report_in_chromium(
    tmp_path: Path, proxy: tuple[str, list[str]], report_page: str, size: tuple[int, int]
) -> None:
    browser = _chromium()
    assert_inert(report_page)
    page = tmp_path / "report.html"
    page.write_text(report_page, encoding="utf-8")
    shot = tmp_path / f"report-{size[0]}x{size[1]}.png"
    _run(
        browser,
        page,
        size=size,
        proxy=proxy[0],
        home=tmp_path / "h1",
        extra=[f"--screenshot={shot}"],
    )
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000

    measured = tmp_path / "measure.html"
    allowed = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    copy, replaced = CSP.subn(
        f'<meta http-equiv="Content-Security-Policy" content="{allowed}">', report_page
    )
    assert replaced == 1
    measured.write_text(copy.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    probe = tmp_path / f"measure-{size[0]}x{size[1]}.png"
    _run(
        browser,
        measured,
        size=size,
        proxy=proxy[0],
        home=tmp_path / "h2",
        extra=[f"--screenshot={probe}"],
    )
    pixels = imread(probe)
    verdict, width, height = (
        [round(float(c) * 255) for c in pixels[10, x][:3]] for x in (10, 30, 50)
    )
    assert (width[0] << 8) + width[1] == size[0]
    assert (height[0] << 8) + height[1] <= size[1]
    assert verdict == [0, 255, 0], "the decision or the failing metric needs scrolling"
    assert not any(host in report_page for host in CHROMIUM_SERVICES)
    own = [r for r in proxy[1] if not _chromium_service(r)]
    assert own == [], f"the report made network requests: {own}"


def _chromium_service(request: str) -> bool:
    host = re.sub(r"^\w+ (https?://)?([^/:]+).*$", r"\2", request)
    return any(host == h or host.endswith("." + h) for h in CHROMIUM_SERVICES)
