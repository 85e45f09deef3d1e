import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LEVIN = SHARED / "data" / "levin09"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def camera():
    from skimage import data

    return data.camera().astype(np.float64) / 255.0


@pytest.fixture(scope="session")
def levin_dir():
    if not (LEVIN / "psfs.npz").exists():
        pytest.skip(f"Levin 2009 reference data not found at {LEVIN} (see ../shared/README.md)")
    return LEVIN


os.environ.setdefault("MPLBACKEND", "Agg")
