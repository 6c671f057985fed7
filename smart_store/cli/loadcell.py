"""``./smart-store loadcell tare|calibrate``: the load-cell driver's services from the shell.

Calibration procedure (also in the README): empty the lane, ``tare``; put a known weight on it,
``calibrate --grams G``. The driver averages the last ``--average`` seconds and persists the
result in its ``calibration_file``. On a full ROS install the same services are
``ros2 service call /loadcell_driver/tare smart_store/srv/TareChannel ...``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='tare or calibrate a load-cell channel (driver services)')
    p.add_argument('action', choices=('tare', 'calibrate'))
    p.add_argument('--hub', required=True, help='hub id, e.g. hub_lc_a')
    p.add_argument('--channel', type=int, required=True)
    p.add_argument('--grams', type=float, default=None, help='calibrate: the known weight')
    p.add_argument('--average', type=float, default=0.0, help='seconds to average (0 = driver '
                   'default)')
    p.add_argument('--node', default='/loadcell_driver', help='driver node name')
    p.add_argument('--timeout', type=float, default=10.0)
    p.add_argument('--domain-id', type=int, default=None)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == 'calibrate' and (args.grams is None or args.grams <= 0):
        print('smart-store loadcell: calibrate needs --grams > 0', file=sys.stderr)
        return 2
    if args.domain_id is not None:
        os.environ['ROS_DOMAIN_ID'] = str(args.domain_id)
    import rclpy  # noqa: PLC0415

    from smart_store.srv import CalibrateChannel, TareChannel  # noqa: PLC0415

    rclpy.init()
    try:
        node = rclpy.create_node('smart_store_loadcell_cli')
        if args.action == 'tare':
            client = node.create_client(TareChannel, f'{args.node}/tare')
            request: Any = TareChannel.Request(hub_id=args.hub, channel=args.channel,
                                               average_s=args.average)
        else:
            client = node.create_client(CalibrateChannel, f'{args.node}/calibrate')
            request = CalibrateChannel.Request(hub_id=args.hub, channel=args.channel,
                                               known_grams=args.grams, average_s=args.average)
        if not client.wait_for_service(timeout_sec=args.timeout):
            print(f'smart-store loadcell: no {args.node} driver answering', file=sys.stderr)
            return 1
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=args.timeout)
        result = future.result()
        if result is None:
            print('smart-store loadcell: no answer', file=sys.stderr)
            return 1
        print(('ok: ' if result.success else 'failed: ') + result.message)
        return 0 if result.success else 1
    finally:
        rclpy.try_shutdown()
