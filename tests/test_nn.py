"""Tests for deconvkit.nn: upsampling blocks against independent references, model shapes, data, training
(the train-segmentation CLI is tested in test_cli_train_segmentation.py)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from deconvkit import DeconvkitError  # noqa: E402
from deconvkit.nn import (  # noqa: E402
    DECODERS,
    BilinearConvTranspose2d,
    DeconvNet,
    FixedUpsample,
    PixelShuffleUp,
    SwitchMaxPool2d,
    SwitchMaxUnpool2d,
    SyntheticShapes,
    TrainConfig,
    VOCSegmentation,
    bilinear_init,
    bilinear_kernel,
    confusion_matrix,
    segmentation_scores,
    train_segmentation,
)

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(1234)


def _numpy_unpool(pooled, window_argmax, out_shape, k=2):
    """Independent scatter: put each pooled value at the (row, col) recorded for its window."""
    out = np.zeros(out_shape, dtype=pooled.dtype)
    n, c, ph, pw = pooled.shape
    for b in range(n):
        for ch in range(c):
            for i in range(ph):
                for j in range(pw):
                    r, s = window_argmax[b, ch, i, j]
                    out[b, ch, r, s] = pooled[b, ch, i, j]
    return out


def _numpy_window_argmax(x, k=2):
    """(row, col) of the maximum of every non-overlapping k x k window (floor semantics), by brute force."""
    n, c, h, w = x.shape
    result = np.zeros((n, c, h // k, w // k, 2), dtype=int)
    for i in range(h // k):
        for j in range(w // k):
            window = x[:, :, i * k:(i + 1) * k, j * k:(j + 1) * k].reshape(n, c, -1)
            flat = window.argmax(-1)
            result[:, :, i, j, 0] = i * k + flat // k
            result[:, :, i, j, 1] = j * k + flat % k
    return result


def _numpy_bn_relu(y, bn):
    """Eval-mode BatchNorm + ReLU written out from the definition."""
    mean = bn.running_mean.numpy()[None, :, None, None]
    var = bn.running_var.numpy()[None, :, None, None]
    gamma = bn.weight.detach().numpy()[None, :, None, None]
    beta = bn.bias.detach().numpy()[None, :, None, None]
    return np.maximum((y - mean) / np.sqrt(var + bn.eps) * gamma + beta, 0)


def _randomise_batchnorm(module):
    with torch.no_grad():
        for bn in module.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_mean.normal_()
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.normal_()
                bn.bias.normal_()


# -------------------------------------------------------------------------------------------------- unpooling

@pytest.mark.parametrize("shape", [(2, 3, 8, 10), (1, 2, 7, 9)])
def test_unpooling_puts_values_back_at_the_switch_locations(shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    pooled, indices = SwitchMaxPool2d(2)(torch.from_numpy(x))
    argmax = _numpy_window_argmax(x)
    assert np.array_equal(pooled.numpy(), np.take_along_axis(
        x.reshape(*shape[:2], -1), (argmax[..., 0] * shape[3] + argmax[..., 1]).reshape(*shape[:2], -1),
        -1).reshape(pooled.shape))
    restored = SwitchMaxUnpool2d(2)(pooled, indices, output_size=shape[-2:]).numpy()
    assert restored.shape == shape
    assert np.array_equal(restored, _numpy_unpool(pooled.numpy(), argmax, shape))
    # Every maximum is back where it came from, and nothing else survived.
    assert np.count_nonzero(restored) == pooled.numel()


def test_zero_fill_puts_values_top_left_and_nearest_replicates():
    x = torch.from_numpy(RNG.standard_normal((1, 2, 3, 4)).astype(np.float32))
    zero = FixedUpsample(4, "zero-fill")(x, output_size=(13, 15)).numpy()
    expected = np.zeros((1, 2, 13, 15), np.float32)
    expected[:, :, 0:12:4, 0:16:4] = x.numpy()
    assert np.array_equal(zero, expected)
    nearest = FixedUpsample(2, "nearest")(x, output_size=(6, 8)).numpy()
    assert np.array_equal(nearest, np.repeat(np.repeat(x.numpy(), 2, axis=2), 2, axis=3))


# ---------------------------------------------------------------------------------------- bilinear transposed conv

@pytest.mark.parametrize("factor", [2, 3, 4])
def test_bilinear_init_equals_bilinear_interpolation_in_the_interior(factor):
    channels = 3
    layer = nn.ConvTranspose2d(channels, channels, 2 * factor - factor % 2, stride=factor, padding=factor // 2,
                               bias=False)
    bilinear_init(layer)
    x = torch.from_numpy(RNG.standard_normal((2, channels, 9, 11)).astype(np.float32))
    with torch.no_grad():
        learned = layer(x)
    reference = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert learned.shape == reference.shape == (2, channels, 9 * factor, 11 * factor)
    # The borders differ (zero padding vs. edge clamping); one input pixel of margin is the interior.
    interior = (slice(None), slice(None), slice(factor, -factor), slice(factor, -factor))
    np.testing.assert_allclose(learned[interior].numpy(), reference[interior].numpy(), atol=1e-5)


def test_bilinear_kernel_is_the_separable_tent():
    # Factor 2: taps at distances 1.5, 0.5, 0.5, 1.5 from the centre, weight 1 - d / 2.
    tent = np.array([0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(bilinear_kernel(2), np.outer(tent, tent))
    assert bilinear_kernel(3).shape == (5, 5) and bilinear_kernel(3)[2, 2] == 1


def test_bilinear_init_depthwise_and_bad_layers():
    depthwise = bilinear_init(nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=4, bias=False))
    x = torch.from_numpy(RNG.standard_normal((1, 4, 6, 6)).astype(np.float32))
    full = bilinear_init(nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, bias=False))
    with torch.no_grad():
        np.testing.assert_allclose(depthwise(x).numpy(), full(x).numpy(), atol=1e-6)
    with pytest.raises(DeconvkitError, match="kernel_size"):
        bilinear_init(nn.ConvTranspose2d(2, 2, 3, stride=2))
    with pytest.raises(DeconvkitError, match="layer must be"):
        bilinear_init(nn.Conv2d(2, 2, 4))


# --------------------------------------------------------------------- parity with deconvkit.transposed (NumPy)

@pytest.fixture
def conv_transpose():
    try:
        from deconvkit.transposed import conv_transpose
    except ImportError as exc:  # pragma: no cover - only while the NumPy module is being written
        pytest.skip(f"deconvkit.transposed not importable yet: {exc}")
    return conv_transpose


@pytest.mark.parametrize("factor,out_size", [(2, (14, 17)), (3, (21, 21))])
def test_fcn_bilinear_block_matches_numpy_conv_transpose(conv_transpose, factor, out_size):
    block = BilinearConvTranspose2d(3, 5, factor=factor, bias=True)  # not square: random weights
    with torch.no_grad():
        block.deconv.weight.normal_()
        block.deconv.bias.normal_()
    x = RNG.standard_normal((2, 3, 7, 7)).astype(np.float32)
    with torch.no_grad():
        got = block(torch.from_numpy(x), output_size=out_size).numpy()
    weight = block.deconv.weight.detach().numpy().astype(np.float64)
    full = conv_transpose(x.astype(np.float64), weight, block.deconv.bias.detach().numpy().astype(np.float64),
                          stride=factor, padding=factor // 2)
    expected = np.zeros((2, 5) + out_size)
    rows, cols = min(out_size[0], full.shape[2]), min(out_size[1], full.shape[3])
    expected[:, :, :rows, :cols] = full[:, :, :rows, :cols]  # fit: crop, or zero-pad bottom/right
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_deconvnet_decoder_stage_matches_numpy_unpool_and_conv_transpose(conv_transpose):
    model = DeconvNet(4, decoder="deconvnet", widths=(4, 6), convs_per_stage=(1, 2)).eval()
    _randomise_batchnorm(model)
    stage = model.decoder[0]  # mirrors the deepest encoder stage: unpool + 2 transposed convs
    x = RNG.standard_normal((2, 6, 10, 9)).astype(np.float32)
    pooled, indices = F.max_pool2d(torch.from_numpy(x), 2, 2, return_indices=True)
    with torch.no_grad():
        got = stage(pooled, indices, x.shape[-2:]).numpy()
    expected = _numpy_unpool(pooled.numpy(), _numpy_window_argmax(x), x.shape).astype(np.float64)
    for layer in stage.refine:
        deconv, bn = layer[0], layer[1]
        assert isinstance(deconv, nn.ConvTranspose2d)
        expected = conv_transpose(expected, deconv.weight.detach().numpy().astype(np.float64), padding=1)
        expected = _numpy_bn_relu(expected, bn)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------- other blocks and model

def test_pixel_shuffle_starts_without_checkerboard():
    layer = PixelShuffleUp(3, 4, factor=2)
    x = torch.from_numpy(RNG.standard_normal((1, 3, 5, 6)).astype(np.float32))
    with torch.no_grad():
        out = layer(x).numpy()
    assert out.shape == (1, 4, 10, 12)
    # ICNR: the four sub-pixels of every 2x2 block start equal (= nearest upsampling of one convolution).
    for dy in (0, 1):
        for dx in (0, 1):
            np.testing.assert_allclose(out[..., dy::2, dx::2], out[..., 0::2, 0::2], atol=1e-6)


@pytest.mark.parametrize("decoder", DECODERS)
def test_shapes_through_every_decoder(decoder):
    model = DeconvNet(5, decoder=decoder, preset="tiny")
    for shape in [(2, 3, 48, 40), (1, 3, 37, 29)]:  # divisible and odd sizes
        out = model(torch.randn(*shape))
        assert out.shape == (shape[0], 5, *shape[2:])
    custom = DeconvNet(3, in_channels=1, decoder=decoder, widths=(4, 8, 8, 16), convs_per_stage=1)
    assert custom(torch.randn(1, 1, 33, 35)).shape == (1, 3, 33, 35)


def test_vgg16_preset_shape_and_bad_arguments():
    vgg = DeconvNet(21, decoder="deconvnet")
    convs = [m for m in vgg.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    with pytest.raises(DeconvkitError, match="decoder must be one of"):
        DeconvNet(3, decoder="bicubic")
    with pytest.raises(DeconvkitError, match="smaller than"):
        DeconvNet(3, preset="tiny")(torch.randn(1, 3, 6, 6))


def test_fixed_and_switch_decoders_have_the_same_parameter_count():
    counts = {d: sum(p.numel() for p in DeconvNet(5, decoder=d, preset="small").parameters())
              for d in ("deconvnet", "nearest", "zero-fill")}
    assert len(set(counts.values())) == 1, counts


def test_tiny_overfit_reduces_the_loss():
    torch.manual_seed(0)
    images, labels = SyntheticShapes(2, 32, seed=3).tensors()
    model = DeconvNet(5, decoder="fcn-bilinear", preset="tiny")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


# --------------------------------------------------------------------------------------------------------- data

def test_synthetic_set_is_seeded_and_has_every_class():
    a = SyntheticShapes(6, 96, seed=5)
    image, label = a[2]
    assert image.shape == (3, 96, 96) and image.dtype == torch.float32 and label.dtype == torch.int64
    again = SyntheticShapes(6, 96, seed=5)[2]
    assert torch.equal(image, again[0]) and torch.equal(label, again[1])
    assert not torch.equal(label, SyntheticShapes(6, 96, seed=5, split="val")[2][1])
    assert not torch.equal(label, SyntheticShapes(6, 96, seed=6)[2][1])
    labels = a.tensors()[1]
    assert set(torch.unique(labels).tolist()) == set(range(SyntheticShapes.num_classes))
    with pytest.raises(DeconvkitError, match="image_size"):
        SyntheticShapes(2, 16)


def _write_voc(root, sizes, num_classes=3):
    from PIL import Image

    rng = np.random.default_rng(0)
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    masks = {}
    for index, (h, w) in enumerate(sizes):
        name = f"2007_{index:06d}"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{name}.jpg")
        mask = rng.integers(0, num_classes, (h, w)).astype(np.uint8)
        mask[0, :] = 255  # object-border "ignore" pixels
        palette_png = Image.fromarray(mask, mode="P")
        palette_png.putpalette([v for c in range(256) for v in (c, 255 - c, (7 * c) % 256)])
        palette_png.save(root / "SegmentationClass" / f"{name}.png")
        masks[name] = mask
    names = list(masks)
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(names[:-1]) + "\n")
    (root / "ImageSets/Segmentation/val.txt").write_text(names[-1] + "\n")
    return masks


def test_voc_loader_reads_palette_indices_and_pads_with_ignore(tmp_path):
    masks = _write_voc(tmp_path, [(30, 40), (36, 36), (20, 50)])
    full = VOCSegmentation(tmp_path, "train", num_classes=3)
    assert len(full) == 2
    image, label = full[0]
    assert image.shape == (3, 30, 40) and np.array_equal(label.numpy(), masks["2007_000000"])
    cropped = VOCSegmentation(tmp_path, "val", crop_size=32, num_classes=3)
    image, label = cropped[0]
    assert image.shape == (3, 32, 32)
    # 20 rows padded to 32 with the ignore label; 50 columns centre-cropped to 32 (offset 9).
    assert np.array_equal(label.numpy()[:20], masks["2007_000002"][:, 9:41])
    assert (label.numpy()[20:] == 255).all() and (image.numpy()[:, 20:] == 0).all()
    with pytest.raises(FileNotFoundError, match="PASCAL-VOC-layout"):
        VOCSegmentation(tmp_path, "test")
    with pytest.raises(DeconvkitError, match="has label 2"):
        VOCSegmentation(tmp_path, "train", num_classes=2)[1]


# ------------------------------------------------------------------------------------------------ metrics/train

def test_scores_from_a_hand_computed_confusion():
    target = torch.tensor([[0, 0, 1, 1, 255, 2]])
    prediction = torch.tensor([[0, 1, 1, 1, 0, 0]])
    confusion = confusion_matrix(prediction, target, 3)
    assert confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    scores = segmentation_scores(confusion)
    # IoU: class 0: 1 / (2 + 2 - 1); class 1: 2 / (3 + 2 - 2); class 2: 0 / 1.
    assert scores["per_class_iou"] == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert scores["miou"] == pytest.approx(1 / 3)
    assert scores["pixel_accuracy"] == pytest.approx(3 / 5)


def test_resumed_training_continues_exactly_like_an_uninterrupted_run(tmp_path):
    config = dict(decoder="deconvnet", preset="tiny", image_size=32, train_size=8, val_size=4, batch_size=4)
    straight = train_segmentation(TrainConfig(epochs=2, **config), out_dir=tmp_path / "a")
    interrupted = train_segmentation(TrainConfig(epochs=2, **config), out_dir=tmp_path / "b", stop_after=1)
    assert interrupted["epochs_run"] == 1
    resumed = train_segmentation(TrainConfig(epochs=2, **config), out_dir=tmp_path / "b", resume=True)
    assert resumed["epochs_run"] == 1 and len(resumed["history"]) == 2
    np.testing.assert_allclose(resumed["history"], straight["history"], rtol=1e-5)
    for key, value in straight["model"].state_dict().items():
        torch.testing.assert_close(resumed["model"].state_dict()[key], value, rtol=1e-4, atol=1e-5)
    with pytest.raises(DeconvkitError, match="cannot resume: seed=1"):
        train_segmentation(TrainConfig(epochs=3, seed=1, **config), out_dir=tmp_path / "b", resume=True)
