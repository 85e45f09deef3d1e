"""Non-blind deconvolution: :func:`deconvolve` and the solver registry.

Adding a solver means adding one module to this package that calls :func:`register_solver`: every
public module here (name not starting with ``_``) is imported below, and :func:`deconvolve` and the CLI
discover the solver from :data:`SOLVERS`.
"""

from __future__ import annotations

import importlib
import pkgutil
import time

import numpy as np

from .._params import real
from .._shared import (
    DeconvkitError,
    as_float_image,
    check_psf,
    move_channels_first,
    restore_channel_axis,
    tensor_device,
)
from ..boundaries import boundary_model, boundary_strategy
from ..errors import InputError
from ._base import SOLVERS, Problem, get_solver, register_solver

_NOISE_SIGMA = real("noise_sigma", 0, 1e6)

__all__ = ["deconvolve", "available_methods", "register_solver", "SOLVERS", "Problem"]


def _import_solver_modules(package_path, package_name) -> list[str]:
    """Import every public module of the package (each registers its solvers), in name order.

    No error is swallowed: a solver module that fails to import fails ``import deconvkit`` with its own
    traceback, instead of its method silently missing from :data:`SOLVERS`.
    """
    names = sorted(info.name for info in pkgutil.iter_modules(package_path) if not info.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{package_name}.{name}")
    return names


_SOLVER_MODULES = _import_solver_modules(__path__, __name__)


def available_methods() -> dict[str, str]:
    """Registered method names and one-line summaries."""
    return {name: spec.summary for name, spec in sorted(SOLVERS.items())}


def deconvolve(image, psf, method="auto", *, channel_axis=None, boundary=None, noise_sigma=None,
               clip=False, return_info=False, progress=None, backend=None, **params):
    """Restore an image blurred by a known PSF.

    Parameters
    ----------
    image : ndarray
        Blurred 2-D or 3-D image, with an optional channel axis. Integer arrays are scaled to [0, 1] by
        their intensity scale, as :func:`deconvkit.io.read_image` scales integer files (uint8 by 255;
        wider integers, int64 included, by the smallest 8/10/12/14/16/...-bit range holding the data,
        so 12-bit values by 4095; the integer input rule of :mod:`deconvkit._shared`, shared with
        :func:`blur` and :func:`estimate_psf`), so the parameter defaults fit; the result is then float64
        in that scale.
    psf : ndarray
        Point-spread function with the image's spatial dimensionality, centre at index ``k // 2``
        (convolution orientation). It is normalised to sum 1; it is shared by all channels.
    method : str
        A registered solver: ``"auto"`` (default), ``"wiener"``, ``"tikhonov"``, ``"richardson_lucy"``,
        ... see :func:`available_methods`.
    channel_axis : int, optional
        Axis of colour channels. Channels share the PSF and the automatically chosen parameters (so no
        colour fringes) and are transformed together.
    boundary : {"valid", "reflect", "periodic"}, optional
        How the scene continues beyond the frame, in :func:`blur`'s vocabulary: ``"valid"`` (a camera:
        the scene beyond the frame is estimated), ``"reflect"`` (mirrored, then tapered) or
        ``"periodic"``. The older names ``"unknown"`` (= ``"valid"``) and ``"pad"`` (= ``"reflect"``) are
        accepted. Defaults to the solver's own (see :mod:`deconvkit.boundaries`).
    noise_sigma : float, optional
        Noise standard deviation if known; estimated from the image otherwise.
    clip : bool
        Clip the result to the input's value range. Off by default: nothing is clipped silently.
    return_info : bool
        Also return a dict of what was used: method, parameters (estimated ones included), noise estimate,
        boundary (``"boundary"``: the solver's strategy name, ``"unknown"``, ``"pad"`` or ``"periodic"``, as
        before; ``"boundary_model"``: the same as ``"valid"``, ``"reflect"`` or ``"periodic"``), iterations
        and time.
    progress : callable, optional
        ``progress(done, total)`` called by iterative solvers.
    backend : str, optional
        Array backend: "numpy" (default; ``scipy.fft``), "torch" (PyTorch on the CPU) or "cuda"
        (PyTorch on the GPU). The same solver code runs on each. If ``image`` is a ``torch.Tensor`` the
        backend defaults to its device and the result is returned as a tensor on that device.
    **params
        Method parameters, e.g. ``nsr=`` (Wiener), ``lam=`` (Tikhonov), ``iterations=``.

    Returns
    -------
    restored : ndarray
        Same shape as ``image``; float32 for float32/float16 input, float64 otherwise.
    info : dict
        Only with ``return_info=True``.

    Notes
    -----
    The model is ``y = psf * x + n`` (convolution). Real images are not periodic; every method handles
    the frame's boundary (see :mod:`deconvkit.boundaries`): ``"valid"`` estimates the scene beyond the
    frame (exact for a camera), ``"reflect"`` mirrors and tapers for closed-form filters.

    Examples
    --------
    >>> import numpy as np, deconvkit
    >>> from deconvkit.psf import gaussian
    >>> from deconvkit.metrics import psnr
    >>> from skimage import data
    >>> sharp = data.camera()[128:384, 128:384].astype(np.float32) / 255
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(0, 0.01, sharp.shape).astype(np.float32)
    >>> blurred = deconvkit.blur(sharp, gaussian(1.5), boundary="periodic") + noise
    >>> restored = deconvkit.deconvolve(blurred, gaussian(1.5), boundary="periodic")  # method="auto"
    >>> restored.dtype, bool(psnr(sharp, restored) > psnr(sharp, blurred) + 3)
    (dtype('float32'), True)
    """
    started = time.perf_counter()
    spec = get_solver(method)
    from ..memory import check_fits  # refuse what would not fit before allocating anything

    check_fits(image, psf, method, boundary, channel_axis)
    device = tensor_device(image)
    if device is not None:  # a torch tensor: solve on its device, hand back a tensor there
        if backend is None:
            backend = "cuda" if device.type == "cuda" else "torch"
        image = image.detach().cpu().numpy()
    if tensor_device(psf) is not None:
        psf = psf.detach().cpu().numpy()
    image = as_float_image(image, "image", ndim=(2, 3) if channel_axis is None else (3, 4))
    stack = move_channels_first(image, channel_axis)
    if any(n < 2 for n in stack.shape[1:]):  # nothing to deconvolve along (and no noise estimate)
        raise InputError(f"image is {'x'.join(map(str, stack.shape[1:]))} pixels (channels aside); "
                         "deconvolution needs at least 2 pixels along each axis")
    psf = check_psf(psf, stack.ndim - 1, image.dtype, stack.shape[1:])
    strategy = spec.boundary if boundary is None else boundary_strategy(boundary)
    params = spec.validate(params)  # before any work: iterations=1e12 or nsr=inf never start
    if noise_sigma is not None:
        noise_sigma = _NOISE_SIGMA.check(noise_sigma)  # finite: inf gave a flat image
    problem = Problem(np.ascontiguousarray(stack), psf, strategy, backend=backend, noise_sigma=noise_sigma,
                      progress=progress)
    x, info = spec(problem, **params)
    restored = problem.backend.to_numpy(problem.crop(x)).astype(image.dtype, copy=False)
    if restored.base is not None and restored.base.nbytes > restored.nbytes:
        # the crop is a view into the padded solution: copy it, so that the caller does not keep the whole
        # padded domain alive (a 12 MP Wiener result held 0.9 GB after return, and the CLI's 8-bit
        # conversion on top of it set the process's peak: docs/benchmarks.md, memory per method)
        restored = restored.copy()
    del x
    if clip:
        restored = np.clip(restored, float(image.min()), float(image.max()))
    restored = restore_channel_axis(restored, channel_axis)
    if device is not None:
        import torch

        restored = torch.as_tensor(np.ascontiguousarray(restored), device=device)
    if not return_info:
        return restored
    info = {"method": info.pop("method", spec.name), **info}
    info.setdefault("boundary", problem.strategy)
    info["boundary_model"] = boundary_model(info["boundary"])
    info["noise_sigma"] = problem.noise_sigma if problem._noise_sigma is not None else None
    info["time_s"] = time.perf_counter() - started
    return restored, info
