"""Reliability drills (smart_store/drills.py): the cheap variants the suite runs, plus the
plumbing they rest on.

The two slow tests run the whole graph on single_shopper (160x120, ground-truth tracks, real
time; one undisturbed reference run shared with test/billing/test_crash.py):

* ``kill_nodes`` in ``staggered`` mode: every node of the graph killed with SIGKILL once, at
  seeded random moments, in ONE run (``./smart-store drill`` kills each node in a run of its own);
* ``malformed``: oversized arrays, NaN values, unknown ids and out-of-order stamps published on
  every input topic of the graph while it runs; no node may die and the receipts must not change.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from smart_store.drills import (
    DrillResult,
    Drills,
    ReceiptRow,
    ci_config,
    compare_receipts,
    set_stamp,
    slope_mb_per_min,
)


def _report(result: DrillResult) -> str:
    lines = [f'{"ok" if c.ok else "FAILED"}: {c.name}: {c.detail}' for c in result.checks]
    lines += [f'note: {n}' for n in result.notes]
    if result.error:
        lines.append(f'error: {result.error}')
    return '\n'.join(lines)


# ------------------------------------------------------------------------------ fast
def _row(sid: str, lines: dict[str, int], review: bool = False) -> ReceiptRow:
    return ReceiptRow(sid, f'tok-{sid}', tuple(sorted(lines.items())),
                      100 * sum(lines.values()), review)


def test_compare_receipts_accepts_a_difference_only_when_it_went_to_review():
    ref = {'s1': _row('s1', {'A': 1, 'B': 1}), 's2': _row('s2', {'C': 2})}
    same = DrillResult('x')
    assert compare_receipts(same, ref, dict(ref), 2, Counter(['s1', 's2'])) == []
    assert same.ok

    reviewed = DrillResult('x')
    got = {'s1': _row('s1', {'A': 1}, review=True), 's2': _row('s2', {'C': 2})}
    assert compare_receipts(reviewed, ref, got, 2, Counter()) == ['s1']
    assert reviewed.ok, _report(reviewed)
    strict = DrillResult('x')
    compare_receipts(strict, ref, got, 2, Counter(), strict=True)
    assert not strict.ok

    late = DrillResult('x')  # a late cart change for the session went to review instead
    got = {'s1': _row('s1', {'A': 1}), 's2': _row('s2', {'C': 2})}
    compare_receipts(late, ref, got, 2, Counter(),
                     reviews=[{'review_id': 'rv-late-s1-3', 'session_id': 's1'}])
    assert late.ok, _report(late)

    silent = DrillResult('x')
    compare_receipts(silent, ref, got, 2, Counter())
    assert [c.name for c in silent.checks if not c.ok] == [
        'receipts equal the reference or went to review']


def test_compare_receipts_catches_lost_extra_and_doubled_receipts():
    ref = {'s1': _row('s1', {'A': 1})}
    lost = DrillResult('x')
    compare_receipts(lost, ref, {}, 0, Counter())
    assert [c.name for c in lost.checks if not c.ok] == ['same sessions billed as the reference']
    doubled = DrillResult('x')
    compare_receipts(doubled, ref, dict(ref), 1, Counter(['s1', 's1']))
    assert [c.name for c in doubled.checks if not c.ok] == ['one receipt per session']


def test_set_stamp_rewrites_the_header_stamp_of_cdr():
    cdr = b'\x00\x01\x00\x00' + bytes(8) + b'rest'
    out = set_stamp(cdr, 1_767_225_600_250_000_000)
    assert out[:4] == cdr[:4] and out[12:] == b'rest'
    assert int.from_bytes(out[4:8], 'little') == 1_767_225_600
    assert int.from_bytes(out[8:12], 'little') == 250_000_000
    with pytest.raises(ValueError):
        set_stamp(b'\x00\x00\x00\x00' + bytes(8), 0)


def test_rss_slope_is_per_minute_and_ignores_samples_of_an_earlier_pid():
    samples = [(t, 100.0 + 0.5 * t, 7) for t in range(0, 60, 10)]  # 0.5 MB/s
    samples = [(0.0, 900.0, 3), *samples]                            # a killed predecessor
    assert slope_mb_per_min(samples) == pytest.approx(30.0)
    assert math.isnan(slope_mb_per_min(samples[:2]))


# ------------------------------------------------------------------------------ slow


@pytest.fixture(scope='module')
def drills(tmp_path_factory: pytest.TempPathFactory) -> Drills:
    # The workdir is shared with test/billing/test_crash.py: one reference run per session.
    return Drills(ci_config(tmp_path_factory.getbasetemp() / 'drills', seed=2058,
                            kill_mode='staggered'))


@pytest.mark.ros
@pytest.mark.slow
def test_every_node_killed_once_no_receipt_lost_doubled_or_silently_wrong(drills, ros_env):
    result = drills.kill_nodes()
    assert result.ok, _report(result)
    killed = sorted(k['node'] for k in result.figures['kills'])
    assert killed == sorted(['store_layout', 'shelf_events', 'tracker', 'reach_detector',
                             'cart_arbiter', 'billing'])


@pytest.mark.ros
@pytest.mark.slow
def test_malformed_messages_kill_no_node_and_change_no_receipt(drills, ros_env):
    result = drills.malformed()
    assert result.ok, _report(result)
    # every node with inputs reported dropping some (the injections did arrive)
    assert set(result.figures['drop_warnings']) >= {'shelf_events', 'reach_detector',
                                                    'cart_arbiter', 'billing'}, \
        result.figures['drop_warnings']


@pytest.mark.ros
@pytest.mark.slow
def test_a_stalled_load_cell_hub_sends_its_pick_to_review_and_changes_no_other_receipt(
        drills, ros_env):
    result = drills.stall_hub()
    assert result.ok, _report(result)
    # the stall really happened (messages left out, stale arrays in their place) ...
    assert result.figures['left_out']['/shelves/weights'] > 0
    assert result.figures['stale_arrays_published'] > 0
    # ... and the arbiter flagged the lane as stale rather than guessing
    assert result.figures['stale_sensor_reviews'], result.figures


@pytest.mark.ros
@pytest.mark.slow
def test_a_dead_camera_leaves_the_learned_tracker_tracking_on_the_rest(tmp_path, ros_env):
    # The LEARNED tracker on rendered pixels (not the ground-truth ablation): cam_fl is dead
    # 8-22 s and cam_br drops 30 % of its frames from 12 s in the camera_dropout recording.
    drills = Drills(ci_config(tmp_path / 'drills', learned_camera=True))
    assert drills.perception_weights().is_file(), 'the packaged pose weights are missing'
    result = drills.kill_camera()
    assert result.figures['tracker'] == 'learned', result.notes
    assert result.ok, _report(result)
    assert result.figures['confirmed_track_ids'], result.figures
    assert result.figures['tracking_in_outage'][0]['recall'] >= 0.9, result.figures


@pytest.mark.ros
def test_a_change_while_shelf_events_was_down_becomes_a_stale_event():
    import numpy as np

    from smart_store.events.node import _gap_event
    from smart_store.events.weight import WeightChangeDetector

    det = WeightChangeDetector('B2c', 'shelf_b', unit_weight_g=289.0, unit_sd_g=3.0)
    rng = np.random.default_rng(0)
    t = 100.0
    while not det.stable:  # the respawned node settles on the lane's weight after the pick
        t += 1 / 80
        det.update(t, 1711.0 + rng.normal(0.0, 0.5))
    event = _gap_event(det, 2000.0, 95.0, t)
    assert event is not None and event.stale
    assert event.delta_grams == pytest.approx(-289.0, abs=1.0)
    assert (event.start, event.end) == (95.0, t) and event.event_id == 'w-B2c-95000-restart'
    assert round(event.quantity_hint) == -1
    assert _gap_event(det, 1711.5, 95.0, t) is None  # nothing changed while it was down


def test_track_score_in_a_window_counts_only_the_tracks_stamped_inside_it():
    # One true person walking along x; the tracker follows it until 2 s, then loses it.
    from types import SimpleNamespace as Ns

    import numpy as np

    from smart_store.evaluation.events import track_score

    times = np.arange(0.0, 4.0, 0.1)
    joints = np.zeros((len(times), 1, 17, 3))
    joints[:, 0, :, 0] = times[:, None]
    truth = {'times': times, 'persons': np.array([7]), 'joints': joints}

    def msg(t: float, tracked: bool) -> Ns:
        track = Ns(id=1, state=2, position=Ns(x=t, y=0.0))
        return Ns(header=Ns(stamp=Ns(sec=int(t), nanosec=round(t % 1 * 1e9))),
                  tracks=[track] if tracked else [])

    outputs = {'/tracking/tracks': [msg(t, t < 2.0) for t in times]}
    assert track_score(outputs, truth, 0.0, window=(0.0, 1.95))['recall'] == 1.0
    assert track_score(outputs, truth, 0.0, window=(2.05, 4.0))['recall'] == 0.0
    whole = track_score(outputs, truth, 0.0)
    assert whole['recall'] == pytest.approx(0.5, abs=0.03) and whole['id_switches'] == 0
    assert math.isnan(track_score(outputs, truth, 0.0, window=(10.0, 11.0))['recall'])


def test_lag_growth_compares_the_first_and_last_quarter_of_the_run():
    from smart_store.drills import lag_growth

    steady = [(t, 0.1) for t in range(40)]
    assert lag_growth(steady) == (0.1, 0.1)
    growing = [(t, 0.1 + 0.05 * t) for t in range(40)]   # a queue filling up
    first, last = lag_growth(list(reversed(growing)))   # order of arrival does not matter
    assert first == pytest.approx(0.32, abs=0.01) and last == pytest.approx(1.825, abs=0.01)
    assert all(math.isnan(v) for v in lag_growth(steady[:5]))
