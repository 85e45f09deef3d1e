"""Settings of the web app: where it listens, what it accepts and how much work it takes on at once."""

from __future__ import annotations

import dataclasses

from .._shared import DeconvkitError

__all__ = ["WebConfig"]


@dataclasses.dataclass(frozen=True)
class WebConfig:
    """Limits and settings of :func:`deconvkit.web.create_app`.

    Attributes
    ----------
    host, port : str, int
        Where :func:`deconvkit.web.serve` listens. 127.0.0.1 by default: the app has no authentication,
        so it is reachable from other machines only when asked for explicitly.
    max_upload_mb : float
        Largest accepted upload file (image or PSF), in MiB; larger requests get 413.
    max_pixels : int
        Largest accepted image, in pixels (rows x columns), checked from the file header before decoding;
        larger images get 413. The default allows a 12 MP photo with room to spare.
    workers : int
        Full-resolution jobs (deblur, estimate) run at the same time. Each holds a few image-sized float
        arrays, so this bounds memory.
    queue_limit : int
        Jobs that may wait for a worker; one more gets 503 (the client retries later), never a crash.
    preview_workers, preview_queue : int
        The same for previews, which run on their own small pool so that a long full-resolution run never
        makes the live preview wait.
    preview_size : int
        Side of the preview: the loupe region is at most this many pixels square, the downscaled copy at
        most this long on its longer side.
    preview_iterations : int
        Iteration cap of iterative methods in previews (unless the request sets ``iterations``): a
        preview shows the effect of the PSF and the weight, not the last fraction of convergence.
    estimate_region : int
        Side of the region around the loupe on which the page runs "Estimate PSF" for larger images.
    display_size : int
        Longest side of the 8-bit PNGs the page shows (the download is always full resolution).
    max_images, image_store_mb : int
        Uploaded images kept decoded in memory (``POST /api/images``) so that previews do not re-upload
        and re-decode a 12 MP file on every slider move; the oldest is dropped beyond either limit.
    keep_jobs : int
        Finished jobs whose results are kept for download; older ones are forgotten. A 12 MP 16-bit
        result is about 50 MB, so this bounds the memory results hold.
    temp_root : str, optional
        Parent folder of the per-job temporary folders (default: the system's).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_mb: float = 64.0
    max_pixels: int = 40_000_000
    workers: int = 2
    queue_limit: int = 4
    preview_workers: int = 1
    preview_queue: int = 2
    preview_size: int = 256
    preview_iterations: int = 30
    estimate_region: int = 1024
    display_size: int = 1024
    max_images: int = 8
    image_store_mb: int = 1024
    keep_jobs: int = 8
    temp_root: str | None = None

    def __post_init__(self):
        positive = ("max_upload_mb", "max_pixels", "workers", "preview_workers", "preview_size",
                    "preview_iterations", "estimate_region", "display_size", "max_images", "image_store_mb",
                    "keep_jobs")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not value > 0:
                raise DeconvkitError(f"web config {name}={value!r} must be > 0")
        for name in ("queue_limit", "preview_queue"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DeconvkitError(f"web config {name}={value!r} must be an integer >= 0")
        if not 0 <= int(self.port) <= 65535:
            raise DeconvkitError(f"web config port={self.port!r} must be in 0-65535")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
