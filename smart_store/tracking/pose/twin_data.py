"""Training and evaluation data for the pose model, rendered by the twin.

Renders generated scenarios (seeded; a disjoint seed range from the scenario library, which is
held out for evaluation) through every camera and writes JPEG images plus COCO keypoint JSON:
the same format real datasets use, so ``pose train`` works on either. Every ``every``-th camera
frame is kept, so consecutive samples are not near-duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smart_store.config import StoreConfig
from smart_store.twin.model import Scenario
from smart_store.twin.record import coco_categories, coco_person, shutter_people


def render_dataset(cfg: StoreConfig, scenarios: Iterable[Scenario], out_dir: Path, *,
                   size: tuple[int, int] = (320, 240), fps: float = 10.0, every: int = 3,
                   jpeg_quality: int = 92,
                   on_progress: Callable[[str, float, float], None] | None = None
                   ) -> Path:
    """Write ``out_dir/images/<scenario>/<camera>/<frame>.jpg`` and
    ``out_dir/annotations.json``; returns the JSON path."""
    from smart_store.twin.render import CameraRenderer  # noqa: PLC0415
    from smart_store.twin.world import World  # noqa: PLC0415

    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    (out_dir / 'images').mkdir(parents=True, exist_ok=True)
    for scenario in scenarios:
        scn = replace(scenario, render=replace(scenario.render, width=size[0], height=size[1],
                                               fps=fps))
        world = World(cfg, scn)
        renderers = [CameraRenderer(cfg, cam, scn.render, scn.seed) for cam in cfg.cameras]
        n = int(scn.duration * fps)
        for i in range(0, n, every):
            t = i / fps
            people = world.people_at(t)
            if not people:
                continue
            stock = world.lane_stock_at(t)
            for r in renderers:
                frame = r.render(people, t, shutter=shutter_people(world, r, t), stock=stock)
                h, w = frame.shape[:2]
                rel = f'images/{scn.name}/{r.camera.id}/{i:06d}.jpg'
                path = out_dir / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                image_id = len(images) + 1
                images.append({'id': image_id, 'file_name': rel, 'width': w, 'height': h,
                               'camera': r.camera.id, 'scenario': scn.name, 't': t})
                for person, kp in r.keypoints_2d(people).items():
                    ann = coco_person(np.asarray(kp), w, h)
                    if ann is not None:
                        ann.update(id=len(annotations) + 1, image_id=image_id,
                                   track_id=int(person))
                        annotations.append(ann)
            if on_progress is not None:
                on_progress(scn.name, t, scn.duration)
    coco = {'info': {'description': 'smart_store twin renders for 2D pose'},
            'images': images, 'annotations': annotations, 'categories': coco_categories()}
    path = out_dir / 'annotations.json'
    path.write_text(json.dumps(coco), encoding='utf-8')
    return path
