"""Pose network speed: images/s for batch sizes x input sizes x back-ends (x CUDA when present).

    ./smart-store python benchmarks/pose_speed.py [--threads 2] [--weights W.pt]
        [--sizes 256x192,320x240,384x288] [--batches 1,4,8] [--backends torch,onnx]
        [--seconds 2] [--json out.json]

Two numbers per row: ``net`` = the network alone on an input-size uint8 batch; ``e2e`` = what
the tracker pays per frame set: letterboxing 640x480 camera images, the network and decoding
to people in camera pixels. Without ``--weights`` a randomly initialised network is timed (the
speed does not depend on the weights). ONNX rows need onnx + onnxruntime installed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smart_store.tracking.pose.backend import OnnxPoseBackend, TorchPoseBackend
from smart_store.tracking.pose.network import PoseNet, count_parameters, save_weights


def _rate(fn: Callable[[], object], batch: int, seconds: float) -> float:
    """Images/s: the median of repeated timed calls after two warm-up calls."""
    fn()
    fn()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def _size(text: str) -> tuple[int, int]:
    w, h = text.lower().split('x')
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--weights', type=Path, help='PoseNet weights (default: random init)')
    ap.add_argument('--sizes', default='256x192,320x240,384x288')
    ap.add_argument('--batches', default='1,4,8')
    ap.add_argument('--backends', default='torch,onnx')
    ap.add_argument('--threads', type=int, default=2, help='torch / onnxruntime CPU threads')
    ap.add_argument('--seconds', type=float, default=2.0, help='timing per row')
    ap.add_argument('--json', type=Path, help='also write the rows here')
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = [_size(s) for s in args.sizes.split(',')]
    batches = [int(b) for b in args.batches.split(',')]
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    backends = args.backends.split(',')

    tmp = Path(tempfile.mkdtemp(prefix='pose_speed_'))
    weights = args.weights
    if weights is None:
        torch.manual_seed(0)
        weights = save_weights(PoseNet(), tmp / 'random.pt', (320, 240))
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'
    print(f'# PoseNet {count_parameters(PoseNet()) / 1e6:.3f} M params, weights '
          f'{Path(weights).stat().st_size / 1e6:.2f} MB; torch {torch.__version__}, '
          f'{args.threads} CPU threads ({cpu}), GPU {gpu}')
    rng = np.random.default_rng(0)
    cams = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(max(batches))]
    rows: list[dict[str, Any]] = []
    print(f'{"backend":8} {"device":6} {"input":8} {"batch":>5} {"net img/s":>10} '
          f'{"e2e img/s":>10} {"e2e ms/batch":>12}')
    for device in devices:
        for name in backends:
            for w, h in sizes:
                try:
                    if name == 'torch':
                        backend: Any = TorchPoseBackend(weights, device, (w, h))
                    elif name == 'onnx':
                        backend = OnnxPoseBackend(weights, device, (w, h),
                                                  num_threads=args.threads,
                                                  onnx_path=tmp / f'pose_{w}x{h}.onnx')
                        if device == 'cuda' and 'CUDAExecutionProvider' not in backend.providers:
                            continue
                    else:
                        raise ValueError(f'unknown backend {name!r}')
                except ImportError as err:
                    print(f'{name:8} skipped: {err}', file=sys.stderr)
                    break
                for b in batches:
                    net_in = rng.integers(0, 256, (b, h, w, 3), dtype=np.uint8)
                    images = cams[:b]
                    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)

                    def net(backend: Any = backend, net_in: np.ndarray = net_in,
                            sync: Callable[[], None] = sync) -> None:
                        backend.forward(net_in)
                        sync()

                    net_rate = _rate(net, b, args.seconds)
                    e2e_rate = _rate(lambda backend=backend, images=images: backend.infer(images),
                                     b, args.seconds)
                    row = {'backend': name, 'device': device, 'input': f'{w}x{h}', 'batch': b,
                           'net_images_per_s': round(net_rate, 1),
                           'e2e_images_per_s': round(e2e_rate, 1),
                           'e2e_ms_per_batch': round(1000 * b / e2e_rate, 2)}
                    rows.append(row)
                    print(f'{name:8} {device:6} {w}x{h:<4} {b:>5} {net_rate:>10.1f} '
                          f'{e2e_rate:>10.1f} {1000 * b / e2e_rate:>12.2f}', flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding='utf-8')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
