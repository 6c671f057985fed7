"""How fast the twin's camera renderer is: camera-frames per second and real-time factor.

Renders every configured camera of a store (default: the demo store, 4 cameras at 15 fps) with
N synthetic people walking loops through the aisles, at each requested resolution, and prints

    size, people, static-scene build time per camera, ms per camera-frame, camera-frames/s,
    the real-time factor (rendered sim seconds per wall second for all cameras at their fps)
    and how long one minute of video for all cameras takes.

Single-threaded by default (OpenCV limited to one thread). Wall-clock numbers suffer when other
processes share the cores; the CPU time of this process is printed too (see the load average).
``--items``: every other person holds one or two items (drawn at the hands) and every third lane
is half empty (its products re-shaded once, then cached), as in a recorded run.

    ./smart-store python benchmarks/render_speed.py
    ./smart-store python benchmarks/render_speed.py --people 12 --seconds 10 --sizes 640x480
    ./smart-store python benchmarks/render_speed.py --items
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smart_store.config import load_store_config  # noqa: E402
from smart_store.twin.model import BodySpec, HeldItem, PersonState, RenderSpec  # noqa: E402
from smart_store.twin.render import CameraRenderer, synthetic_person  # noqa: E402

WALK_SPEED = 1.2  # m/s
STRIDE = 1.4  # m per gait cycle


def _loop(cfg_floor: np.ndarray) -> np.ndarray:
    """A closed walking loop through both aisles of the demo-like layout."""
    x0, y0 = cfg_floor.min(axis=0)
    x1, y1 = cfg_floor.max(axis=0)
    w, h = x1 - x0, y1 - y0
    return np.array([
        [x0 + 0.25 * w, y0 + 0.2 * h], [x0 + 0.25 * w, y0 + 0.82 * h],
        [x0 + 0.75 * w, y0 + 0.82 * h], [x0 + 0.75 * w, y0 + 0.2 * h],
    ])


def walkers(cfg, n: int, t: float) -> list[PersonState]:
    """``n`` people spread along a loop, walking at ``WALK_SPEED``."""
    loop = _loop(np.asarray(cfg.floor, dtype=float))
    seg = np.roll(loop, -1, axis=0) - loop
    lengths = np.linalg.norm(seg, axis=1)
    total = float(lengths.sum())
    rng = np.random.default_rng(0)
    people = []
    for i in range(n):
        body = BodySpec(
            height=float(rng.uniform(1.15, 1.95)),
            build=("slim", "average", "broad")[i % 3],
            shirt=tuple(int(v) for v in rng.integers(20, 240, 3)),
            pants=tuple(int(v) for v in rng.integers(20, 120, 3)),
        )
        direction = 1.0 if i % 2 == 0 else -1.0
        dist = (i / n * total + direction * WALK_SPEED * t) % total
        k = int(np.searchsorted(np.cumsum(lengths), dist, side="right"))
        k = min(k, len(loop) - 1)
        along = dist - float(np.cumsum(lengths)[k] - lengths[k])
        pos = loop[k] + seg[k] / lengths[k] * along
        side = 0.35 * (1 if i % 2 else -1)  # keep to one side of the walkway
        normal = np.array([-seg[k][1], seg[k][0]]) / lengths[k]
        pos = pos + side * normal
        heading = math.atan2(seg[k][1] * direction, seg[k][0] * direction)
        phase = 2.0 * math.pi * (WALK_SPEED * t / STRIDE) + i
        people.append(synthetic_person(i, float(pos[0]), float(pos[1]), heading, body=body,
                                       phase=phase))
    return people


def with_items(cfg, people: list[PersonState]) -> list[PersonState]:
    """Every other person holds one or two items of the catalog (``--items``)."""
    skus = sorted(cfg.catalog)
    for i, p in enumerate(people):
        if i % 2 == 0:
            p.held = tuple(HeldItem(skus[(3 * i + j) % len(skus)], ("right", "left")[j])
                           for j in range(1 + (i // 2) % 2))
    return people


def bench(cfg, size: tuple[int, int], people_n: int, seconds: float,
          items: bool = False) -> dict[str, float]:
    spec = RenderSpec(width=size[0], height=size[1])
    t0 = time.perf_counter()
    renderers = [CameraRenderer(cfg, cam, spec, seed=1) for cam in cfg.cameras]
    build = (time.perf_counter() - t0) / max(1, len(renderers))
    fps = min(r.fps for r in renderers)
    n_frames = max(1, round(seconds * fps))
    # people poses are computed up front: this measures the renderer, not the walkers
    poses = [walkers(cfg, people_n, k / fps) for k in range(n_frames)]
    stock = None
    if items:
        poses = [with_items(cfg, people) for people in poses]
        stock = {lane: e.facings // 2 if i % 3 == 0 else e.facings
                 for i, (lane, e) in enumerate(sorted(cfg.planogram.items()))}
    for r in renderers:  # warm-up (noise bank, caches, lane contents)
        r.render(poses[0], 0.0, stock=stock)
    start, cpu0 = time.perf_counter(), time.process_time()
    for k, people in enumerate(poses):
        for r in renderers:
            r.render(people, k / fps, stock=stock)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    frames = n_frames * len(renderers)
    cams_fps = sum(r.fps for r in renderers)
    return {
        "build_s": build,
        "ms_per_frame": 1e3 * wall / frames,
        "cpu_ms_per_frame": 1e3 * cpu / frames,
        "frames_per_s": frames / wall,
        "realtime": frames / wall / cams_fps,
        "minute_s": 60.0 * cams_fps * wall / frames,
        "cams": len(renderers),
        "cams_fps": cams_fps,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "demo_store.yaml"))
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0, help="sim seconds rendered per size")
    ap.add_argument("--sizes", default="640x480,320x240")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1)")
    ap.add_argument("--items", action="store_true",
                    help="people hold items, every third lane half empty")
    args = ap.parse_args(argv)
    cv2.setNumThreads(args.threads)
    cfg = load_store_config(args.config)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"machine: {_cpu_name()}, {os.cpu_count()} cores, load {load[0]:.2f}; "
          f"numpy {np.__version__}, OpenCV {cv2.__version__}, {args.threads} OpenCV thread(s)")
    extra = " (half of them holding items, a third of the lanes half empty)" if args.items else ""
    print(f"store: {cfg.name}, {len(cfg.cameras)} cameras, {args.people} walking people{extra}, "
          f"{args.seconds:g} s of sim time per size")
    for text in args.sizes.split(","):
        w, h = (int(v) for v in text.lower().split("x"))
        res = bench(cfg, (w, h), args.people, args.seconds, items=args.items)
        print(f"{w}x{h}: static scene {res['build_s']:.2f} s/camera, "
              f"{res['ms_per_frame']:.2f} ms/frame wall ({res['cpu_ms_per_frame']:.2f} ms CPU), "
              f"{res['frames_per_s']:.0f} camera-frames/s, "
              f"real-time factor {res['realtime']:.2f}x for {res['cams']} cameras "
              f"({res['cams_fps']:g} frames per sim second); "
              f"one minute of video renders in {res['minute_s']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
