"""deconvkit.solvers._linalg: batched (preconditioned) conjugate gradient against numpy.linalg.solve."""

import numpy as np
import pytest

import deconvkit
from deconvkit.solvers._linalg import conjugate_gradient


def spd_system(rng, shape, channels):
    """A dense SPD matrix on ``shape`` (condition number ~100) and one right-hand side per channel."""
    n = int(np.prod(shape))
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    matrix = (q * np.logspace(0, 2, n)) @ q.T
    rhs = rng.normal(size=(channels,) + shape)
    return matrix, rhs


def apply(matrix, x):
    return (x.reshape(x.shape[0], -1) @ matrix.T).reshape(x.shape)


@pytest.mark.parametrize("preconditioned", [False, True])
def test_cg_matches_dense_solve_for_every_channel(rng, preconditioned):
    shape = (4, 5)
    matrix, rhs = spd_system(rng, shape, channels=3)
    diagonal = np.diag(matrix).reshape(shape)
    precondition = (lambda r: r / diagonal) if preconditioned else None
    calls = []
    x, iterations, relative = conjugate_gradient(lambda v: apply(matrix, v), rhs, np.zeros_like(rhs),
                                                 precondition=precondition, tol=1e-12, max_iter=200,
                                                 backend=deconvkit.fft.get_backend("numpy"),
                                                 callback=lambda done, total: calls.append((done, total)))
    reference = np.linalg.solve(matrix, rhs.reshape(3, -1).T).T.reshape(rhs.shape)
    np.testing.assert_allclose(x, reference, rtol=1e-8, atol=1e-10)
    assert relative < 1e-12
    # CG on an n-dimensional SPD system needs about n steps (a few more in floating point), not max_iter
    assert iterations < 3 * matrix.shape[0]
    assert calls == [(i, 200) for i in range(1, iterations + 1)]


def test_cg_stops_at_max_iter_and_reports_the_residual(rng):
    matrix, rhs = spd_system(rng, (6, 6), channels=2)
    x, iterations, relative = conjugate_gradient(lambda v: apply(matrix, v), rhs, np.zeros_like(rhs),
                                                 tol=1e-14, max_iter=3,
                                                 backend=deconvkit.fft.get_backend("numpy"))
    assert iterations == 3
    residual = rhs - apply(matrix, x)
    expected = max(np.linalg.norm(residual[c]) / np.linalg.norm(rhs[c]) for c in range(2))
    assert relative == pytest.approx(expected, rel=1e-6)
    assert relative > 1e-14  # not converged: the stop was max_iter, not tol


@pytest.mark.parametrize("preconditioned", [False, True])
def test_cg_in_place_updates_leave_the_right_hand_side_alone(rng, preconditioned):
    """The iterate is built in x0's storage (no copy of it is kept), the right-hand side is only read,
    and the float32 result solves the system like the dense solve does."""
    shape = (3, 4)
    matrix, rhs = spd_system(rng, shape, channels=2)
    matrix, rhs = matrix.astype(np.float32), rhs.astype(np.float32)
    kept = rhs.copy()
    diagonal = np.diag(matrix).reshape(shape)
    precondition = (lambda r: r / diagonal) if preconditioned else None
    x0 = np.zeros_like(rhs)
    x, _, relative = conjugate_gradient(lambda v: apply(matrix, v), rhs, x0, precondition=precondition,
                                        tol=1e-5, max_iter=200, backend=deconvkit.fft.get_backend("numpy"))
    assert x is x0 and x.dtype == np.float32
    np.testing.assert_array_equal(rhs, kept)
    reference = np.linalg.solve(matrix.astype(np.float64), kept.reshape(2, -1).T.astype(np.float64))
    np.testing.assert_allclose(x, reference.T.reshape(rhs.shape), rtol=1e-3, atol=1e-4)
    assert relative < 1e-5


@pytest.mark.parametrize("preconditioned", [False, True])
def test_sequential_channels_stop_where_the_batched_loop_stops(rng, preconditioned):
    """Channel-by-channel CG (the large-image path) against the batched loop and the dense solve. The
    channels converge at different iterations on their own, so the batched stop (the first iteration at
    which all are converged) differs from each channel's own: the sequential path must reproduce it."""
    shape = (5, 6)
    matrix, rhs = spd_system(rng, shape, channels=3)
    rhs[1] = np.linalg.eigh(matrix)[1][:, -1].reshape(shape)  # one eigenvector: converges in 1-2 steps
    diagonal = np.diag(matrix).reshape(shape)
    precondition = (lambda r: r / diagonal) if preconditioned else None
    bk = deconvkit.fft.get_backend("numpy")

    def per_channel(v):  # the same product for a channel alone or in a batch (a batched gemm rounds differently)
        return np.stack([matrix @ channel.ravel() for channel in v]).reshape(v.shape)

    def solve(b, sequential, calls=None):
        return conjugate_gradient(per_channel, b, np.zeros_like(b), precondition=precondition,
                                  tol=1e-6, max_iter=200, backend=bk, sequential=sequential,
                                  callback=None if calls is None else lambda d, t: calls.append(d))

    own = [solve(rhs[c:c + 1], False)[1] for c in range(3)]
    assert len(set(own)) > 1  # the channels do stop at different iterations on their own
    batched = solve(rhs.copy(), False)
    calls = []
    sequential = solve(rhs.copy(), True, calls)
    assert sequential[1] == batched[1] >= max(own)
    assert sequential[2] == batched[2]
    np.testing.assert_array_equal(sequential[0], batched[0])
    reference = np.linalg.solve(matrix, rhs.reshape(3, -1).T).T.reshape(rhs.shape)
    np.testing.assert_allclose(sequential[0], reference, rtol=1e-4, atol=1e-5)
    assert calls == sorted(calls) and calls[-1] == sequential[1]
