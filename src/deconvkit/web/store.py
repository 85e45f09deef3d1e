"""Uploaded images kept decoded in memory, so a live preview does not re-send a 12 MP file per slider move."""

from __future__ import annotations

import collections
import dataclasses
import threading
import uuid

import numpy as np

__all__ = ["StoredImage", "ImageStore"]


@dataclasses.dataclass
class StoredImage:
    id: str
    image: np.ndarray
    info: object  # deconvkit.io.ImageInfo of the upload
    display: bytes | None = None  # the page's 8-bit PNG, made on first request
    # downscaled copies for whole-image previews, by preview side: reducing 12 MP takes most of a second,
    # which every slider move would otherwise pay again
    reduced: dict = dataclasses.field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return self.image.nbytes


class ImageStore:
    """At most ``max_images`` images and ``max_bytes`` of pixels; the least recently used go first."""

    def __init__(self, max_images: int, max_bytes: int):
        self.max_images = max_images
        self.max_bytes = max_bytes
        self._items: collections.OrderedDict[str, StoredImage] = collections.OrderedDict()
        self._lock = threading.Lock()

    def put(self, image: np.ndarray, info) -> StoredImage:
        item = StoredImage(uuid.uuid4().hex, image, info)
        with self._lock:
            self._items[item.id] = item
            while len(self._items) > 1 and (len(self._items) > self.max_images or
                                            sum(i.nbytes for i in self._items.values()) > self.max_bytes):
                self._items.popitem(last=False)
        return item

    def get(self, image_id: str) -> StoredImage | None:
        with self._lock:
            item = self._items.get(image_id)
            if item is not None:
                self._items.move_to_end(image_id)
            return item

    def __len__(self) -> int:
        return len(self._items)
