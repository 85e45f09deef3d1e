"""napari plugin: a dock widget that deconvolves an image layer with a physical PSF (``deconvkit[napari]``).

The manifest (``napari.yaml``, entry point ``napari.manifest``) contributes one widget,
:class:`~deconvkit.napari._widget.DeconvolveWidget`. Importing this package does not import napari or Qt;
the widget module does, and only napari loads it.
"""

__all__ = ["DeconvolveWidget"]


def __getattr__(name):
    if name == "DeconvolveWidget":
        from ._widget import DeconvolveWidget

        return DeconvolveWidget
    raise AttributeError(name)
