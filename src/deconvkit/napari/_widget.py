"""The napari dock widget: pick an image layer, a PSF and a method, run in a worker thread.

The work is :func:`deconvolution_steps`, a generator with no Qt in it (it yields ``(done, total)`` progress
and returns ``(restored, info)``), so it is testable on its own; :class:`DeconvolveWidget` wraps it in
superqt's ``thread_worker`` so the viewer stays responsive, shows the progress and adds the result as a new
layer with the input's scale.
"""

from __future__ import annotations

import queue
import threading

import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSpinBox, Label, LineEdit, ProgressBar, PushButton

from .. import DeconvkitError
from ..microscopy import restore
from ..solvers import available_methods

__all__ = ["DeconvolveWidget", "deconvolution_steps", "DEFAULT_PSF"]

DEFAULT_PSF = "widefield:na=1.4,wavelength=0.52,ni=1.515"


def deconvolution_steps(data, scale, psf_spec: str, method: str = "auto", background: float = 0.0):
    """Deconvolve ``data`` (a layer's array, voxel size ``scale`` in micrometres) step by step.

    Yields ``(done, total)`` as the solver reports progress; returns ``(restored, info)`` (the generator's
    ``StopIteration.value``). The solve runs in a helper thread that posts progress into a queue, because a
    solver reports through a callback and a generator can only yield from its own frame.
    """
    data = np.asarray(data)
    if data.ndim not in (2, 3):
        raise DeconvkitError(f"the layer is {data.ndim}-D; deconvkit restores 2-D images and 3-D stacks")
    scale = tuple(float(s) for s in scale)[-data.ndim:]
    if all(s == 1.0 for s in scale) and _needs_spacing(psf_spec):
        # napari gives every layer scale 1 unless a reader or the user set it: 1 um voxels would build a
        # PSF a few pixels wide and quietly do almost nothing, so say what is missing instead.
        raise DeconvkitError("the layer's scale is napari's default (1 per axis), not a voxel size; set the "
                             "layer's scale to the voxel spacing in micrometres (dz, dy, dx) or add "
                             "spacing=dz/dy/dx to the PSF spec")
    params = {"background": float(background)} if method == "poisson_rl" else {}
    events: queue.Queue = queue.Queue()
    outcome: dict = {}

    def solve():
        try:
            outcome["value"] = restore(data.astype(np.float32, copy=False), psf_spec, spacing=scale,
                                       method=method, progress=lambda done, total: events.put((done, total)),
                                       **params)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            events.put(None)

    worker = threading.Thread(target=solve, name="deconvkit-solve", daemon=True)
    worker.start()
    while (event := events.get()) is not None:
        yield event
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _needs_spacing(psf_spec) -> bool:
    """Whether ``psf_spec`` is a microscope model spec that leaves the spacing to the layer."""
    from ..psf import parse_spec

    spec = parse_spec(psf_spec)
    return spec is not None and any(p.name == "spacing" for p in spec[0].params) and "spacing" not in spec[1]


class DeconvolveWidget(Container):
    """Dock widget: layer, PSF spec (micrometres; the layer's scale is the voxel spacing), method, run.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Given by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.layer = ComboBox(label="image", choices=self._image_layers)
        self.psf = LineEdit(label="PSF", value=DEFAULT_PSF,
                            tooltip="a deconvkit PSF spec; spacing comes from the layer's scale (um)")
        self.method = ComboBox(label="method", choices=list(available_methods()), value="auto")
        self.background = FloatSpinBox(label="background", value=0.0, min=-1e9, max=1e9, step=1.0,
                                       tooltip="camera offset (poisson_rl only), in the layer's units")
        self.run_button = PushButton(text="Deconvolve")
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self.status = Label(label="", value="")
        self.extend([self.layer, self.psf, self.method, self.background, self.run_button, self.progress,
                     self.status])
        self.run_button.changed.connect(self.run)
        self.worker = None
        events = getattr(getattr(napari_viewer, "layers", None), "events", None)
        if events is not None:  # keep the layer list current
            for event in ("inserted", "removed"):
                getattr(events, event).connect(lambda *_: self.layer.reset_choices())

    def _image_layers(self, _widget=None):
        layers = getattr(self.viewer, "layers", [])
        return [layer for layer in layers if type(layer).__name__ == "Image"]

    def run(self, *_):
        """Start the deconvolution of the chosen layer in a worker thread; returns the worker."""
        from superqt.utils import thread_worker

        layer = self.layer.value
        if layer is None:
            self.status.value = "error: no image layer"
            return None
        self.run_button.enabled = False
        self.status.value = "running"
        self.progress.value = 0
        # errors go to the status line (errored below), not re-raised into the Qt event loop
        steps = thread_worker(deconvolution_steps, start_thread=False, ignore_errors=True)
        worker = steps(layer.data, layer.scale, self.psf.value, self.method.value, self.background.value)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(lambda result, layer=layer: self._on_done(layer, result))
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: setattr(self.run_button, "enabled", True))
        self.worker = worker
        worker.start()
        return worker

    def _on_progress(self, event):
        done, total = event
        self.progress.max = max(int(total), 1)
        self.progress.value = min(int(done), self.progress.max)

    def _on_done(self, layer, result):
        restored, info = result
        self.progress.value = self.progress.max
        stop = f", stopped by {info['stop_rule']}" if "stop_rule" in info else ""
        self.status.value = f"done: {info.get('method')} in {info.get('iterations', 1)} iterations{stop}"
        self.viewer.add_image(restored, name=f"{layer.name} deconvolved", scale=layer.scale,
                              translate=layer.translate, metadata={"deconvkit": info})

    def _on_error(self, exc):
        self.status.value = f"error: {exc}"
