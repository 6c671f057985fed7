"""Synthetic COCO-keypoint data: stick figures on a noisy background (tests, smoke training).

The figures face the camera (their left side on the image's right, as a person seen from the
front), so a horizontal flip with the left/right keypoint swap is a valid augmentation. Keypoints
outside the image get flag 0 and zero coordinates; visible ones flag 2. Image records look like
the twin's: ``{id, file_name '<camera>/<stamp_ns>.jpg', width, height, camera, stamp_ns}``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smart_store.tracking.pose.network import NUM_KEYPOINTS

COCO_KEYPOINT_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
    'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle')
COCO_SKELETON = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
                 (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
                 (3, 5), (4, 6))
# Limbs drawn as thick lines (0-based COCO indices).
_LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6),
          (11, 12), (5, 11), (6, 12))
_SIDE = np.array([0, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1], dtype=np.float64)


def _figure(rng: np.random.Generator) -> np.ndarray:
    """(17, 2) keypoints of a unit-height figure, hips' midpoint at the origin, y down."""
    kp = np.zeros((NUM_KEYPOINTS, 2))
    kp[0] = (0.0, -0.43)
    kp[1:3] = [(0.03, -0.45), (-0.03, -0.45)]
    kp[3:5] = [(0.065, -0.43), (-0.065, -0.43)]
    kp[5:7] = [(0.12, -0.31), (-0.12, -0.31)]
    kp[11:13] = [(0.07, 0.0), (-0.07, 0.0)]
    for side, (sh, el, wr) in ((1, (5, 7, 9)), (-1, (6, 8, 10))):
        a1 = math.radians(rng.uniform(-20, 110))    # 0 = arm hanging down, + = raised sideways
        a2 = a1 + math.radians(rng.uniform(0, 120))
        kp[el] = kp[sh] + 0.17 * np.array([side * math.sin(a1), math.cos(a1)])
        kp[wr] = kp[el] + 0.15 * np.array([side * math.sin(a2), math.cos(a2)])
    for side, (hp, kn, an) in ((1, (11, 13, 15)), (-1, (12, 14, 16))):
        a1 = math.radians(rng.uniform(-10, 35))
        a2 = a1 - math.radians(rng.uniform(0, 40))
        kp[kn] = kp[hp] + 0.25 * np.array([side * math.sin(a1), math.cos(a1)])
        kp[an] = kp[kn] + 0.24 * np.array([side * math.sin(a2), math.cos(a2)])
    return kp


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    base = rng.uniform(60, 190, size=3)
    gx = np.linspace(-1, 1, w)[None, :, None] * rng.uniform(-40, 40, size=3)
    gy = np.linspace(-1, 1, h)[:, None, None] * rng.uniform(-40, 40, size=3)
    img = base + gx + gy + rng.normal(0, 8, size=(h, w, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 7))):  # shelves and clutter
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(20, w // 3)), y0 + int(rng.integers(10, h // 3))
        cv2.rectangle(img, (x0, y0), (x1, y1), rng.integers(0, 255, size=3).tolist(), -1)
    return img


def draw_person(img: np.ndarray, kp: np.ndarray, height: float,
                rng: np.random.Generator) -> None:
    """Draw a stick figure whose keypoints (17, 2) are given in pixels (centres at integers)."""
    shift = 4
    scale = 1 << shift

    def p(i: int) -> tuple[int, int]:
        return (round(kp[i, 0] * scale), round(kp[i, 1] * scale))

    colour = rng.integers(0, 255, size=3).tolist()
    skin = (int(rng.integers(60, 140)), int(rng.integers(110, 180)), int(rng.integers(160, 230)))
    thick = max(2, round(height * 0.045))
    torso = np.array([kp[5], kp[6], kp[12], kp[11]]) * scale
    cv2.fillConvexPoly(img, np.round(torso).astype(np.int32), colour, cv2.LINE_AA, shift)
    for a, b in _LIMBS:
        cv2.line(img, p(a), p(b), colour, thick, cv2.LINE_AA, shift)
    for j in (9, 10):
        cv2.circle(img, p(j), round(thick * 0.8 * scale), skin, -1, cv2.LINE_AA, shift)
    cv2.circle(img, p(0), round(height * 0.07 * scale), skin, -1, cv2.LINE_AA, shift)
    for j in (1, 2):
        cv2.circle(img, p(j), round(max(1.0, height * 0.008) * scale), (20, 20, 20), -1,
                   cv2.LINE_AA, shift)
    for j in (3, 4):
        cv2.circle(img, p(j), round(max(1.0, height * 0.012) * scale), (70, 70, 160), -1,
                   cv2.LINE_AA, shift)


def make_image(rng: np.random.Generator, size: tuple[int, int] = (640, 480),
               people: tuple[int, int] = (1, 3),
               height: tuple[float, float] = (110, 300)) -> tuple[np.ndarray, list[np.ndarray]]:
    """One image and its people's keypoints ((17, 3) rows x, y, flag), back to front."""
    w, h = size
    img = _background(rng, w, h)
    out = []
    count = int(rng.integers(people[0], people[1] + 1))
    for _ in range(count):
        body = float(rng.uniform(*height))
        angle = math.radians(rng.uniform(-25, 25))
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        hip = np.array([rng.uniform(0.05 * w, 0.95 * w), rng.uniform(0.1 * h, 0.9 * h)])
        kp = _figure(rng) @ rot.T * body + hip
        draw_person(img, kp, body, rng)
        inside = ((kp[:, 0] >= 0) & (kp[:, 0] <= w - 1) & (kp[:, 1] >= 0) & (kp[:, 1] <= h - 1))
        rows = np.zeros((NUM_KEYPOINTS, 3))
        rows[inside, :2] = kp[inside]
        rows[inside, 2] = 2
        out.append(rows)
    # Later (front) figures hide earlier ones: mark covered keypoints of earlier ones occluded.
    for i, rows in enumerate(out):
        for front in out[i + 1:]:
            vis = front[:, 2] > 0
            if not np.any(vis):
                continue
            lo, hi = front[vis, :2].min(axis=0), front[vis, :2].max(axis=0)
            covered = ((rows[:, 2] == 2) & np.all(rows[:, :2] > lo, axis=1)
                       & np.all(rows[:, :2] < hi, axis=1))
            rows[covered, 2] = 1
    return img, out


def annotation(rows: np.ndarray, ann_id: int, image_id: int, size: tuple[int, int],
               margin: float = 12.0) -> dict[str, Any] | None:
    """A COCO annotation for keypoint rows (17, 3), with the twin's bbox rule; None if empty."""
    w, h = size
    flags = rows[:, 2]
    if not np.any(flags == 2):
        return None
    inside = rows[flags > 0, :2]
    x0, y0 = np.clip(inside.min(axis=0) - margin, 0, None)
    x1, y1 = inside.max(axis=0) + margin
    x1, y1 = min(x1, w - 1.0), min(y1, h - 1.0)
    flat = [round(float(v), 2) if i % 3 != 2 else int(v) for i, v in enumerate(rows.reshape(-1))]
    return {'id': ann_id, 'image_id': image_id, 'category_id': 1, 'keypoints': flat,
            'num_keypoints': int(np.sum(flags > 0)),
            'bbox': [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2),
                     round(float(y1 - y0), 2)],
            'area': round(float((x1 - x0) * (y1 - y0)), 2), 'iscrowd': 0}


def categories() -> list[dict[str, Any]]:
    return [{'id': 1, 'name': 'person', 'supercategory': 'person',
             'keypoints': list(COCO_KEYPOINT_NAMES),
             'skeleton': [[a + 1, b + 1] for a, b in COCO_SKELETON]}]


def make_dataset(n_images: int, seed: int = 0, *, size: tuple[int, int] = (640, 480),
                 people: tuple[int, int] = (1, 3), height: tuple[float, float] = (110, 300),
                 cameras: tuple[str, ...] = ('cam_fl', 'cam_fr', 'cam_bl', 'cam_br')
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A COCO dict and its images ``{file_name: BGR image}``, deterministic from ``seed``."""
    rng = np.random.default_rng(seed)
    w, h = size
    images, anns, pixels = [], [], {}
    for i in range(n_images):
        cam = cameras[i % len(cameras)]
        stamp = 1_767_225_600_000_000_000 + (i // len(cameras)) * 200_000_000
        name = f'{cam}/{stamp}.jpg'
        img, people_rows = make_image(rng, size, people, height)
        images.append({'id': i + 1, 'file_name': name, 'width': w, 'height': h, 'camera': cam,
                       'stamp_ns': stamp})
        pixels[name] = img
        for rows in people_rows:
            ann = annotation(rows, len(anns) + 1, i + 1, (w, h))
            if ann is not None:
                anns.append(ann)
    coco = {'info': {'description': f'smart_store synthetic stick figures, seed {seed}'},
            'images': images, 'annotations': anns, 'categories': categories()}
    return coco, pixels


def write_dataset(out_dir: str | Path, n_images: int, seed: int = 0,
                  **kwargs: Any) -> tuple[Path, Path]:
    """Write ``make_dataset`` as ``<out>/coco_keypoints.json`` + ``<out>/images/<file_name>``."""
    out = Path(out_dir)
    coco, pixels = make_dataset(n_images, seed, **kwargs)
    root = out / 'images'
    for name, img in pixels.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    json_path = out / 'coco_keypoints.json'
    json_path.write_text(json.dumps(coco), encoding='utf-8')
    return json_path, root
