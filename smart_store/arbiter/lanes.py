"""What each lane actually holds, as the arbiter believes it.

A lane starts with ``facings`` units of its planogram sku. Every decided pick removes units and
every decided put-back adds them, possibly of a FOREIGN sku (an item put back on a lane it does
not belong to). Tracking foreign items matters: after a misplaced put-back, a later pick from
that lane may be the foreign item, and only this ledger lets the product matcher consider it.

Counts are beliefs, not truth: restocking is not seen, so the planogram sku's count may hit
zero while the lane still holds items. Removals therefore clamp at zero and the product matcher
never limits the planogram sku by its count; foreign skus, which only get onto a lane through a
decided put-back, are limited by theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smart_store.config.model import PlanogramEntry, StoreConfig

__all__ = ["LaneContents"]


class LaneContents:
    """Per-lane ``{sku: count}`` ledger seeded from the planogram."""

    def __init__(self, planogram: Mapping[str, PlanogramEntry]) -> None:
        self._planned: dict[str, str] = {lane: e.sku for lane, e in planogram.items()}
        self._counts: dict[str, dict[str, int]] = {
            lane: {e.sku: int(e.facings)} for lane, e in planogram.items()
        }

    @staticmethod
    def from_config(cfg: StoreConfig) -> LaneContents:
        """Ledger of every lane of ``cfg`` (lanes without a planogram entry start empty)."""
        contents = LaneContents(cfg.planogram)
        for lane in cfg.lanes():
            contents._counts.setdefault(lane.id, {})
        return contents

    # ------------------------------------------------------------------------------- queries
    def planned_sku(self, lane_id: str) -> str | None:
        """The lane's planogram sku (``None`` for an unplanned lane)."""
        return self._planned.get(lane_id)

    def count(self, lane_id: str, sku: str) -> int:
        """Units of ``sku`` believed to be on the lane."""
        return self._counts.get(lane_id, {}).get(sku, 0)

    def items(self, lane_id: str) -> dict[str, int]:
        """``{sku: count}`` on the lane: the planogram sku first (even at 0), then foreign skus
        with a positive count in sku order."""
        counts = self._counts.get(lane_id, {})
        planned = self._planned.get(lane_id)
        out: dict[str, int] = {}
        if planned is not None:
            out[planned] = counts.get(planned, 0)
        for sku in sorted(counts):
            if sku != planned and counts[sku] > 0:
                out[sku] = counts[sku]
        return out

    def foreign(self, lane_id: str) -> dict[str, int]:
        """``{sku: count}`` of items on the lane that do not belong there."""
        planned = self._planned.get(lane_id)
        return {s: c for s, c in self.items(lane_id).items() if s != planned}

    def misplaced(self) -> dict[str, dict[str, int]]:
        """Every lane holding foreign items: ``{lane_id: {sku: count}}`` (for re-shelving)."""
        out = {lane: self.foreign(lane) for lane in sorted(self._counts)}
        return {lane: f for lane, f in out.items() if f}

    # ------------------------------------------------------------------------------- changes
    def remove(self, lane_id: str, sku: str, quantity: int) -> int:
        """Take ``quantity`` units of ``sku`` off the lane; returns how many were on record
        (the count clamps at zero: an unseen restock makes the ledger undercount)."""
        counts = self._counts.setdefault(lane_id, {})
        have = counts.get(sku, 0)
        taken = min(have, quantity)
        counts[sku] = have - taken
        if counts[sku] == 0 and sku != self._planned.get(lane_id):
            del counts[sku]
        return taken

    def add(self, lane_id: str, sku: str, quantity: int) -> None:
        """Put ``quantity`` units of ``sku`` onto the lane (foreign if not its planogram sku)."""
        counts = self._counts.setdefault(lane_id, {})
        counts[sku] = counts.get(sku, 0) + quantity

    # ------------------------------------------------------------------------------- persistence
    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state (counts only; the planogram comes from the config)."""
        return {lane: dict(sorted(c.items())) for lane, c in sorted(self._counts.items())}

    def restore(self, state: Mapping[str, Mapping[str, int]]) -> None:
        """Replace the counts with a :meth:`snapshot`."""
        self._counts = {
            str(lane): {str(s): int(c) for s, c in counts.items()}
            for lane, counts in state.items()
        }
