"""Running a node as a process: init, spin, and a clean exit on Ctrl-C or SIGTERM."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from smart_store.config import ConfigError


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """Create the node with ``factory`` and spin it until shutdown.

    A bad store config is the one expected start-up failure: it is reported as the single line
    ConfigError gives (file, key, problem) and exit code 2, never a traceback.
    """
    # rclpy's default signal handlers turn SIGINT and SIGTERM (a supervisor, `kill`, launch)
    # into a context shutdown, which ends spin() with ExternalShutdownException.
    rclpy.init(args=list(args) if args is not None else sys.argv)
    node: Node | None = None
    try:
        node = factory()
        rclpy.spin(node)
    except ConfigError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
