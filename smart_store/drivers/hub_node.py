"""What the load-cell and distance drivers share: hubs from the config, port overrides,
one reader thread per hub, host-clock stamping and /diagnostics.

Shutdown is ordered: the drivers run under ``run_node(..., orderly_shutdown=True)``, so on
SIGINT/SIGTERM ``destroy_node`` first closes the publish gate and stops and joins the reader
threads, then destroys the node, and only then is the context shut down. Whatever a reader
thread still publishes at that point (or if the context is shut down some other way) is a
counted drop in ``PublishGate``, never a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from smart_store.config import StoreConfig, load_store_config
from smart_store.drivers.protocol import Sample
from smart_store.drivers.publish_gate import PublishGate
from smart_store.drivers.serial_hub import HubThread, SerialHubReader
from smart_store.drivers.stamping import NS, ClockSnapshot, StampMapper, take_snapshot
from smart_store.resources import default_store_config
from smart_store.ros.params import declare_float, declare_str, declare_str_list
from smart_store.ros.runner import SHUTDOWN_ERRORS

M = TypeVar('M')


def time_msg(ns: int) -> Time:
    """ROS-time nanoseconds as builtin_interfaces/Time (never before 0)."""
    sec, nanosec = divmod(max(0, int(ns)), NS)
    return Time(sec=sec, nanosec=nanosec)


class HubDriverNode(Node):
    """Base of the serial hub drivers; subclasses handle the samples."""

    hub_kind = ''

    def __init__(self, name: str) -> None:
        super().__init__(name)
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        wanted = declare_str_list(self, 'hubs', f'{self.hub_kind} hub ids to read; empty = all')
        overrides = declare_str_list(self, 'port_overrides',
                                     'serial ports replacing the config\'s, as "<hub>=<port>"')
        silent = declare_float(self, 'silent_timeout', 2.0,
                               's without bytes before a hub is reported silent',
                               low=0.1, high=60.0)
        self.cfg: StoreConfig = load_store_config(path or default_store_config())
        port_for = dict(o.split('=', 1) for o in overrides if '=' in o)
        hubs = [h for h in self.cfg.hubs if h.kind == self.hub_kind
                and (not wanted or h.id in wanted)]
        self.threads: list[HubThread] = []
        # Created before the threads: a reader thread publishes through the gate and stamps
        # through the mapper from its first batch on.
        self.gate = PublishGate(self.context.ok, SHUTDOWN_ERRORS)
        self.stamps = StampMapper()
        for hub in hubs:
            reader = SerialHubReader(hub.id, port_for.get(hub.id, hub.port), hub.baud,
                                     silent_s=silent, log=self.get_logger().warning)
            self.threads.append(HubThread(reader, time.monotonic, self._on_samples_threadsafe))
        self._diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_timer = self.create_timer(1.0, self.publish_diagnostics)

    def start_hubs(self) -> None:
        for thread in self.threads:
            thread.start()
        self.get_logger().info(
            f'reading {len(self.threads)} {self.hub_kind} hub(s): '
            + ', '.join(f'{t.reader.hub_id}@{t.reader.port}' for t in self.threads))

    def clock_snapshot(self) -> ClockSnapshot:
        """The node clock (which follows /clock with sim time) and the monotonic clock, read
        together (stamping.py). Take one per batch of samples and map them all with it."""
        clock = self.get_clock()
        return take_snapshot(lambda: clock.now().nanoseconds, time.monotonic)

    def ros_stamp(self, key: Hashable, mono_s: float, snapshot: ClockSnapshot) -> Time:
        """A monotonic stamp from a reader thread as a stamp on the node's clock; stamps of
        one ``key`` (a hub, a sensor) never decrease."""
        resets = self.stamps.resets
        stamp = time_msg(self.stamps.stamp(key, mono_s, snapshot))
        if self.stamps.resets > resets and resets == 0:
            self.get_logger().warning('the ROS clock went back (a bag or sim restarted): '
                                      'stamps start a new time line; further ones are counted '
                                      '(diagnostics: stamp_resets)')
        return stamp

    def ros_time(self, mono_s: float) -> float:
        """A monotonic stamp as seconds on the node's clock (one snapshot, no per-key guard)."""
        return self.clock_snapshot().to_ros_ns(mono_s) / NS

    def publish(self, publish: Callable[[M], object], msg: M) -> bool:
        """``publish(msg)`` through the gate: after shutdown a counted drop, not a traceback."""
        return self.gate.publish(publish, msg)

    def _on_samples_threadsafe(self, reader: SerialHubReader,
                               samples: list[tuple[float, Sample]]) -> None:
        self.on_samples(reader, samples)

    def on_samples(self, reader: SerialHubReader, samples: list[tuple[float, Sample]]) -> None:
        raise NotImplementedError

    def extra_diagnostics(self, reader: SerialHubReader) -> list[tuple[str, str]]:
        return []

    def publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        for thread in self.threads:
            r = thread.reader
            s = r.stats
            level = {'open': DiagnosticStatus.OK, 'silent': DiagnosticStatus.WARN}.get(
                s.state, DiagnosticStatus.ERROR)
            values = [KeyValue(key=k, value=v) for k, v in s.as_dict().items()]
            values += [KeyValue(key=k, value=v) for k, v in self.extra_diagnostics(r)]
            values.append(KeyValue(key='error_overlong', value=str(r.splitter_overlong)))
            values.append(KeyValue(key='stamps_clamped', value=str(self.stamps.clamped)))
            values.append(KeyValue(key='stamp_resets', value=str(self.stamps.resets)))
            values.append(KeyValue(key='publish_refused', value=str(self.gate.refused)))
            msg.status.append(DiagnosticStatus(
                level=level, name=f'{self.get_name()}: {r.hub_id}', hardware_id=r.port,
                message=s.state if s.state == 'open' else (s.last_error or s.state),
                values=values))
        self.publish(self._diag.publish, msg)

    def stop_hubs(self, timeout: float = 2.0) -> None:
        """Close the gate, then stop all reader threads and wait for them (idempotent)."""
        self.gate.close()
        for thread in self.threads:
            thread.request_stop()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            if not thread.join(max(0.0, deadline - time.monotonic())):
                self.get_logger().warning(f'{thread.reader.hub_id}: reader thread did not stop '
                                          f'within {timeout:.1f} s')

    def destroy_node(self) -> None:
        self.stop_hubs()
        super().destroy_node()
