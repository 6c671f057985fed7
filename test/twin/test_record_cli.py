"""``./smart-store record`` (the ``ros2 bag record`` stand-in) on what ``replay`` plays.

A shelves-only twin bag is replayed (weights, ranges and the gate's scans, each with the QoS it
was recorded with) while ``record`` captures those topics on sim time. The new bag is read back
with rosbags and with mcap: every message the replay published is in it, as delivered (the
original CDR bytes plus the transport's alignment padding), stamped
on the replay's clock, each topic with the QoS its publisher offered (the original bag's). A
Ctrl-C ends the recording with a complete, readable bag.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from smart_store.config import load_store_config
from smart_store.twin.bag import bag_topics, read_bag
from smart_store.twin.record import RunOptions, TwinRun, record_run
from smart_store.twin.scenario import load_scenario

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CFG = load_store_config(ROOT / 'config' / 'demo_store.yaml')
TOPICS = ['/shelves/weights', '/shelves/ranges', '/entry/events']


def test_record_captures_every_replayed_message_with_its_qos(
        tmp_path: Path, ros_env: dict[str, str]) -> None:
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    run_dir = tmp_path / 'run'
    record_run(TwinRun(CFG, load_scenario('single_shopper'),
                       RunOptions(images=False, end=3.0, coco=False)), run_dir)
    original = run_dir / 'bag'
    out = tmp_path / 'recorded'
    rec = subprocess.Popen(
        [str(ROOT / 'smart-store'), 'record', *TOPICS, '-o', str(out), '--use-sim-time'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(3.0)   # the recorder subscribes (it also picks up publishers that come later)
        replay = subprocess.run(
            [str(ROOT / 'smart-store'), 'replay', str(run_dir), '--quiet', '--rate', '2',
             '--topics', *TOPICS, '--wait-for-subscribers', '15'],
            env=ros_env, capture_output=True, text=True, timeout=60, check=False)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        time.sleep(1.0)
        rec.send_signal(signal.SIGINT)      # Ctrl-C
        text = rec.communicate(timeout=30)[0]
    finally:
        if rec.poll() is None:
            rec.kill()
    assert rec.returncode == 0 and 'Traceback' not in text, text
    assert '[record]' in text

    want = {t: [m.data for m in read_bag(original, topics=[t])] for t in TOPICS}
    got = {t: list(read_bag(out, topics=[t])) for t in TOPICS}
    assert set(bag_topics(out)) == set(TOPICS)
    for topic in TOPICS:
        # The same messages, as the transport delivered them: the original CDR bytes plus up to
        # 3 bytes of zero padding that DDS adds to make the payload a multiple of 4. Messages
        # received at one clock tick share a stamp, so their order in the bag is free.
        received = [m.data for m in got[topic]]
        assert all(len(data) % 4 == 0 for data in received), topic
        padded = sorted(w + b'\x00' * ((-len(w)) % 4) for w in want[topic])
        assert sorted(received) == padded, (topic, len(received), len(padded))
    # the original QoS, offered by the replay and recorded as offered
    assert bag_topics(out) == \
        {t: v for t, v in bag_topics(original).items() if t in TOPICS}
    # stamped with the receive time on the replay's clock: sim time, in the bag's window
    stamps = [m.stamp_ns for ms in got.values() for m in ms]
    first, last = min(m.stamp_ns for m in read_bag(original)), \
        max(m.stamp_ns for m in read_bag(original))
    assert first - 50_000_000 <= min(stamps) and max(stamps) <= last + 1_000_000_000
    # and the independent reader opens it
    counts: dict[str, int] = {}
    for path in out.glob('*.mcap'):
        with path.open('rb') as fh:
            for _s, channel, _m, decoded in make_reader(
                    fh, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
                assert decoded is not None
                counts[channel.topic] = counts.get(channel.topic, 0) + 1
    assert counts == {t: len(want[t]) for t in TOPICS}
