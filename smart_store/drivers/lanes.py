"""Which lane each load-cell channel weighs, and its calibration: shared by the load-cell
driver and the twin (which publishes what the driver would), so both convert identically."""

from __future__ import annotations

from dataclasses import dataclass

from smart_store.config import StoreConfig
from smart_store.config.model import Lane


@dataclass(frozen=True)
class ChannelInfo:
    hub: str
    channel: int
    lane: Lane

    def grams(self, counts: int) -> float:
        """``(counts - offset) / scale`` with this channel's calibration."""
        return float(self.lane.load_cell.grams(counts))


class LaneMap:
    """(hub id, channel) -> lane, for every load-cell channel of the store."""

    def __init__(self, cfg: StoreConfig) -> None:
        self._by_key: dict[tuple[str, int], ChannelInfo] = {}
        for lane in cfg.lanes():
            cell = lane.load_cell
            self._by_key[(cell.hub, cell.channel)] = ChannelInfo(cell.hub, cell.channel, lane)

    def get(self, hub: str, channel: int) -> ChannelInfo | None:
        """The channel's lane, or None for a channel the config does not know."""
        return self._by_key.get((hub, channel))

    def channels(self, hub: str) -> list[ChannelInfo]:
        return sorted((c for c in self._by_key.values() if c.hub == hub), key=lambda c: c.channel)

    def hubs(self) -> list[str]:
        return sorted({c.hub for c in self._by_key.values()})
