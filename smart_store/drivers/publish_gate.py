"""Publishing from a driver's own threads, safely around shutdown.

A reader or capture thread publishes whenever data comes in, unsynchronised with the executor
that runs shutdown. ``PublishGate`` is what those threads publish through: once the node has
started stopping (``close()``), a publish is dropped and counted; a publish that fails because
the ROS context or the publisher is gone by then (shut down under the thread's feet) is dropped
and counted too. Nothing is printed: losing the last few samples of a run at Ctrl-C is
expected, not an error. The same errors while the node runs normally are the middleware
refusing the write (Fast DDS back-pressure: a reliable writer whose reader has not acknowledged
its history in time): counted in ``refused`` (the hub drivers report it in their diagnostics),
the thread goes on with the next sample. Any other failure (a wrong message type) raises.

Pure Python, no ROS: the node hands in its context's ``ok`` and the exception types.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

M = TypeVar('M')


class PublishGate:
    def __init__(self, context_ok: Callable[[], bool],
                 shutdown_errors: tuple[type[BaseException], ...]) -> None:
        self._context_ok = context_ok
        self._errors = shutdown_errors
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self.dropped = 0   # publishes dropped at (or after) shutdown
        self.refused = 0   # publishes the middleware refused while running

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """From now on every publish is a counted drop (idempotent)."""
        self._closed.set()

    def _drop(self) -> bool:
        with self._lock:
            self.dropped += 1
        return False

    def publish(self, publish: Callable[[M], object], msg: M) -> bool:
        """``publish(msg)`` unless shutting down; True if it was published."""
        if self._closed.is_set():
            return self._drop()
        try:
            publish(msg)
        except self._errors:
            if self._closed.is_set() or not self._alive():
                return self._drop()
            with self._lock:
                self.refused += 1
            return False
        return True

    def _alive(self) -> bool:
        try:
            return bool(self._context_ok())
        except Exception:  # noqa: BLE001 - a destroyed context cannot even be asked
            return False
