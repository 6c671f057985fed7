"""The interfaces in msg/ and srv/: documented, stamped, and round-trip through rclpy."""

from __future__ import annotations

import importlib
import re
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.serialization import deserialize_message, serialize_message

ROOT = Path(__file__).resolve().parents[2]
MSG_FILES = sorted((ROOT / 'msg').glob('*.msg'))
SRV_FILES = sorted((ROOT / 'srv').glob('*.srv'))
# Messages only ever used as fields of other messages carry no header of their own.
EMBEDDED = {'Keypoint2D', 'Keypoint3D', 'PersonDetection', 'Track', 'LaneWeight', 'CartLine'}


def msg_class(name: str) -> type:
    return getattr(importlib.import_module('smart_store.msg'), name)


def field_lines(path: Path) -> list[str]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith('#')]
    return [ln for ln in lines if '=' not in ln.split('#')[0]]  # constants are not fields


def test_every_message_is_documented_and_stamped() -> None:
    assert len(MSG_FILES) >= 15
    for path in MSG_FILES:
        text = path.read_text()
        assert text.startswith('#'), f'{path.name} has no description comment'
        fields = field_lines(path)
        if path.stem in EMBEDDED:
            assert not any(f.startswith('std_msgs/Header') for f in fields)
            users = [p.stem for p in MSG_FILES if re.search(rf'\b{path.stem}\b', p.read_text())
                     and p != path]
            assert users, f'{path.stem} is declared embedded but no message uses it'
        else:
            assert fields[0] == 'std_msgs/Header header', f'{path.name}: header must come first'
        for line in fields:
            ftype = line.split()[0]
            numeric = re.fullmatch(r'(float|int|uint)\d+(\[\d*\])?', ftype)
            if numeric:
                assert '#' in line, f'{path.name}: numeric field without a unit comment: {line}'


def _sample(value_type: str, index: int) -> object:
    base = re.sub(r'(\[\d*\]|<=\d+)$', '', value_type)
    if base.startswith(('float', 'double')):
        return 0.25 + index
    if base.startswith(('int', 'uint', 'octet', 'byte')):
        return index % 100 + 1
    if base == 'boolean':
        return True
    if base == 'string':
        return f'value-{index}'
    return None


def fill(msg: object) -> object:
    """Set every primitive field (recursively) to a distinct non-default value."""
    for i, (name, ftype) in enumerate(msg.get_fields_and_field_types().items()):
        value = getattr(msg, name)
        if ftype.startswith('sequence<'):
            inner = ftype[len('sequence<'):-1].split(',')[0]
            sample = _sample(inner, i)
            if sample is not None:
                setattr(msg, name, [sample, sample])
            elif '/' in inner:
                pkg, typ = inner.split('/')
                cls = getattr(importlib.import_module(f'{pkg}.msg'), typ)
                setattr(msg, name, [fill(cls()), fill(cls())])
        elif re.search(r'\[\d+\]$', ftype) and hasattr(value, '__len__'):
            if len(value) and hasattr(value[0], 'get_fields_and_field_types'):
                for item in value:
                    fill(item)
            else:
                value[:] = [_sample(ftype, i)] * len(value)
        elif hasattr(value, 'get_fields_and_field_types'):
            fill(value)
        else:
            sample = _sample(ftype, i)
            if sample is not None:
                setattr(msg, name, sample)
    return msg


@pytest.mark.parametrize('name', [p.stem for p in MSG_FILES])
def test_serialization_round_trip(name: str) -> None:
    cls = msg_class(name)
    msg = fill(cls())
    assert msg != cls(), 'the filler set nothing'
    data = serialize_message(msg)
    assert deserialize_message(data, cls) == msg


def test_services_import() -> None:
    srv = importlib.import_module('smart_store.srv')
    for path in SRV_FILES:
        cls = getattr(srv, path.stem)
        req, resp = cls.Request(), cls.Response()
        assert 'hub_id' in req.get_fields_and_field_types()
        assert 'success' in resp.get_fields_and_field_types()


def test_publish_and_receive_through_rclpy() -> None:
    """A custom message crosses the middleware (Fast DDS), not just the serializer."""
    from smart_store.msg import Receipt

    rclpy.init()
    try:
        node = rclpy.create_node('interfaces_test')
        got: list[Receipt] = []
        node.create_subscription(Receipt, '/test/receipts', got.append, 10)
        pub = node.create_publisher(Receipt, '/test/receipts', 10)
        sent = fill(Receipt())
        deadline = time.monotonic() + 10.0
        while not got and time.monotonic() < deadline:
            pub.publish(sent)
            rclpy.spin_once(node, timeout_sec=0.1)
        assert got and got[0] == sent
        node.destroy_node()
    finally:
        rclpy.shutdown()
