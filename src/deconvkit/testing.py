"""Test helpers that users of deconvkit can call on their own operators."""

from __future__ import annotations

import numpy as np

__all__ = ["dottest"]


def dottest(op, *, rng=None, rtol=None, dtype=None, batch=()) -> float:
    """Check adjointness ``<A x, y> == <x, A^T y>`` with random ``x`` and ``y``; return the relative error.

    Works for any object with ``shape_in``, ``shape_out``, ``forward`` and ``adjoint`` (deconvkit's
    restoration operators and the transposed-convolution operators alike). Raises ``AssertionError`` when
    the relative mismatch exceeds ``rtol`` (default 1e-4 for float32, 1e-10 for float64).
    """
    rng = np.random.default_rng(rng)
    dtype = np.dtype(dtype or getattr(op, "dtype", np.float64))
    if rtol is None:
        rtol = 1e-4 if dtype == np.float32 else 1e-10
    x = rng.standard_normal(tuple(batch) + tuple(op.shape_in)).astype(dtype)
    y = rng.standard_normal(tuple(batch) + tuple(op.shape_out)).astype(dtype)
    ax = np.asarray(op.forward(x), dtype=np.float64)
    aty = np.asarray(op.adjoint(y), dtype=np.float64)
    lhs = float(np.vdot(ax, y.astype(np.float64)))
    rhs = float(np.vdot(x.astype(np.float64), aty))
    scale = max(abs(lhs), abs(rhs), np.linalg.norm(ax) * np.linalg.norm(y), 1e-30)
    error = abs(lhs - rhs) / scale
    if error > rtol:
        raise AssertionError(f"dot test failed: <Ax,y>={lhs!r} <x,A^T y>={rhs!r} relative error {error:.3g}")
    return error
