"""``deconvkit serve``: run the local web app (needs the ``web`` extra: FastAPI, uvicorn)."""

from __future__ import annotations

import argparse
import socket
import sys

from .._shared import DeconvkitError

COMMAND = "serve"
HELP = "run the local web app: drop an image, tune the PSF and method live, download the result"

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..web import WebConfig

    defaults = WebConfig()
    parser.description = ("Serve the deconvkit page and its JSON API (described at /openapi.json). It has no "
                          "authentication, so it listens on 127.0.0.1 unless --host says otherwise.")
    parser.add_argument("--host", default=defaults.host,
                        help=f"address to listen on (default {defaults.host}: this machine only)")
    parser.add_argument("--port", type=int, default=defaults.port, help=f"port (default {defaults.port})")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    parser.add_argument("--max-upload-mb", type=float, default=defaults.max_upload_mb,
                        help=f"largest accepted upload in MiB (default {defaults.max_upload_mb:g})")
    parser.add_argument("--max-pixels", type=int, default=defaults.max_pixels,
                        help=f"largest accepted image in pixels (default {defaults.max_pixels})")
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help=f"full-resolution jobs run at once; more wait in a queue of "
                             f"{defaults.queue_limit}, beyond which requests get 503 (default {defaults.workers})")


def _check_port(host: str, port: int) -> None:
    """Fail with one line before starting when the address cannot be listened on (uvicorn would exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise DeconvkitError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    from ..web import WebConfig

    config = WebConfig(host=args.host, port=args.port, max_upload_mb=args.max_upload_mb,
                       max_pixels=args.max_pixels, workers=args.workers)
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise DeconvkitError(f"deconvkit serve needs {exc.name}: pip install 'deconvkit[web]'") from None
    _check_port(config.host, config.port)
    if config.host not in _LOOPBACK:
        print(f"warning: listening on {config.host}: anyone who can reach this machine can use the app "
              "(it has no authentication)", file=sys.stderr)
    from ..web import serve

    try:
        serve(config, open_browser=args.open)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its clean shutdown: the normal way to stop
        print("stopped", file=sys.stderr)
    return 0
