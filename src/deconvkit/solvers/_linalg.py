"""Iterative linear algebra on backend arrays (batched over the leading channel axis)."""

from __future__ import annotations

__all__ = ["conjugate_gradient", "SEQUENTIAL_CHANNELS_FROM"]

# Channels are iterated one at a time once a channel's domain holds at least this many values (the rule
# of the splitting solvers): the iterates are the same, but the temporaries of ``apply_normal`` and the
# preconditioner are one channel's instead of all channels' (about eight bytes per input value of a
# 12-megapixel colour solve).
SEQUENTIAL_CHANNELS_FROM = 1 << 20


def conjugate_gradient(apply_normal, rhs, x0, *, precondition=None, tol=1e-4, max_iter=100, backend,
                       callback=None, sequential=False):
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

    With ``sequential=True`` the channels are iterated one at a time (``apply_normal`` and
    ``precondition`` then see one channel, shape ``(1, ...)``), with the batched stopping rule kept
    exactly: each channel's iterates do not depend on the others', so every channel is run to the first
    iteration at which *all* channels are below ``tol`` (see :func:`_sequential`); the result is the
    batched one, bit for bit when ``apply_normal`` computes a channel alone as it does in a batch (the
    FFT-based operators do).
    """
    if sequential and rhs.shape[0] > 1:
        return _sequential(apply_normal, rhs, x0, precondition, tol, max_iter, backend, callback)
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


class _ChannelCG:
    """The batched loop's arithmetic for one channel (views of shape ``(1, ...)``), resumable: ``k`` is the
    number of iterations done. The search-direction update that closes batched iteration ``k`` runs at
    the start of iteration ``k + 1`` (the batched loop skips it only at the iteration where it stops)."""

    def __init__(self, apply_normal, rhs, x, precondition, backend):
        bk = self.bk = backend
        self.apply_normal, self.precondition, self.x = apply_normal, precondition, x
        self.axes = tuple(range(1, rhs.ndim))
        r = apply_normal(x)
        r *= -1
        r += rhs
        self.rhs_norm = bk.sqrt(self.dot(rhs, rhs)) + 1e-30
        z = precondition(r) if precondition else bk.copy(r)
        self.rz = self.dot(r, z)
        self.r, self.p = r, z
        self.relative = self.residual()
        self.k = 0

    def dot(self, a, b):
        return self.bk.sum(a * b, axis=self.axes).reshape((1,) + (1,) * len(self.axes))

    def residual(self):
        return float(self.bk.to_numpy(self.bk.sqrt(self.dot(self.r, self.r)) / self.rhs_norm).max())

    def step(self):
        if self.k > 0:
            z = self.precondition(self.r) if self.precondition else self.bk.copy(self.r)
            rz_new = self.dot(self.r, z)
            z[0] += (rz_new / (self.rz + 1e-30))[0] * self.p[0]
            self.p, self.rz = z, rz_new
            del z
        q = self.apply_normal(self.p)
        alpha = self.rz / (self.dot(self.p, q) + 1e-30)
        self.x[0] += alpha[0] * self.p[0]
        self.r[0] += (-alpha)[0] * q[0]
        del q
        self.relative = self.residual()
        self.k += 1


def _sequential(apply_normal, rhs, x0, precondition, tol, max_iter, backend, callback):
    """Channel-by-channel CG that stops where the batched loop stops: at the first iteration ``n`` at
    which every channel's relative residual is below ``tol`` (or at ``max_iter``).

    Each round runs every channel up to at least ``target`` and then on to its first converged iteration;
    the largest of those becomes the next ``target``. Every channel is converged at ``n``, so no channel
    passes ``n``, and the rounds end when all channels stop at the same iteration: that is ``n``.
    """
    channels = rhs.shape[0]
    states = [_ChannelCG(apply_normal, rhs[c:c + 1], x0[c:c + 1], precondition, backend)
              for c in range(channels)]
    del rhs
    reported = 0
    target = 1
    while True:
        for state in states:
            while state.k < max_iter and (state.k < target or not state.relative < tol):
                state.step()
                done = sum(s.k for s in states) // channels
                if callback and done > reported:
                    reported = done
                    callback(done, max_iter)
        reached = max(s.k for s in states)
        if all(s.k == reached for s in states):
            break
        target = reached
    return x0, reached, max(s.relative for s in states)
