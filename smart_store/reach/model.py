"""Reach events as plain data (mirrors msg/ReachEvent.msg; times in seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

EVIDENCE_POSE = 1
EVIDENCE_BEAM = 2


@dataclass(frozen=True)
class Reach:
    """A hand of a tracked person inside the shelf-front volume of one or more lanes."""

    event_id: str
    track_id: int
    hand: Literal['left', 'right']
    shelf_id: str
    lane_ids: tuple[str, ...]               # most time spent first
    lane_dwell: tuple[float, ...]           # s per lane, same order
    start: float                            # s
    end: float                              # s
    confidence: float                       # [0, 1]
    evidence: int = EVIDENCE_POSE           # bit set of EVIDENCE_*
    beam_break_ids: tuple[str, ...] = field(default=())
    wrist_confidence: float = 1.0

    @property
    def tracked(self) -> bool:
        """Whether the reach names a tracked person: track 0 is a beam break nobody tracked
        was near (the hand is proven, its owner unknown)."""
        return self.track_id != 0
