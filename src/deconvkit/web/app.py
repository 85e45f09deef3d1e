"""The FastAPI application: the page at ``/``, the JSON API under ``/api``, described at ``/openapi.json``.

Requests are checked before any work is queued (type, size, pixel count, PSF spec, parameters), so a bad
request is answered at once with a 4xx and one clear ``detail`` line; accepted work runs on the bounded
pools of :mod:`deconvkit.web.jobs`, and a full pool answers 503.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import tempfile

# This module is imported only by deconvkit.web.create_app, so FastAPI stays an optional dependency. The
# names are module-level because FastAPI resolves the handlers' annotations (strings here) in this module.
from fastapi import FastAPI, File, Form, HTTPException, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..errors import DeconvkitError
from . import imaging, work
from .catalog import catalog, parse_psf_spec
from .config import WebConfig
from .jobs import JobManager, Overloaded
from .store import ImageStore

__all__ = ["create_app"]

STATIC = pathlib.Path(__file__).parent / "static"
_MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "tiff": "image/tiff"}
# The page loads nothing from elsewhere; the policy makes the browser enforce it.
_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


class _BodyLimit:
    """Answer 413 to a request body larger than ``limit`` bytes, before it is parsed or stored.

    The declared Content-Length is checked first; a body sent without one is counted as it arrives.
    """

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._reject(send)
        state = {"received": 0, "over": False, "started": False}

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.limit:
                    state["over"] = True
                    raise _TooLargeBody
            return message

        async def guarded_send(message):
            # FastAPI turns an error while reading the body into its own 400; say what it really was
            if state["over"]:
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await self._reject(send)
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["over"] or state["started"]:
                raise
            await self._reject(send)

    async def _reject(self, send):
        body = json.dumps({"detail": f"the request is larger than the upload limit "
                                     f"({self.limit / 2**20:.1f} MiB)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class _TooLargeBody(Exception):
    pass


def create_app(config: WebConfig | None = None):
    """Build the web app.

    Parameters
    ----------
    config : WebConfig, optional
        Limits and pool sizes (defaults: :class:`WebConfig`).

    Returns
    -------
    fastapi.FastAPI
        With ``app.state.jobs``, ``app.state.previews`` (the two pools) and ``app.state.images`` (the
        upload store). The pools are shut down when the app's lifespan ends.
    """
    from .. import __version__

    config = config or WebConfig()
    jobs = JobManager(config.workers, config.queue_limit, keep=config.keep_jobs, temp_root=config.temp_root)
    previews = JobManager(config.preview_workers, config.preview_queue, keep=0, temp_root=config.temp_root,
                          name="deconvkit-preview")
    images = ImageStore(config.max_images, config.image_store_mb * 2**20)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        jobs.shutdown()
        previews.shutdown()

    # No /docs or /redoc: FastAPI's versions load their scripts from a CDN. The schema stays.
    app = FastAPI(title="deconvkit", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Deblur images: non-blind and blind deconvolution with live previews.")
    app.state.config, app.state.jobs, app.state.previews, app.state.images = config, jobs, previews, images

    # Without this a web page the user visits could reach the local server through a DNS name that
    # resolves to 127.0.0.1 (DNS rebinding); requests must name the loopback host or the configured one.
    if config.host in _LOOPBACK:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]", "::1"])
    elif config.host not in ("0.0.0.0", "::", ""):
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=[config.host, *_LOOPBACK])
    # image + PSF file + form fields
    app.add_middleware(_BodyLimit, limit=2 * config.max_upload_bytes + 64 * 1024)

    @app.exception_handler(DeconvkitError)
    async def _deconvkit_error(request, exc):
        # Every refused request, the web's own and the library's: the status by class (imaging.HTTP_STATUS).
        return JSONResponse({"detail": str(exc)}, status_code=imaging.http_status(exc))

    @app.exception_handler(Overloaded)
    async def _overloaded(request, exc):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "2"})

    @app.middleware("http")
    async def _headers(request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    # --- helpers ---------------------------------------------------------------------------------------

    def temp_dir():
        return tempfile.TemporaryDirectory(prefix="deconvkit-web-", dir=config.temp_root)

    async def read_upload(upload: UploadFile | None, what: str) -> bytes | None:
        if upload is None:
            return None
        # Read one byte past the limit: enough to know it is too large without holding all of it.
        data = await upload.read(config.max_upload_bytes + 1)
        if len(data) > config.max_upload_bytes:
            raise imaging.TooLarge(f"the {what} file is larger than the upload limit "
                                   f"({config.max_upload_mb:g} MiB)")
        return data

    def parse_params(text: str | None) -> dict:
        if text is None or not text.strip():
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise imaging.InputError(f"params is not valid JSON: {exc.msg} at character {exc.pos}") from None
        if not isinstance(value, dict):
            raise imaging.InputError(f"params must be a JSON object like {{\"lam\": 0.01}}, "
                                     f"got {type(value).__name__}")
        return value

    def load_psf(spec: str | None, psf_data: bytes | None, required: bool):
        if psf_data is not None:
            with temp_dir() as folder:
                return imaging.decode_psf(psf_data, folder, max_bytes=config.max_upload_bytes), "file"
        if spec is not None and spec.strip():
            return parse_psf_spec(spec.strip()), spec.strip()
        if required:
            raise imaging.InputError("a PSF is needed: send a model spec in 'psf' (e.g. "
                                     "motion:length=15,angle=30) or a PSF image in 'psf_file'")
        return None, None

    async def load_image(upload: UploadFile | None, image_id: str | None):
        """The request's image: a file in this request, or an image uploaded before (its id)."""
        data = await read_upload(upload, "image")
        if data is not None:
            def decode():
                with temp_dir() as folder:
                    return imaging.decode_image(data, folder, max_bytes=config.max_upload_bytes,
                                                max_pixels=config.max_pixels)
            return await run_in_threadpool(decode)
        if image_id:
            item = images.get(image_id)
            if item is None:
                raise HTTPException(404, f"no uploaded image {image_id!r} (it may have been dropped to "
                                         "free memory; upload it again)")
            return item.image, item.info
        raise imaging.InputError("no image: send a file in 'image' or the id of an uploaded image in "
                                 "'image_id'")

    def check_capacity(pool: JobManager):
        # Before decoding: an overloaded server should not spend time on an upload it will refuse.
        if pool.active() >= pool.capacity:
            raise Overloaded(f"the server is busy ({pool.capacity} jobs running or queued); try again")

    def job_or_404(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} (unknown, or finished long ago and forgotten)")
        return job

    def describe(job) -> dict:
        body = job.describe()
        if job.status == "done":
            result = job.result
            body.update(params=result.get("params"), spec=result.get("spec"),
                        psf_image=imaging.data_url(result["psf_png"]),
                        result_url=f"/api/jobs/{job.id}/result")
            if job.kind == "deblur":
                body.update(display_url=f"/api/jobs/{job.id}/display", psf=result.get("psf"),
                            format=result["format"])
            else:
                body.update(shape=result["shape"], region=result["region"])
        return body

    # --- endpoints -------------------------------------------------------------------------------------

    @app.get("/api/methods", summary="Methods, PSF models and blind models, from deconvkit's registries")
    def methods():
        body = catalog()
        body["limits"] = {"max_upload_mb": config.max_upload_mb, "max_pixels": config.max_pixels,
                          "preview_size": config.preview_size, "display_size": config.display_size,
                          "preview_iterations": config.preview_iterations,
                          "estimate_region": config.estimate_region,
                          "accepted_types": list(_MEDIA_TYPES.values())}
        return body

    @app.post("/api/images", summary="Upload an image once; previews and runs refer to it by id")
    async def upload_image(image: UploadFile = File(...)):
        check_capacity(previews)
        array, info = await load_image(image, None)
        item = images.put(array, info)
        return {"image_id": item.id, **work.describe_image(array, info),
                "display_url": f"/api/images/{item.id}/display"}

    @app.get("/api/images/{image_id}/display", summary="The uploaded image as an 8-bit PNG for the page")
    def image_display(image_id: str):
        item = images.get(image_id)
        if item is None:
            raise HTTPException(404, f"no uploaded image {image_id!r}")
        if item.display is None:
            item.display = imaging.display_png(item.image, config.display_size,
                                               imaging.display_range(item.image, item.info))
        return Response(item.display, media_type="image/png")

    @app.post("/api/psf", summary="Render a PSF (model spec or file) as a PNG thumbnail")
    async def render_psf(psf: str | None = Form(None), psf_file: UploadFile | None = File(None)):
        kernel, _ = await run_in_threadpool(load_psf, psf, await read_upload(psf_file, "PSF"), True)
        return {"shape": list(kernel.shape), "image": imaging.data_url(imaging.psf_png(kernel))}

    @app.post("/api/deblur", status_code=202,
              summary="Restore an image (blind when no PSF is given); poll the job, then get the result")
    async def deblur(image: UploadFile | None = File(None), image_id: str | None = Form(None),
                     psf: str | None = Form(None), psf_file: UploadFile | None = File(None),
                     method: str = Form("auto"), params: str | None = Form(None)):
        checked = work.check_params(method, parse_params(params))
        check_capacity(jobs)
        kernel, _ = await run_in_threadpool(load_psf, psf, await read_upload(psf_file, "PSF"), False)
        array, info = await load_image(image, image_id)
        job = jobs.submit("deblur", lambda job, folder: work.restore(
            job, folder, array, info, kernel, method, checked, config.display_size))
        return {"job_id": job.id, "status_url": f"/api/jobs/{job.id}", "blind": kernel is None}

    @app.post("/api/estimate", status_code=202, summary="Estimate the PSF blindly; poll the job")
    async def estimate(image: UploadFile | None = File(None), image_id: str | None = Form(None),
                       model: str = Form("auto"), size: int | None = Form(None),
                       region: str | None = Form(None)):
        from ..blind import MODELS

        if model not in MODELS:
            raise imaging.InputError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        if size is not None and not 3 <= size <= imaging.MAX_PSF_SIDE:
            raise imaging.InputError(f"size must be between 3 and {imaging.MAX_PSF_SIDE} pixels, got {size}")
        box = work.parse_region(region)
        check_capacity(jobs)
        array, _ = await load_image(image, image_id)
        job = jobs.submit("estimate", lambda job, folder: work.estimate(job, folder, array, model, size,
                                                                        region=box))
        return {"job_id": job.id, "status_url": f"/api/jobs/{job.id}"}

    @app.post("/api/preview", summary="Fast preview: a full-resolution loupe region or a downscaled copy")
    async def preview(image: UploadFile | None = File(None), image_id: str | None = Form(None),
                      psf: str | None = Form(None), psf_file: UploadFile | None = File(None),
                      method: str = Form("auto"), params: str | None = Form(None),
                      mode: str = Form("loupe"), x: int = Form(0), y: int = Form(0),
                      size: int | None = Form(None)):
        if mode not in ("loupe", "fit"):
            raise imaging.InputError(f"mode must be 'loupe' or 'fit', got {mode!r}")
        checked = work.check_params(method, parse_params(params))
        check_capacity(previews)
        kernel, _ = await run_in_threadpool(load_psf, psf, await read_upload(psf_file, "PSF"), True)
        array, info = await load_image(image, image_id)
        stored = images.get(image_id) if image is None and image_id else None
        job = await run_in_threadpool(previews.run, "preview", lambda job, folder: work.preview(
            job, folder, array, info, kernel, method, checked, mode=mode, x=x, y=y, size=size,
            config=config, cache=stored.reduced if stored is not None else None))
        if job.status != "done":
            if isinstance(job.exception, DeconvkitError):
                raise job.exception
            raise HTTPException(500, f"preview failed: {job.error}")
        return job.result

    @app.get("/api/jobs/{job_id}", summary="Job status and progress (wait=seconds to long-poll)")
    async def job_status(job_id: str, wait: float = Query(0.0, ge=0.0, le=30.0)):
        job = job_or_404(job_id)
        if wait > 0 and not job.finished_event.is_set():
            await run_in_threadpool(job.finished_event.wait, wait)
        return describe(job)

    @app.delete("/api/jobs/{job_id}", summary="Cancel a job (it stops at its next progress report)")
    def cancel_job(job_id: str):
        job_or_404(job_id)
        return jobs.cancel(job_id).describe()

    def finished_result(job_id: str):
        job = job_or_404(job_id)
        if job.status == "failed":
            raise HTTPException(409, f"the job failed: {job.error}")
        if job.status != "done":
            raise HTTPException(409, f"the job is {job.status}; its result is not available")
        return job

    @app.get("/api/jobs/{job_id}/result",
             summary="The restored image in the input's format and bit depth (estimate: the PSF as TIFF)")
    def job_result(job_id: str):
        job = finished_result(job_id)
        if job.kind == "estimate":
            return Response(job.result["psf_tiff"], media_type="image/tiff",
                            headers={"Content-Disposition": 'attachment; filename="psf.tif"'})
        name = "deblurred" + job.result["extension"]
        return Response(job.result["data"], media_type=_MEDIA_TYPES[job.result["format"]],
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "X-Deconvkit-Params": json.dumps(job.result["params"])[:4000]})

    @app.get("/api/jobs/{job_id}/display", summary="The result as an 8-bit PNG for the page")
    def job_display(job_id: str):
        job = finished_result(job_id)
        return Response(job.result["display"] if job.kind == "deblur" else job.result["psf_png"],
                        media_type="image/png")

    return app
