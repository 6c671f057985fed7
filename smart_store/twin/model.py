"""Shared data model of the twin: scenarios (what should happen) and truth (what did happen).

The scenario loader (scenario.py) produces these objects, the world simulation (world.py) turns
them into time-stamped people, lane weights and shelf-front intrusions, the renderer and the
sensor emulators consume the world, and the evaluation reads the truth. Pure Python, no ROS.

Times are seconds of sim time from the start of the run; positions are store-frame metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# COCO-17 keypoint order, shared with msg/PersonDetection.msg.
COCO_KEYPOINTS: tuple[str, ...] = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
)
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)
LEFT_WRIST, RIGHT_WRIST = 9, 10
LEFT_ELBOW, RIGHT_ELBOW = 7, 8

Hand = Literal['left', 'right']
Build = Literal['slim', 'average', 'broad']
PickStyle = Literal['normal', 'slow']


# --------------------------------------------------------------------------- scenario (input)
@dataclass(frozen=True)
class BodySpec:
    """How a person looks. Colours are RGB 0-255. Anonymous: no face, only clothing colours."""

    height: float                      # m, 1.0 (child) .. 2.0
    build: Build = 'average'
    shirt: tuple[int, int, int] = (40, 90, 160)
    pants: tuple[int, int, int] = (40, 40, 50)
    skin: tuple[int, int, int] = (200, 160, 130)
    hair: tuple[int, int, int] = (50, 35, 25)


@dataclass(frozen=True)
class WalkTo:
    """Walk to the standing spot in front of a lane, or to a floor point."""

    lane: str | None = None
    point: tuple[float, float] | None = None


@dataclass(frozen=True)
class Browse:
    """Stand (facing the nearest shelf) for a while."""

    seconds: float


@dataclass(frozen=True)
class Pick:
    """Take ``qty`` items of the lane's current top item (walks there first if needed)."""

    lane: str
    qty: int = 1
    hand: Hand = 'right'
    style: PickStyle = 'normal'        # slow = a hesitant pick: long dwell, pauses mid-reach
    at: float | None = None             # earliest start of the reach (s); waits in place if early


@dataclass(frozen=True)
class PutBack:
    """Put ``qty`` held items of ``sku`` onto ``lane`` (same lane or another = misplaced)."""

    lane: str
    sku: str
    qty: int = 1
    hand: Hand = 'right'
    at: float | None = None             # earliest start of the reach (s)


@dataclass(frozen=True)
class Reach:
    """Reach into a lane and take nothing."""

    lane: str
    hand: Hand = 'right'
    at: float | None = None             # earliest start of the reach (s)


@dataclass(frozen=True)
class HandTo:
    """Hand ``qty`` held items of ``sku`` to another shopper (walks to them first)."""

    shopper: str
    sku: str
    qty: int = 1


@dataclass(frozen=True)
class Wait:
    """Stand still where you are."""

    seconds: float


Action = WalkTo | Browse | Pick | PutBack | Reach | HandTo | Wait


@dataclass(frozen=True)
class ShopperSpec:
    """One person in the scenario.

    ``token`` is the opaque app account scanned at the gate (None = never scanned). A shopper who
    lists ``companions`` scans once for all of them (a family: one session, one payer); each
    companion has ``token=None`` and ``enter`` close to the payer's. ``exit`` is the time by
    which the shopper heads for the exit (None = right after the last action).
    """

    id: str
    enter: float
    token: str | None
    body: BodySpec
    actions: tuple[Action, ...] = ()
    companions: tuple[str, ...] = ()
    exit: float | None = None


@dataclass(frozen=True)
class CameraFault:
    camera: str
    start: float
    end: float | None = None            # None = until the end of the run
    kind: Literal['dead', 'drop'] = 'dead'
    drop_rate: float = 0.0              # share of frames lost, for kind == 'drop'


@dataclass(frozen=True)
class LoadCellFault:
    """A disturbance on one lane's load cell (bump: returns to baseline) or a whole hub."""

    kind: Literal['bump', 'noise_burst', 'stall']
    start: float
    duration: float                     # s
    lane: str | None = None             # bump, noise_burst
    hub: str | None = None              # stall: the hub stops sending
    grams: float = 0.0                  # bump peak or noise-burst rms


@dataclass(frozen=True)
class RenderSpec:
    width: int | None = None            # None = the camera's configured resolution
    height: int | None = None
    fps: float | None = None            # None = the camera's configured fps
    noise_sigma: float = 2.0            # grey levels rms
    exposure_jitter: float = 0.08       # relative gain change over the run
    motion_blur: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration: float                     # s of sim time
    seed: int
    shoppers: tuple[ShopperSpec, ...]
    store_config: str | None = None     # None = the packaged demo store
    camera_faults: tuple[CameraFault, ...] = ()
    load_cell_faults: tuple[LoadCellFault, ...] = ()
    render: RenderSpec = field(default_factory=RenderSpec)
    tags: tuple[str, ...] = ()          # hard cases this scenario exercises, e.g. 'handoff'
    source: str = ''                    # file it was loaded from


# ------------------------------------------------------------------------------ truth (output)
TruthKind = Literal['enter', 'pick', 'put_back', 'reach_only', 'handoff', 'exit']


@dataclass(frozen=True)
class TruthEvent:
    """Something that really happened, for scoring. ``t_start``/``t_end`` bracket the reach
    (hand entering and leaving the lane's shelf-front volume) or the walk-out."""

    kind: TruthKind
    shopper: str
    t_start: float
    t_end: float
    lane: str | None = None
    sku: str | None = None
    qty: int = 0
    hand: Hand | None = None
    other: str | None = None            # handoff: the receiving shopper
    grams: float = 0.0                  # true weight change of the lane (signed)


@dataclass(frozen=True)
class TrueLine:
    sku: str
    qty: int


@dataclass(frozen=True)
class TrueReceipt:
    """What the payer of a session must be charged. ``payer`` is the scanning shopper, or the
    anonymous shopper for an unscanned visit (token None)."""

    payer: str
    token: str | None
    members: tuple[str, ...]
    lines: tuple[TrueLine, ...]
    exit_time: float                    # when the last member left through the exit zone


@dataclass(frozen=True)
class HeldItem:
    """An item a person carries at some instant: its SKU and the hand it is in."""

    sku: str
    hand: Hand = 'right'


@dataclass
class PersonState:
    """One person at one instant."""

    person: int                         # truth id (index in the scenario, stable)
    shopper: str
    joints: FloatArray                  # (17, 3) store frame, COCO order
    body: BodySpec
    heading: float                      # rad, facing direction on the floor
    in_store: bool = True
    held: tuple[HeldItem, ...] = ()     # items in the hands, oldest first
