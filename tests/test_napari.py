"""The napari plugin: its npe2 manifest, the widget's work function without Qt, and the dock widget in a
headless viewer (pytest-qt, QT_QPA_PLATFORM=offscreen). Skipped cleanly without napari/magicgui/Qt."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytestmark = pytest.mark.napari

SPACING = (0.3, 0.1, 0.1)
PSF = "widefield:na=1.2,wavelength=0.52,ni=1.333,size=7/15/15"


def small_volume():
    rng = np.random.default_rng(3)
    volume = np.zeros((10, 32, 32), np.float32)
    volume[tuple(rng.integers([2, 4, 4], [8, 28, 28], size=(6, 3)).T)] = 1.0
    import deconvkit
    from deconvkit.microscopy import microscope_psf

    return deconvkit.blur(volume, microscope_psf(PSF, SPACING), boundary="periodic") + 0.01


def test_manifest_is_valid_and_points_at_the_widget():
    npe2 = pytest.importorskip("npe2")
    pytest.importorskip("magicgui")
    from importlib.resources import files

    manifest = npe2.PluginManifest.from_file(files("deconvkit.napari") / "napari.yaml")
    (command,) = manifest.contributions.commands
    module, _, name = command.python_name.partition(":")
    import importlib

    from deconvkit.napari._widget import DeconvolveWidget

    assert getattr(importlib.import_module(module), name) is DeconvolveWidget
    assert manifest.contributions.widgets[0].command == command.id


def test_work_function_matches_the_library_and_reports_progress():
    pytest.importorskip("magicgui")
    from deconvkit.microscopy import restore
    from deconvkit.napari._widget import deconvolution_steps

    volume = small_volume()
    steps = deconvolution_steps(volume, SPACING, PSF, "richardson_lucy")
    events = []
    try:
        while True:
            events.append(next(steps))
    except StopIteration as stop:
        restored, info = stop.value
    expected, _ = restore(volume, PSF, spacing=SPACING, method="richardson_lucy")
    np.testing.assert_allclose(restored, expected, rtol=1e-5, atol=1e-6)
    assert events and events[-1][0] == info["iterations"]
    assert info["spacing"] == SPACING
    with pytest.raises(Exception, match="spacing"):  # a 2-value scale for a 3-D layer
        list(deconvolution_steps(volume, (0.1, 0.1), PSF))


def test_default_layer_scale_is_not_taken_for_a_voxel_size():
    pytest.importorskip("magicgui")
    from deconvkit import DeconvkitError
    from deconvkit.microscopy import restore
    from deconvkit.napari._widget import deconvolution_steps

    volume = small_volume()
    with pytest.raises(DeconvkitError, match="napari's default.*spacing=dz/dy/dx"):
        list(deconvolution_steps(volume, (1.0, 1.0, 1.0), PSF))
    # a spec with its own spacing needs no layer scale, and that spacing is used
    own = PSF + ",spacing=0.3/0.1/0.1"
    steps = deconvolution_steps(volume, (1.0, 1.0, 1.0), own, "wiener")
    with pytest.raises(StopIteration) as stop:
        while True:
            next(steps)
    expected, _ = restore(volume, PSF, spacing=SPACING, method="wiener")
    np.testing.assert_allclose(stop.value.value[0], expected, rtol=1e-5, atol=1e-6)


def test_widget_in_a_headless_viewer(qtbot):
    """napari's ViewerModel: the real layer list and add_image, without the OpenGL canvas (the offscreen Qt
    platform has no OpenGL, so a full ``napari.Viewer`` cannot draw a layer there). The widget's Qt parts,
    the worker thread and its signals are real."""
    pytest.importorskip("napari")
    pytest.importorskip("pytestqt")
    from napari.components import ViewerModel

    viewer = ViewerModel()
    try:
        from deconvkit.napari._widget import DeconvolveWidget

        layer = viewer.add_image(small_volume(), name="beads", scale=SPACING)
        widget = DeconvolveWidget(viewer)
        assert widget.layer.value is layer
        assert widget.method.value == "auto"
        widget.psf.value = PSF
        widget.method.value = "poisson_rl"
        widget.background.value = 0.01
        qtbot.addWidget(widget.native)
        worker = widget.run()
        qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=120_000)
        result = viewer.layers[-1]
        assert result.name == "beads deconvolved"
        np.testing.assert_allclose(result.scale, layer.scale)
        assert result.data.shape == layer.data.shape
        assert result.metadata["deconvkit"]["method"] == "poisson_rl"
        assert widget.status.value.startswith("done")
        assert widget.progress.value == widget.progress.max
        qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=10_000)
        assert worker is widget.worker
        # a bad spec reports an error line instead of raising into Qt
        widget.psf.value = "widefield:na=9,wavelength=0.52"
        widget.run()
        qtbot.waitUntil(lambda: widget.status.value.startswith("error"), timeout=60_000)
        assert "na" in widget.status.value and len(viewer.layers) == 2
    finally:
        viewer.layers.clear()
