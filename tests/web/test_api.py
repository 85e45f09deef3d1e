"""The web app's JSON API, in-process (FastAPI's TestClient): every endpoint and every rejection."""

import base64
import io as bytes_io
import json
import time

import numpy as np
import pytest

import deconvkit
from deconvkit import io, psf

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from deconvkit.web import WebConfig, create_app  # noqa: E402

MOTION = "motion:length=9,angle=30"


@pytest.fixture(scope="module")
def temp_root(tmp_path_factory):
    return tmp_path_factory.mktemp("web-jobs")


@pytest.fixture(scope="module")
def client(temp_root):
    config = WebConfig(temp_root=str(temp_root), max_upload_mb=2, max_pixels=300_000, workers=1, queue_limit=1)
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        yield client


def wait(client, job_id, timeout=120):
    body = client.get(f"/api/jobs/{job_id}", params={"wait": 10}).json()
    deadline = time.monotonic() + timeout
    while body["status"] in ("queued", "running") and time.monotonic() < deadline:
        body = client.get(f"/api/jobs/{job_id}", params={"wait": 10}).json()
    return body


def decode_data_url(url):
    import imageio.v3 as iio

    assert url.startswith("data:image/png;base64,")
    return iio.imread(base64.b64decode(url.split(",", 1)[1]))


def files(data, name="upload.png", kind="image/png", field="image"):
    return {field: (name, data, kind)}


def as_uint8(array, low=0.0, high=1.0):
    return np.rint(np.clip((array - low) / (high - low), 0, 1) * 255).astype(np.uint8)


def rms(a, b):
    return float(np.sqrt(np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)))


# --- the page and the schema ---------------------------------------------------------------------------

def test_page_and_static_files_are_served_without_any_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for path in ("/static/app.js", "/static/style.css"):
        assert client.get(path).status_code == 200
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert "http://" not in text and "https://" not in text  # nothing fetched from elsewhere


def test_openapi_describes_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/methods", "/api/images", "/api/psf", "/api/preview", "/api/deblur", "/api/estimate",
                 "/api/jobs/{job_id}", "/api/jobs/{job_id}/result"):
        assert path in paths
    assert "delete" in paths["/api/jobs/{job_id}"]


def test_methods_come_from_the_registries(client):
    from deconvkit.blind import MODELS
    from deconvkit.solvers import SOLVERS

    body = client.get("/api/methods").json()
    assert {m["name"] for m in body["methods"]} == set(SOLVERS)
    assert body["default_method"] == "auto" and body["methods"][0]["name"] == "auto"
    for method in body["methods"]:
        assert method["params"] == SOLVERS[method["name"]].params
        if method["main"] is not None:
            assert method["main"]["name"] in SOLVERS[method["name"]].params
    # every registered model the page's sliders can set (the microscope models need a voxel spacing)
    settable = [name for name, model in psf.available().items()
                if not any(p.required and p.kind is not float for p in model.params)]
    assert [m["name"] for m in body["psf_models"]] == settable and "motion" in settable
    for model in body["psf_models"]:
        names = [p.name for p in psf.available()[model["name"]].params]
        assert [p["name"] for p in model["params"]] == names
        assert {s["name"] for s in model["sliders"]} <= set(names)
    assert body["blind_models"] == list(MODELS)
    assert body["limits"]["max_pixels"] == 300_000


def test_untrusted_host_header_is_refused(client):
    # a page on another site reaching the local server through DNS rebinding names its own host
    assert client.get("/api/methods", headers={"host": "evil.example"}).status_code == 400


# --- uploads and PSFs ---------------------------------------------------------------------------------

def test_upload_keeps_format_and_depth_and_serves_a_display(client, png16, blurred_image):
    body = client.post("/api/images", files=files(png16)).json()
    assert (body["width"], body["height"], body["format"], body["dtype"]) == (128, 128, "png", "uint16")
    import imageio.v3 as iio

    shown = iio.imread(client.get(body["display_url"]).content)
    expected = as_uint8(np.rint(np.clip(blurred_image[0], 0, 1) * 65535) / 65535)
    assert shown.dtype == np.uint8 and np.abs(shown.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("spec", [MOTION, "defocus:radius=3", "gaussian:sigma=1.5"])
def test_psf_thumbnail_is_the_registry_model(client, spec):
    body = client.post("/api/psf", data={"psf": spec}).json()
    kernel = psf.parse(spec)
    assert body["shape"] == list(kernel.shape)
    assert np.abs(decode_data_url(body["image"]).astype(int) - as_uint8(kernel / kernel.max())).max() <= 1


def test_psf_file_upload(client):
    kernel = psf.parse("defocus:radius=2")
    body = client.post("/api/psf", files=files(io.encode_image(kernel.astype(np.float32), "tiff", dtype="float32"),
                                               "k.tif", "image/tiff", "psf_file")).json()
    assert body["shape"] == list(kernel.shape)


@pytest.mark.parametrize("spec, message", [
    ("/etc/passwd", "unknown PSF model"),  # a path is never opened
    ("psfs.npz:psf1", "unknown PSF model"),
    ("motion:length=abc", "not a valid float"),
    ("motion:angle=3", "needs parameter 'length'"),
    ("gaussian:sigma=1,1,1,ndim=3", "3-D"),
])
def test_bad_psf_specs_are_refused(client, spec, message):
    response = client.post("/api/psf", data={"psf": spec})
    assert response.status_code == 400 and message in response.json()["detail"]


def test_missing_psf_is_refused_where_needed(client):
    response = client.post("/api/psf")
    assert response.status_code == 400 and "a PSF is needed" in response.json()["detail"]


@pytest.mark.parametrize(("error", "status"), [("MemoryLimitError", 413), ("PSFError", 400),
                                               ("ParameterError", 400), ("OutputWriteError", 500)])
def test_library_errors_from_the_work_get_their_class_status(client, png16, monkeypatch, error, status):
    """An error the library raises while the request is served goes through the one status table."""
    from deconvkit import errors
    from deconvkit.web import work

    def refuse(*args, **kwargs):
        raise getattr(errors, error)(f"refused by the library ({error})")

    monkeypatch.setattr(work, "preview", refuse)
    image_id = client.post("/api/images", files=files(png16)).json()["image_id"]
    response = client.post("/api/preview", data={"image_id": image_id, "psf": MOTION, "method": "wiener",
                                                 "mode": "fit"})
    assert response.status_code == status and response.json()["detail"] == f"refused by the library ({error})"


# --- preview --------------------------------------------------------------------------------------------

def test_loupe_preview_is_the_method_on_the_full_resolution_region(client, png16):
    image_id = client.post("/api/images", files=files(png16)).json()["image_id"]
    response = client.post("/api/preview", data={"image_id": image_id, "psf": MOTION, "method": "wiener",
                                                 "params": json.dumps({"nsr": 1e-3}), "mode": "loupe",
                                                 "x": 40, "y": 30, "size": 64})
    body = response.json()
    assert response.status_code == 200 and body["region"] == [40, 30, 64, 64] and body["scale"] == 1
    upload = _decode(png16)
    region = upload[30:94, 40:104]
    assert np.abs(decode_data_url(body["before"]).astype(int) - as_uint8(region)).max() <= 1
    reference = deconvkit.deconvolve(region, psf.parse(MOTION), "wiener", nsr=1e-3)
    assert np.abs(decode_data_url(body["after"]).astype(int) - as_uint8(reference)).max() <= 1
    assert body["params"]["nsr"] == pytest.approx(1e-3)


def test_preview_caps_iterations_and_fit_mode_downscales(client, png16):
    image_id = client.post("/api/images", files=files(png16)).json()["image_id"]
    body = client.post("/api/preview", data={"image_id": image_id, "psf": MOTION, "method": "auto",
                                             "mode": "fit", "size": 64}).json()
    assert body["scale"] == 2 and decode_data_url(body["after"]).shape == (64, 64)
    upload = _decode(png16)
    block_mean = upload.reshape(64, 2, 64, 2).mean(axis=(1, 3))
    assert np.abs(decode_data_url(body["before"]).astype(int) - as_uint8(block_mean)).max() <= 1
    again = client.post("/api/preview", data={"image_id": image_id, "psf": MOTION, "method": "auto",
                                              "mode": "fit", "size": 64}).json()
    assert again["after"] == body["after"]  # the cached downscaled copy gives the same preview
    cap = WebConfig().preview_iterations
    assert body["preview_params"] == {"iterations": cap, "weight_rule": "calibrated"}
    assert body["params"]["iterations"] == cap


def _decode(data):
    return io.decode_image(data)[0]


# --- full runs ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("extension, dtype", [(".png", "uint16"), (".tif", "float32"), (".jpg", "uint8")])
def test_deblur_returns_the_input_format_and_depth(client, blurred_image, extension, dtype):
    upload = io.encode_image(blurred_image[0], extension, dtype=dtype)
    kind = {".png": "image/png", ".tif": "image/tiff", ".jpg": "image/jpeg"}[extension]
    started = client.post("/api/deblur", files=files(upload, "x" + extension, kind),
                          data={"psf": MOTION, "method": "tikhonov", "params": json.dumps({"lam": 1e-3})})
    assert started.status_code == 202 and started.json()["blind"] is False
    job = wait(client, started.json()["job_id"])
    assert job["status"] == "done" and job["progress"] == 1.0 and job["params"]["lam"] == pytest.approx(1e-3)
    result = client.get(job["result_url"])
    assert result.headers["content-type"] == kind
    assert result.headers["content-disposition"] == f'attachment; filename="deblurred{extension}"'
    restored, info = io.decode_image(result.content)
    uploaded, _ = io.decode_image(upload)
    assert info.format == {".png": "png", ".tif": "tiff", ".jpg": "jpeg"}[extension] and info.dtype == np.dtype(dtype)
    assert restored.shape == (128, 128)
    # the download is the library's restoration of the upload, quantised to the input's depth
    reference = deconvkit.deconvolve(uploaded, psf.parse(MOTION), "tikhonov", lam=1e-3)
    step = {"uint16": 1 / 65535, "float32": 1e-6, "uint8": 1 / 255}[dtype]
    tolerance = 3 / 255 if dtype == "uint8" else 1.5 * step  # JPEG re-encoding loses a little
    assert rms(restored, np.clip(reference, 0, 1) if dtype != "float32" else reference) <= tolerance
    # and it is a restoration: nearer the sharp scene than the upload (independent of deconvkit)
    sharp = blurred_image[1]
    inner = np.s_[10:-10, 10:-10]
    assert rms(restored[inner], sharp[inner]) < 0.8 * rms(uploaded[inner], sharp[inner])


def test_colour_with_alpha_keeps_channels_and_alpha(client, blurred_image):
    grey = blurred_image[0]
    rgba = np.stack([grey, grey * 0.8, grey * 0.6, np.linspace(0, 1, grey.size).reshape(grey.shape)], -1)
    started = client.post("/api/deblur", files=files(io.encode_image(rgba, "png", dtype="uint8")),
                          data={"psf": MOTION, "method": "wiener"})
    job = wait(client, started.json()["job_id"])
    assert job["status"] == "done"
    out = _decode(client.get(job["result_url"]).content)
    assert out.shape == (128, 128, 4)
    assert np.abs(out[..., 3] - np.rint(rgba[..., 3] * 255) / 255).max() < 1e-6  # alpha untouched


def test_blind_deblur_without_psf(client, png16):
    started = client.post("/api/deblur", files=files(png16), data={"method": "auto"})
    assert started.json()["blind"] is True
    job = wait(client, started.json()["job_id"])
    assert job["status"] == "done", job
    assert job["psf"]["model"] in ("motion", "general") and job["params"]["lam_scale"] > 1
    assert job["psf_image"].startswith("data:image/png")


def test_estimate_finds_the_motion_blur(client, png16):
    started = client.post("/api/estimate", files=files(png16), data={"model": "motion"})
    job = wait(client, started.json()["job_id"])
    assert job["status"] == "done"
    assert job["params"]["length"] == pytest.approx(9, abs=1)
    assert job["params"]["angle"] == pytest.approx(30, abs=3)
    assert job["spec"].startswith("motion:length=")
    tiff = client.get(job["result_url"])
    assert tiff.headers["content-type"] == "image/tiff"
    import tifffile

    kernel = tifffile.imread(bytes_io.BytesIO(tiff.content))
    assert kernel.dtype == np.float32 and kernel.sum() == pytest.approx(1, abs=1e-5)
    # and the PSF file can be sent back as a PSF
    assert client.post("/api/psf", files=files(tiff.content, "psf.tif", "image/tiff", "psf_file")).status_code == 200


def test_estimate_on_a_region(client, png16):
    started = client.post("/api/estimate", files=files(png16),
                          data={"model": "motion", "region": json.dumps([8, 4, 112, 120])})
    job = wait(client, started.json()["job_id"])
    assert job["status"] == "done" and job["region"] == [8, 4, 112, 120]
    assert job["params"]["length"] == pytest.approx(9, abs=1)
    assert job["params"]["angle"] == pytest.approx(30, abs=3)


@pytest.mark.parametrize("region", ["[1, 2, 3]", "[0, 0, 10, 64]", "[-1, 0, 64, 64]", "{}", "[0, 0, 64.5, 64]"])
def test_bad_estimate_regions_are_400(client, png16, region):
    response = client.post("/api/estimate", files=files(png16), data={"region": region})
    assert response.status_code == 400 and "region" in response.json()["detail"]


def _slow_job(client, png16):
    # far more TV iterations than needed: runs until cancelled
    return client.post("/api/deblur", files=files(png16), data={
        "psf": MOTION, "method": "tv", "params": json.dumps({"iterations": 10**5})})


def test_cancel_stops_a_running_job_and_cleans_up(client, png16, temp_root):
    job_id = _slow_job(client, png16).json()["job_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["done"] > 0:
            break
        time.sleep(0.05)
    assert status["status"] == "running" and status["phase"] == "restoring"
    assert client.delete(f"/api/jobs/{job_id}").status_code == 200
    assert wait(client, job_id, timeout=30)["status"] == "cancelled"
    response = client.get(f"/api/jobs/{job_id}/result")
    assert response.status_code == 409 and "cancelled" in response.json()["detail"]
    assert not any(temp_root.iterdir())


def test_overload_is_answered_with_503(client, png16):
    # workers=1, queue_limit=1: two jobs fill the server, the third is refused
    first, second = _slow_job(client, png16), _slow_job(client, png16)
    assert first.status_code == second.status_code == 202
    third = _slow_job(client, png16)
    assert third.status_code == 503 and third.headers["retry-after"] == "2"
    assert "busy" in third.json()["detail"]
    estimate = client.post("/api/estimate", files=files(png16))
    assert estimate.status_code == 503
    # the queued job is cancelled before it starts, the running one at its next iteration
    for response in (second, first):
        client.delete(f"/api/jobs/{response.json()['job_id']}")
    for response in (first, second):
        assert wait(client, response.json()["job_id"], timeout=30)["status"] == "cancelled"
    again = _slow_job(client, png16)
    assert again.status_code == 202  # capacity is back
    client.delete(f"/api/jobs/{again.json()['job_id']}")
    assert wait(client, again.json()["job_id"], timeout=30)["status"] == "cancelled"


def test_preview_overload_is_503(temp_root, png16):
    config = WebConfig(temp_root=str(temp_root), preview_workers=1, preview_queue=0)
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        previews = client.app.state.previews
        import threading

        release = threading.Event()
        previews.submit("block", lambda job, folder: release.wait(30))  # occupies the only preview worker
        response = client.post("/api/preview", files=files(png16), data={"psf": MOTION})
        release.set()
        assert response.status_code == 503


def test_temporary_folders_are_removed(client, png16, temp_root):
    started = client.post("/api/deblur", files=files(png16), data={"psf": MOTION, "method": "wiener"})
    wait(client, started.json()["job_id"])
    client.post("/api/preview", files=files(png16), data={"psf": MOTION, "method": "wiener"})
    client.post("/api/psf", files=files(png16, field="psf_file"))
    assert not any(temp_root.iterdir())


# --- rejections -----------------------------------------------------------------------------------------

def test_oversized_upload_is_413(client):
    big = b"\x89PNG\r\n\x1a\n" + bytes(3 * 2**20)
    response = client.post("/api/images", files=files(big))
    assert response.status_code == 413 and "upload limit" in response.json()["detail"]


def test_oversized_body_without_length_is_413(client):
    def chunks():  # chunked transfer: no Content-Length to check, the body is counted as it arrives
        for _ in range(10):
            yield bytes(2**20)

    response = client.post("/api/images", content=chunks(),
                           headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413


def test_too_many_pixels_is_413(client):
    large = io.encode_image(np.zeros((600, 600)), "png", dtype="uint8")  # 360 000 px > 300 000, a tiny file
    response = client.post("/api/images", files=files(large))
    assert response.status_code == 413 and "million pixels" in response.json()["detail"]


@pytest.mark.parametrize("data, name, kind", [
    (b"hello, this is text", "notes.png", "image/png"),
    (b"\x93NUMPY\x01\x00", "array.npy", "application/octet-stream"),  # not an image type
    (b"GIF89a....", "anim.gif", "image/gif"),
])
def test_wrong_type_is_415(client, data, name, kind):
    response = client.post("/api/images", files=files(data, name, kind))
    assert response.status_code == 415 and "not a PNG, JPEG or TIFF image" in response.json()["detail"]


def test_corrupt_file_is_400(client, png16):
    truncated = png16[: len(png16) // 2]
    response = client.post("/api/images", files=files(truncated))
    assert response.status_code == 400 and "corrupt or truncated" in response.json()["detail"]
    assert "deconvkit-web-" not in response.json()["detail"]  # no server paths in messages
    response = client.post("/api/deblur", files=files(truncated), data={"psf": MOTION})
    assert response.status_code == 400


def test_stack_is_400(client):
    stack = io.encode_image(np.zeros((3, 32, 32), np.float32), "tiff", dtype="float32")
    response = client.post("/api/images", files=files(stack, "s.tif", "image/tiff"))
    assert response.status_code == 400 and "stacks" in response.json()["detail"]


def test_empty_file_is_400(client):
    response = client.post("/api/images", files=files(b""))
    assert response.status_code == 400 and "empty" in response.json()["detail"]


@pytest.mark.parametrize("fields, message", [
    ({"params": "{nsr: 1"}, "not valid JSON"),
    ({"params": "[1, 2]"}, "must be a JSON object"),
    ({"method": "wiener", "params": json.dumps({"lam": 1})}, "has no parameter(s) lam"),
    ({"method": "magic"}, "unknown method 'magic'"),
    ({"method": "wiener", "params": json.dumps({"nsr": {"a": 1}})}, "must be a number"),
    ({"mode": "zoom"}, "mode must be"),
])
def test_bad_parameters_are_400(client, png16, fields, message):
    response = client.post("/api/preview", files=files(png16), data={"psf": MOTION, **fields})
    assert response.status_code == 400 and message in response.json()["detail"]


def test_bad_values_found_by_the_solver_are_400(client, png16):
    response = client.post("/api/preview", files=files(png16), data={
        "psf": MOTION, "method": "wiener", "params": json.dumps({"nsr": -1})})
    assert response.status_code == 400 and "nsr" in response.json()["detail"]
    response = client.post("/api/preview", files=files(png16), data={"psf": "motion:length=400"})
    assert response.status_code == 400


def test_bad_estimate_requests_are_400(client, png16):
    response = client.post("/api/estimate", files=files(png16), data={"model": "banana"})
    assert response.status_code == 400 and "model must be one of" in response.json()["detail"]
    response = client.post("/api/estimate", files=files(png16), data={"size": 1})
    assert response.status_code == 400 and "size" in response.json()["detail"]


def test_bad_psf_file_is_400_or_415(client, png16):
    response = client.post("/api/deblur", files={**files(png16), **files(b"junk", "p.png", "image/png",
                                                                        "psf_file")})
    assert response.status_code == 415
    negative = np.array([[0, -1, 0], [-1, 1, -1], [0, -1, 0]], np.float32)
    import tifffile

    buffer = bytes_io.BytesIO()
    tifffile.imwrite(buffer, negative)
    response = client.post("/api/psf", files=files(buffer.getvalue(), "p.tif", "image/tiff", "psf_file"))
    assert response.status_code == 400 and "PSF" in response.json()["detail"]


def test_missing_or_unknown_image_and_jobs(client):
    response = client.post("/api/deblur", data={"psf": MOTION})
    assert response.status_code == 400 and "no image" in response.json()["detail"]
    response = client.post("/api/preview", data={"psf": MOTION, "image_id": "nope"})
    assert response.status_code == 404 and "no uploaded image" in response.json()["detail"]
    for method, path in (("get", "/api/jobs/nope"), ("delete", "/api/jobs/nope"),
                         ("get", "/api/jobs/nope/result"), ("get", "/api/images/nope/display")):
        assert getattr(client, method)(path).status_code == 404


def test_result_of_a_running_job_is_409(client, png16):
    job_id = _slow_job(client, png16).json()["job_id"]
    response = client.get(f"/api/jobs/{job_id}/result")
    assert response.status_code == 409 and "not available" in response.json()["detail"]
    client.delete(f"/api/jobs/{job_id}")
    wait(client, job_id, timeout=30)


def test_failed_job_reports_its_error(client, png16):
    started = client.post("/api/deblur", files=files(png16), data={
        "psf": MOTION, "method": "tv", "params": json.dumps({"iterations": -5})})
    job = wait(client, started.json()["job_id"])
    assert job["status"] == "failed" and "iterations" in job["error"]
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 409


def test_config_is_validated():
    from deconvkit import DeconvkitError

    with pytest.raises(DeconvkitError, match="workers"):
        WebConfig(workers=0)
    with pytest.raises(DeconvkitError, match="queue_limit"):
        WebConfig(queue_limit=-1)
