"""Iterative linear algebra on backend arrays (batched over the leading channel axis)."""

from __future__ import annotations

__all__ = ["conjugate_gradient"]


def conjugate_gradient(apply_normal, rhs, x0, *, precondition=None, tol=1e-4, max_iter=100, backend,
                       callback=None):
    """Preconditioned CG for ``N x = rhs`` with ``N`` symmetric positive definite.

    Channels (the leading axis) are independent systems sharing one operator; they are solved together
    with one step size per channel so the FFTs are batched. Stops when every channel's relative residual
    is below ``tol``. Returns ``(x, iterations, relative_residual)``.
    """
    bk = backend
    channels = rhs.shape[0]
    spatial_axes = tuple(range(1, rhs.ndim))

    def dot(a, b):
        return bk.sum(a * b, axis=spatial_axes).reshape((channels,) + (1,) * len(spatial_axes))

    x = x0
    r = rhs - apply_normal(x)
    z = precondition(r) if precondition else r
    p = z
    rz = dot(r, z)
    rhs_norm = bk.sqrt(dot(rhs, rhs)) + 1e-30
    relative = float(bk.to_numpy(bk.sqrt(dot(r, r)) / rhs_norm).max())
    iterations = 0
    for iterations in range(1, max_iter + 1):
        q = apply_normal(p)
        alpha = rz / (dot(p, q) + 1e-30)
        x = x + alpha * p
        r = r - alpha * q
        relative = float(bk.to_numpy(bk.sqrt(dot(r, r)) / rhs_norm).max())
        if callback:
            callback(iterations, max_iter)
        if relative < tol:
            break
        z = precondition(r) if precondition else r
        rz_new = dot(r, z)
        p = z + (rz_new / (rz + 1e-30)) * p
        rz = rz_new
    return x, iterations, relative
