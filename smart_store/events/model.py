"""Shelf events as plain data: what the shelf_events stage emits and the arbiter consumes.

Mirrors msg/WeightEvent.msg and msg/BeamBreak.msg field by field (times in seconds of the ROS
clock, as floats); the nodes convert between the two.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WeightEvent:
    """A lane going from one stable weight to another."""

    event_id: str
    shelf_id: str
    lane_id: str
    delta_grams: float          # g, after - before (negative = items removed)
    start: float                # s, left the previous stable state
    end: float                  # s, settled again
    weight_before: float        # g
    weight_after: float         # g
    stability: float            # [0, 1]
    quantity_hint: float        # delta / unit weight of the lane's planogram sku
    quantity_residual: float    # |hint - round(hint)|
    noise_grams: float          # g rms of the stable windows
    stale: bool = False         # the channel was stale around the event (evidence is weak)


@dataclass(frozen=True)
class BeamBreak:
    """Something inside a shelf front, seen by its distance sensor."""

    event_id: str
    shelf_id: str
    sensor_id: str
    start: float                # s
    end: float                  # s
    min_range: float            # m along the front edge from the sensor end
    baseline_range: float       # m, empty-shelf reading
