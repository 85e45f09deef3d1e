"""Training, checkpointing and evaluation for :class:`~deconvkit.nn.model.DeconvNet`.

Training is reproducible: the model initialisation depends on ``seed`` and the batch order of epoch ``e``
on ``(seed, e)`` only, so a run resumed from the checkpoint of epoch ``e`` continues exactly as the
uninterrupted run would (on the same device and thread count).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .._shared import DeconvkitError
from .config import TrainConfig
from .data import IGNORE_INDEX, SyntheticShapes, VOCSegmentation
from .model import DeconvNet

__all__ = ["TrainConfig", "train_segmentation", "evaluate", "confusion_matrix", "segmentation_scores",
           "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
_CHECKPOINT_VERSION = 1
# Settings that may differ between a run and its resumption; all others must match the checkpoint.
_RESUMABLE_CHANGES = ("epochs", "device")


def _datasets(config: TrainConfig):
    if config.data is None:
        train = SyntheticShapes(config.train_size, config.image_size, config.seed, "train")
        val = SyntheticShapes(config.val_size, config.image_size, config.seed, "val")
        # Materialised once: generation is cheap but not free, and the same images are seen every epoch.
        return TensorDataset(*train.tensors()), TensorDataset(*val.tensors()), train.num_classes
    num_classes = config.num_classes or 21
    train = VOCSegmentation(config.data, "train", config.image_size, random_crop=True, seed=config.seed,
                            num_classes=num_classes)
    val = VOCSegmentation(config.data, "val", config.image_size, num_classes=num_classes)
    return train, val, num_classes


def _class_weights(dataset, num_classes: int) -> torch.Tensor:
    """Loss weights ``1 / sqrt(frequency)``, normalised to a pixel-weighted mean of 1.

    Thin structures are ~1 % of the pixels; without reweighting a short training run learns to ignore
    them, and they are exactly where the decoders differ. The square root keeps rare classes from
    dominating (full inverse frequency makes the background noisy).
    """
    counts = torch.zeros(num_classes, dtype=torch.float64)
    labels = dataset.tensors[1] if isinstance(dataset, TensorDataset) else (label for _, label in dataset)
    for label in labels:
        label = label[label != IGNORE_INDEX]
        counts += torch.bincount(label.reshape(-1), minlength=num_classes)[:num_classes].double()
    frequency = counts / counts.sum().clamp(min=1)
    weight = torch.where(frequency > 0, frequency.clamp(min=1e-12).rsqrt(), torch.zeros_like(frequency))
    return (weight / (weight * frequency).sum()).float()


def confusion_matrix(prediction: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts ``C[true, predicted]`` over pixels whose target is not :data:`IGNORE_INDEX`."""
    valid = target != IGNORE_INDEX
    index = target[valid].long() * num_classes + prediction[valid].long()
    return torch.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes).cpu()


def segmentation_scores(confusion: torch.Tensor) -> dict:
    """Mean IoU, pixel accuracy and per-class IoU from a confusion matrix.

    The mean IoU averages over the classes that occur in the target or the prediction (a class absent
    from both has no defined IoU and is reported as ``None``).
    """
    confusion = confusion.double()
    true_positive = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    per_class = [float(tp / u) if u > 0 else None for tp, u in zip(true_positive, union)]
    defined = [v for v in per_class if v is not None]
    total = float(confusion.sum())
    return {
        "miou": sum(defined) / len(defined) if defined else float("nan"),
        "pixel_accuracy": float(true_positive.sum()) / total if total else float("nan"),
        "per_class_iou": per_class,
    }


@torch.no_grad()
def evaluate(model: nn.Module, dataset, num_classes: int, device="cpu", batch_size: int = 16) -> dict:
    """Scores (see :func:`segmentation_scores`) of ``model`` in eval mode over ``dataset``."""
    model.eval()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for images, labels in DataLoader(dataset, batch_size=batch_size):
        prediction = model(images.to(device)).argmax(1)
        confusion += confusion_matrix(prediction, labels.to(device), num_classes)
    return segmentation_scores(confusion)


def _save_checkpoint(path: Path, state: dict) -> None:
    # Write-then-rename so that an interrupted save never leaves a truncated checkpoint behind.
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, config: TrainConfig) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint {str(path)!r} to resume from")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("version") != _CHECKPOINT_VERSION:
        raise DeconvkitError(f"checkpoint {str(path)!r} has version {state.get('version')!r}, "
                             f"expected {_CHECKPOINT_VERSION}")
    saved = state["config"]
    for key, value in dataclasses.asdict(config).items():
        if key not in _RESUMABLE_CHANGES and saved.get(key) != value:
            raise DeconvkitError(f"cannot resume: {key}={value!r} but the checkpoint was trained with "
                                 f"{key}={saved.get(key)!r}")
    return state


def train_segmentation(config: TrainConfig, out_dir=None, resume: bool = False, progress: bool = False,
                       log=None, stop_after: int | None = None) -> dict:
    """Train a :class:`DeconvNet` for ``config.epochs`` epochs and score it on the held-out split.

    Parameters
    ----------
    config : TrainConfig
    out_dir : path, optional
        Where ``checkpoint.pt`` is written after every epoch (model, optimiser, epoch, history, config).
    resume : bool
        Continue from ``out_dir/checkpoint.pt`` up to ``config.epochs`` (which may be larger than the
        checkpoint's); every other setting must match the checkpoint.
    progress : bool
        Show a tqdm progress bar on stderr.
    log : callable, optional
        Called with one line of text per epoch.
    stop_after : int, optional
        Train at most this many epochs in this call (then evaluate), e.g. to split a run over several
        sessions; ``resume=True`` later continues it exactly. The learning-rate schedule always spans
        ``config.epochs``, so raising ``epochs`` on resume changes the schedule from then on.

    Returns
    -------
    dict
        ``miou``, ``pixel_accuracy``, ``per_class_iou`` on the held-out split, plus ``history`` (mean
        training loss per epoch), ``epochs_run`` (in this call), ``train_seconds``, ``parameters``,
        ``checkpoint`` (path or None) and the config.
    """
    run = _set_up(config, out_dir, resume)
    end_epoch = config.epochs if stop_after is None else min(config.epochs, run.start_epoch + int(stop_after))
    from tqdm.auto import tqdm

    bar = tqdm(total=max(end_epoch - run.start_epoch, 0) * run.steps_per_epoch, disable=not progress,
               desc=f"train {config.decoder}", unit="step", file=sys.stderr, leave=False)
    start_time = time.perf_counter()
    for epoch in range(run.start_epoch, end_epoch):
        run.history.append(_train_epoch(run, epoch, bar))
        if log is not None:
            log(f"epoch {epoch + 1}/{config.epochs}: loss {run.history[-1]:.4f}")
        if run.checkpoint_path is not None:
            _save_checkpoint(run.checkpoint_path, {
                "version": _CHECKPOINT_VERSION, "epoch": epoch + 1, "config": dataclasses.asdict(config),
                "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                "history": run.history})
    bar.close()
    train_seconds = time.perf_counter() - start_time
    scores = evaluate(run.model, run.val_set, run.num_classes, run.device, config.batch_size)
    return {**scores, "history": run.history, "epochs_run": max(end_epoch - run.start_epoch, 0),
            "train_seconds": train_seconds, "parameters": sum(p.numel() for p in run.model.parameters()),
            "checkpoint": None if run.checkpoint_path is None else str(run.checkpoint_path),
            "config": dataclasses.asdict(config), "model": run.model}


@dataclasses.dataclass
class _Run:
    """Everything one training run carries from epoch to epoch (built by :func:`_set_up`)."""

    config: TrainConfig
    device: torch.device
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    train_set: object
    val_set: object
    num_classes: int
    steps_per_epoch: int
    total_steps: int
    history: list
    start_epoch: int = 0
    checkpoint_path: Path | None = None


def _set_up(config: TrainConfig, out_dir, resume: bool) -> _Run:
    """Data, model, optimiser and loss; restored from the checkpoint when resuming.

    The order of the seeded steps (seed, data, model initialisation) is part of the reproducibility
    promise: changing it changes every result.
    """
    config.validate()
    if resume and out_dir is None:
        raise DeconvkitError("resume=True needs out_dir (the directory holding the checkpoint)")
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    train_set, val_set, num_classes = _datasets(config)
    model = DeconvNet(num_classes, 3, decoder=config.decoder, preset=config.preset).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    weight = _class_weights(train_set, num_classes).to(device) if config.balance_classes else None
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    run = _Run(config, device, model, optimizer, nn.CrossEntropyLoss(weight=weight, ignore_index=IGNORE_INDEX),
               train_set, val_set, num_classes, steps_per_epoch,
               # one-cycle cosine decay over the whole run; a function of the global step, so resuming keeps it
               total_steps=max(config.epochs * steps_per_epoch, 1), history=[])
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        run.checkpoint_path = out_dir / CHECKPOINT_NAME
        if resume:
            state = _load_checkpoint(run.checkpoint_path, config)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            run.start_epoch = int(state["epoch"])
            run.history = list(state["history"])
    return run


def _learning_rate(run: _Run, step: int) -> float:
    """Linear warm-up for about one epoch, then cosine decay to 0 at ``total_steps``."""
    warmup = min(run.steps_per_epoch, run.total_steps // 10 + 1)
    scale = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * step / run.total_steps))
    return run.config.lr * scale


def _train_epoch(run: _Run, epoch: int, bar) -> float:
    """One pass over the training set in the seeded order of ``epoch``; returns the mean loss."""
    run.model.train()
    if hasattr(run.train_set, "set_epoch"):
        run.train_set.set_epoch(epoch)
    generator = torch.Generator().manual_seed(run.config.seed * 100_003 + epoch)
    loader = DataLoader(run.train_set, batch_size=run.config.batch_size, shuffle=True, generator=generator)
    total_loss, count = 0.0, 0
    for step, (images, labels) in enumerate(loader):
        lr = _learning_rate(run, epoch * run.steps_per_epoch + step)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        images, labels = images.to(run.device), labels.to(run.device)
        loss = run.loss_fn(run.model(images), labels)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        total_loss += loss.item() * len(images)
        count += len(images)
        bar.update(1)
        bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
    return total_loss / count
