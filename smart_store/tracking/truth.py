"""Ground-truth tracks for the "truth tracks" ablation, without ROS (ABLATION ONLY).

This is not perception: it turns the twin's ``truth/joints3d.npz`` (every person's 17 COCO
joints per truth frame, NaN when absent) into the frames a tracker would publish, so that the
stages after tracking can be scored without perception errors. Track ids are the truth person
index + 1; a person is tentative in their first frame, confirmed afterwards, and exited once
they disappear after being inside an exit zone.

:meth:`TruthTracks.until` returns *every* frame up to a time, not just the newest: the node is
driven by a clock that can jump (a loaded machine, a replay running behind), and a frame it
skipped could be the last one a shopper stood in the exit zone, after which the session would
never close.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smart_store.config.model import Zone

__all__ = ['STATE_CONFIRMED', 'STATE_EXITED', 'STATE_TENTATIVE', 'TruthFrame', 'TruthTrack',
           'TruthTracks']

# The values of msg/Track.msg's STATE_* constants.
STATE_TENTATIVE, STATE_CONFIRMED, STATE_EXITED = 0, 1, 3
_HIPS = [11, 12]


@dataclass(frozen=True)
class TruthTrack:
    """One person in one frame: the floor point between the hips and the 17 joints (m)."""

    track_id: int
    state: int
    x: float = 0.0
    y: float = 0.0
    joints: np.ndarray | None = None   # (17, 3); None for an exited track


@dataclass(frozen=True)
class TruthFrame:
    stamp: float                       # s, on the node clock
    tracks: tuple[TruthTrack, ...]


class TruthTracks:
    """Replays truth frames in order, each exactly once."""

    def __init__(self, times: np.ndarray, persons: list[int], joints: np.ndarray,
                 exit_zones: tuple[Zone, ...], epoch: float = 0.0) -> None:
        joints = np.asarray(joints, dtype=np.float64)
        if joints.ndim != 4 or joints.shape[:2] != (len(times), len(persons)) \
                or joints.shape[2:] != (17, 3):
            raise ValueError(f'joints must be (frames, persons, 17, 3) for {len(times)} frames '
                             f'and {len(persons)} persons, got {joints.shape}')
        self.times = np.asarray(times, dtype=np.float64) + epoch
        self.persons = [int(p) for p in persons]
        self.joints = joints
        self.exit_zones = exit_zones
        self._seen: set[int] = set()
        self._in_exit: dict[int, bool] = {}
        self._exited: set[int] = set()
        self._next = 0
        self._started = False

    @classmethod
    def load(cls, truth_dir: Path, exit_zones: tuple[Zone, ...], epoch: float = 0.0
             ) -> TruthTracks:
        path = Path(truth_dir) / 'joints3d.npz'
        try:
            data = np.load(path)
            return cls(data['times'], list(data['persons']), data['joints'], exit_zones, epoch)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise ValueError(f'{path}: not a truth joints file ({err})') from err

    def until(self, now: float) -> list[TruthFrame]:
        """Every frame stamped at or before ``now`` not returned yet, in order.

        The first call that finds a frame returns only the newest one: a tracker that starts
        (or respawns) late does not replay the past.
        """
        end = int(np.searchsorted(self.times, now, side='right'))
        if not self._started and end > 0:
            self._started, self._next = True, end - 1
        frames = [self._frame(i) for i in range(self._next, end)]
        self._next = max(self._next, end)
        return frames

    def _frame(self, i: int) -> TruthFrame:
        tracks: list[TruthTrack] = []
        for j, person in enumerate(self.persons):
            tid = person + 1
            pts = self.joints[i, j]
            if not np.all(np.isfinite(pts)):
                if tid in self._seen and self._in_exit.get(tid) and tid not in self._exited:
                    self._exited.add(tid)
                    tracks.append(TruthTrack(tid, STATE_EXITED))
                continue
            floor = pts[_HIPS, :2].mean(axis=0)
            self._in_exit[tid] = any(bool(z.contains(floor[None])[0]) for z in self.exit_zones)
            state = STATE_CONFIRMED if tid in self._seen else STATE_TENTATIVE
            self._seen.add(tid)
            tracks.append(TruthTrack(tid, state, float(floor[0]), float(floor[1]), pts))
        return TruthFrame(float(self.times[i]), tuple(tracks))
