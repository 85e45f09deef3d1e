"""A local web app for interactive deblurring (``deconvkit serve``; needs the ``web`` extra).

:func:`create_app` builds the FastAPI application (the page at ``/``, the JSON API under ``/api``,
described at ``/openapi.json``); :func:`serve` runs it with uvicorn. FastAPI and uvicorn are imported only
when these are called, so ``import deconvkit.web`` works without them.

Endpoints
---------
``GET /api/methods``
    Solvers, PSF models and blind models from deconvkit's registries, and the server's limits.
``POST /api/images``
    Upload an image once (multipart ``image``); returns its ``image_id`` for the calls below.
``POST /api/psf``
    A PSF (``psf`` spec or ``psf_file``) as a PNG thumbnail.
``POST /api/preview``
    The method on a full-resolution loupe region (``mode=loupe``, ``x``, ``y``, ``size``) or a
    downscaled copy (``mode=fit``); answered at once.
``POST /api/deblur``, ``POST /api/estimate``
    Full-resolution restoration (blind without a PSF) and blind PSF estimation, as jobs.
``GET /api/jobs/{id}``, ``DELETE /api/jobs/{id}``, ``GET /api/jobs/{id}/result``
    Progress, cancellation and the result (the input's format and bit depth; the PSF as float TIFF).
"""

from __future__ import annotations

from .config import WebConfig

__all__ = ["WebConfig", "create_app", "serve"]


def create_app(config: WebConfig | None = None):
    """Build the FastAPI app (see :func:`deconvkit.web.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(config)


def serve(config: WebConfig | None = None, *, open_browser: bool = False, log_level: str = "warning") -> None:
    """Run the app with uvicorn until interrupted.

    Parameters
    ----------
    config : WebConfig, optional
        ``host`` and ``port`` say where to listen (127.0.0.1:8000 by default).
    open_browser : bool
        Open the page in the default browser once the server is up.
    log_level : str
        uvicorn's log level.
    """
    import threading
    import webbrowser

    import uvicorn

    config = config or WebConfig()
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level))
    if open_browser:
        def open_when_started():
            for _ in range(100):
                if server.started:
                    webbrowser.open(url(config))
                    return
                threading.Event().wait(0.1)
        threading.Thread(target=open_when_started, daemon=True).start()
    print(f"deconvkit web app at {url(config)} (Ctrl+C to stop)", flush=True)
    server.run()


def url(config: WebConfig) -> str:
    host = config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{config.port}/"
