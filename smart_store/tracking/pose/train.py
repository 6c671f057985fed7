"""Train ``PoseNet`` on COCO-keypoint data (the twin's ``truth/coco_keypoints.json`` or any COCO).

``train(coco_json, image_root, out_weights, epochs, batch_size, lr, seed, input_size, device)``
is reproducible from ``seed`` (initial weights, data order and every augmentation draw; bitwise on
CPU with the same thread count), prints one line per epoch (loss components, images/s), appends
the same numbers to ``<weights stem>.loss.csv`` beside the weights and writes the weights (fp16
state_dict + metadata, ``network.save_weights``) after every epoch.

Loss: CenterNet's penalty-reduced focal loss on the centre and keypoint heatmaps (normalised by
the number of peaks, masked by the ignore weights) + masked L1 on the centre-to-keypoint offsets
and the sub-pixel offsets (averaged over supervised values). On CUDA the forward pass runs under
fp16 autocast with a gradient scaler.
"""

from __future__ import annotations

import csv
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.nn import functional as nnf
from torch.utils.data import DataLoader

from smart_store.tracking.pose.backend import select_device
from smart_store.tracking.pose.dataset import Augment, CocoPoseDataset, ImageSource
from smart_store.tracking.pose.network import (
    CHANNELS,
    PoseNet,
    PoseNetConfig,
    count_parameters,
    load_weights,
    save_weights,
)

LOSS_NAMES = ('centre', 'heatmaps', 'offsets', 'subpixel')


@dataclass(frozen=True)
class LossWeights:
    centre: float = 1.0
    heatmaps: float = 1.0
    offsets: float = 0.1     # L1 in cells; offsets are long (up to ~20 cells)
    subpixel: float = 1.0


DEFAULT_LOSS_WEIGHTS = LossWeights()


def focal_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
               alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced pixel-wise focal loss (targets peak at exactly 1)."""
    logits = logits.float()
    pos = (target >= 1.0).float()
    log_p = nnf.logsigmoid(logits)
    log_q = nnf.logsigmoid(-logits)
    p = log_p.exp()
    pos_term = -((1 - p) ** alpha) * log_p * pos
    neg_term = -((1 - target) ** beta) * (p ** alpha) * log_q * (1 - pos)
    return ((pos_term + neg_term) * weight).sum() / (pos * weight).sum().clamp(min=1.0)


def _masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.expand_as(pred)
    return ((pred.float() - target).abs() * mask).sum() / mask.sum().clamp(min=1.0)


def pose_loss(output: torch.Tensor, batch: dict[str, torch.Tensor],
              weights: LossWeights = DEFAULT_LOSS_WEIGHTS
              ) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its (unweighted) components for a network output and a target batch."""
    parts = {
        'centre': focal_loss(output[:, CHANNELS.centre], batch['centre'],
                             batch['centre_weight']),
        'heatmaps': focal_loss(output[:, CHANNELS.heatmaps], batch['heatmaps'],
                               batch['heatmap_weight']),
        'offsets': _masked_l1(output[:, CHANNELS.offsets], batch['offsets'],
                              batch['offset_mask']),
        'subpixel': _masked_l1(output[:, CHANNELS.subpixel], batch['subpixel'],
                               batch['subpixel_mask']),
    }
    total = sum(getattr(weights, k) * v for k, v in parts.items())
    return total, {k: float(v.detach()) for k, v in parts.items()}  # type: ignore[return-value]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_step(model: PoseNet, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
               *, device: torch.device | None = None, scaler: torch.amp.GradScaler | None = None,
               loss_weights: LossWeights = DEFAULT_LOSS_WEIGHTS) -> tuple[float, dict[str, float]]:
    """One optimisation step (model in train mode); returns the loss before the step."""
    device = device or next(model.parameters()).device
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    amp = device.type == 'cuda'
    model.train()
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
        output = model(batch['image'])
    loss, parts = pose_loss(output.float(), batch, loss_weights)
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
    return float(loss.detach()), parts


def _lr_lambda(total_steps: int | list[int], warmup: int) -> Callable[[int], float]:
    # A one-element list is read at every step, so a time budget can shorten the schedule.
    total = total_steps if isinstance(total_steps, list) else [total_steps]

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total[0] - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    return factor


def _single_threaded_worker(_worker_id: int) -> None:
    # Each loader process decodes and augments one sample at a time; OpenCV's and torch's own
    # thread pools in every worker would oversubscribe the cores (seen: 40 img/s per worker on
    # a 16-core GPU host instead of ~140).
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def loss_csv_path(out_weights: str | Path) -> Path:
    """Where ``train`` logs the loss: ``<dir>/<weights stem>.loss.csv``."""
    p = Path(out_weights)
    return p.with_name(f'{p.stem}.loss.csv')


def train(  # noqa: PLR0917 - positional order pinned by the CLI brief
        coco_json: str | Path | dict[str, Any], image_root: str | Path | None,
        out_weights: str | Path, epochs: int = 30, batch_size: int = 16, lr: float = 2e-3,
        seed: int = 0, input_size: tuple[int, int] = (320, 240), device: str = 'auto',
        val_json: str | Path | dict[str, Any] | None = None,
        log: Callable[[str], None] | None = print, *,
        image_source: ImageSource | None = None, val_image_root: str | Path | None = None,
        val_image_source: ImageSource | None = None, augment: Augment | None = None,
        weight_decay: float = 1e-4, num_workers: int = 0, init_weights: str | Path | None = None,
        config: PoseNetConfig | None = None, max_images: int | None = None,
        warmup_steps: int = 100, log_every: int = 0,
        num_threads: int | None = None, time_budget: float | None = None) -> dict[str, Any]:
    """Train a pose network and write it to ``out_weights``; returns a summary dict.

    ``image_root`` (files) or ``image_source`` (a callable, e.g. bag frames) gives the images;
    ``val_json`` (+ ``val_image_root`` / ``val_image_source``, default the training ones) is
    evaluated with pycocotools after every epoch. ``augment`` defaults to ``Augment()``
    (``Augment.off()`` disables it). ``init_weights`` fine-tunes.
    ``num_threads``: ``torch.set_num_threads`` first (None: leave it; on a shared 2-core box 1
    thread is often faster than 2, whose OpenMP barriers stall when a core is busy).
    ``time_budget`` (seconds): after each epoch, cut ``epochs`` to what fits in the budget at
    the mean epoch time so far, and shorten the cosine schedule to match, so the run ends on a
    decayed learning rate instead of being killed mid-schedule.
    """
    say = log or (lambda _line: None)
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    seed_everything(seed)
    dev = select_device(device)
    input_size = (int(input_size[0]), int(input_size[1]))
    data = CocoPoseDataset(coco_json, image_root, image_source, input_size=input_size,
                           augment=augment or Augment(), seed=seed, max_images=max_images)
    if len(data) == 0:
        raise ValueError('the training set has no images')
    if init_weights is not None:
        model, _ = load_weights(init_weights)
    else:
        model = PoseNet(config)
    # channels_last: the uint8 NHWC input already is; ~20 % faster CPU training, and what
    # tensor cores want on CUDA.
    model.to(dev, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = max(1, len(data) // batch_size) if len(data) >= batch_size else 1
    schedule_total = [epochs * steps_per_epoch]
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(schedule_total, min(warmup_steps, steps_per_epoch * 2)))
    scaler = torch.amp.GradScaler('cuda', enabled=dev.type == 'cuda')
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                        drop_last=len(data) >= batch_size,
                        generator=torch.Generator().manual_seed(seed),
                        worker_init_fn=_single_threaded_worker if num_workers > 0 else None,
                        pin_memory=dev.type == 'cuda')
    csv_path = loss_csv_path(out_weights)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    columns = ['epoch', 'loss', *LOSS_NAMES, 'lr', 'images', 'seconds', 'images_per_s',
               'val_AP', 'val_AP50']
    with csv_path.open('w', newline='', encoding='utf-8') as fh:
        csv.writer(fh).writerow(columns)
    summary = data.summary()
    say(f'[pose train] {summary["images"]} images, {summary["people"]} people; '
        f'PoseNet {count_parameters(model) / 1e6:.2f} M params; input {input_size[0]}x'
        f'{input_size[1]}; device {dev}{" (fp16 autocast)" if dev.type == "cuda" else ""}; '
        f'{epochs} epochs x {steps_per_epoch} steps of {batch_size}')
    history: list[dict[str, Any]] = []
    val: dict[str, Any] = {}
    t_start = time.perf_counter()
    epoch = 0
    while epoch < epochs:
        data.set_epoch(epoch)
        sums = dict.fromkeys(('loss', *LOSS_NAMES), 0.0)
        steps = images = 0
        t0 = time.perf_counter()
        for step, batch in enumerate(loader):
            loss, parts = train_step(model, batch, optimizer, device=dev, scaler=scaler)
            scheduler.step()
            if not math.isfinite(loss):
                raise FloatingPointError(f'epoch {epoch + 1} step {step}: loss is {loss}')
            sums['loss'] += loss
            for k, v in parts.items():
                sums[k] += v
            steps += 1
            images += int(batch['image'].shape[0])
            if log_every and (step + 1) % log_every == 0:
                say(f'  step {step + 1}/{len(loader)} loss {loss:.4f}')
        seconds = time.perf_counter() - t0
        row: dict[str, Any] = {k: v / max(steps, 1) for k, v in sums.items()}
        row.update(epoch=epoch + 1, lr=optimizer.param_groups[0]['lr'], images=images,
                   seconds=seconds, images_per_s=images / max(seconds, 1e-9))
        if val_json is not None:
            from smart_store.tracking.pose.evaluate import evaluate  # noqa: PLC0415 - cycle

            vroot, vsource = val_image_root, val_image_source
            if vroot is None and vsource is None:
                vroot, vsource = image_root, image_source
            val = evaluate(model, val_json, vroot, image_source=vsource, device=str(dev),
                           input_size=input_size)
            model.train()
        row['val_AP'] = val.get('AP', '')
        row['val_AP50'] = val.get('AP50', '')
        history.append(row)
        with csv_path.open('a', newline='', encoding='utf-8') as fh:
            csv.writer(fh).writerow([_fmt(row[c]) for c in columns])
        comp = ' '.join(f'{k} {row[k]:.4f}' for k in LOSS_NAMES)
        val_text = f' | val AP {val["AP"]:.3f} AP50 {val["AP50"]:.3f}' if val else ''
        say(f'[pose train] epoch {epoch + 1}/{epochs} loss {row["loss"]:.4f} ({comp}) '
            f'lr {row["lr"]:.2e} {row["images_per_s"]:.1f} img/s{val_text}')
        meta = {
            'data': {**summary, 'source': str(coco_json) if not isinstance(coco_json, dict)
                     else '<dict>'},
            'epochs': epoch + 1, 'of_epochs': epochs, 'batch_size': batch_size, 'lr': lr,
            'seed': seed, 'weight_decay': weight_decay, 'augment': asdict(data.augment or
                                                                           Augment()),
            'final_loss': {k: round(row[k], 6) for k in ('loss', *LOSS_NAMES)},
            'val': {k: v for k, v in val.items() if isinstance(v, float)},
            'torch': str(torch.__version__),
        }
        save_weights(model, out_weights, input_size, meta)
        epoch += 1
        if time_budget is not None and epoch < epochs:
            per_epoch = (time.perf_counter() - t_start) / epoch
            fit = max(epoch, int(time_budget // per_epoch))
            if fit < epochs:
                say(f'[pose train] time budget {time_budget:.0f} s at {per_epoch:.1f} s/epoch: '
                    f'{fit} epochs instead of {epochs}')
                epochs = fit
                schedule_total[0] = epochs * steps_per_epoch
    total_s = time.perf_counter() - t_start
    say(f'[pose train] wrote {out_weights} ({Path(out_weights).stat().st_size / 1e6:.2f} MB) '
        f'and {csv_path} in {total_s:.1f} s')
    return {'weights': str(out_weights), 'loss_csv': str(csv_path), 'history': history,
            'val': val, 'seconds': total_s, 'parameters': count_parameters(model)}


def _fmt(value: Any) -> Any:
    return f'{value:.6g}' if isinstance(value, float) else value
