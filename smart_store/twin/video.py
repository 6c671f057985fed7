"""Watchable output of a run: a top-down map beside the camera mosaic, as MP4 and contact sheet.

Frames come either straight from a scenario (World + renderers, nothing recorded) or from a
recorded run directory (images decoded from the bag, people from the ground truth beside it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smart_store.config import StoreConfig
from smart_store.twin.model import PersonState, Scenario

EVENT_COLOURS = {'pick': (60, 200, 60), 'put_back': (60, 160, 255), 'reach_only': (200, 200, 200),
                 'handoff': (255, 120, 255), 'enter': (80, 255, 80), 'exit': (80, 80, 255)}


def _fit(image: np.ndarray, height: int) -> np.ndarray:
    scale = height / image.shape[0]
    return cv2.resize(image, (round(image.shape[1] * scale), height),
                      interpolation=cv2.INTER_AREA)


def compose(topdown: np.ndarray, cameras: list[np.ndarray], labels: list[str],
            height: int) -> np.ndarray:
    """Top-down map on the left, a 2-column mosaic of the cameras on the right."""
    from smart_store.twin.render import contact_sheet  # noqa: PLC0415

    left = _fit(topdown, height)
    if not cameras:
        return left
    mosaic = _fit(contact_sheet(cameras, cols=2, labels=labels), height)
    return np.hstack([left, mosaic])


def _event_labels(events: list[dict[str, Any]], t: float, positions: dict[str, np.ndarray],
                  window: float = 2.0) -> list[tuple[tuple[float, float], str, tuple]]:
    out = []
    for e in events:
        if e['t_start'] - 0.2 <= t <= e['t_end'] + window and e['shopper'] in positions:
            xy = positions[e['shopper']]
            text = e['kind'] + (f" {e['qty']}x {e['sku']}" if e.get('sku') else '')
            out.append(((float(xy[0]), float(xy[1])), text, EVENT_COLOURS.get(e['kind'],
                                                                           (255, 255, 255))))
    return out


def scenario_frames(cfg: StoreConfig, scenario: Scenario, fps: float, size: int = 480,
                    cameras: bool = True) -> Iterator[tuple[float, np.ndarray]]:
    """Frames rendered directly from a scenario (nothing recorded)."""
    from dataclasses import asdict  # noqa: PLC0415

    from smart_store.twin.record import shutter_people  # noqa: PLC0415
    from smart_store.twin.render import CameraRenderer, render_topdown  # noqa: PLC0415
    from smart_store.twin.world import World  # noqa: PLC0415

    world = World(cfg, scenario)
    renderers = [CameraRenderer(cfg, cam, scenario.render, scenario.seed)
                 for cam in cfg.cameras] if cameras else []
    events = [asdict(e) for e in world.truth]
    trails: dict[str, list[tuple[float, float]]] = {}
    n = int(scenario.duration * fps)
    for i in range(n):
        t = i / fps
        people: list[PersonState] = world.people_at(t)
        positions = {p.shopper: p.joints[11:13, :2].mean(axis=0) for p in people}
        for shopper, xy in positions.items():
            trails.setdefault(shopper, []).append((float(xy[0]), float(xy[1])))
        top = render_topdown(cfg, people, t, size_px=size,
                             events=_event_labels(events, t, positions), trails=trails)
        stock = world.lane_stock_at(t)
        images = [r.render(people, t, shutter=shutter_people(world, r, t), stock=stock)
                  for r in renderers]
        yield t, compose(top, images, [r.camera.id for r in renderers], size)


def run_frames(cfg: StoreConfig, run_dir: Path, fps: float, size: int = 480
               ) -> Iterator[tuple[float, np.ndarray]]:
    """Frames from a recorded run: camera images from the bag, people from the truth."""
    from smart_store.twin import bag as rb  # noqa: PLC0415
    from smart_store.twin.record import SIM_EPOCH_NS  # noqa: PLC0415
    from smart_store.twin.render import render_topdown  # noqa: PLC0415

    truth_dir = run_dir / 'truth'
    truth = json.loads((truth_dir / 'truth.json').read_text()) if truth_dir.exists() else {}
    events = truth.get('events', [])
    # person index -> shopper id, so the map shows who is who and labels their actions
    names = {int(k): str(v) for k, v in truth.get('people', {}).items()}
    joints = np.load(truth_dir / 'joints3d.npz') if (truth_dir / 'joints3d.npz').exists() \
        else None
    cams = {c.topic: c.id for c in cfg.cameras}
    latest: dict[str, np.ndarray] = {}
    next_t = 0.0
    trails: dict[str, list[tuple[float, float]]] = {}
    for msg in rb.read_bag(run_dir / 'bag', topics=list(cams)):
        t = (msg.stamp_ns - SIM_EPOCH_NS) / 1e9
        img = rb.deserialize(msg.data, msg.type)
        latest[cams[msg.topic]] = np.frombuffer(img.data, np.uint8).reshape(
            img.height, img.width, 3)
        while t >= next_t:
            people = _people_from_truth(joints, next_t, names) if joints is not None else []
            positions = {p.shopper: p.joints[11:13, :2].mean(axis=0) for p in people}
            for shopper, xy in positions.items():
                trails.setdefault(shopper, []).append((float(xy[0]), float(xy[1])))
            top = render_topdown(cfg, people, next_t, size_px=size,
                                 events=_event_labels(events, next_t, positions), trails=trails)
            ids = sorted(latest)
            yield next_t, compose(top, [latest[i] for i in ids], ids, size)
            next_t += 1.0 / fps


def _people_from_truth(joints: Any, t: float, names: dict[int, str] | None = None
                       ) -> list[PersonState]:
    from smart_store.twin.model import BodySpec  # noqa: PLC0415

    times = joints['times']
    if len(times) == 0:
        return []
    i = int(np.clip(np.searchsorted(times, t), 0, len(times) - 1))
    out = []
    for j, person in enumerate(joints['persons']):
        pts = joints['joints'][i, j]
        if np.all(np.isfinite(pts)):
            shopper = (names or {}).get(int(person), f'#{int(person)}')
            out.append(PersonState(person=int(person), shopper=shopper, joints=pts,
                                   body=BodySpec(height=1.7), heading=0.0))
    return out


def write_video(frames: Iterator[tuple[float, np.ndarray]], mp4: Path, fps: float, *,
                contact_sheet_png: Path | None = None, sheet_count: int = 12,
                total: float | None = None,
                on_time: Callable[[float], None] | None = None) -> int:
    """Write frames to an MP4 (and every n-th to a PNG contact sheet). Returns frame count."""
    from smart_store.twin.render import contact_sheet  # noqa: PLC0415

    writer: cv2.VideoWriter | None = None
    picks: list[tuple[float, np.ndarray]] = []
    count = 0
    step = max(1, int((total or 60.0) * fps / sheet_count))
    try:
        for t, frame in frames:
            if writer is None:
                mp4.parent.mkdir(parents=True, exist_ok=True)
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(mp4), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
                if not writer.isOpened():
                    raise OSError(f'{mp4}: OpenCV cannot write MP4 here')
            writer.write(frame)
            if count % step == 0:
                picks.append((t, frame))
            count += 1
            if on_time is not None:
                on_time(t)
    finally:
        if writer is not None:
            writer.release()
    if contact_sheet_png is not None and picks:
        small = [_fit(f, 240) for _, f in picks]
        sheet = contact_sheet(small, cols=3, labels=[f't={t:.1f}s' for t, _ in picks])
        cv2.imwrite(str(contact_sheet_png), sheet)
    return count
