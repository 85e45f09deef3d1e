"""General (non-parametric) PSF estimation for camera shake.

Coarse-to-fine alternating minimisation in the style of Xu, Zheng & Jia (2013) and Pan et al. (2014):

* the *intermediate image* ``S`` minimises ``||k * S - y||^2 + lam ||grad S||_0`` (an L0 gradient prior,
  solved by half-quadratic splitting). It keeps only salient edges, which is what makes the kernel
  estimate well posed; it is not a good restoration and is never returned. Optionally (``dark > 0``) an
  L0 prior on its dark channel is added (Pan et al. 2016), used by :mod:`deconvkit.blind` as a fallback;
* the *kernel* minimises ``||M (k * grad S - grad y)||^2 + gamma ||k||^2`` over a ``size x size`` support
  (conjugate gradients in kernel space, exact camera boundary through the window mask ``M``), then is
  projected onto non-negative, pruned of small connected components and normalised;
* both run on an image pyramid (scale ``1/sqrt(2)`` per level) so that large kernels are found from a
  coarse guess; the kernel is upsampled and re-centred between levels.

Everything here works on one grey (luminance) image in float64; the public wrappers in
:mod:`deconvkit.blind` validate input and restore colour channels.

Arrays: the image-sized work (pyramid resampling, the L0 intermediate image, gradients, the dark-channel
filters and the kernel's conjugate gradients, :func:`deconvkit.solvers._linalg.conjugate_gradient`) runs on
the array backend passed as ``backend`` (``"numpy"``, ``"torch"``, ``"cuda"``), through its method set
only. Per pyramid level, the set-up (smooth extension onto the FFT domain, the data gradients) is
computed on the host and copied once, as :class:`deconvkit.solvers.Problem` does; the kernel-space steps
between two kernel updates (projection, pruning of connected components, centring, resizing between
levels) run on the host too: the kernel has at most 65 x 65 values, so one copy of it per update costs
nothing next to the image-sized transforms, and connected-component labelling has no backend form.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage

from ..backends import NumpyBackend, get_backend
from ..boundaries import smooth_extend
from ..fft import fast_shape, frequencies, from_spectrum, to_spectrum
from ..operators import Gradient, PeriodicConvolution
from ..solvers._linalg import conjugate_gradient

__all__ = ["estimate_general", "refine_kernel", "pyramid_sizes", "centre_psf", "prune_psf"]

_SCALE = math.sqrt(0.5)


def _backend(backend):
    """The array backend for ``backend`` (a name, an instance, or ``None``: NumPy). NumPy's FFTs and
    PyTorch's CPU FFTs read the workers configured with :func:`deconvkit.backends.config` at each call."""
    return NumpyBackend() if backend is None else get_backend(backend)


def pyramid_sizes(size: int, min_size: int = 5):
    """Kernel sizes (odd) and image scale factors from coarsest to finest.

    Levels shrink by ``1/sqrt(2)`` until the kernel is about ``min_size`` pixels: at that size any
    blur is close to a small blob, so a delta-like start is a good guess.
    """
    levels = max(int(math.floor(math.log(min_size / size) / math.log(_SCALE))), 0) + 1
    factors = [_SCALE ** i for i in range(levels)]
    sizes = []
    for f in factors:
        k = int(math.ceil(size * f))
        sizes.append(k + (k % 2 == 0))
    return sizes[::-1], factors[::-1]


def _downsample(image, factor: float, bk):
    """Anti-aliased bilinear resampling by ``factor`` (< 1), on the backend ``bk``."""
    if factor >= 1:
        return image
    sigma = 0.5 * (1.0 / factor - 1.0)  # scikit-image's rescale anti-aliasing rule
    smooth = bk.gaussian_filter(image, sigma, mode="nearest")
    out_shape = [max(int(round(n * factor)), 1) for n in image.shape]
    # sample at pixel centres: output pixel i covers input [i/f, (i+1)/f)
    coords = [(np.arange(m) + 0.5) / factor - 0.5 for m in out_shape]
    return bk.resample(smooth, coords, mode="nearest")


def _fit_size(kernel: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop or zero-pad a square kernel to ``size`` keeping the centre at index ``size // 2``."""
    out = np.zeros((size, size))
    k = kernel.shape[0]
    c_in, c_out = k // 2, size // 2
    lo = max(c_in - c_out, 0)
    hi = min(k, c_in + (size - c_out))
    dst = c_out - (c_in - lo)
    out[dst:dst + hi - lo, dst:dst + hi - lo] = kernel[lo:hi, lo:hi]
    return out


def _resize_kernel(kernel: np.ndarray, factor: float, size: int) -> np.ndarray:
    """Upsample a kernel by ``factor`` (bilinear, about its centre) onto a ``size x size`` support."""
    k = kernel.shape[0]
    centre_out = size // 2
    coords = (np.arange(size) - centre_out) / factor + k // 2
    out = NumpyBackend.resample(kernel, [coords, coords], mode="constant")  # kernel space: on the host
    out = np.clip(out, 0, None)
    total = out.sum()
    return out / total if total > 0 else _delta(size)


def _delta(size: int) -> np.ndarray:
    out = np.zeros((size, size))
    out[size // 2, size // 2] = 1.0
    return out


def _initial_kernel(size: int) -> np.ndarray:
    """A two-pixel centred blob: close to a delta but with a non-zero gradient for the first update."""
    out = np.zeros((size, size))
    c = size // 2
    out[c, c] = out[c, min(c + 1, size - 1)] = 0.5
    return out


def centre_psf(kernel: np.ndarray) -> np.ndarray:
    """Shift a kernel by whole pixels so that its centroid is within half a pixel of ``k // 2``.

    A blind estimate is only defined up to a translation (shifting the kernel shifts the restored
    image the other way); centring puts the restored image where the blurred one is. Whole-pixel shifts
    keep the estimate's sharpness (a sub-pixel resampling would blur it).
    """
    total = kernel.sum()
    if total <= 0:
        return kernel
    idx = np.indices(kernel.shape)
    shifts = []
    for axis in range(kernel.ndim):
        centroid = float((idx[axis] * kernel).sum() / total)
        shifts.append(int(round(kernel.shape[axis] // 2 - centroid)))
    out = np.zeros_like(kernel)
    src = tuple(slice(max(-s, 0), n - max(s, 0)) for s, n in zip(shifts, kernel.shape))
    dst = tuple(slice(max(s, 0), n - max(-s, 0)) for s, n in zip(shifts, kernel.shape))
    out[dst] = kernel[src]
    return out


def prune_psf(kernel: np.ndarray, rel_threshold: float = 0.05, min_mass: float = 0.1) -> np.ndarray:
    """Zero values below ``rel_threshold * max`` and 8-connected components holding < ``min_mass`` of
    the total, then renormalise.

    A camera-shake kernel is a connected curve; isolated specks are noise fitted by the least squares.
    """
    k = np.clip(kernel, 0, None)
    if k.max() <= 0:
        return _delta(k.shape[0])
    k[k < rel_threshold * k.max()] = 0
    labels, count = scipy.ndimage.label(k > 0, structure=np.ones((3, 3)))
    if count > 1:
        masses = scipy.ndimage.sum(k, labels, index=np.arange(1, count + 1))
        keep = masses >= min_mass * masses.sum()
        keep[np.argmax(masses)] = True  # never prune everything
        k[~keep[labels - 1] & (labels > 0)] = 0
    return k / k.sum()


def _gradients(x, bk):
    """Periodic forward differences, stacked (2, ...)."""
    return Gradient(tuple(x.shape), np.float64, bk).forward(x)


def _window_gradients(image, domain, offset):
    """Forward differences of ``image`` placed at ``offset`` in ``domain``, and their mask: 1 where a
    difference stays inside the frame (the data term never sees the domain's wrap-around)."""
    window = tuple(slice(o, o + n) for o, n in zip(offset, image.shape))
    grads = np.zeros((2,) + tuple(domain))
    masks = np.zeros((2,) + tuple(domain))
    grads[(0,) + window][:-1, :] = np.diff(image, axis=0)
    grads[(1,) + window][:, :-1] = np.diff(image, axis=1)
    masks[(0,) + window][:-1, :] = 1.0
    masks[(1,) + window][:, :-1] = 1.0
    return grads, masks


def _l0_intermediate(y_ext, blur, lam, grad_abs2, kappa=2.0, beta_max=1e5, dark=0.0, patch=0):
    """``argmin_S ||k * S - y||^2 + lam ||grad S||_0`` on a periodic domain (half-quadratic splitting).

    The auxiliary gradient field ``g`` is hard-thresholded (``|g|^2 < lam / beta`` -> 0, the exact L0
    proximal step) and ``S`` is then a closed-form FFT solve; ``beta`` grows geometrically (Xu et al.
    2011), so the solution freezes onto a piecewise-constant image with only the strongest edges.
    """
    bk = blur.backend
    grad = Gradient(tuple(y_ext.shape), np.float64, bk)
    numerator_data = blur.adjoint_spectrum(blur.to_spectrum(y_ext), transfer_first=True)
    s = y_ext
    beta = 2.0 * lam
    mu = 2.0 * dark
    while beta < beta_max:
        g = _gradients(s, bk)
        small = (g[0] ** 2 + g[1] ** 2) < lam / beta
        g[:, small] = 0.0
        numerator = numerator_data + beta * blur.to_spectrum(grad.adjoint(g))
        shift = 0.0
        if dark > 0:
            # dark channel (Pan et al. 2016): pixels that are the minimum of some patch, hard-thresholded
            opening = bk.maximum_filter(bk.minimum_filter(s, patch, mode="wrap"), patch, mode="wrap")
            u = bk.copy(s)
            u[(opening >= s) & (s * s < dark / mu)] = 0.0
            numerator = numerator + mu * blur.to_spectrum(u)
            shift = mu
            mu *= kappa
        s = blur.solve_normal(numerator, grad_abs2, beta, shift=shift, spectral_in=True)
        beta *= kappa
    return s


def _grad_abs2(shape):
    """``|DFT(D)|^2`` as :meth:`deconvkit.operators.Gradient.transfer_abs2`, with the frequencies formed
    as ``2 pi f`` instead of ``f 2 pi``: one ulp apart, which the estimator's hard thresholds grow to
    1e-6 in the kernel. Kept so that estimates stay bit-identical; fold into the operator when the blind
    benchmarks are next re-baselined."""
    wy = 2 * np.pi * frequencies(shape[0])[:, None]
    wx = 2 * np.pi * frequencies(shape[1], real=True)[None, :]
    return (2 - 2 * np.cos(wy)) + (2 - 2 * np.cos(wx))


def _kernel_to_origin(kernel, shape, bk):
    """:func:`deconvkit.fft.psf_to_origin` on the backend: zero-pad the kernel to ``shape`` and roll its
    centre to the origin (the same element moves, so the result is the same bits)."""
    size = kernel.shape[-1]
    padded = bk.zeros(tuple(shape), np.float64)
    padded[:size, :size] = kernel
    return bk.roll(padded, (-(size // 2), -(size // 2)), (0, 1))


def _kernel_from_origin(array, size, bk):
    """Adjoint of :func:`_kernel_to_origin`: read the ``size x size`` kernel window around the origin."""
    c = size // 2
    return bk.roll(array, (c, c), (0, 1))[:size, :size]


# Relative residual at which the kernel CG stops: ||r|| <= 1e-5 ||rhs||.
_KERNEL_CG_TOL = 1e-5


def _kernel_update(latent_grads, data_grads, masks, kernel, weight, bk, iterations=20):
    """Minimise ``sum_d ||M_d (k * gS_d - gy_d)||^2 + weight ||k||^2`` over the kernel support by CG
    (:func:`deconvkit.solvers._linalg.conjugate_gradient`), started from the current (host) kernel; the
    arrays are on the backend ``bk``. Returns the unconstrained minimiser on the host (the projection is
    the caller's)."""
    shape = tuple(latent_grads.shape[1:])
    size = kernel.shape[0]
    # the unknown here is the kernel: the operator is convolution with the latent gradients, k -> gS * k
    spectra = to_spectrum(latent_grads, shape, bk)
    conj_spectra = bk.conj(spectra)

    def normal(k):  # k: (1, size, size), CG's one-channel layout
        k = k[0]
        predicted = from_spectrum(spectra * to_spectrum(_kernel_to_origin(k, shape, bk), shape, bk), shape,
                                  bk) * masks
        back = from_spectrum(bk.sum(conj_spectra * to_spectrum(predicted, shape, bk), axis=0), shape, bk)
        return (_kernel_from_origin(back, size, bk) + weight * k)[None]

    rhs = _kernel_from_origin(
        from_spectrum(bk.sum(conj_spectra * to_spectrum(data_grads * masks, shape, bk), axis=0), shape, bk),
        size, bk)
    k, _, _ = conjugate_gradient(normal, rhs[None], bk.asarray(kernel, np.float64)[None], tol=_KERNEL_CG_TOL,
                                 max_iter=iterations, backend=bk)
    return bk.to_numpy(k[0])


def _salient_threshold(grads, size, current=None):
    """Gradient-magnitude threshold keeping at least ``2 * size`` pixels in each of four orientation
    bins (Cho & Lee 2009): enough edges in every direction to constrain every kernel direction.
    ``grads`` is a host array; once set, the threshold is only decayed (``current`` is returned)."""
    if current is not None:
        return current
    magnitude = np.sqrt(grads[0] ** 2 + grads[1] ** 2)
    angle = np.mod(np.arctan2(grads[0], grads[1]), np.pi)
    bins = np.minimum((angle / (np.pi / 4)).astype(int), 3)
    need = 2 * size
    thresholds = []
    for b in range(4):
        values = np.sort(magnitude[bins == b])[::-1]
        if values.size:
            thresholds.append(values[min(need, values.size) - 1])
    return float(min(thresholds)) if thresholds else 0.0


class _Level:
    """The set-up of one pyramid level, shared by its alternating iterations: the resampled image ``y``
    (on the backend), its smooth extension ``y_ext`` onto the FFT ``domain``, the observed ``window``,
    the data gradients with their masks, ``|DFT(D)|^2`` and the dark-channel patch."""

    def __init__(self, image, factor: float, k_size: int, dark_patch: int, bk):
        self.y = _downsample(image, factor, bk)
        host = bk.to_numpy(self.y)  # the set-up is built on the host and copied once
        self.domain = fast_shape([n + k_size - 1 for n in host.shape])
        offset = (k_size // 2, k_size // 2)
        self.window = tuple(slice(o, o + n) for o, n in zip(offset, host.shape))
        self.y_ext = bk.asarray(smooth_extend(host[None], self.domain, offset)[0])
        data_grads, masks = _window_gradients(host, self.domain, offset)
        self.data_grads, self.masks = bk.asarray(data_grads), bk.asarray(masks)
        self.grad_abs2 = bk.asarray(_grad_abs2(self.domain))
        self.patch = max(int(round(dark_patch * factor)), 1) | 1


def _mean_square(x, bk) -> float:
    return bk.item(bk.sum(x * x)) / math.prod(x.shape)


def estimate_general(image: np.ndarray, size: int, *, lam_grad: float = 4e-3, inner_iterations: int = 5,
                     kernel_weight: float = 2.0, progress=None, use_threshold: bool = True,
                     dark: float = 0.0, dark_patch: int = 15, backend=None):
    """Estimate a ``size x size`` camera-shake kernel from one grey image (float64, roughly [0, 1]).

    ``backend`` is the array backend of the image-sized work (a name or an instance; default NumPy).
    Returns ``(kernel, info)``; the kernel (a NumPy array) is non-negative, sums to 1, and its centroid
    is at ``size // 2``.
    """
    bk = _backend(backend)
    image = bk.asarray(image, np.float64)
    sizes, factors = pyramid_sizes(size)
    total = len(sizes)
    kernel = None
    lam = lam_grad
    threshold = None
    energies = []
    for level, (k_size, factor) in enumerate(zip(sizes, factors)):
        if kernel is None:
            kernel = _initial_kernel(k_size)
        else:
            kernel = _resize_kernel(kernel, factors[level] / factors[level - 1], k_size)
        stage = _Level(image, factor, k_size, dark_patch, bk)
        for _ in range(inner_iterations):
            blur = PeriodicConvolution(kernel, stage.domain, np.float64, bk)
            latent = _l0_intermediate(stage.y_ext, blur, lam, stage.grad_abs2, dark=dark, patch=stage.patch)
            latent_grads = _gradients(latent, bk)
            if use_threshold:
                if threshold is None:  # set once, on the coarsest level, then only decayed
                    threshold = _salient_threshold(bk.to_numpy(latent_grads[(slice(None),) + stage.window]),
                                                   k_size)
                weak = bk.sqrt(latent_grads[0] ** 2 + latent_grads[1] ** 2) < threshold
                latent_grads[:, weak] = 0.0
                threshold /= 1.1
            kernel = _kernel_update(latent_grads, stage.data_grads, stage.masks, kernel, kernel_weight, bk)
            kernel = prune_psf(kernel)
            lam = max(lam / 1.1, 1e-4)
        kernel = centre_psf(kernel)
        if progress is not None:
            progress(level + 1, total)
        energies.append(_mean_square(blur.forward(latent)[stage.window] - stage.y, bk))
    return kernel, {"levels": total, "kernel_sizes": sizes, "final_lambda": lam,
                    "residual_rms": math.sqrt(energies[-1])}


def refine_kernel(image: np.ndarray, kernel: np.ndarray, restored: np.ndarray, *, weight: float = 2.0,
                  margin: int = 2, iterations: int = 30, backend=None) -> np.ndarray:
    """One last kernel update against a full non-blind restoration ``restored`` of ``image``.

    The L0 intermediate image keeps only salient edges: that makes the coarse-to-fine estimate well posed,
    but it also discards the fine structure that pins down the kernel's detail, and its piecewise-constant
    edges are sharper than the scene's. A least-squares update (:func:`_kernel_update`, same weight) against
    *all* the gradients of a regularised restoration with the estimate sharpens it. The restoration is only
    known on the frame, so the data term uses only the pixels whose blur support lies inside it. One round
    only: on synthetic shake (``benchmarks/blind_calibrate.py`` images) a second round lost 0.6 dB.
    ``image`` and ``restored`` are host arrays; ``backend`` runs the update (default NumPy).
    Returns the updated kernel (non-negative, pruned, centred, cropped to its support plus ``margin``).
    """
    bk = _backend(backend)
    size = kernel.shape[0] + 2 * margin
    half = size // 2
    shape = image.shape
    domain = fast_shape([n + size for n in shape])
    latent = np.zeros(domain)
    latent[:shape[0], :shape[1]] = restored
    latent_grads = _gradients(bk.asarray(latent), bk)
    latent_grads[:, shape[0] - 1:, :] = 0.0  # no differences across the frame's edge
    latent_grads[:, :, shape[1] - 1:] = 0.0
    data_grads, masks = _window_gradients(image, domain, (0, 0))
    inside = np.zeros(domain)  # data pixels whose blur support (and forward difference) stays in the frame
    inside[half + 1:shape[0] - half - 1, half + 1:shape[1] - half - 1] = 1.0
    masks *= inside
    updated = _kernel_update(latent_grads, bk.asarray(data_grads), bk.asarray(masks), _fit_size(kernel, size),
                             weight, bk, iterations)
    return centre_psf(prune_psf(updated))
