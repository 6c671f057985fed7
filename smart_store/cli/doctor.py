"""``./smart-store doctor``: check that the install can do what the stack needs."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

CHECKS = (
    ('rclpy', 'rclpy (ROS 2 client library)'),
    ('smart_store.msg', 'smart_store interfaces (built from msg/)'),
    ('sensor_msgs.msg', 'sensor_msgs'),
    ('visualization_msgs.msg', 'visualization_msgs'),
    ('numpy', 'numpy'),
    ('scipy', 'scipy'),
    ('cv2', 'OpenCV'),
    ('torch', 'torch'),
    ('sqlite_utils', 'sqlite-utils'),
    ('rosbags', 'rosbags'),
    ('mcap', 'mcap'),
    ('serial', 'pyserial'),
)
OPTIONAL = (
    ('launch_ros', 'launch_ros (full ROS installs: `ros2 launch`)'),
    ('message_filters', 'message_filters (full ROS installs)'),
    ('cv_bridge', 'cv_bridge (full ROS installs)'),
)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='check the install (imports, interfaces, config)')
    p.set_defaults(run=run)


def _try(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 - report any import failure, it is the point
        return f'{type(err).__name__}: {err}'
    return None


def run(args: argparse.Namespace) -> int:
    failed = 0
    for module, label in CHECKS:
        err = _try(module)
        print(f'  {"ok " if err is None else "FAIL"} {label}' + (f' - {err}' if err else ''))
        failed += err is not None
    for module, label in OPTIONAL:
        err = _try(module)
        print(f'  {"ok " if err is None else "n/a "} {label}')
    if not failed:
        from smart_store.config import load_store_config  # noqa: PLC0415
        from smart_store.resources import default_store_config  # noqa: PLC0415
        load_store_config(default_store_config())
        print('  ok  demo store config')
    return 1 if failed else 0
