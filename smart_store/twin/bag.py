"""rosbag2 writing and reading without ROS: rosbags' typestore plus this package's messages.

The twin serialises every message with rosbags (pure Python CDR, byte-identical to rclpy's), so
one code path feeds both sinks: a rosbag2 directory (MCAP by default, sqlite3 on request) that
`ros2 bag play` opens on a full install, and, in live mode, rclpy publishers that take the
already-serialised bytes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rosbags.interfaces import (
    Connection,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from smart_store.resources import data_path

Storage = Literal['mcap', 'sqlite3']
QOS_ROLES = ('sensor', 'events', 'latched', 'state')

_TYPESTORE: Typestore | None = None


def msg_dir() -> Path:
    """The package's msg/ folder (source tree, or share/smart_store/msg on an install)."""
    return data_path('msg')


def typestore() -> Typestore:
    """ROS 2 Kilted's standard types plus smart_store/msg/*, built once per process."""
    global _TYPESTORE  # noqa: PLW0603 - a process-wide cache of an immutable registry
    if _TYPESTORE is None:
        store = get_typestore(Stores.ROS2_KILTED)
        types: dict[str, Any] = {}
        for path in sorted(msg_dir().glob('*.msg')):
            types.update(get_types_from_msg(path.read_text(encoding='utf-8'),
                                            f'smart_store/msg/{path.stem}'))
        store.register(types)
        _TYPESTORE = store
    return _TYPESTORE


def msg_class(typename: str) -> Any:
    """The rosbags dataclass for a ROS type name such as ``sensor_msgs/msg/Image``."""
    return typestore().types[typename]


def serialize(msg: object, typename: str) -> bytes:
    """CDR bytes of a rosbags message object (what rclpy would put on the wire)."""
    return bytes(typestore().serialize_cdr(msg, typename))


def deserialize(data: bytes | memoryview, typename: str) -> Any:
    return typestore().deserialize_cdr(bytes(data), typename)


_ZERO = QosTime(sec=0, nsec=0)
_INFINITE = QosTime(sec=0x7FFFFFFF, nsec=0xFFFFFFFF)


def qos_for_role(role: str) -> Qos:
    """The QoS a publisher of the given graph-table role offers (recorded in the bag so that
    `ros2 bag play` and `./smart-store replay` publish with it): smart_store/ros/qos.py's
    profiles, so a replayed topic offers what the live publisher offered."""
    reliable = role != 'sensor'
    latched = role in ('latched', 'state', 'events')
    depth = {'sensor': 5, 'events': 100, 'latched': 1, 'state': 100}[role]
    return Qos(
        history=QosHistory.KEEP_LAST, depth=depth,
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if latched else QosDurability.VOLATILE,
        deadline=_INFINITE, lifespan=_INFINITE, liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=_INFINITE, avoid_ros_namespace_conventions=False)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    type: str
    qos: str = 'events'


class BagWriter:
    """A rosbag2 directory being written. Deterministic: same messages, same bytes."""

    def __init__(self, path: Path, topics: Iterable[TopicSpec], storage: Storage = 'mcap',
                 overwrite: bool = False) -> None:
        self.path = Path(path)
        if self.path.exists():
            if not overwrite:
                raise FileExistsError(f'{self.path} exists (use a new name or --overwrite)')
            shutil.rmtree(self.path)
        plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._writer.open()
        self._connections: dict[str, Connection] = {}
        for topic in topics:
            self.add_topic(topic)
        self.count = 0

    def add_topic(self, topic: TopicSpec) -> None:
        """Declare a topic (also after messages were written: a recorder meets new topics)."""
        self._connections[topic.name] = self._writer.add_connection(
            topic.name, topic.type, typestore=typestore(),
            offered_qos_profiles=[qos_for_role(topic.qos)])

    def write(self, topic: str, stamp_ns: int, data: bytes) -> None:
        """Write one serialised message received (or published) at ``stamp_ns``."""
        self._writer.write(self._connections[topic], stamp_ns, data)
        self.count += 1

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class BagMessage:
    topic: str
    type: str
    stamp_ns: int
    data: bytes


def bag_topics(path: Path) -> dict[str, tuple[str, str]]:
    """topic -> (type, offered QoS role) of a rosbag2 directory: ``sensor`` (best effort),
    ``latched`` (transient local, depth 1) or ``events`` (reliable, kept; the ``state``
    profile is the same)."""
    with Reader(path) as reader:
        out = {}
        for conn in reader.connections:
            ext = conn.ext
            qos = getattr(ext, 'offered_qos_profiles', []) or []
            role = 'events'
            if qos:
                q = qos[0]
                if q.reliability == QosReliability.BEST_EFFORT:
                    role = 'sensor'
                elif q.durability == QosDurability.TRANSIENT_LOCAL and q.depth <= 1:
                    role = 'latched'
            out[conn.topic] = (conn.msgtype, role)
        return out


def read_bag(path: Path, topics: Iterable[str] | None = None,
             start_ns: int | None = None) -> Iterator[BagMessage]:
    """Messages of a rosbag2 directory in time order (optionally only some topics)."""
    wanted = set(topics) if topics is not None else None
    with Reader(path) as reader:
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for conn, stamp, data in reader.messages(connections=conns, start=start_ns):
            yield BagMessage(conn.topic, conn.msgtype, stamp, bytes(data))


def bag_time_range(path: Path) -> tuple[int, int]:
    with Reader(path) as reader:
        return reader.start_time, reader.end_time
