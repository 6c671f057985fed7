"""What the multi-camera fusion costs per frame set: association + triangulation + tracking.

A synthetic store gets a ceiling grid of 4, 12 or 30 cameras, one per 3 m x 3 m cell (so the
store grows with the camera count: 6 x 6, 12 x 9 and 18 x 15 m;
``smart_store.tracking.synthetic.ceiling_grid``: 3.2 m up, 640x480, f = 250 px, each aimed 2 m
off-vertical, alternately towards the four diagonals, so that a person is seen by ~4 cameras);
5, 20 or 100 people walk random straight legs across the floor, turning away from walls and
from each other (no closer than ~0.5 m). Every frame
set's 2-D detections are synthesised up front (projection, 2 px noise, 10 % of joints dropped),
so only ``Fusion.process`` is timed: association (anchored on the tracker's predictions),
triangulation and tracking. The whole floor is an entry zone here so that everybody gets a track
in the warm-up; the timed frames are the steady state.

Single core: BLAS/OpenMP/OpenCV threads are limited to one and the process is pinned to one CPU.

    ./smart-store python benchmarks/fusion_cost.py
    ./smart-store python benchmarks/fusion_cost.py --cameras 12 --people 20 --frames 200

Each case is timed ``--repeat`` times over the same frames and the pass with the lowest median
is kept. Columns: median and 90th-percentile CPU ms per frame set (thread CPU time: immune to other
processes on a shared machine), the median wall-clock ms, the median split per stage (wall),
detections per frame set, mean views per fused person, live tracks at the end, and id switches
(a person's nearest track changing after the warm-up - should be 0).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smart_store.config.model import CameraConfig, StoreConfig, Zone  # noqa: E402
from smart_store.tracking.fusion import Fusion  # noqa: E402
from smart_store.tracking.model import Detection2D, TrackStatus  # noqa: E402
from smart_store.tracking.synthetic import ceiling_grid, detect, skeleton  # noqa: E402

GRIDS = {4: (2, 2), 12: (4, 3), 30: (6, 5)}
CELL = 3.0  # m of floor per camera and direction
FPS = 15.0
SPEED = 1.0  # m/s


def make_store(n_cameras: int) -> StoreConfig:
    """A bare store config: floor, one entry zone covering it, an exit zone, grid cameras."""
    nx, ny = GRIDS[n_cameras]
    width, depth = nx * CELL, ny * CELL
    models = ceiling_grid(width, depth, nx, ny, focal=250.0, tilt=2.0)
    floor = np.array([[0.0, 0.0], [width, 0.0], [width, depth], [0.0, depth]])
    cams = tuple(
        CameraConfig(cid, f"/cameras/{cid}/image_raw", m.width, m.height, FPS, m,
                     m.center, m.center + m.forward)
        for cid, m in models.items()
    )
    zones = (
        Zone("entry", "entry", floor.copy()),
        Zone("exit", "exit", np.array([[width - 1.0, -1.0], [width, -1.0], [width, -0.5],
                                        [width - 1.0, -0.5]])),
    )
    return StoreConfig("<benchmark>", "bench", "store", "EUR", floor, zones, cams, (), (), {}, {})


def walkers(rng: np.random.Generator, n: int, width: float, depth: float, frames: int,
            ) -> np.ndarray:
    """``(frames, n, 3)`` x, y, heading of ``n`` people walking straight legs, bouncing off
    the walls and turning away from anybody closer than ``sep`` (0.6 m, less in a crowd)."""
    sep = min(0.6, 0.6 * np.sqrt((width - 1.0) * (depth - 1.0) / n))
    pos = np.empty((n, 2))
    k = tries = 0
    while k < n:
        p = rng.uniform([0.5, 0.5], [width - 0.5, depth - 0.5])
        tries += 1
        if k == 0 or tries > 10_000 or np.min(np.linalg.norm(pos[:k] - p, axis=1)) >= sep:
            pos[k] = p
            k += 1
    ang = rng.uniform(-np.pi, np.pi, n)
    out = np.empty((frames, n, 3))
    dt = 1.0 / FPS
    for f in range(frames):
        diff = pos[:, None, :] - pos[None, :, :]
        dist = np.linalg.norm(diff, axis=2) + np.eye(n) * 1e9
        close = dist.min(axis=1) < sep
        if np.any(close):
            other = np.argmin(dist, axis=1)
            away = pos - pos[other]
            ang = np.where(close, np.arctan2(away[:, 1], away[:, 0]), ang)
        vel = SPEED * np.column_stack([np.cos(ang), np.sin(ang)])
        nxt = pos + vel * dt
        bounce_x = (nxt[:, 0] < 0.4) | (nxt[:, 0] > width - 0.4)
        bounce_y = (nxt[:, 1] < 0.4) | (nxt[:, 1] > depth - 0.4)
        ang = np.where(bounce_x, np.pi - ang, ang)
        ang = np.where(bounce_y, -ang, ang)
        vel = SPEED * np.column_stack([np.cos(ang), np.sin(ang)])
        pos = np.clip(pos + vel * dt, 0.3, [width - 0.3, depth - 0.3])
        out[f, :, :2] = pos
        out[f, :, 2] = ang
    return out


def synth_frames(cfg: StoreConfig, tracks: np.ndarray, seed: int,
                 ) -> list[dict[str, list[Detection2D]]]:
    rng = np.random.default_rng(seed)
    heights = rng.uniform(1.55, 1.95, tracks.shape[1])
    frames = []
    for f in range(tracks.shape[0]):
        skel = [skeleton(x, y, h, heights[k]) for k, (x, y, h) in enumerate(tracks[f])]
        dets: dict[str, list[Detection2D]] = {}
        for cam in cfg.cameras:
            lst = []
            for j in skel:
                d = detect(cam.id, cam.model, j, rng, noise_px=2.0, drop=0.1)
                if d is not None:
                    lst.append(d)
            dets[cam.id] = lst
        frames.append(dets)
    return frames


def one_pass(cfg: StoreConfig, frames: list[dict[str, list[Detection2D]]], truth: np.ndarray,
             warmup: int) -> dict[str, float]:
    """Run a fresh ``Fusion`` over ``frames``; timings and quality of the frames after warm-up."""
    fusion = Fusion(cfg)
    n_people = truth.shape[1]
    times, cpu, stages, views, dets = [], [], [], [], []
    assigned: dict[int, int] = {}
    switches = 0
    for f, frame in enumerate(frames):
        t = f / FPS
        c0 = time.thread_time()
        t0 = time.perf_counter()
        states = fusion.process(t, frame)
        dt = (time.perf_counter() - t0) * 1e3
        dc = (time.thread_time() - c0) * 1e3
        if f < warmup:
            continue
        times.append(dt)
        cpu.append(dc)
        stages.append(dict(fusion.timings))
        dets.append(sum(len(v) for v in frame.values()))
        multi = [p.num_views for p in fusion.last_persons]
        views.append(float(np.mean(multi)) if multi else 0.0)
        live = [s for s in states if s.state != TrackStatus.EXITED]
        if live:
            pos = np.stack([s.position[:2] for s in live])
            for k in range(n_people):
                d = np.linalg.norm(pos - truth[f, k, :2], axis=1)
                j = int(np.argmin(d))
                if d[j] < 0.5:
                    if k in assigned and assigned[k] != live[j].id:
                        switches += 1
                    assigned[k] = live[j].id
    med = {k: float(np.median([s[k] for s in stages])) for k in stages[0]}
    return {
        "median": float(np.median(cpu)),
        "p90": float(np.percentile(cpu, 90)),
        "wall": float(np.median(times)),
        "associate": med["prepare"] + med["associate"],
        "triangulate": med["triangulate"],
        "track": med["track"],
        "detections": float(np.mean(dets)),
        "views": float(np.mean(views)),
        "switches": switches,
        "tracks": len(fusion.tracker.live_ids()),
    }


def run_case(n_cam: int, n_people: int, args: argparse.Namespace) -> dict[str, float]:
    """Synthesise the case once, time it ``--repeat`` times, keep the pass with the lowest
    median (the least disturbed by other processes; the results are deterministic)."""
    cfg = make_store(n_cam)
    width, depth = float(cfg.floor[:, 0].max()), float(cfg.floor[:, 1].max())
    rng = np.random.default_rng(args.seed + 1000 * n_cam + n_people)
    truth = walkers(rng, n_people, width, depth, args.warmup + args.frames)
    frames = synth_frames(cfg, truth, args.seed)
    passes = [one_pass(cfg, frames, truth, args.warmup) for _ in range(max(1, args.repeat))]
    return min(passes, key=lambda r: r["median"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", default="4,12,30", help="comma list from 4, 12, 30")
    ap.add_argument("--people", default="5,20,100", help="comma list")
    ap.add_argument("--frames", type=int, default=60, help="timed frame sets per case")
    ap.add_argument("--warmup", type=int, default=15, help="untimed frame sets first")
    ap.add_argument("--repeat", type=int, default=3, help="timing passes per case (best kept)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
    print(f"fusion cost per frame set, single core - {platform.processor() or platform.machine()}"
          f", Python {platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__}")
    print(f"{args.frames} timed frame sets per case after {args.warmup} warm-up, best of "
          f"{args.repeat} passes; store {CELL:g} x {CELL:g} m per camera")
    head = (f"{'cams':>4} {'people':>6} | {'cpu ms':>7} {'p90':>6} {'wall':>6} | {'assoc':>6} "
            f"{'triang':>6} {'track':>6} | {'dets':>5} {'views':>5} {'tracks':>6} {'id sw':>5}")
    print(head)
    print("-" * len(head))
    for n_cam in [int(c) for c in args.cameras.split(",")]:
        for n_people in [int(p) for p in args.people.split(",")]:
            r = run_case(n_cam, n_people, args)
            print(f"{n_cam:>4} {n_people:>6} | {r['median']:>7.2f} {r['p90']:>6.2f} "
                  f"{r['wall']:>6.2f} | "
                  f"{r['associate']:>6.2f} {r['triangulate']:>6.2f} {r['track']:>6.2f} | "
                  f"{r['detections']:>5.0f} {r['views']:>5.1f} {r['tracks']:>6d} "
                  f"{r['switches']:>5d}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
