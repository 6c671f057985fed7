"""What the load-cell and distance drivers share: hubs from the config, port overrides,
one reader thread per hub, host-clock stamping and /diagnostics."""

from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from smart_store.config import StoreConfig, load_store_config
from smart_store.drivers.protocol import Sample
from smart_store.drivers.serial_hub import HubThread, SerialHubReader
from smart_store.resources import default_store_config
from smart_store.ros.params import declare_float, declare_str, declare_str_list


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

    def ros_time(self, mono_s: float) -> float:
        """A monotonic stamp from a reader thread as seconds on the node's clock.

        Reader threads stamp on the monotonic clock (immune to wall-clock steps); the age of
        the stamp is carried over to the node clock now, which follows /clock with sim time.
        """
        return self.get_clock().now().nanoseconds / 1e9 - (time.monotonic() - mono_s)

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
            msg.status.append(DiagnosticStatus(
                level=level, name=f'{self.get_name()}: {r.hub_id}', hardware_id=r.port,
                message=s.state if s.state == 'open' else (s.last_error or s.state),
                values=values))
        self._diag.publish(msg)

    def destroy_node(self) -> None:
        for thread in self.threads:
            thread.stop()
        super().destroy_node()
