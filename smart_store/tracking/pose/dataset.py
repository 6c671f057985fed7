"""COCO-keypoint dataset with training targets and seeded augmentation.

Images come from files under ``image_root`` (``<image_root>/<file_name>``) or from a callable
``image_source(image_info) -> BGR uint8 image`` (e.g. frames read from a twin rosbag2 bag; the
twin's ``file_name`` is ``<camera>/<stamp_ns>.jpg``).

Targets at stride 4 (cells; see ``network.py`` for the cell <-> pixel mapping), per image:

* ``centre (1, h, w)``: Gaussian at the cell of each person's centre (the centre of its COCO
  ``bbox``), sigma ``clip(centre_sigma * scale, 1, 5)`` cells with ``scale`` = sqrt(bbox area) in
  cells; the peak cell is exactly 1 (CenterNet focal-loss convention);
* ``heatmaps (17, h, w)``: the same for each labelled keypoint (flag > 0), sigma
  ``clip(keypoint_sigma * scale, 1, 3)``;
* ``centre_weight`` / ``heatmap_weight``: loss weights, 0 over ignore regions (``iscrowd`` or
  keypoint-less annotations: every channel) and, per keypoint type, over the box of a person
  whose keypoint of that type is unlabelled (flag 0: it may be there, unannotated); positives
  always count;
* ``offsets (34, h, w)`` + ``offset_mask``: centre-to-keypoint vectors (cells) for labelled
  keypoints at the centre cell and its 8 neighbours (smaller people win overlaps);
* ``subpixel (2, h, w)`` + ``subpixel_mask (1, h, w)``: keypoint position minus its peak cell.

Augmentation (``Augment``): scale / translation / rotation jitter (one affine, also applied to
the keypoints), horizontal flip with the left/right keypoint swap, brightness / contrast,
Gaussian blur and noise. Every random draw comes from ``np.random.default_rng((seed, epoch,
index))``: a sample is the same whatever the worker, the order or the process.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from smart_store.tracking.pose.network import NUM_KEYPOINTS, STRIDE
from smart_store.tracking.pose.transforms import (
    apply_affine,
    compose,
    input_to_cell,
    letterbox_matrix,
    warp_image,
)

# Index of each COCO-17 keypoint's mirror image (left <-> right).
FLIP_INDEX = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
ImageSource = Callable[[dict[str, Any]], np.ndarray]


@dataclass(frozen=True)
class Augment:
    scale: tuple[float, float] = (0.7, 1.35)  # extra zoom factor range
    translate: float = 0.12                   # x input size, each axis
    rotate: float = 12.0                      # degrees, +-
    flip: float = 0.5                         # probability
    brightness: float = 0.25                  # x 255, +-
    contrast: float = 0.3                     # relative, +-
    blur: float = 0.25                        # probability of a Gaussian blur (sigma 0.5..1.2)
    noise: float = 6.0                        # max std of additive Gaussian noise, grey levels

    @classmethod
    def off(cls) -> Augment:
        """No augmentation at all (every draw is the identity)."""
        return cls(scale=(1.0, 1.0), translate=0.0, rotate=0.0, flip=0.0, brightness=0.0,
                   contrast=0.0, blur=0.0, noise=0.0)


@dataclass(frozen=True)
class TargetParams:
    stride: int = STRIDE
    centre_sigma: float = 0.1       # x person scale (cells); clipped to [1, 5]
    keypoint_sigma: float = 0.05    # x person scale (cells); clipped to [1, 3]
    offset_radius: int = 1          # offsets are supervised on (2r+1)^2 cells round the centre


def load_coco(coco: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A COCO dict from a path or a dict (returned as is)."""
    if isinstance(coco, dict):
        return coco
    return json.loads(Path(coco).read_text(encoding='utf-8'))


def file_image_source(image_root: str | Path) -> ImageSource:
    """An ``ImageSource`` reading ``<image_root>/<file_name>`` with OpenCV (BGR)."""
    root = Path(image_root)

    def read(info: dict[str, Any]) -> np.ndarray:
        path = root / info['file_name']
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'{path}: missing or not an image')
        return image

    return read


@dataclass
class Person:
    """One annotation in network-input pixels."""

    keypoints: np.ndarray   # (17, 3) x, y, flag (COCO 0/1/2)
    centre: np.ndarray      # (2,)
    box: np.ndarray         # (4,) axis-aligned x0, y0, x1, y1 of the transformed bbox
    scale: float            # sqrt(bbox area), input px
    ignore: bool            # crowd / no keypoints: an ignore region, not a person


def _gaussian(target: np.ndarray, cx: int, cy: int, sigma: float) -> None:
    h, w = target.shape
    r = max(1, math.ceil(3 * sigma))
    x0, x1 = max(0, cx - r), min(w, cx + r + 1)
    y0, y1 = max(0, cy - r), min(h, cy + r + 1)
    if x0 >= x1 or y0 >= y1:
        return
    xs = np.arange(x0, x1) - cx
    ys = np.arange(y0, y1) - cy
    g = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma * sigma))
    np.maximum(target[y0:y1, x0:x1], g, out=target[y0:y1, x0:x1])


def _cell_box(box: np.ndarray, stride: int, w: int, h: int) -> tuple[int, int, int, int]:
    lo = input_to_cell(box[:2], stride)
    hi = input_to_cell(box[2:], stride)
    return (max(0, math.floor(lo[0])), max(0, math.floor(lo[1])),
            min(w, math.ceil(hi[0]) + 1), min(h, math.ceil(hi[1]) + 1))


def make_targets(people: list[Person], input_size: tuple[int, int],
                 params: TargetParams = TargetParams()) -> dict[str, np.ndarray]:
    """Training targets (float32 arrays, see the module doc) for people in input pixels."""
    s = params.stride
    w, h = input_size[0] // s, input_size[1] // s
    n = NUM_KEYPOINTS
    centre = np.zeros((1, h, w), np.float32)
    heat = np.zeros((n, h, w), np.float32)
    centre_w = np.ones((1, h, w), np.float32)
    heat_w = np.ones((n, h, w), np.float32)
    offsets = np.zeros((2 * n, h, w), np.float32)
    offset_mask = np.zeros((2 * n, h, w), np.float32)
    subpix = np.zeros((2, h, w), np.float32)
    sub_mask = np.zeros((1, h, w), np.float32)
    r = params.offset_radius
    for person in sorted(people, key=lambda p: -p.scale):
        x0, y0, x1, y1 = _cell_box(person.box, s, w, h)
        if person.ignore:
            centre_w[:, y0:y1, x0:x1] = 0.0
            heat_w[:, y0:y1, x0:x1] = 0.0
            continue
        scale = person.scale / s
        kp = person.keypoints
        labelled = kp[:, 2] > 0
        heat_w[~labelled, y0:y1, x0:x1] = 0.0
        cells = input_to_cell(kp[:, :2], s)
        ksigma = float(np.clip(params.keypoint_sigma * scale, 1.0, 3.0))
        for k in np.flatnonzero(labelled):
            ix, iy = round(float(cells[k, 0])), round(float(cells[k, 1]))
            if 0 <= ix < w and 0 <= iy < h:
                _gaussian(heat[k], ix, iy, ksigma)
                subpix[:, iy, ix] = cells[k] - (ix, iy)
                sub_mask[0, iy, ix] = 1.0
        c = input_to_cell(person.centre, s)
        cx, cy = round(float(c[0])), round(float(c[1]))
        if not (0 <= cx < w and 0 <= cy < h):
            continue
        _gaussian(centre[0], cx, cy, float(np.clip(params.centre_sigma * scale, 1.0, 5.0)))
        ys, xs = np.mgrid[max(0, cy - r):min(h, cy + r + 1), max(0, cx - r):min(w, cx + r + 1)]
        for k in range(n):
            for axis in (0, 1):
                ch = 2 * k + axis
                grid = xs if axis == 0 else ys
                offsets[ch, ys, xs] = cells[k, axis] - grid
                offset_mask[ch, ys, xs] = 1.0 if labelled[k] else 0.0
    centre_w[centre > 0] = 1.0
    heat_w[heat > 0] = 1.0
    return {'centre': centre, 'centre_weight': centre_w, 'heatmaps': heat,
            'heatmap_weight': heat_w, 'offsets': offsets, 'offset_mask': offset_mask,
            'subpixel': subpix, 'subpixel_mask': sub_mask}


def _bbox_of(ann: dict[str, Any], kp: np.ndarray) -> np.ndarray:
    """COCO ``bbox`` (x, y, w, h) as x0, y0, x1, y1; from the labelled keypoints if absent."""
    if ann.get('bbox') and len(ann['bbox']) == 4 and ann['bbox'][2] > 0 and ann['bbox'][3] > 0:
        x, y, bw, bh = (float(v) for v in ann['bbox'])
        return np.array([x, y, x + bw, y + bh])
    pts = kp[kp[:, 2] > 0, :2]
    if len(pts) == 0:
        return np.zeros(4)
    return np.concatenate([pts.min(axis=0), pts.max(axis=0)])


def people_from_annotations(anns: list[dict[str, Any]], M: np.ndarray,
                            flip: bool = False) -> list[Person]:
    """COCO annotations -> ``Person`` list in input pixels through ``M`` (2x3).

    ``flip``: ``M`` mirrors the image; the left/right keypoint rows are swapped accordingly.
    """
    det = float(abs(np.linalg.det(M[:, :2])))
    people = []
    for ann in anns:
        raw = ann.get('keypoints') or [0.0] * (3 * NUM_KEYPOINTS)
        kp = np.asarray(raw, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
        box = _bbox_of(ann, kp)
        corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]],
                            [box[2], box[3]]])
        tc = apply_affine(M, corners)
        tbox = np.concatenate([tc.min(axis=0), tc.max(axis=0)])
        centre = apply_affine(M, (box[:2] + box[2:]) / 2.0)
        out = kp.copy()
        out[:, :2] = apply_affine(M, kp[:, :2])
        out[kp[:, 2] <= 0] = 0.0
        if flip:
            out = out[list(FLIP_INDEX)]
        ignore = bool(ann.get('iscrowd', 0)) or not np.any(kp[:, 2] > 0)
        scale = math.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1.0) * det)
        people.append(Person(out, centre, tbox, scale, ignore))
    return people


class CocoPoseDataset(Dataset):
    """A COCO-keypoint data set yielding network-input images and training targets."""

    def __init__(self, coco: str | Path | dict[str, Any], image_root: str | Path | None = None,
                 image_source: ImageSource | None = None, *,
                 input_size: tuple[int, int] = (320, 240), augment: Augment | None = None,
                 seed: int = 0, targets: TargetParams = TargetParams(),
                 max_images: int | None = None) -> None:
        if (image_root is None) == (image_source is None):
            raise ValueError('give exactly one of image_root and image_source')
        if input_size[0] % 16 or input_size[1] % 16:
            raise ValueError(f'input size {input_size}: width and height must be multiples '
                             'of 16')
        self.coco = load_coco(coco)
        self.source = image_source or file_image_source(image_root)  # type: ignore[arg-type]
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.augment = augment
        self.seed = int(seed)
        self.params = targets
        self.epoch = 0
        cat_ids = {c['id'] for c in self.coco.get('categories', []) if c.get('name') == 'person'}
        by_image: dict[int, list[dict[str, Any]]] = {}
        for ann in self.coco.get('annotations', []):
            if not cat_ids or ann.get('category_id') in cat_ids:
                by_image.setdefault(ann['image_id'], []).append(ann)
        self.images = sorted(self.coco['images'], key=lambda im: im['id'])
        if max_images is not None:
            self.images = self.images[:max_images]
        self.annotations = by_image

    def __len__(self) -> int:
        return len(self.images)

    def set_epoch(self, epoch: int) -> None:
        """Augmentation draws depend on (seed, epoch, index)."""
        self.epoch = int(epoch)

    def summary(self) -> dict[str, Any]:
        anns = [a for im in self.images for a in self.annotations.get(im['id'], [])]
        return {'images': len(self.images), 'people': len(anns),
                'keypoints': int(sum(a.get('num_keypoints', 0) for a in anns)),
                'cameras': sorted({str(im['camera']) for im in self.images if 'camera' in im})}

    def load_image(self, index: int) -> np.ndarray:
        image = self.source(self.images[index])
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return image

    def _matrix(self, w: int, h: int, rng: np.random.Generator | None) -> tuple[np.ndarray,
                                                                                bool]:
        iw, ih = self.input_size
        M = letterbox_matrix(w, h, iw, ih)
        aug = self.augment
        if aug is None or rng is None:
            return M, False
        scale = float(rng.uniform(*aug.scale))
        angle = float(rng.uniform(-aug.rotate, aug.rotate))
        tx, ty = rng.uniform(-aug.translate, aug.translate, size=2) * (iw, ih)
        centre = ((iw - 1) / 2.0, (ih - 1) / 2.0)
        A = cv2.getRotationMatrix2D(centre, angle, scale)
        A[:, 2] += (tx, ty)
        M = compose(A, M)
        flip = bool(rng.uniform() < aug.flip)
        if flip:
            M = compose(np.array([[-1.0, 0.0, iw - 1.0], [0.0, 1.0, 0.0]]), M)
        return M, flip

    def _photometric(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        aug = self.augment
        assert aug is not None
        img = image.astype(np.float32)
        if aug.blur > 0 and rng.uniform() < aug.blur:
            img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 1.2)))
        contrast = 1.0 + float(rng.uniform(-aug.contrast, aug.contrast))
        bright = float(rng.uniform(-aug.brightness, aug.brightness)) * 255.0
        mean = float(img.mean())
        img = (img - mean) * contrast + mean + bright
        if aug.noise > 0:
            # float32 draws directly: a quarter of the cost of float64 normal() + astype.
            img += rng.standard_normal(img.shape, dtype=np.float32) * float(
                rng.uniform(0, aug.noise))
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, list[Person]]:
        """Input image, its original->input affine and its people, augmented if enabled."""
        info = self.images[index]
        image = self.load_image(index)
        h, w = image.shape[:2]
        rng = (np.random.default_rng((self.seed, self.epoch, index))
               if self.augment is not None else None)
        M, flip = self._matrix(w, h, rng)
        warped = warp_image(image, M, self.input_size)
        if rng is not None:
            warped = self._photometric(warped, rng)
        people = people_from_annotations(self.annotations.get(info['id'], []), M,
                                         flip=flip)
        return warped, M, people

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image, _, people = self.sample(index)
        targets = make_targets(people, self.input_size, self.params)
        out = {k: torch.from_numpy(v) for k, v in targets.items()}
        out['image'] = torch.from_numpy(np.ascontiguousarray(image))
        out['index'] = torch.tensor(index)
        return out
