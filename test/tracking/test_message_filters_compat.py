"""The message_filters stand-in follows the documented ROS 2 ``Cache`` / ``SimpleFilter``
semantics (the same cases as message_filters' own cache test, plus callbacks and headerless)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from smart_store.tracking import message_filters_compat as mfc
from smart_store.tracking.message_filters_compat import Cache, SimpleFilter, Stamp, import_cache


def msg(sec: float, tag: str = "") -> SimpleNamespace:
    whole = int(sec)
    stamp = SimpleNamespace(sec=whole, nanosec=round((sec - whole) * 1e9))
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp), tag=tag)


def t(sec: float) -> SimpleNamespace:
    """A ``builtin_interfaces/Time``-like query stamp."""
    whole = int(sec)
    return SimpleNamespace(sec=whole, nanosec=round((sec - whole) * 1e9))


def stamp_of(m) -> float:
    return m.header.stamp.sec + m.header.stamp.nanosec * 1e-9


def test_documented_cache_queries() -> None:
    cache = Cache(None, 5)
    for s in range(5):
        cache.add(msg(s))
    assert len(cache.getInterval(t(2.5), t(3.5))) == 1
    assert len(cache.getInterval(t(2), t(3))) == 2  # both ends inclusive
    assert len(cache.getInterval(t(0), t(4))) == 5
    assert stamp_of(cache.getElemAfterTime(t(0))) == 0.0  # oldest at or after
    assert stamp_of(cache.getElemAfterTime(t(2.5))) == 3.0
    assert stamp_of(cache.getElemBeforeTime(t(3.5))) == 3.0  # newest at or before
    assert stamp_of(cache.getElemBeforeTime(t(3))) == 3.0
    assert cache.getElemAfterTime(t(4.5)) is None
    assert cache.getElemBeforeTime(t(-1)) is None
    assert cache.getLastestTime() == Stamp(4_000_000_000)
    assert cache.getLatestTime() == t(4)
    assert cache.getOldestTime() == 0.0
    assert stamp_of(cache.getLast()) == 4.0
    # The ring buffer keeps the newest cache_size messages.
    cache.add(msg(5))
    assert cache.getOldestTime() == Stamp(1_000_000_000)
    assert len(cache.cache_msgs) == 5
    with pytest.raises(AssertionError):
        cache.getInterval(t(3), t(2))


def test_empty_cache() -> None:
    cache = Cache(None, 3)
    assert cache.getLastestTime() is None
    assert cache.getOldestTime() is None
    assert cache.getLast() is None
    assert cache.getElemAfterTime(t(0)) is None
    assert cache.getInterval(t(0), t(1)) == []


def test_query_stamp_types() -> None:
    cache = Cache(None, 3)
    cache.add(msg(1.25, "x"))
    for q in (1.25, Stamp(1_250_000_000), SimpleNamespace(nanoseconds=1_250_000_000), t(1.25)):
        assert cache.getElemAfterTime(q).tag == "x"
    latest = cache.getLastestTime()
    assert latest.sec == 1 and latest.nanosec == 250_000_000
    assert latest.seconds_nanoseconds() == (1, 250_000_000)
    assert latest < 2.0 and latest > t(1)


def test_out_of_order_arrival_is_sorted_by_stamp() -> None:
    cache = Cache(None, 3)
    for s in (1, 3, 2):
        cache.add(msg(s))
    assert [stamp_of(m) for m in cache.getInterval(t(0), t(9))] == [1.0, 2.0, 3.0]
    assert stamp_of(cache.getElemAfterTime(t(1.5))) == 2.0
    cache.add(msg(0.5))  # older than everything: the oldest stamp is dropped
    assert cache.getOldestTime() == 1.0


def test_input_filter_and_callbacks() -> None:
    source = SimpleFilter()
    cache = Cache(source, 2)
    got = []
    conn = cache.registerCallback(lambda m, extra: got.append((m.tag, extra)), "x")
    assert conn == 0
    assert cache.incoming_connection == 0
    source.signalMessage(msg(1, "first"))
    source.signalMessage(msg(2, "second"))
    assert got == [("first", "x"), ("second", "x")]
    assert stamp_of(cache.getLast()) == 2.0
    calls = []
    f = SimpleFilter()
    f.registerCallback(lambda *a: calls.append(("one", a)))
    f.registerCallback(lambda *a: calls.append(("two", a)), 7)
    f.signalMessage("m1", "m2")
    assert calls == [("one", ("m1", "m2")), ("two", ("m1", "m2", 7))]


def test_headerless_messages(caplog) -> None:
    cache = Cache(None, 5)
    with caplog.at_level("WARNING"):
        cache.add("no header")
    assert cache.getLast() is None
    assert "allow_headerless" in caplog.text
    now = [100.0]
    cache = Cache(None, 5, allow_headerless=True, clock=lambda: now[0])
    cache.add("no header")
    assert cache.getElemAfterTime(t(0)) == "no header"
    assert cache.getElemAfterTime(t(101)) is None
    now[0] = 101.0
    cache.add("later")
    assert cache.getInterval(t(0), t(100)) == ["no header"]
    assert cache.getInterval(t(0), t(102)) == ["no header", "later"]


def test_import_cache_falls_back_to_the_stand_in(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "message_filters", None)  # not importable
    assert import_cache() is mfc.Cache
    fake = SimpleNamespace(Cache=object)
    monkeypatch.setitem(sys.modules, "message_filters", fake)
    assert import_cache() is object
