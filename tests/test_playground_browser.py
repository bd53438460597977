"""The playground as a person uses it, in Debian's headless Chromium (driven by Playwright's
Python client with ``executable_path``; no browser is downloaded): load the page, change the
initialization and see the histograms change, train and see the cost curves grow, cancel,
and save a screenshot that is not blank."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def _requirements() -> None:
    missing = [] if CHROMIUM else ["chromium (apt-get install chromium)"]
    try:
        import playwright.sync_api  # noqa: F401
    except ModuleNotFoundError:
        missing.append("playwright (pip install -e '.[test]')")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test; missing: " + ", ".join(missing))
        pytest.skip("missing: " + ", ".join(missing))


@pytest.fixture(scope="module")
def url():
    _requirements()
    import uvicorn

    from initlab.playground.server import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    srv.should_exit = True
    thread.join(10)
    sock.close()


def test_page_in_chromium(url, tmp_path):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        # the post's four, per layer, read from the charts' own data
        page.wait_for_function("window.playground.last.explore !== null", timeout=30000)
        hist = "window.playground.charts.hist.map(c => c && Array.from(c.data[1]))"
        before = page.evaluate(hist)
        assert len(page.query_selector_all("#explore-grid .card")) == 4
        assert page.inner_text("#explore-grid .card:nth-child(2) h3") == "random(scale=10)"
        # change the initialization: the histograms change
        page.fill("#f-inits", "he\nxavier")
        page.dispatch_event("#f-inits", "change")
        page.wait_for_function("window.playground.charts.hist.length === 2 * 6 * 2", timeout=30000)
        after = page.evaluate(hist)
        assert after != before[: len(after)]
        assert "inits=he%3Bxavier" in page.url  # the state is in the URL
        # a bad value: one message in the page, and the page keeps working
        page.fill("input[name=width]", "0")
        page.dispatch_event("input[name=width]", "change")
        page.wait_for_selector("#error:not([hidden])")
        assert "width must be >= 1" in page.inner_text("#error")
        page.fill("input[name=width]", "40")
        page.dispatch_event("input[name=width]", "change")
        page.wait_for_selector("#error", state="hidden")
        # train: the curves grow while it trains, then cancel
        page.click("nav button[data-view=training]")
        page.fill("input[name=iterations]", "20000")
        page.dispatch_event("input[name=iterations]", "change")
        page.click("#train-start")
        points = (
            "window.playground.charts.curves ? window.playground.charts.curves.data[0].length : 0"
        )
        page.wait_for_function(f"{points} > 5", timeout=30000)
        first = page.evaluate(points)
        page.wait_for_function(f"{points} > {first}", timeout=30000)
        page.click("#train-stop")
        page.wait_for_function("document.querySelector('#train-status').textContent"
                               ".startsWith('cancelled')")  # fmt: skip
        kinds = page.evaluate("window.playground.last.train.map(e => e.type)")
        assert "done" not in kinds and kinds[-1] == "cancelled"
        assert page.is_enabled("#train-start") and not page.is_enabled("#train-stop")
        page.evaluate("window.scrollTo(0, 0)")
        shot = tmp_path / "playground.png"
        page.screenshot(path=str(shot))
        # a link reproduces a view: the theory view at a point, read from the URL
        page.goto(url + "?view=theory&activation=relu&sw2=3&sb2=0.1")
        page.wait_for_function("window.playground.last.point !== null", timeout=30000)
        assert page.evaluate("window.playground.last.point.chi_1") == pytest.approx(1.5)
        assert page.input_value("input[name=sw2]") == "3"
        assert not errors, errors
        browser.close()
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (900, 1300)
    assert pixels.std() > 20  # a blank page has std 0; this one has charts and text
