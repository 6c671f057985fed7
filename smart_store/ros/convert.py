"""Conversions between this package's messages and the plain dataclasses of the stages."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time

from smart_store.events.model import BeamBreak as BeamBreakData
from smart_store.events.model import WeightEvent as WeightEventData
from smart_store.msg import BeamBreak, ReachEvent, ReviewItem, Track, WeightEvent
from smart_store.reach.model import Reach


def to_sec(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def to_time(seconds: float) -> Time:
    if not math.isfinite(seconds) or seconds < 0:
        return Time()
    sec = math.floor(seconds)
    nsec = min(999_999_999, round((seconds - sec) * 1e9))
    return Time(sec=int(sec), nanosec=int(nsec))


def track_keypoints(track: Track) -> np.ndarray:
    """(17, 4): x, y, z, confidence (NaN positions where confidence is 0)."""
    out = np.full((17, 4), np.nan)
    for i, kp in enumerate(track.keypoints):
        out[i] = (kp.position.x, kp.position.y, kp.position.z, kp.confidence)
    out[out[:, 3] <= 0.0, :3] = np.nan
    out[:, 3] = np.nan_to_num(out[:, 3], nan=0.0)
    return out


def beam_from_msg(msg: BeamBreak) -> BeamBreakData:
    return BeamBreakData(msg.event_id, msg.shelf_id, msg.sensor_id, to_sec(msg.start),
                         to_sec(msg.end), float(msg.min_range), float(msg.baseline_range))


def beam_to_msg(data: BeamBreakData, frame_id: str) -> BeamBreak:
    msg = BeamBreak()
    msg.header.stamp, msg.header.frame_id = to_time(data.end), frame_id
    msg.event_id, msg.shelf_id, msg.sensor_id = data.event_id, data.shelf_id, data.sensor_id
    msg.start, msg.end = to_time(data.start), to_time(data.end)
    msg.min_range, msg.baseline_range = float(data.min_range), float(data.baseline_range)
    return msg


def weight_from_msg(msg: WeightEvent) -> WeightEventData:
    return WeightEventData(
        msg.event_id, msg.shelf_id, msg.lane_id, msg.delta_grams, to_sec(msg.start),
        to_sec(msg.end), msg.weight_before, msg.weight_after, float(msg.stability),
        float(msg.quantity_hint), float(msg.quantity_residual), float(msg.noise_grams),
        stale=bool(msg.stale))


def weight_to_msg(data: WeightEventData, frame_id: str) -> WeightEvent:
    msg = WeightEvent()
    msg.header.stamp, msg.header.frame_id = to_time(data.end), frame_id
    msg.event_id, msg.shelf_id, msg.lane_id = data.event_id, data.shelf_id, data.lane_id
    msg.delta_grams = float(data.delta_grams)
    msg.start, msg.end = to_time(data.start), to_time(data.end)
    msg.weight_before, msg.weight_after = float(data.weight_before), float(data.weight_after)
    msg.stability = float(data.stability)
    msg.stale = bool(data.stale)
    msg.quantity_hint = float(data.quantity_hint)
    msg.quantity_residual = float(data.quantity_residual)
    msg.noise_grams = float(data.noise_grams)
    return msg


def reach_to_msg(data: Reach, frame_id: str) -> ReachEvent:
    msg = ReachEvent()
    msg.header.stamp, msg.header.frame_id = to_time(data.end), frame_id
    msg.event_id, msg.track_id = data.event_id, int(data.track_id)
    msg.hand = ReachEvent.HAND_LEFT if data.hand == 'left' else ReachEvent.HAND_RIGHT
    msg.shelf_id = data.shelf_id
    msg.lane_ids = list(data.lane_ids)
    msg.lane_dwell = [float(d) for d in data.lane_dwell]
    msg.start, msg.end = to_time(data.start), to_time(data.end)
    msg.confidence, msg.evidence = float(data.confidence), int(data.evidence)
    msg.beam_break_ids = list(data.beam_break_ids)
    msg.wrist_confidence = float(data.wrist_confidence)
    return msg


def reach_from_msg(msg: ReachEvent) -> Reach:
    return Reach(msg.event_id, int(msg.track_id),
                 'left' if msg.hand == ReachEvent.HAND_LEFT else 'right', msg.shelf_id,
                 tuple(msg.lane_ids), tuple(float(d) for d in msg.lane_dwell),
                 to_sec(msg.start), to_sec(msg.end), float(msg.confidence), int(msg.evidence),
                 tuple(msg.beam_break_ids), float(msg.wrist_confidence))


def review_msg(r: Any, frame_id: str) -> ReviewItem:
    """A review item (arbiter's or billing's dataclass: the msg's fields, ``stamp`` in s)."""
    msg = ReviewItem()
    msg.header.stamp, msg.header.frame_id = to_time(r.stamp), frame_id
    msg.review_id, msg.kind, msg.session_id = r.review_id, int(r.kind), r.session_id
    msg.shelf_id, msg.lane_id, msg.sku = r.shelf_id, r.lane_id, r.sku
    msg.event_ids, msg.confidence, msg.detail = list(r.event_ids), float(r.confidence), r.detail
    return msg
