"""Load-cell driver logic: calibration (tare, known weight, persistence), frames, staleness.

- ``CalibrationStore``: per-channel offset (counts at zero load) and scale (counts per gram),
  starting from the store config and overridden by a persisted JSON file that ``tare`` and
  ``calibrate`` update atomically, so a calibration survives restarts.
- ``RecentCounts``: the last seconds of raw counts per channel, averaged for tare/calibrate.
- ``FrameAssembler``: the protocol sends one line per channel sample; lines with the same hub
  time form one frame (one LoadCellRaw / LaneWeightArray message per hub instant).
- ``StaleTracker``: a channel with no fresh sample for ``timeout`` seconds is stale.

Pure Python; no ROS.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from smart_store.config import StoreConfig
from smart_store.jsonfile import write_json_atomic


@dataclass(frozen=True)
class ChannelCal:
    offset: float               # counts at zero load
    scale: float                # counts per gram

    def grams(self, counts: float) -> float:
        return (counts - self.offset) / self.scale


class CalibrationError(ValueError):
    """A tare or calibration that cannot be right (no data, zero/negative load, unknown)."""


class CalibrationStore:
    """Channel calibrations: config values, overridden by the persisted file."""

    def __init__(self, cfg: StoreConfig, path: Path | None) -> None:
        self.path = path
        self._cal: dict[tuple[str, int], ChannelCal] = {}
        self.lanes: dict[tuple[str, int], str] = {}
        for lane in cfg.lanes():
            cell = lane.load_cell
            self._cal[(cell.hub, cell.channel)] = ChannelCal(float(cell.offset), cell.scale)
            self.lanes[(cell.hub, cell.channel)] = lane.id
        self.loaded_overrides = 0
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding='utf-8'))
            entries = data['channels']
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CalibrationError(f'{path}: unreadable calibration file ({err})') from None
        for entry in entries:
            try:
                key = (str(entry['hub']), int(entry['channel']))
                cal = ChannelCal(float(entry['offset']), float(entry['scale']))
            except (KeyError, TypeError, ValueError) as err:
                raise CalibrationError(f'{path}: bad calibration entry {entry!r} ({err})') \
                    from None
            if key not in self._cal:
                continue  # a channel the store no longer has
            if not (math.isfinite(cal.offset) and math.isfinite(cal.scale) and cal.scale > 0):
                raise CalibrationError(f'{path}: {key}: offset/scale must be finite, scale > 0')
            self._cal[key] = cal
            self.loaded_overrides += 1

    def get(self, hub: str, channel: int) -> ChannelCal | None:
        return self._cal.get((hub, channel))

    def tare(self, hub: str, channel: int, mean_counts: float) -> ChannelCal:
        """The current reading becomes zero."""
        old = self._require(hub, channel)
        new = ChannelCal(float(mean_counts), old.scale)
        self._cal[(hub, channel)] = new
        self.save()
        return new

    def calibrate(self, hub: str, channel: int, mean_counts: float,
                  known_grams: float) -> ChannelCal:
        """With ``known_grams`` on the (tared) lane, set the scale."""
        old = self._require(hub, channel)
        if not (math.isfinite(known_grams) and known_grams > 0):
            raise CalibrationError('the known weight must be a positive number of grams')
        scale = (mean_counts - old.offset) / known_grams
        if not math.isfinite(scale) or scale <= 0:
            raise CalibrationError(f'reading {mean_counts:.0f} is not above the offset '
                                   f'{old.offset:.0f}: is the weight on lane '
                                   f'{self.lanes[(hub, channel)]} and was it tared first?')
        new = ChannelCal(old.offset, scale)
        self._cal[(hub, channel)] = new
        self.save()
        return new

    def _require(self, hub: str, channel: int) -> ChannelCal:
        cal = self._cal.get((hub, channel))
        if cal is None:
            raise CalibrationError(f'no load-cell channel {channel} on hub {hub!r}')
        return cal

    def save(self) -> None:
        """Write every channel atomically (temp file + rename), readable by the owner only."""
        if self.path is None:
            return
        data = {'channels': [
            {'hub': hub, 'channel': ch, 'lane': self.lanes[(hub, ch)], 'offset': c.offset,
             'scale': c.scale} for (hub, ch), c in sorted(self._cal.items())]}
        write_json_atomic(self.path, data, indent=1)


class RecentCounts:
    """Raw counts of the last ``horizon`` seconds per channel, for averaging."""

    def __init__(self, horizon: float = 10.0) -> None:
        self._horizon = horizon
        self._data: dict[tuple[str, int], deque[tuple[float, int]]] = {}

    def add(self, t: float, hub: str, channel: int, counts: int) -> None:
        q = self._data.setdefault((hub, channel), deque())
        q.append((t, counts))
        while q and q[0][0] < t - self._horizon:
            q.popleft()

    def mean(self, hub: str, channel: int, seconds: float, now: float) -> tuple[float, int]:
        """(mean counts, sample count) over the last ``seconds``."""
        q = self._data.get((hub, channel), deque())
        values = [c for t, c in q if t >= now - seconds]
        if not values:
            raise CalibrationError(f'no recent samples from hub {hub!r} channel {channel}')
        return sum(values) / len(values), len(values)


@dataclass(frozen=True)
class Frame:
    stamp: float
    hub_ms: int
    samples: tuple[tuple[int, int], ...]     # (channel, counts), channel order


class FrameAssembler:
    """Groups per-channel lines of one hub instant into frames."""

    def __init__(self) -> None:
        self._hub_ms: int | None = None
        self._stamp = 0.0
        self._samples: dict[int, int] = {}

    def add(self, stamp: float, hub_ms: int, channel: int, counts: int) -> list[Frame]:
        out = []
        if self._hub_ms is not None and hub_ms != self._hub_ms:
            out = self.flush()
        if self._hub_ms is None:
            self._hub_ms, self._stamp = hub_ms, stamp
        self._samples[channel] = counts
        return out

    def flush(self) -> list[Frame]:
        if self._hub_ms is None or not self._samples:
            self._hub_ms = None
            return []
        frame = Frame(self._stamp, self._hub_ms, tuple(sorted(self._samples.items())))
        self._hub_ms, self._samples = None, {}
        return [frame]


class StaleTracker:
    """Which channels have gone quiet (no sample for ``timeout`` seconds)."""

    def __init__(self, channels: list[tuple[str, int]], timeout: float, start: float) -> None:
        self.timeout = timeout
        self._last = dict.fromkeys(channels, start)

    def seen(self, hub: str, channel: int, t: float) -> None:
        if (hub, channel) in self._last:
            self._last[(hub, channel)] = max(self._last[(hub, channel)], t)

    def stale(self, hub: str, channel: int, now: float) -> bool:
        last = self._last.get((hub, channel))
        return last is None or now - last > self.timeout

    def stale_channels(self, now: float) -> list[tuple[str, int]]:
        return [key for key, last in self._last.items() if now - last > self.timeout]
