"""Running a node as a process: init, spin, and a clean exit on Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

import rclpy
from rclpy.exceptions import InvalidHandle
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from smart_store.config import ConfigError

#: What publishing raises once the context is shut down (RCLError: "publisher's context is
#: invalid") or the publisher destroyed (InvalidHandle): see drivers/publish_gate.py.
SHUTDOWN_ERRORS: tuple[type[BaseException], ...] = (_rclpy.RCLError, InvalidHandle)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: With ``orderly_shutdown`` the executor wakes this often to see a stop request (s).
_STOP_POLL_S = 0.1


class StopOnSignal:
    """Python handlers for SIGINT/SIGTERM that only ask the spin loop to stop.

    The first signal sets ``event`` and puts the default handlers back, so a second one (a
    supervisor escalating, Ctrl-C twice) ends the process at once.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous = {sig: signal.signal(sig, self._handle) for sig in _STOP_SIGNALS}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _spin_until(node: Node, stop: threading.Event) -> None:
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=_STOP_POLL_S)
    finally:
        executor.shutdown(timeout_sec=1.0)


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None, *,
             orderly_shutdown: bool = True) -> int:
    """Create the node with ``factory`` and spin it until shutdown.

    A bad store config is the one expected start-up failure: it is reported as the single line
    ConfigError gives (file, key, problem) and exit code 2, never a traceback.

    With ``orderly_shutdown=False`` rclpy's signal handlers turn SIGINT and SIGTERM (a
    supervisor, `kill`, launch) into a context shutdown, inside the signal handler, which ends
    spin() with ExternalShutdownException. A node whose own threads publish (the drivers' reader and
    capture threads) would then publish into a dead context for as long as it takes the main
    thread to destroy the node. ``orderly_shutdown=True`` handles the two signals here
    instead: the signal only ends the spin loop, then ``node.destroy_node()`` stops and joins
    the node's threads while the context is still valid, and only then is the context shut
    down (a second signal meanwhile ends the process at once). Either way the exit code is 0.

    ``orderly_shutdown`` is the default for every node: its spin loop also wakes every
    ``_STOP_POLL_S``, so a stop request never depends on a wake-up of the middleware's wait
    set. With ``rclpy.spin`` (``orderly_shutdown=False``) shelf_events was seen, on a loaded
    machine, to sit in an endless ``rcl_wait`` through a SIGTERM for more than 30 s.
    """
    argv = list(args) if args is not None else sys.argv
    # Before init: with orderly_shutdown a signal during start-up is a stop request too.
    stop = StopOnSignal() if orderly_shutdown else None
    node: Node | None = None
    try:
        if stop is not None:
            rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
        else:
            rclpy.init(args=argv)
        node = factory()
        if stop is None:
            rclpy.spin(node)
        else:
            _spin_until(node, stop.event)
    except ConfigError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        if stop is not None:
            stop.restore()
    return 0
