"""``./smart-store pose dataset|train|eval``: the 2D pose network's data, training, scoring.

    ./smart-store pose dataset -o data/pose_train --seeds 1000-1007     # twin renders + COCO
    ./smart-store pose dataset -o data/pose_val --scenarios crossed_arms handoff
    ./smart-store pose train data/pose_train/annotations.json -o weights.pt --epochs 12
    ./smart-store pose eval weights.pt data/pose_val/annotations.json   # OKS AP, pycocotools

Training takes any COCO-keypoint JSON with an image folder (``--images``, default: the JSON's
folder), so real COCO-format datasets work as well as the twin's exports. It is reproducible
from ``--seed``. Evaluation uses scenarios and seeds that training never saw.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='pose network: render a dataset, train, evaluate (OKS AP)')
    ps = p.add_subparsers(dest='pose_command', required=True, metavar='ACTION')
    d = ps.add_parser('dataset', help='render twin scenarios to images + COCO keypoints')
    d.add_argument('-o', '--output', type=Path, required=True)
    d.add_argument('--seeds', default=None, help='generated scenarios, e.g. 1000-1007')
    d.add_argument('--scenarios', nargs='+', default=None, help='library scenarios')
    d.add_argument('--shoppers', type=int, default=8)
    d.add_argument('--every', type=int, default=4, help='keep every n-th camera frame')
    d.add_argument('--resolution', default='320x240')
    t = ps.add_parser('train', help='train on a COCO-keypoint JSON')
    t.add_argument('annotations', type=Path)
    t.add_argument('--images', type=Path, default=None, help='image root (default: beside '
                   'the JSON)')
    t.add_argument('-o', '--output', type=Path, required=True, help='weights file (.pt)')
    t.add_argument('--val', type=Path, default=None, help='validation COCO JSON')
    t.add_argument('--epochs', type=int, default=12)
    t.add_argument('--batch-size', type=int, default=16)
    t.add_argument('--lr', type=float, default=2e-3)
    t.add_argument('--seed', type=int, default=0)
    t.add_argument('--input-size', default='320x240')
    t.add_argument('--device', default='auto')
    t.add_argument('--init', type=Path, default=None, help='start from these weights')
    t.add_argument('--threads', type=int, default=1, help='torch CPU threads (1 is fastest '
                   'on a loaded 2-core machine)')
    t.add_argument('--workers', type=int, default=0, help='data-loader processes (decode and '
                   'augmentation; use most cores when training on a GPU)')
    t.add_argument('--time-budget', type=float, default=None, metavar='SECONDS',
                   help='train as many of --epochs as fit, the schedule shortened to match')
    e = ps.add_parser('eval', help='OKS keypoint AP with pycocotools')
    e.add_argument('weights', type=Path)
    e.add_argument('annotations', type=Path)
    e.add_argument('--images', type=Path, default=None)
    e.add_argument('--device', default='auto')
    p.set_defaults(run=run)


def _size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split('x'))
    return w, h


def run(args: argparse.Namespace) -> int:
    if args.pose_command == 'dataset':
        return _dataset(args)
    if args.pose_command == 'train':
        from smart_store.tracking.pose.train import train  # noqa: PLC0415

        images = args.images or args.annotations.parent
        val_images = args.val.parent if args.val else None
        summary = train(args.annotations, images, args.output, epochs=args.epochs,
                        batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                        input_size=_size(args.input_size), device=args.device,
                        val_json=args.val, val_image_root=val_images,
                        init_weights=args.init, num_threads=args.threads,
                        num_workers=args.workers, time_budget=args.time_budget)
        print(f'[pose train] {args.output}: {summary}')
        return 0
    from smart_store.tracking.pose.evaluate import evaluate  # noqa: PLC0415

    stats = evaluate(args.weights, args.annotations, args.images or args.annotations.parent,
                     device=args.device)
    print('[pose eval] ' + ', '.join(f'{k} {v:.3f}' if isinstance(v, float) else f'{k} {v}'
                                     for k, v in stats.items()))
    return 0


def _dataset(args: argparse.Namespace) -> int:
    from smart_store.config import load_store_config  # noqa: PLC0415
    from smart_store.resources import default_store_config  # noqa: PLC0415
    from smart_store.tracking.pose.twin_data import render_dataset  # noqa: PLC0415
    from smart_store.twin.errors import ScenarioError  # noqa: PLC0415
    from smart_store.twin.generator import generate_scenario  # noqa: PLC0415
    from smart_store.twin.scenario import load_scenario  # noqa: PLC0415

    cfg = load_store_config(default_store_config())
    scenarios = []
    if args.seeds:
        lo, _, hi = args.seeds.partition('-')
        for seed in range(int(lo), int(hi or lo) + 1):
            try:
                scenarios.append(generate_scenario(cfg, seed, shoppers=args.shoppers,
                                                   crowding=0.5, simultaneous=0.4,
                                                   name=f'gen_{seed}'))
            except (ScenarioError, ValueError) as err:
                print(f'[pose dataset] seed {seed} skipped: {err}', file=sys.stderr)
    for name in args.scenarios or []:
        scenarios.append(load_scenario(name))
    if not scenarios:
        print('smart-store pose dataset: give --seeds and/or --scenarios', file=sys.stderr)
        return 2
    path = render_dataset(cfg, scenarios, args.output, size=_size(args.resolution),
                          every=args.every)
    print(f'[pose dataset] {path}')
    return 0
