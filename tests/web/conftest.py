"""Shared inputs for the web app's tests: a blurred camera crop encoded as the files a user uploads."""

import pytest

MOTION = "motion:length=9,angle=30"

def blurred(size=128):
    """The camera crop blurred by MOTION ('unknown' boundaries: a real camera's frame)."""
    from skimage import data

    import deconvkit
    from deconvkit import psf

    kernel = psf.parse(MOTION)
    scene = data.camera()[100:100 + size + 12, 100:100 + size + 12] / 255.0
    observed = deconvkit.blur(scene, kernel, boundary="valid")[:size, :size]
    # "valid" output pixel (i, j) is centred on scene pixel (i + k//2, j + k//2)
    top, left = kernel.shape[0] // 2, kernel.shape[1] // 2
    return observed, scene[top:top + size, left:left + size]

@pytest.fixture(scope="session")
def blurred_image():
    return blurred()

@pytest.fixture(scope="session")
def png16(blurred_image):
    from deconvkit import io

    return io.encode_image(blurred_image[0], "png", dtype="uint16")

@pytest.fixture(scope="session")
def make_blurred():
    return blurred
