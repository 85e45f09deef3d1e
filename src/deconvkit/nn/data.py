"""Segmentation data: a seeded synthetic set generated on the fly, and a PASCAL-VOC-layout loader.

The synthetic set is built so that *upsampling detail matters*: besides textured blobs it has thin lines
(1-2.5 px wide) and sharp polygon boundaries, which a decoder that predicts at 1/8 resolution and
upsamples with a fixed rule cannot localise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .._shared import DeconvkitError

__all__ = ["SyntheticShapes", "VOCSegmentation", "SYNTHETIC_CLASSES", "IGNORE_INDEX"]

#: Label of pixels that the loss and the metrics skip (the PASCAL VOC convention for object borders).
IGNORE_INDEX = 255

SYNTHETIC_CLASSES = ("background", "ellipse", "rectangle", "triangle", "line")

# Mean colour and stripe frequency (cycles per pixel) of each class. The colours overlap once jitter and
# noise are added, so the texture and the shape are needed too, not just a colour lookup.
_PALETTE = np.array([[0.45, 0.45, 0.45], [0.85, 0.30, 0.25], [0.25, 0.70, 0.35], [0.30, 0.35, 0.85],
                     [0.95, 0.90, 0.30]])
_STRIPE_FREQUENCY = (0.05, 0.12, 0.20, 0.30, 0.0)
_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


def _stripes(rng, yy, xx, frequency):
    angle = rng.uniform(0, np.pi)
    phase = rng.uniform(0, 2 * np.pi)
    return np.sin(2 * np.pi * frequency * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)


def _rotated_frame(rng, yy, xx, size, half_axes):
    """Coordinates (u, v) of the pixel grid in a randomly placed and rotated frame, and its half axes."""
    cy, cx = rng.uniform(0.1, 0.9, 2) * size
    a, b = rng.uniform(*half_axes, 2) * size
    angle = rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    return u, v, a, b


def _ellipse(rng, yy, xx, size):
    u, v, a, b = _rotated_frame(rng, yy, xx, size, (0.06, 0.2))
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def _rectangle(rng, yy, xx, size):
    u, v, a, b = _rotated_frame(rng, yy, xx, size, (0.05, 0.18))
    return (np.abs(u) <= a) & (np.abs(v) <= b)


def _triangle(rng, yy, xx, size):
    centre = rng.uniform(0.15, 0.85, 2) * size
    radius = rng.uniform(0.08, 0.22) * size
    angles = np.sort(rng.uniform(0, 2 * np.pi, 3))
    angles[1] = max(angles[1], angles[0] + 0.8)  # avoid needle-thin triangles
    angles[2] = max(angles[2], angles[1] + 0.8)
    corners = centre + radius * np.stack([np.sin(angles), np.cos(angles)], axis=1)  # (y, x)
    signs = []
    for i in range(3):
        (y0, x0), (y1, x1) = corners[i], corners[(i + 1) % 3]
        signs.append((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0))
    return (((signs[0] >= 0) & (signs[1] >= 0) & (signs[2] >= 0))
            | ((signs[0] <= 0) & (signs[1] <= 0) & (signs[2] <= 0)))


def _line(rng, yy, xx, size):
    start = rng.uniform(0, 1, 2) * size
    angle = rng.uniform(0, 2 * np.pi)
    length = rng.uniform(0.3, 0.9) * size
    end = start + length * np.array([np.sin(angle), np.cos(angle)])
    width = rng.uniform(1.0, 2.5)
    direction = (end - start) / length
    rel_y, rel_x = yy - start[0], xx - start[1]
    t = np.clip(rel_y * direction[0] + rel_x * direction[1], 0, length)
    distance = np.hypot(rel_y - t * direction[0], rel_x - t * direction[1])
    return distance <= width / 2


_SHAPES = (None, _ellipse, _rectangle, _triangle, _line)


class SyntheticShapes(Dataset):
    """Seeded synthetic segmentation images, generated on the fly (no download).

    Each image has a textured, shaded background, 2-5 textured shapes (ellipses, rectangles, triangles)
    and 1-3 thin lines, drawn in random order so that they occlude each other, plus Gaussian noise.
    Classes are :data:`SYNTHETIC_CLASSES` (0 = background).

    Parameters
    ----------
    size : int
        Number of images.
    image_size : int
        Side of the square images (>= 32; the default 96 is the smallest used in the tests/benchmarks).
    seed : int
        Images depend only on ``(seed, split, index)``, so a set is reproducible and splits are disjoint.
    split : {"train", "val", "test"}
    noise : float
        Standard deviation of the additive Gaussian noise.

    Items are ``(image, label)``: float32 tensor (3, H, W) and int64 tensor (H, W).
    """

    num_classes = len(SYNTHETIC_CLASSES)
    class_names = SYNTHETIC_CLASSES

    def __init__(self, size: int, image_size: int = 96, seed: int = 0, split: str = "train",
                 noise: float = 0.08):
        if isinstance(size, bool) or int(size) != size or size < 1:
            raise DeconvkitError(f"size must be a positive integer, got {size!r}")
        if isinstance(image_size, bool) or int(image_size) != image_size or image_size < 32:
            raise DeconvkitError(f"image_size must be an integer >= 32, got {image_size!r}")
        if split not in _SPLIT_CODES:
            raise DeconvkitError(f"split must be one of {', '.join(_SPLIT_CODES)}, got {split!r}")
        if not noise >= 0:
            raise DeconvkitError(f"noise must be >= 0, got {noise!r}")
        self.size = int(size)
        self.image_size = int(image_size)
        self.seed = int(seed)
        self.split = split
        self.noise = float(noise)

    def __len__(self) -> int:
        return self.size

    def generate(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Image (3, H, W) float32 and label (H, W) int64 as NumPy arrays."""
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} images")
        rng = np.random.default_rng([self.seed, _SPLIT_CODES[self.split], index])
        n = self.image_size
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
        shading = 1 + 0.25 * ((yy / n - 0.5) * rng.normal() + (xx / n - 0.5) * rng.normal())
        image = (_PALETTE[0] + rng.uniform(-0.1, 0.1, 3))[:, None, None] * shading
        image = image + 0.1 * _stripes(rng, yy, xx, _STRIPE_FREQUENCY[0])
        label = np.zeros((n, n), dtype=np.int64)
        classes = [int(c) for c in rng.integers(1, 4, rng.integers(2, 6))] + [4] * int(rng.integers(1, 4))
        for cls in rng.permutation(classes):
            mask = _SHAPES[cls](rng, yy, xx, n)
            colour = _PALETTE[cls] + rng.uniform(-0.12, 0.12, 3)
            texture = 0.12 * _stripes(rng, yy, xx, _STRIPE_FREQUENCY[cls]) if _STRIPE_FREQUENCY[cls] else 0.0
            image = np.where(mask, colour[:, None, None] + texture, image)
            label[mask] = cls
        image = image + rng.normal(0, self.noise, image.shape)
        return image.astype(np.float32), label

    def __getitem__(self, index: int):
        image, label = self.generate(int(index))
        return torch.from_numpy(image), torch.from_numpy(label)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole set as two stacked tensors (N, 3, H, W) and (N, H, W)."""
        items = [self.generate(i) for i in range(self.size)]
        return (torch.from_numpy(np.stack([image for image, _ in items])),
                torch.from_numpy(np.stack([label for _, label in items])))


# ImageNet statistics: the usual normalisation for natural photographs.
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]


class VOCSegmentation(Dataset):
    """A PASCAL-VOC-layout segmentation directory.

    Layout: ``JPEGImages/<id>.jpg``, ``SegmentationClass/<id>.png`` (palette PNG whose pixel values are
    class indices; 255 = ignore) and ``ImageSets/Segmentation/<split>.txt`` (one id per line).

    Parameters
    ----------
    root : path
        The directory holding the three sub-directories (e.g. ``VOCdevkit/VOC2012``).
    split : str
        Name of the id list in ``ImageSets/Segmentation``, e.g. "train" or "val".
    crop_size : int, optional
        Square size of every item: images are padded (label 255 in the padding) and cropped, at a random
        position for ``random_crop=True`` (seeded by ``seed``, the epoch from :meth:`set_epoch` and the
        index) and centred otherwise. ``None`` returns full images (then use batch size 1).
    num_classes : int
        Labels must be below this or equal to 255. Default 21 (PASCAL VOC).
    """

    def __init__(self, root, split: str = "train", crop_size: int | None = None, random_crop: bool = False,
                 seed: int = 0, num_classes: int = 21):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"data directory {str(self.root)!r} does not exist")
        list_file = self.root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not list_file.is_file():
            raise FileNotFoundError(f"{str(list_file)!r} not found: --data must point at a PASCAL-VOC-layout "
                                    "directory (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/)")
        self.ids = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
        if not self.ids:
            raise DeconvkitError(f"{str(list_file)!r} lists no images")
        if crop_size is not None and (int(crop_size) != crop_size or crop_size < 1):
            raise DeconvkitError(f"crop_size must be a positive integer or None, got {crop_size!r}")
        self.split = split
        self.crop_size = None if crop_size is None else int(crop_size)
        self.random_crop = bool(random_crop)
        self.seed = int(seed)
        self.num_classes = int(num_classes)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.ids)

    def set_epoch(self, epoch: int) -> None:
        """Change the random crops (they depend on the epoch so every epoch sees different ones)."""
        self.epoch = int(epoch)

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image

        name = self.ids[index]
        image_path = self.root / "JPEGImages" / f"{name}.jpg"
        label_path = self.root / "SegmentationClass" / f"{name}.png"
        with Image.open(image_path) as img:
            image = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        with Image.open(label_path) as lab:
            if lab.mode not in ("P", "L"):
                raise DeconvkitError(f"{str(label_path)!r} has mode {lab.mode}; class masks must be palette "
                                     "(P) or greyscale (L) PNGs whose values are class indices")
            label = np.asarray(lab, dtype=np.int64)
        if image.shape[:2] != label.shape:
            raise DeconvkitError(f"image {name!r} is {image.shape[:2]} but its mask is {label.shape}")
        bad = (label >= self.num_classes) & (label != IGNORE_INDEX)
        if bad.any():
            raise DeconvkitError(f"mask {str(label_path)!r} has label {int(label[bad][0])}; allowed are "
                                 f"0..{self.num_classes - 1} and {IGNORE_INDEX} (ignore)")
        return ((image.transpose(2, 0, 1) - _MEAN) / _STD).astype(np.float32), label

    def _crop(self, index: int, image: np.ndarray, label: np.ndarray):
        size = self.crop_size
        pad_h, pad_w = max(size - label.shape[0], 0), max(size - label.shape[1], 0)
        if pad_h or pad_w:
            image = np.pad(image, ((0, 0), (0, pad_h), (0, pad_w)))
            label = np.pad(label, ((0, pad_h), (0, pad_w)), constant_values=IGNORE_INDEX)
        spare_h, spare_w = label.shape[0] - size, label.shape[1] - size
        if self.random_crop:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            top, left = int(rng.integers(0, spare_h + 1)), int(rng.integers(0, spare_w + 1))
        else:
            top, left = spare_h // 2, spare_w // 2
        return image[:, top:top + size, left:left + size], label[top:top + size, left:left + size]

    def __getitem__(self, index: int):
        image, label = self._read(int(index))
        if self.crop_size is not None:
            image, label = self._crop(int(index), image, label)
        return torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(np.ascontiguousarray(label))
