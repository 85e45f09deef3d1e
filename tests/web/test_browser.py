"""End-to-end tests of the page in a real browser: Playwright driving Debian's Chromium, headless.

Marked ``browser`` (run with ``pytest -m browser``); skipped when Playwright or /usr/bin/chromium is
missing. Screenshots go to docs/img/web_*.png (shown in the README).
"""

import os
import pathlib
import socket
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("DECONVKIT_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "img"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    uvicorn = pytest.importorskip("uvicorn")
    from deconvkit.web import WebConfig, create_app

    with socket.socket() as probe:  # a free loopback port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp_root = tmp_path_factory.mktemp("jobs")
    config = WebConfig(port=port, temp_root=str(temp_root), max_upload_mb=8)
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", temp_root
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    # bypass_csp: Playwright evaluates its wait conditions as strings, which the page's policy forbids
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True, bypass_csp=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # JavaScript errors fail the test; "Failed to load resource" is the browser logging a 4xx/503 answer,
    # which the page handles (and the error test provokes)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and not msg.text.startswith("Failed to load resource") else None)
    page.goto(server[0] + "/")
    page.wait_for_selector("body[data-ready='1']")
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def upload_file(tmp_path_factory, make_blurred):
    from deconvkit import io

    folder = tmp_path_factory.mktemp("uploads")
    image, _ = make_blurred(256)
    path = folder / "blurred.png"
    path.write_bytes(io.encode_image(image, "png", dtype="uint16"))
    return path


def _upload(page, path):
    page.set_input_files("#file-input", str(path))
    page.wait_for_function("document.getElementById('image-info').textContent.includes('256')")
    page.wait_for_function("document.getElementById('preview-status').textContent.startsWith('Preview in')")


def _preview_src(page):
    return page.get_attribute("#after-img", "src")


def test_upload_sliders_preview_run_download(page, upload_file, tmp_path, make_blurred):
    from deconvkit import io

    _upload(page, upload_file)
    assert page.locator("#psf-model").input_value() == "motion"
    assert page.locator("#method").input_value() == "auto"
    assert page.get_attribute("#psf-thumb", "src").startswith("data:image/png")
    # the PSF sliders: set the true blur; the thumbnail and the preview follow
    thumb = page.get_attribute("#psf-thumb", "src")
    page.fill("#psf-param-length", "9")  # range inputs take fill() and fire 'input'
    page.fill("#psf-param-angle", "30")
    page.wait_for_function(f"document.getElementById('psf-thumb').src !== {thumb!r}")
    first = _preview_src(page)
    page.wait_for_function(f"document.getElementById('after-img').src !== {first!r}")
    # the method's main parameter slider (auto: the weight factor) changes the preview again
    before_nudge = _preview_src(page)
    page.fill("#method-param", "2")
    page.wait_for_function("document.getElementById('method-param-value').textContent === '4'")
    page.wait_for_function(f"document.getElementById('after-img').src !== {before_nudge!r}")
    page.fill("#compare-slider", "30")
    page.screenshot(path=str(SCREENSHOTS / "web_preview.png"), full_page=True)

    page.fill("#method-param", "0")
    page.click("#run")
    page.wait_for_selector("#download:not([hidden])", timeout=120_000)
    assert page.locator("#job-status").text_content() == "done"
    assert page.locator("#progress").evaluate("p => p.value") == 1
    assert "Full resolution result" in page.locator("#compare-title").text_content()
    page.fill("#compare-slider", "50")
    page.screenshot(path=str(SCREENSHOTS / "web_result.png"), full_page=True)
    with page.expect_download() as download_info:
        page.click("#download")
    target = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(target)
    assert target.name == "deblurred.png"
    restored, info = io.read_image(target)
    assert info.dtype == np.uint16 and restored.shape == (256, 256)  # format and bit depth kept
    # the download is a restoration: closer to the sharp scene than the upload (independent check)
    blurred_image, sharp = make_blurred(256)
    error = lambda x: float(np.sqrt(np.mean((x[20:-20, 20:-20] - sharp[20:-20, 20:-20]) ** 2)))
    assert error(restored) < 0.7 * error(blurred_image)


def test_blind_estimate_sets_the_psf(page, upload_file):
    _upload(page, upload_file)
    page.select_option("#blind-model", "motion")
    stale = _preview_src(page)  # the preview with the picker's default blur (angle 0: wrong)
    page.click("#estimate")
    page.wait_for_function("document.getElementById('job-status').textContent.startsWith('PSF estimated')",
                           timeout=120_000)
    # a motion estimate moves the picker's sliders to the found blur (length 9, angle 30)
    assert page.locator("#psf-model").input_value() == "motion"
    assert abs(float(page.locator("#psf-param-length").input_value()) - 9) <= 1
    assert abs(float(page.locator("#psf-param-angle").input_value()) - 30) <= 3
    # and the preview is redone with the estimated blur
    page.wait_for_function(f"document.getElementById('after-img').src !== {stale!r} && "
                           "document.getElementById('preview-status').textContent.startsWith('Preview in')",
                           timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "web_estimate.png"), full_page=True)


def test_cancel_a_full_run(page, upload_file, server):
    _upload(page, upload_file)
    page.select_option("#psf-model", "blind")  # blind full run: estimation first, seconds long
    page.click("#run")
    page.wait_for_function("!document.getElementById('cancel').disabled")
    page.click("#cancel")
    page.wait_for_function("document.getElementById('job-status').textContent === 'cancelled'", timeout=60_000)
    assert page.locator("#download").is_hidden()
    assert not page.locator("#run").is_disabled()
    # the cancelled job's temporary folder is gone
    for _ in range(100):
        if not any(server[1].iterdir()):
            break
        time.sleep(0.1)
    assert not any(server[1].iterdir())


def test_errors_are_shown_in_the_page(page, tmp_path, upload_file):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_bytes(b"this is text, not a PNG")
    page.set_input_files("#file-input", str(not_an_image))
    page.wait_for_selector("#error:not([hidden])")
    assert "not a PNG, JPEG or TIFF image" in page.locator("#error-text").text_content()
    page.screenshot(path=str(SCREENSHOTS / "web_error.png"), full_page=True)
    page.click("#error-close")
    assert page.locator("#error").is_hidden()
    # a PSF larger than the image is refused by the solver; the page says why
    _upload(page, upload_file)
    page.evaluate("document.getElementById('psf-param-length').max = 400")
    page.fill("#psf-param-length", "400")
    page.wait_for_selector("#error:not([hidden])")
    assert "Preview:" in page.locator("#error-text").text_content()
