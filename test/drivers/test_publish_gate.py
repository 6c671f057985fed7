"""PublishGate: publishing from driver threads around shutdown (pure logic, no ROS)."""

from __future__ import annotations

import pytest

from smart_store.drivers.publish_gate import PublishGate


class ContextGoneError(RuntimeError):
    """Stands in for RCLError("publisher's context is invalid") / InvalidHandle."""


class Publisher:
    def __init__(self) -> None:
        self.sent: list[int] = []
        self.fail = False

    def publish(self, msg: int) -> None:
        if self.fail:
            raise ContextGoneError("publisher's context is invalid")
        self.sent.append(msg)


def test_publishes_until_closed_then_counts_drops() -> None:
    pub = Publisher()
    gate = PublishGate(lambda: True, (ContextGoneError,))
    assert gate.publish(pub.publish, 1)
    gate.close()
    gate.close()  # idempotent
    assert gate.closed
    assert not gate.publish(pub.publish, 2) and not gate.publish(pub.publish, 3)
    assert pub.sent == [1] and gate.dropped == 2


def test_a_context_shut_down_under_the_thread_is_a_quiet_drop() -> None:
    pub = Publisher()
    ok = [True]
    gate = PublishGate(lambda: ok[0], (ContextGoneError,))
    pub.fail, ok[0] = True, False   # the signal handler shut the context down meanwhile
    assert not gate.publish(pub.publish, 1)
    assert gate.dropped == 1


def test_a_context_that_cannot_be_asked_counts_as_gone() -> None:
    def destroyed() -> bool:
        raise ContextGoneError('destroyed')

    pub = Publisher()
    pub.fail = True
    gate = PublishGate(destroyed, (ContextGoneError,))
    assert not gate.publish(pub.publish, 1) and gate.dropped == 1


def test_a_refused_write_while_running_is_counted_and_other_failures_raise() -> None:
    pub = Publisher()
    pub.fail = True  # the middleware refuses (back-pressure) while the context is fine
    gate = PublishGate(lambda: True, (ContextGoneError,))
    assert not gate.publish(pub.publish, 1) and not gate.publish(pub.publish, 2)
    assert gate.refused == 2 and gate.dropped == 0

    def broken(msg: int) -> None:
        raise TypeError('wrong message type')

    gate.close()
    assert not gate.publish(broken, 1)  # closed: not even tried
    with pytest.raises(TypeError):
        PublishGate(lambda: False, (ContextGoneError,)).publish(broken, 1)
    assert gate.dropped == 1
