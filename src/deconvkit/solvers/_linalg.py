"""Iterative linear algebra on backend arrays (batched over the leading channel axis)."""

from __future__ import annotations

__all__ = ["conjugate_gradient"]


def conjugate_gradient(apply_normal, rhs, x0, *, precondition=None, tol=1e-4, max_iter=100, backend,
                       callback=None):
    """Preconditioned CG for ``N x = rhs`` with ``N`` symmetric positive definite.

    Channels (the leading axis) are independent systems sharing one operator; they are solved together
    with one step size per channel so the FFTs are batched. Stops when every channel's relative residual
    is below ``tol``. Returns ``(x, iterations, relative_residual)``.

    ``x0`` is updated in place (it becomes ``x``), and the iterate, residual and search direction are
    the only arrays kept between iterations: the updates are in place and channel by channel, so a
    12-megapixel colour solve holds three image-sized arrays plus what ``apply_normal`` needs, not the
    seven of the textbook form. The arithmetic is the textbook form's, operation for operation (the
    same roundings). A caller that passes ``rhs`` without keeping a reference lets it be freed after
    the first residual.
    """
    bk = backend
    channels = rhs.shape[0]
    spatial_axes = tuple(range(1, rhs.ndim))

    def dot(a, b):
        return bk.sum(a * b, axis=spatial_axes).reshape((channels,) + (1,) * len(spatial_axes))

    def add_scaled(target, scale, term):
        # target += scale * term, one channel at a time (a channel-sized temporary, not an image-sized one)
        for c in range(channels):
            target[c] += scale[c] * term[c]

    x = x0
    # r = rhs - N x, written as -(N x) + rhs: negation is exact, so this is the same rounding
    r = apply_normal(x)
    r *= -1
    r += rhs
    rhs_norm = bk.sqrt(dot(rhs, rhs)) + 1e-30
    del rhs
    z = precondition(r) if precondition else bk.copy(r)
    rz = dot(r, z)
    p = z
    del z
    relative = float(bk.to_numpy(bk.sqrt(dot(r, r)) / rhs_norm).max())
    iterations = 0
    for iterations in range(1, max_iter + 1):
        q = apply_normal(p)
        alpha = rz / (dot(p, q) + 1e-30)
        add_scaled(x, alpha, p)
        add_scaled(r, -alpha, q)  # r - alpha q == r + (-alpha) q exactly
        del q
        relative = float(bk.to_numpy(bk.sqrt(dot(r, r)) / rhs_norm).max())
        if callback:
            callback(iterations, max_iter)
        if relative < tol:
            break
        z = precondition(r) if precondition else bk.copy(r)
        rz_new = dot(r, z)
        # p = z + beta p, built in z's storage (the old p is dropped)
        add_scaled(z, rz_new / (rz + 1e-30), p)
        p = z
        del z
        rz = rz_new
    return x, iterations, relative
