"""World simulation of the twin: people walking, reaching and handing items over, true shelf state.

``World(cfg, scenario)`` plays a ``Scenario`` through once, at construction, and then answers
questions about any instant: where every joint of every person is (``people_at``), what each
lane truly weighs (``lane_weights_at``), which lane boxes hold a hand (``hands_in_lanes_at``),
where arms cross a shelf's front face (``shelf_intrusions_at``), and what really happened
(``truth``, ``receipts``, ``entries``). Everything is deterministic from ``scenario.seed``: each
person and each lane draws from its own ``numpy`` generator (seeded by the scenario seed and a
fixed key), so changing one shopper does not reshuffle the others' randomness.

The model, in the order the simulation runs:

Navigation (20 Hz, ``DT``)
    People are discs on the floor. Global paths come from A* on a 0.1 m grid over the floor
    polygon, with shelves inflated by a body radius (``R_PLAN_SHELF``), walls by ``R_PLAN_WALL``,
    and the entry/exit zones closed to through traffic; a clearance cost keeps paths in the middle
    of aisles. People appear at the front wall inside the entry gate (their centre on the door
    line), walk in, do their actions and leave through the exit gate; they vanish when their centre
    crosses the door line of the exit (``exit`` truth ``t_end``). The local planner is a small,
    deterministic sampler: everybody is advanced in a fixed order (scenario order); each walker
    tries headings around its path direction (straight first, then stepping to its right, then
    left, ...) at full and half speed, and takes the best candidate that stays in free space and
    never brings it closer than ``SEPARATION`` (centre to centre) to anyone it is not already
    moving away from. Crowding therefore shows up as yielding, side-stepping, waiting and queues
    at the gate, at busy lanes and at the exit, and two people can pass at ~0.5 m. Global paths
    go around people who stand still; someone stuck for a while replans around everybody near,
    and after 6 s hemmed in gives up that leg (the next action plans afresh). A shopper whose
    target spot is taken waits nearby (up to ``SPOT_PATIENCE``) and, for a reach, reaches from
    where it stands when that lane is within arm's reach.

Standing spots and reaches
    The spot for a lane is ``stance`` (0.36-0.44 m adults, ~0.3 m children) in front of the lane's
    front-face centre, facing the shelf. A reach moves the wrist along key frames: rest, a point
    8 cm in front of the face, a grasp point inside the lane box (12-20 cm behind the front face,
    4-8 cm above the board, towards the reacher's side of the lane), and back. A normal pick takes
    about 1.2-2 s; a ``slow`` (hesitant) pick 3-5 s, pausing with the hand just inside the lane
    before going on. A posture solver (a small grid search, vectorised) picks the least effortful
    combination of hip-hinge lean, squat (low boards; the free hand then rests on its knee), a
    half step in with the reaching side's foot, torso twist and tiptoes (children at the top
    board) that puts the grasp point within 93 % of the arm's length while hips, knees, feet and
    the free arm stay out of the shelf (the head may lean in over a board by up to 10 cm); the
    elbow comes from two-link inverse kinematics with the body's own arm lengths (bent down and
    out). People at neighbouring lanes reach at the same time, and a shopper may reach into a lane
    on the far side of a neighbour (arms crossing) without moving.

Items and weights (the lane-weight step convention)
    Each lane starts with ``facings`` items whose own weights are drawn from
    ``N(unit_weight_g, weight_sd_g)``; items are a stack whose top is the front of the lane. A pick
    lifts the front ``qty`` items at 60 % of the grasp hold, while the wrist is still inside the
    lane box; a put-back sets the held item(s) (their own weights, whatever their SKU) down on the
    front of the target lane at 50 % of the hold. ``lane_weights_at`` steps at exactly those
    instants, so the weight change always falls inside the truth interval of its reach. A lane
    holding a misplaced item gives that item to the next picker. A reach into an empty lane is a
    ``reach_only``. Hand-offs move held items between people at the middle of the exchange.
    What each person carries, and in which hand, is kept over time (``PersonState.held``,
    ``held_at``): a pick puts its items in the picking hand, a put-back or hand-on first moves
    them to the hand that reaches, a hand-off ends in the receiver's right hand. Lane item
    counts step with the weights (``lane_stock_at``).

Hand-offs
    The giver walks up to the receiver, both stop and face each other at ~0.55 x (sum of arm
    lengths), both right arms extend to a meeting point between them, the item changes hands, both
    go on with what they were doing (the receiver's current action is paused, not cancelled).

Body and pose (100 Hz, ``POSE_RATE``)
    COCO-17 joints from ``BodySpec``: height-proportional segment lengths (Drillis-Contini ratios),
    ``build`` scales shoulder and hip width. Walking uses a kinematic gait: the phase advances with
    distance travelled (stride ~0.72 x height, so children take smaller, quicker steps); a stance
    foot stays planted, the swing foot lifts, the pelvis bobs, arms swing opposite to the legs.
    Standing people sway slightly and look around. Legs and arms use two-link IK, so every limb
    keeps its length exactly. Joints are precomputed at 100 Hz and ``people_at`` interpolates.

Truth and billing
    ``TruthEvent``s: ``enter`` (each person, at appearing), ``pick``/``put_back``/``reach_only``
    (``t_start``/``t_end`` = first and last 100 Hz frame with the wrist inside the lane box,
    ``grams`` = the true signed lane delta), ``handoff`` (arms out to arms back; ``other`` = the
    receiver), ``exit`` (entering the exit zone to crossing the door line). A session is a scanning
    shopper plus the companions it scanned for (payer = scanner), or an unscanned shopper alone
    (``token`` None). Billing rule: an item is billed to the session of the shopper who picked it
    when it leaves the store, whoever carries it out (the store's published hand-off policy; a
    hand-off inside a family changes nothing either way). ``exit_time`` is when the session's
    last member crossed the exit door line.

Simplifications (known, deliberate)
    Bodies are skeletons only (no collision between arms of different people); children use adult
    proportions scaled down; heading follows the walking direction with a turn-rate limit, and
    side-steps use the forward gait; items are rigid and weigh what they weigh (no sloshing); a
    lifted item leaves the lane in one instant (no sliding contact); hand pressure is reported as
    "a hand is in the lane box" and left to the load-cell emulator; a shopper whose item has not
    arrived (a put-back or hand-on of an item that a hand-off was meant to deliver) waits up to
    ``ITEM_WAIT`` seconds and then skips that action. If congestion makes people leave after
    ``scenario.duration`` the world runs on until the last person is out and ``world.duration``
    grows to cover it (``world.overrun`` says by how much); library scenarios never overrun.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import distance_transform_edt

from smart_store.config.model import Lane, Shelf, StoreConfig, Zone
from smart_store.geometry.polygon import point_in_polygon
from smart_store.twin.model import (
    Action,
    BodySpec,
    Browse,
    HandTo,
    HeldItem,
    PersonState,
    Pick,
    PutBack,
    Reach,
    Scenario,
    ShopperSpec,
    TrueLine,
    TrueReceipt,
    TruthEvent,
    Wait,
    WalkTo,
)

__all__ = [
    "DT",
    "HANDOFF_SECONDS",
    "NOMINAL_SPEED",
    "POSE_RATE",
    "REACH_SECONDS",
    "SEPARATION",
    "BodyDims",
    "FloorMap",
    "Gate",
    "PersonTrack",
    "World",
    "can_reach",
    "floor_map",
    "lane_spot",
]

FloatArray = NDArray[np.float64]

# ------------------------------------------------------------------------------------ constants
DT = 0.05                   # navigation step, s
POSE_RATE = 100.0           # joint samples per second
SEPARATION = 0.45           # hard minimum distance between two people's centres, m
COMFORT = 1.0               # people try to keep this much room ahead of them, m
R_FREE_SHELF = 0.26         # a centre may come this close to a shelf footprint (standing spot)
R_FREE_WALL = 0.22          # ... and this close to a wall
R_PLAN_SHELF = 0.40         # global paths keep this far from shelves
R_PLAN_WALL = 0.30          # ... and from walls
GRID = 0.1                  # A* cell size, m
FINE = 0.02                 # free-space raster for the local planner, m
NOMINAL_SPEED = 0.95        # walking speed the scenario validator plans with (slowest adult), m/s
REACH_SECONDS = {"normal": 2.1, "slow": 5.0}   # longest reach of each style, incl. turning, s
HANDOFF_SECONDS = 2.4       # turn + exchange, s
ITEM_WAIT = 20.0            # longest wait for an item that is expected to arrive, s
SPOT_PATIENCE = 45.0        # longest wait for a taken standing spot before giving up, s
_TURN_RATE = 4.0            # rad/s, standing turn
_WALK_TURN_RATE = 5.0       # rad/s, turn while walking
_ACCEL = 2.0                # m/s^2
_WRIST_DEPTH = (0.12, 0.20) # grasp point behind the front face, m
_WRIST_LIFT = (0.05, 0.10)  # grasp point above the board (mid item), m
_PRE_ENTRY = 0.08           # wrist stop in front of the face before going in, m
_LIFT_AT = 0.6              # share of the grasp hold at which a pick lifts its items
_SET_AT = 0.5               # ... at which a put-back sets its items down
_REACH_MARGIN = 0.93        # usable share of the full arm length

# COCO indices
_NOSE, _LEYE, _REYE, _LEAR, _REAR = 0, 1, 2, 3, 4
_LSH, _RSH, _LEL, _REL, _LWR, _RWR = 5, 6, 7, 8, 9, 10
_LHIP, _RHIP, _LKNEE, _RKNEE, _LANK, _RANK = 11, 12, 13, 14, 15, 16
_SIDE_JOINTS = {0: (_LSH, _LEL, _LWR), 1: (_RSH, _REL, _RWR)}   # 0 = left arm, 1 = right arm


def _seed_rng(seed: int, *words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed % (1 << 63), *words]))


def _key(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


# ------------------------------------------------------------------------------------- the body
@dataclass(frozen=True)
class BodyDims:
    """Segment lengths and heights of one body, metres (Drillis-Contini ratios of height)."""

    height: float
    child: bool
    ankle_h: float
    shank: float
    thigh: float
    hip_h: float
    hip_hw: float
    torso: float
    shoulder_hw: float
    upper_arm: float
    forearm: float
    hand: float
    neck: float

    @classmethod
    def from_body(cls, body: BodySpec) -> BodyDims:
        h = float(body.height)
        width = {"slim": 0.9, "average": 1.0, "broad": 1.12}.get(body.build, 1.0)
        hips = {"slim": 0.93, "average": 1.0, "broad": 1.1}.get(body.build, 1.0)
        ankle, shank, thigh = 0.039 * h, 0.246 * h, 0.245 * h
        hip_h = ankle + 0.995 * (shank + thigh)       # knees slightly soft when standing
        return cls(
            height=h, child=h < 1.45, ankle_h=ankle, shank=shank, thigh=thigh, hip_h=hip_h,
            hip_hw=0.052 * h * hips, torso=0.818 * h - hip_h, shoulder_hw=0.129 * h * width,
            upper_arm=0.186 * h, forearm=0.146 * h, hand=0.1 * h, neck=0.105 * h,
        )

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm

    @property
    def stride(self) -> float:
        """Stride length (two steps) at normal walking speed."""
        return 0.72 * self.height

    @property
    def max_crouch(self) -> float:
        return 0.68 * self.hip_h


@dataclass
class _Pose:
    """Per-frame pose parameters (all arrays of length K) that ``_joints`` turns into joints."""

    pos: FloatArray              # (K, 2) stance point between the feet
    heading: FloatArray          # (K,)
    foot_a: FloatArray           # (K, 2) forward offset of the left / right ankle
    foot_h: FloatArray           # (K, 2) lift of the left / right ankle
    crouch: FloatArray           # (K,) pelvis drop, m
    rise: FloatArray             # (K,) tiptoe lift, m
    bob: FloatArray              # (K,) gait pelvis bob, m
    sway: FloatArray             # (K,) lateral pelvis sway, m
    lean: FloatArray             # (K,) torso lean angle, rad
    lean_dir: FloatArray         # (K, 2) horizontal unit direction of the lean
    step_in: FloatArray          # (K, 2) step towards lean_dir by the left / right foot, m
    twist: FloatArray            # (K,) torso yaw relative to heading, rad
    head_yaw: FloatArray         # (K,) head yaw relative to the torso, rad
    arm_alpha: FloatArray        # (K, 2) natural upper-arm swing (forward +), rad
    arm_flex: FloatArray         # (K, 2) natural elbow flexion, rad
    arm_w: FloatArray            # (K, 2) weight of the IK target per arm
    arm_target: FloatArray       # (K, 2, 3) wrist targets, store frame

    @classmethod
    def still(cls, k: int) -> _Pose:
        z1, z2 = np.zeros(k), np.zeros((k, 2))
        ld = np.zeros((k, 2))
        ld[:, 0] = 1.0
        return cls(
            pos=z2.copy(), heading=z1.copy(), foot_a=z2.copy(), foot_h=z2.copy(),
            crouch=z1.copy(), rise=z1.copy(), bob=z1.copy(), sway=z1.copy(), lean=z1.copy(),
            lean_dir=ld, step_in=z2.copy(), twist=z1.copy(), head_yaw=z1.copy(),
            arm_alpha=z2.copy(),
            arm_flex=np.full((k, 2), 0.15), arm_w=z2.copy(), arm_target=np.zeros((k, 2, 3)),
        )


def _unit(v: FloatArray) -> FloatArray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def _rotate(v: FloatArray, axis: FloatArray, ang: FloatArray) -> FloatArray:
    """Rodrigues rotation of rows of ``v`` about unit ``axis`` rows by ``ang``."""
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    dot = np.sum(axis * v, axis=1, keepdims=True)
    return v * c + np.cross(axis, v) * s + axis * dot * (1.0 - c)


def _two_link(root: FloatArray, target: FloatArray, l1: float, l2: float,
              pole: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Two-link IK: (middle joint, reachable end) for rows; the bend lies towards ``pole``.

    The end is moved towards the root along the same line when the target is out of reach, so
    both segments always keep their lengths exactly.
    """
    d_vec = target - root
    d = np.linalg.norm(d_vec, axis=1)
    u = d_vec / np.maximum(d, 1e-9)[:, None]
    dc = np.clip(d, abs(l1 - l2) + 1e-6, (l1 + l2) * (1.0 - 1e-7))
    a = (l1 * l1 + dc * dc - l2 * l2) / (2.0 * dc)
    hgt = np.sqrt(np.maximum(l1 * l1 - a * a, 0.0))
    p = pole - u * np.sum(pole * u, axis=1, keepdims=True)
    pn = np.linalg.norm(p, axis=1)
    fallback = np.cross(u, np.array([0.0, 0.0, 1.0]))
    fallback = np.where(np.linalg.norm(fallback, axis=1, keepdims=True) < 1e-6,
                        np.array([1.0, 0.0, 0.0]), fallback)
    p = np.where((pn < 1e-9)[:, None], _unit(fallback), p / np.maximum(pn, 1e-12)[:, None])
    mid = root + u * a[:, None] + p * hgt[:, None]
    return mid, root + u * dc[:, None]


def _joints(dims: BodyDims, q: _Pose) -> FloatArray:
    """COCO-17 joints ``(K, 17, 3)`` for K frames of pose parameters."""
    k = q.heading.shape[0]
    ch, sh = np.cos(q.heading), np.sin(q.heading)
    zeros = np.zeros(k)
    f = np.column_stack([ch, sh, zeros])
    lv = np.column_stack([-sh, ch, zeros])
    up_w = np.tile([0.0, 0.0, 1.0], (k, 1))
    lean_dir3 = np.column_stack([q.lean_dir, zeros])
    # a step in moves one foot towards the target and the body centre half as far
    stance = np.column_stack([q.pos, zeros]) + lean_dir3 * (0.5 * q.step_in.sum(axis=1))[:, None]
    out = np.empty((k, 17, 3))

    # feet and pelvis
    lat = dims.hip_hw + 0.02
    crouch_frac = q.crouch / dims.max_crouch
    ankle_z = dims.ankle_h + q.rise
    half_in = 0.5 * q.step_in.sum(axis=1, keepdims=True)
    ank_l = stance + f * q.foot_a[:, :1] + lv * lat + lean_dir3 * (q.step_in[:, :1] - half_in)
    ank_r = stance + f * q.foot_a[:, 1:] - lv * lat + lean_dir3 * (q.step_in[:, 1:] - half_in)
    ank_l[:, 2] = ankle_z + q.foot_h[:, 0]
    ank_r[:, 2] = ankle_z + q.foot_h[:, 1]
    back = 0.22 * q.crouch + 0.12 * dims.torso * np.sin(q.lean)     # hip hinge sits back
    pelvis = stance - lean_dir3 * back[:, None] + lv * q.sway[:, None]
    pelvis[:, 2] = dims.hip_h - q.crouch + q.rise + q.bob
    hip_l = pelvis + lv * dims.hip_hw
    hip_r = pelvis - lv * dims.hip_hw
    knee_out = (0.12 + 0.7 * crouch_frac)[:, None]
    pole_l = f * np.cos(knee_out) + lv * np.sin(knee_out)
    pole_r = f * np.cos(knee_out) - lv * np.sin(knee_out)
    knee_l, ank_l = _two_link(hip_l, ank_l, dims.thigh, dims.shank, pole_l)
    knee_r, ank_r = _two_link(hip_r, ank_r, dims.thigh, dims.shank, pole_r)

    # torso: lean rotates about the horizontal axis perpendicular to the lean direction
    axis = _unit(np.cross(up_w, lean_dir3) + 1e-12 * f)
    tw = q.heading + q.twist
    f_t = np.column_stack([np.cos(tw), np.sin(tw), zeros])
    l_t = np.column_stack([-np.sin(tw), np.cos(tw), zeros])
    up = _rotate(up_w, axis, q.lean)
    l_tr = _rotate(l_t, axis, q.lean)
    sh_mid = pelvis + up * dims.torso
    sh = {0: sh_mid + l_tr * dims.shoulder_hw, 1: sh_mid - l_tr * dims.shoulder_hw}

    # head: the neck takes back half of the lean (people look up at what they reach for)
    hy = tw + q.head_yaw
    tilt = 0.5 * q.lean
    f_h = _rotate(np.column_stack([np.cos(hy), np.sin(hy), zeros]), axis, tilt)
    l_h = _rotate(np.column_stack([-np.sin(hy), np.cos(hy), zeros]), axis, tilt)
    up_h = _rotate(up_w, axis, tilt)
    hgt = dims.height
    centre = sh_mid + up_h * dims.neck
    out[:, _NOSE] = centre + f_h * (0.055 * hgt)
    eye = centre + f_h * (0.045 * hgt) + up_h * (0.015 * hgt)
    out[:, _LEYE] = eye + l_h * (0.018 * hgt)
    out[:, _REYE] = eye - l_h * (0.018 * hgt)
    ear = centre - f_h * (0.005 * hgt) + up_h * (0.008 * hgt)
    out[:, _LEAR] = ear + l_h * (0.043 * hgt)
    out[:, _REAR] = ear - l_h * (0.043 * hgt)

    # arms: natural hang/swing in the world frame, IK towards targets where weighted
    down = -up_w
    for side in (0, 1):
        s_j, e_j, w_j = _SIDE_JOINTS[side]
        sign = 1.0 if side == 0 else -1.0
        out_dir = l_t * sign
        # a hanging arm bends when the shoulder comes down close to the floor
        deficit = np.clip(dims.arm + 0.12 - sh[side][:, 2], 0.0, None) / dims.arm
        alpha = q.arm_alpha[:, side] + 0.9 * deficit
        flex = q.arm_flex[:, side] + 2.2 * deficit
        ab = 0.12
        d_u = _unit(down * (np.cos(alpha) * np.cos(ab))[:, None] + f_t * np.sin(alpha)[:, None]
                    + out_dir * (np.sin(ab) * np.cos(alpha))[:, None])
        af = alpha + flex
        d_f = _unit(down * np.cos(af)[:, None] + f_t * np.sin(af)[:, None] + out_dir * 0.06)
        shoulder = sh[side]
        elbow = shoulder + d_u * dims.upper_arm
        wrist = elbow + d_f * dims.forearm
        # in a deep squat a free hand rests on its knee
        knee = knee_l if side == 0 else knee_r
        kw = np.clip((crouch_frac - 0.3) / 0.4, 0.0, 1.0)
        w = q.arm_w[:, side]
        active = (w > 0.0) | (kw > 0.0)
        if np.any(active):
            ka = kw[active][:, None]
            rest = wrist[active] * (1.0 - ka) + (knee[active] + up_w[active] * 0.06) * ka
            wa = w[active][:, None]
            tgt = rest * (1.0 - wa) + q.arm_target[active, side] * wa
            pole_def = _unit(down[active] + 0.7 * out_dir[active] - 0.3 * f_t[active])
            pole = (elbow[active] - shoulder[active]) * (1.0 - wa) + pole_def * wa
            e_ik, w_ik = _two_link(shoulder[active], tgt, dims.upper_arm, dims.forearm, pole)
            elbow[active] = e_ik
            wrist[active] = w_ik
        out[:, s_j] = shoulder
        out[:, e_j] = elbow
        out[:, w_j] = wrist

    out[:, _LHIP], out[:, _RHIP] = hip_l, hip_r
    out[:, _LKNEE], out[:, _RKNEE] = knee_l, knee_r
    out[:, _LANK], out[:, _RANK] = ank_l, ank_r
    return out


# ------------------------------------------------------------------------------ posture solver
@dataclass(frozen=True)
class _Posture:
    lean: float = 0.0
    lean_dir: tuple[float, float] = (1.0, 0.0)
    crouch: float = 0.0
    rise: float = 0.0
    step: float = 0.0            # step in by the reaching side's foot, m
    twist: float = 0.0
    head_yaw: float = 0.0
    feasible: bool = True
    reach: float = 0.0           # shoulder-to-target distance / full arm length


_LEANS = np.radians([0.0, 8.0, 16.0, 25.0, 35.0, 47.0, 60.0])
_CROUCHES = np.array([0.0, 0.12, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0])
_STEPS = np.array([0.0, 0.15, 0.3])        # for a 1.75 m body; scaled with height


def _solve_posture(dims: BodyDims, pos: tuple[float, float], heading: float,
                   target: FloatArray, side: int, *, shelf: Shelf | None) -> _Posture:
    """Least effortful lean/squat/twist/tiptoe that brings ``target`` within arm's reach.

    With a ``shelf`` the head, hips, knees, feet and the other arm must stay 3 cm in front of
    its front face. Infeasible targets return the closest posture with ``feasible=False``.
    """
    dxy = np.array([target[0] - pos[0], target[1] - pos[1]])
    dist = float(np.hypot(*dxy))
    lean_dir = dxy / dist if dist > 1e-6 else np.array([math.cos(heading), math.sin(heading)])
    az = _wrap(math.atan2(lean_dir[1], lean_dir[0]) - heading)
    # a reach across the body (right hand to the left) twists the torso more
    across = (side == 1 and az > 0) or (side == 0 and az < 0)
    twist = float(np.clip(az * (0.75 if across else 0.45), -0.7, 0.7))
    head_yaw = float(np.clip(az - twist, -0.9, 0.9))
    steps_all = _STEPS if shelf is not None else _STEPS[:1]
    leans, crouches, steps = (g.ravel() for g in np.meshgrid(
        _LEANS, _CROUCHES * dims.max_crouch, steps_all * dims.height / 1.75, indexing="ij"))
    rise = np.zeros_like(leans)
    tip_l, tip_s = (g.ravel() for g in np.meshgrid(_LEANS, steps_all * dims.height / 1.75,
                                                    indexing="ij"))
    leans = np.concatenate([leans, tip_l])
    crouches = np.concatenate([crouches, np.zeros_like(tip_l)])
    steps = np.concatenate([steps, tip_s])
    rise = np.concatenate([rise, np.full_like(tip_l, 0.05 * dims.height / 1.2)])
    n = leans.size
    q = _Pose.still(n)
    q.pos[:] = pos
    q.heading[:] = heading
    q.crouch[:] = crouches
    q.rise[:] = rise
    q.lean[:] = leans
    q.lean_dir[:] = lean_dir
    q.step_in[:, side] = steps
    q.twist[:] = twist
    q.head_yaw[:] = head_yaw
    joints = _joints(dims, q)
    s_j = _SIDE_JOINTS[side][0]
    d = np.linalg.norm(joints[:, s_j] - target, axis=1) / dims.arm
    ok = (d <= _REACH_MARGIN) & (d >= 0.3) & np.all(joints[:, :, 2] >= 0.02, axis=1)
    if shelf is not None:
        # head may lean in over the board a little, the free hand may touch the front edge
        margin = np.full(17, 0.03)
        margin[[_NOSE, _LEYE, _REYE, _LEAR, _REAR]] = -0.10
        margin[_SIDE_JOINTS[side][0]] = -0.03
        margin[list(_SIDE_JOINTS[1 - side][1:])] = 0.0
        keep = [j for j in range(17) if j not in _SIDE_JOINTS[side][1:]]
        local_y = shelf.to_local(joints[:, keep].reshape(-1, 3))[:, 1].reshape(n, len(keep))
        ok &= np.all(local_y >= 0.5 * shelf.depth + margin[keep], axis=1)
    cost = (leans / 1.05 + 1.6 * crouches / dims.max_crouch + 2.0 * (rise > 0)
            + 0.5 * steps / (0.2 * dims.height / 1.75))
    if np.any(ok):
        i = int(np.argmin(np.where(ok, cost, np.inf)))
        feasible = True
    else:
        i = int(np.argmin(d))
        feasible = False
    return _Posture(lean=float(leans[i]), lean_dir=(float(lean_dir[0]), float(lean_dir[1])),
                    crouch=float(crouches[i]), rise=float(rise[i]), step=float(steps[i]),
                    twist=twist,
                    head_yaw=head_yaw, feasible=feasible, reach=float(d[i]))


# ------------------------------------------------------------------------------ floor and paths
@dataclass(frozen=True, eq=False)
class Gate:
    """A door in the floor outline: centre ``c`` on the wall, ``u`` along it, ``n`` inwards."""

    zone_id: str
    c: FloatArray
    u: FloatArray
    n: FloatArray
    half_width: float           # usable half width for a person's centre
    depth: float                # how far the zone reaches into the store

    def point(self, along: float, depth: float) -> tuple[float, float]:
        p = self.c + self.u * along + self.n * depth
        return float(p[0]), float(p[1])

    def depth_of(self, x: float, y: float) -> float:
        return float((x - self.c[0]) * self.n[0] + (y - self.c[1]) * self.n[1])

    def corridor(self, x: float, y: float) -> bool:
        along = (x - self.c[0]) * self.u[0] + (y - self.c[1]) * self.u[1]
        dep = self.depth_of(x, y)
        return abs(along) <= self.half_width + 1e-9 and -0.8 <= dep <= self.depth + 0.35


def _gate(cfg: StoreConfig, kind: str) -> Gate:
    zone = cfg.zones_of_kind(kind)[0]
    floor = cfg.floor
    best: tuple[float, int] | None = None
    for i in range(len(floor)):
        a, b = floor[i], floor[(i + 1) % len(floor)]
        t = np.linspace(0.0, 1.0, 41)[:, None]
        pts = a + (b - a) * t
        inside = point_in_polygon(pts, zone.polygon)
        share = float(np.mean(inside))
        if best is None or share > best[0]:
            best = (share, i)
    assert best is not None
    i = best[1]
    a, b = floor[i], floor[(i + 1) % len(floor)]
    t = np.linspace(0.0, 1.0, 401)[:, None]
    pts = a + (b - a) * t
    inside = point_in_polygon(pts, zone.polygon)
    if not np.any(inside):      # zone does not touch a wall: use its centroid's nearest edge
        inside[np.argmin(np.linalg.norm(pts - zone.polygon.mean(axis=0), axis=1))] = True
    seg = pts[inside]
    c = 0.5 * (seg[0] + seg[-1])
    u = _unit((b - a)[None, :])[0]
    n = np.array([-u[1], u[0]])
    centroid = floor.mean(axis=0)
    if np.dot(centroid - c, n) < 0:
        n = -n
    half = max(0.5 * float(np.linalg.norm(seg[-1] - seg[0])) - 0.15, 0.05)
    depth = float(np.max((zone.polygon - c) @ n))
    return Gate(zone_id=zone.id, c=c, u=u, n=n, half_width=half, depth=depth)


class FloorMap:
    """Free space of a store for people's centres: a fine raster for local moves and an A*
    grid (with shelf clearance costs) for global paths. Build once per config (``floor_map``)."""

    def __init__(self, cfg: StoreConfig) -> None:
        self.cfg = cfg
        self.entry = _gate(cfg, "entry")
        self.exit = _gate(cfg, "exit")
        lo = cfg.floor.min(axis=0) - 1.0
        hi = cfg.floor.max(axis=0) + 0.2
        self.origin = lo
        # fine raster: where a person's centre may be
        self.fnx = math.ceil((hi[0] - lo[0]) / FINE)
        self.fny = math.ceil((hi[1] - lo[1]) / FINE)
        fx = lo[0] + (np.arange(self.fnx) + 0.5) * FINE
        fy = lo[1] + (np.arange(self.fny) + 0.5) * FINE
        self.fine_free = self._free_mask(fx, fy, R_FREE_SHELF, R_FREE_WALL, gates=True)
        # planning grid
        self.nx = math.ceil((hi[0] - lo[0]) / GRID)
        self.ny = math.ceil((hi[1] - lo[1]) / GRID)
        gx = lo[0] + (np.arange(self.nx) + 0.5) * GRID
        gy = lo[1] + (np.arange(self.ny) + 0.5) * GRID
        free = self._free_mask(gx, gy, R_PLAN_SHELF, R_PLAN_WALL, gates=False)
        xx, yy = np.meshgrid(gx, gy)
        pts = np.column_stack([xx.ravel(), yy.ravel()])
        for gate in (self.entry, self.exit):
            along = (pts - gate.c) @ gate.u
            dep = (pts - gate.c) @ gate.n
            closed = (np.abs(along) <= gate.half_width + 0.55) & (dep <= gate.depth + 0.25)
            free &= ~closed.reshape(free.shape)
        self.plan_free = free
        # clearance cost: stay in the middle of aisles when there is room
        shelf_free = self._free_mask(gx, gy, 0.0, 0.0, gates=False, walls=False)
        clearance = distance_transform_edt(shelf_free) * GRID
        self.cost = 1.0 + 1.2 * np.clip(0.95 - clearance, 0.0, None)
        self._free_list = free.ravel().tolist()
        self._cost_list = self.cost.ravel().tolist()
        self._cache: dict[tuple[int, ...], list[tuple[float, float]]] = {}
        self._exit_zone: Zone | None = None

    # ---- free space
    def _free_mask(self, xs: FloatArray, ys: FloatArray, r_shelf: float, r_wall: float, *,
                   gates: bool, walls: bool = True) -> NDArray[np.bool_]:
        xx, yy = np.meshgrid(xs, ys)
        pts = np.column_stack([xx.ravel(), yy.ravel()])
        floor = self.cfg.floor
        free = point_in_polygon(pts, floor)
        if walls:
            dmin = np.full(len(pts), np.inf)
            for i in range(len(floor)):
                a, b = floor[i], floor[(i + 1) % len(floor)]
                ab = b - a
                t = np.clip(((pts - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
                dmin = np.minimum(dmin, np.linalg.norm(pts - (a + t[:, None] * ab), axis=1))
            free &= dmin >= r_wall
        for shelf in self.cfg.shelves:
            loc = shelf.to_local(pts)
            dx = np.maximum(np.abs(loc[:, 0]) - 0.5 * shelf.width, 0.0)
            dy = np.maximum(np.abs(loc[:, 1]) - 0.5 * shelf.depth, 0.0)
            free &= np.hypot(dx, dy) >= max(r_shelf, 1e-9)
        if gates:
            for gate in (self.entry, self.exit):
                along = (pts - gate.c) @ gate.u
                dep = (pts - gate.c) @ gate.n
                free |= (np.abs(along) <= gate.half_width) & (dep >= -0.8) & (dep <= 0.6)
        return free.reshape(len(ys), len(xs))

    def in_exit_zone(self, x: float, y: float) -> bool:
        """Is (x, y) inside the exit zone polygon?"""
        if self._exit_zone is None:
            self._exit_zone = self.cfg.zone(self.exit.zone_id)
        return bool(self._exit_zone.contains([x, y])[0])

    def free(self, x: float, y: float) -> bool:
        """May a person's centre be at (x, y)?"""
        i = int((x - self.origin[0]) / FINE)
        j = int((y - self.origin[1]) / FINE)
        if i < 0 or j < 0 or i >= self.fnx or j >= self.fny:
            return False
        return bool(self.fine_free[j, i])

    # ---- A*
    def _cell(self, x: float, y: float) -> tuple[int, int]:
        i = min(max(int((x - self.origin[0]) / GRID), 0), self.nx - 1)
        j = min(max(int((y - self.origin[1]) / GRID), 0), self.ny - 1)
        return i, j

    def _centre(self, i: int, j: int) -> tuple[float, float]:
        return (float(self.origin[0] + (i + 0.5) * GRID), float(self.origin[1] + (j + 0.5) * GRID))

    def _nearest_free(self, i: int, j: int, blocked: set[int]) -> tuple[int, int]:
        nx = self.nx
        if self._free_list[j * nx + i] and j * nx + i not in blocked:
            return i, j
        for r in range(1, max(self.nx, self.ny)):
            best: tuple[float, int, int] | None = None
            for dj in range(-r, r + 1):
                for di in (-r, r) if abs(dj) != r else range(-r, r + 1):
                    ii, jj = i + di, j + dj
                    if 0 <= ii < nx and 0 <= jj < self.ny:
                        c = jj * nx + ii
                        if self._free_list[c] and c not in blocked:
                            d = di * di + dj * dj
                            if best is None or d < best[0]:
                                best = (d, ii, jj)
            if best is not None:
                return best[1], best[2]
        return i, j

    def plan(self, start: tuple[float, float], goal: tuple[float, float],
             avoid: list[tuple[float, float]] | None = None,
             radius: float = SEPARATION) -> list[tuple[float, float]]:
        """Waypoints from ``start`` to ``goal`` (both included), shortcut where the line is free.

        ``avoid``: extra round obstacles of ``radius`` (people standing in the way)."""
        si, sj = self._cell(*start)
        gi, gj = self._cell(*goal)
        blocked: set[int] = set()
        if avoid:
            r = radius
            rc = math.ceil(r / GRID)
            for ox, oy in avoid:
                oi, oj = self._cell(ox, oy)
                for dj in range(-rc, rc + 1):
                    for di in range(-rc, rc + 1):
                        cx, cy = self._centre(oi + di, oj + dj)
                        if math.hypot(cx - ox, cy - oy) <= r:
                            ii, jj = oi + di, oj + dj
                            if 0 <= ii < self.nx and 0 <= jj < self.ny:
                                blocked.add(jj * self.nx + ii)
            blocked.discard(sj * self.nx + si)
        key = (si, sj, gi, gj, *sorted(blocked))
        cells = self._cache.get(key)
        if cells is None:
            s = self._nearest_free(si, sj, blocked)
            g = self._nearest_free(gi, gj, blocked)
            cells = self._pull(self._astar(s, g, blocked))
            if len(self._cache) > 20000:
                self._cache.clear()
            self._cache[key] = cells
        return self._join(start, cells, goal)

    def _astar(self, s: tuple[int, int], g: tuple[int, int],
               blocked: set[int]) -> list[tuple[float, float]]:
        nx, ny = self.nx, self.ny
        free, cost = self._free_list, self._cost_list
        start, goal = s[1] * nx + s[0], g[1] * nx + g[0]
        if start == goal:
            return [self._centre(*s)]
        gx, gy = g
        sq2 = math.sqrt(2.0)

        def h(c: int) -> float:
            dx, dy = abs(c % nx - gx), abs(c // nx - gy)
            return (dx + dy + (sq2 - 2.0) * min(dx, dy)) * GRID

        dist = {start: 0.0}
        prev: dict[int, int] = {}
        heap = [(h(start), start)]
        nbrs = ((1, 0, 1.0), (-1, 0, 1.0), (0, 1, 1.0), (0, -1, 1.0),
                (1, 1, sq2), (1, -1, sq2), (-1, 1, sq2), (-1, -1, sq2))
        done: set[int] = set()
        found = False
        while heap:
            _, c = heapq.heappop(heap)
            if c in done:
                continue
            if c == goal:
                found = True
                break
            done.add(c)
            ci, cj = c % nx, c // nx
            dc = dist[c]
            for di, dj, w in nbrs:
                ii, jj = ci + di, cj + dj
                if ii < 0 or jj < 0 or ii >= nx or jj >= ny:
                    continue
                n = jj * nx + ii
                if not free[n] or n in blocked or n in done:
                    continue
                if di and dj and (not free[cj * nx + ii] or not free[jj * nx + ci]):
                    continue
                nd = dc + w * GRID * 0.5 * (cost[c] + cost[n])
                if nd < dist.get(n, math.inf):
                    dist[n] = nd
                    prev[n] = c
                    heapq.heappush(heap, (nd + h(n), n))
        if not found:
            return [self._centre(*s), self._centre(*g)]
        cells = [goal]
        while cells[-1] != start:
            cells.append(prev[cells[-1]])
        cells.reverse()
        return [self._centre(c % nx, c // nx) for c in cells]

    def _line_free(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """Free straight line between two cells that never gets closer to a shelf than its
        ends (so shortcuts do not undo the keep-to-the-middle cost)."""
        ia, ja = self._cell(*a)
        ib, jb = self._cell(*b)
        limit = max(self._cost_list[ja * self.nx + ia], self._cost_list[jb * self.nx + ib]) + 0.05
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        n = max(int(length / (GRID * 0.5)), 1)
        for k in range(n + 1):
            t = k / n
            i, j = self._cell(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
            c = j * self.nx + i
            if not self._free_list[c] or self._cost_list[c] > limit:
                return False
        return True

    def _pull(self, cells: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """String pulling over A* cell centres: keep a cell only where the line beyond it is
        blocked (or would cut closer to a shelf)."""
        out, i, n = [], 0, len(cells)
        if n:
            out.append(cells[0])
        while i < n - 1:
            j = n - 1
            while j > i + 1 and not self._line_free(cells[i], cells[j]):
                j -= 1
            out.append(cells[j])
            i = j
        return out

    @staticmethod
    def _join(start: tuple[float, float], cells: list[tuple[float, float]],
              goal: tuple[float, float]) -> list[tuple[float, float]]:
        """Start + pulled cells + goal (start and goal may lie outside the planning space:
        standing spots, doors), without near-duplicate waypoints."""
        pruned = [start]
        for p in [*cells, goal]:
            if math.hypot(p[0] - pruned[-1][0], p[1] - pruned[-1][1]) > 0.05:
                pruned.append(p)
        if len(pruned) == 1:
            pruned.append(goal)
        return pruned

    def path_length(self, start: tuple[float, float], goal: tuple[float, float]) -> float:
        pts = self.plan(start, goal)
        return float(sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(pts)))


_MAPS: dict[object, tuple[StoreConfig, FloorMap]] = {}


def _file_key(cfg: StoreConfig) -> tuple[str, int, int] | None:
    try:
        st = os.stat(cfg.path)
    except (OSError, TypeError, ValueError):
        return None
    return (os.path.abspath(cfg.path), st.st_mtime_ns, st.st_size)


def floor_map(cfg: StoreConfig) -> FloorMap:
    """The (cached) ``FloorMap`` of ``cfg``: per config object, or per unchanged config file."""
    hit = _MAPS.get(id(cfg))
    if hit is not None and hit[0] is cfg:
        return hit[1]
    fkey = _file_key(cfg)
    by_file = _MAPS.get(fkey) if fkey is not None else None
    fm = by_file[1] if by_file is not None else FloorMap(cfg)
    if len(_MAPS) > 16:
        _MAPS.clear()
    _MAPS[id(cfg)] = (cfg, fm)
    if fkey is not None:
        _MAPS[fkey] = (cfg, fm)
    return fm


def lane_spot(cfg: StoreConfig, lane: Lane, stance: float) -> tuple[tuple[float, float], float]:
    """Standing spot ``stance`` m in front of the lane's front-face centre, and the heading that
    faces the shelf."""
    shelf = cfg.shelf(lane.shelf_id)
    lo, hi = lane.box_local
    p = shelf.to_store(np.array([[0.5 * (lo[0] + hi[0]), 0.5 * shelf.depth + stance, 0.0]]))[0]
    nrm = shelf.front_normal_store()
    return (float(p[0]), float(p[1])), math.atan2(-nrm[1], -nrm[0])


def _grasp_point(cfg: StoreConfig, lane: Lane, from_xy: tuple[float, float], *, depth: float,
                 lift: float, jitter: float = 0.0, shoulder: float = 0.0) -> FloatArray:
    """Wrist target inside ``lane``: between the lane centre and the reaching shoulder (local x
    of the body plus ``shoulder``), ``depth`` behind the front face, ``lift`` above the board."""
    shelf = cfg.shelf(lane.shelf_id)
    lo, hi = lane.box_local
    me = shelf.to_local(np.array([[from_xy[0], from_xy[1], 0.0]]))[0]
    centre = 0.5 * (lo[0] + hi[0])
    margin = min(0.09, 0.25 * (hi[0] - lo[0]))
    x = float(np.clip(0.5 * centre + 0.5 * (me[0] + shoulder) + jitter, lo[0] + margin,
                      hi[0] - margin))
    y = 0.5 * shelf.depth - depth
    z = lo[2] + lift
    return shelf.to_store(np.array([[x, y, z]]))[0]


def _shoulder_x(dims: BodyDims, side: int) -> float:
    """Shelf-local x offset of a shoulder for a body facing the shelf (+x is the body's left)."""
    return dims.shoulder_hw if side == 0 else -dims.shoulder_hw


_REACH: dict[tuple[int, BodySpec, str, float | None, str], tuple[StoreConfig, bool]] = {}


def can_reach(cfg: StoreConfig, body: BodySpec, lane: Lane, stance: float | None = None,
              hand: str = "right") -> bool:
    """Can this body, standing at the lane's spot, get its wrist into the lane (nominal grasp)?
    (Memoised per config object: the generator, the validator and the world ask repeatedly.)"""
    key = (id(cfg), body, lane.id, stance, hand)
    hit = _REACH.get(key)
    if hit is not None and hit[0] is cfg:
        return hit[1]
    ok = _can_reach(cfg, body, lane, stance, hand)
    if len(_REACH) > 50000:
        _REACH.clear()
    _REACH[key] = (cfg, ok)
    return ok


def _can_reach(cfg: StoreConfig, body: BodySpec, lane: Lane, stance: float | None,
               hand: str) -> bool:
    dims = BodyDims.from_body(body)
    st = _nominal_stance(dims) if stance is None else stance
    (x, y), heading = lane_spot(cfg, lane, st)
    side = 0 if hand == "left" else 1
    target = _grasp_point(cfg, lane, (x, y), depth=_WRIST_DEPTH[0], lift=0.035,
                          shoulder=_shoulder_x(dims, side))
    post = _solve_posture(dims, (x, y), heading, target, side, shelf=cfg.shelf(lane.shelf_id))
    return post.feasible


def _nominal_stance(dims: BodyDims) -> float:
    return 0.31 if dims.child else 0.40


def _nearest_shelf_heading(cfg: StoreConfig, x: float, y: float) -> float | None:
    best: tuple[float, float] | None = None
    for shelf in cfg.shelves:
        loc = shelf.to_local(np.array([[x, y, 0.0]]))[0]
        if loc[1] < 0.5 * shelf.depth:
            continue
        dx = max(abs(loc[0]) - 0.5 * shelf.width, 0.0)
        d = math.hypot(dx, loc[1] - 0.5 * shelf.depth)
        if d < 1.6 and (best is None or d < best[0]):
            nrm = shelf.front_normal_store()
            best = (d, math.atan2(-nrm[1], -nrm[0]))
    return None if best is None else best[1]


# ----------------------------------------------------------------------------- items and events
@dataclass
class _Item:
    sku: str
    grams: float
    session: int | None = None       # session billed if it leaves the store (set at pick)
    hand: str = "right"              # the hand it is in while somebody holds it


@dataclass
class _ArmMove:
    """One arm activity: wrist key frames plus the posture ramp that goes with it."""

    kind: str                        # 'reach' | 'handoff'
    side: int
    times: FloatArray                # key-frame times
    points: FloatArray               # (n, 3); the first and last are the natural rest wrist
    posture: _Posture
    full_from: float                 # posture fully on from .. to
    full_to: float
    lane: str | None = None
    action_kind: str = ""            # pick | put_back | reach_only | handoff
    change_at: float | None = None   # item change instant (lift / set-down / transfer)
    qty: int = 0
    hand: str = "right"
    sku: str | None = None
    items: list[_Item] = field(default_factory=list)   # what really moved

    @property
    def t0(self) -> float:
        return float(self.times[0])

    @property
    def t1(self) -> float:
        return float(self.times[-1])


@dataclass
class PersonTrack:
    """A person's precomputed joints: frame k is at ``t0 + k / POSE_RATE``."""

    person: int
    shopper: str
    body: BodySpec
    t0: float
    joints: NDArray[np.float32]      # (K, 17, 3)
    heading: NDArray[np.float32]     # (K,)
    hand_tip: NDArray[np.float32]    # (K, 2, 3) left / right fingertips

    @property
    def t1(self) -> float:
        return self.t0 + (self.joints.shape[0] - 1) / POSE_RATE

    def times(self) -> FloatArray:
        return self.t0 + np.arange(self.joints.shape[0]) / POSE_RATE


# ------------------------------------------------------------------------------------ the agents
# local planner candidates: (heading offset, speed factor, cos, sin); straight on first, then
# stepping right before left (people keep right when passing)
_CANDIDATES = tuple(
    (ang, sf, math.cos(ang), math.sin(ang))
    for ang in (0.0, -0.35, 0.35, -0.7, 0.7, -1.05, 1.05, -1.45, 1.45, -1.9, 1.9)
    for sf in (1.0, 0.5)
)


class _Agent:
    """One person's state machine during the navigation pass."""

    def __init__(self, sim: _Sim, index: int, spec: ShopperSpec) -> None:
        self.sim = sim
        self.index = index
        self.spec = spec
        self.dims = BodyDims.from_body(spec.body)
        self.rng = _seed_rng(sim.seed, 1, _key(spec.id))
        r = self.rng
        self.v_pref = float(r.uniform(0.85, 1.05) if self.dims.child else r.uniform(1.0, 1.3))
        self.stance = float(r.uniform(0.29, 0.33) if self.dims.child else r.uniform(0.36, 0.44))
        self.sway_phase = r.uniform(0.0, 2.0 * math.pi, 4)
        self.state = "pending"          # pending | active | gone
        self.x = self.y = 0.0
        self.heading = 0.0
        self.face: float | None = None
        self.v = 0.0
        self.actions: list[Action] = list(spec.actions)
        self.ai = 0
        self.mode = "idle"              # idle | walk | busy
        self.busy_until = 0.0
        self.cont: Callable[[float], None] | None = None
        self.path: list[tuple[float, float]] = []
        self.wp = 0
        self.walk_deadline: float | None = None
        self.goal_tol = 0.04
        self.stuck = 0.0
        self.last_progress_pos = (0.0, 0.0)
        self.frozen_until = -math.inf
        self.arm_busy_until = -math.inf
        self.finished = False           # all actions done
        self.exiting = False
        self.t_spawn = math.nan
        self.t_gone = math.nan
        self.t_exit_zone = math.nan
        self.samples: list[tuple[float, float, float, float]] = []
        self.moves: list[_ArmMove] = []
        self.holding: list[_Item] = []
        self.session = -1
        self.payer: _Agent | None = None
        self.companions: list[_Agent] = []
        self.near_goal = False
        self.near_ok = False
        self.replans = 0
        self.waited = 0.0
        self._reach_cache: dict[tuple[str, int, float, float], _Posture] = {}
        self.until: Callable[[], bool] | None = None

    # ---------------------------------------------------------------- helpers
    @property
    def active(self) -> bool:
        return self.state == "active"

    def busy(self, t: float, seconds: float, cont: Callable[[float], None] | None = None,
             face: float | None = None) -> None:
        self.mode = "busy"
        self.busy_until = t + max(seconds, 0.0)
        self.cont = cont
        if face is not None:
            self.face = face

    def holds(self, sku: str) -> int:
        return sum(1 for it in self.holding if it.sku == sku)

    def _turn(self, rate: float) -> None:
        if self.face is None:
            return
        d = _wrap(self.face - self.heading)
        step = rate * DT
        self.heading = self.face if abs(d) <= step else _wrap(self.heading + math.copysign(step, d))

    # ---------------------------------------------------------------- per step
    def update(self, t: float) -> None:
        if self.state == "gone":
            return
        if self.state == "pending":
            self._try_spawn(t)
            return
        if t < self.frozen_until:
            self._turn(_TURN_RATE)
            return
        moved = False
        for _ in range(6):             # a few zero-time transitions per step at most
            if self.mode == "busy":
                self._turn(_TURN_RATE)
                if t + 1e-9 < self.busy_until:
                    return
                self.mode = "idle"
                cont, self.cont = self.cont, None
                if cont is not None:
                    cont(t)
                    continue
            if self.mode == "walk":
                if moved:
                    return
                moved = True
                self._walk(t)
                if self.mode == "walk":
                    return
                continue
            if self.mode == "idle":
                self._next(t)
                if self.mode == "idle":
                    return

    def _try_spawn(self, t: float) -> None:
        if t + 1e-9 < self.spec.enter:
            return
        if self.payer is not None and self.payer.state == "pending":
            return
        gate = self.sim.fmap.entry
        offsets = (0.0, -0.3, 0.3) if self.payer is None else (0.4, -0.4, 0.0)
        for raw in offsets:
            off = float(np.clip(raw, -gate.half_width, gate.half_width))
            x, y = gate.point(off, 0.05)
            if all(math.hypot(o.x - x, o.y - y) >= SEPARATION + 0.15
                   for o in self.sim.agents if o.active):
                self.state = "active"
                self.x, self.y = x, y
                self.heading = math.atan2(gate.n[1], gate.n[0])
                self.t_spawn = t
                self.sim.on_enter(self, t)
                inside = gate.point(off, gate.depth + 0.45)
                self._walk_path([(x, y), inside], cont=None, tol=0.15)
                # the entry leg ends as soon as the shopper is clear of the entry zone
                self.until = lambda: gate.depth_of(self.x, self.y) >= gate.depth + 0.3
                return

    # ---------------------------------------------------------------- actions
    def _next(self, t: float) -> None:
        if self.ai < len(self.actions):
            act = self.actions[self.ai]
            self.ai += 1
            self.waited = 0.0
            self._start(act, t)
            return
        self.finished = True
        self._after_actions(t)

    def _start(self, act: Action, t: float) -> None:
        cfg = self.sim.cfg
        if isinstance(act, WalkTo):
            if act.lane is not None:
                spot, face = lane_spot(cfg, cfg.lane(act.lane), self.stance)
                self.walk_to(spot, cont=self._face_then_idle(face), near_ok=True)
            elif act.point is not None:
                self.walk_to((float(act.point[0]), float(act.point[1])), cont=None, near_ok=True)
        elif isinstance(act, Browse):
            face = _nearest_shelf_heading(cfg, self.x, self.y)
            self.busy(t, act.seconds, face=face)
        elif isinstance(act, Wait):
            self.busy(t, act.seconds)
        elif isinstance(act, Pick | PutBack | Reach):
            self._reach_action(act, t)
        elif isinstance(act, HandTo):
            self._handoff_action(act, t)

    def _face_then_idle(self, face: float) -> Callable[[float], None]:
        def go(t: float) -> None:
            turn = abs(_wrap(face - self.heading)) / _TURN_RATE
            self.busy(t, turn + 0.1, face=face)
        return go

    def _after_actions(self, t: float) -> None:
        spec = self.spec
        if spec.exit is not None and t + 1e-9 < spec.exit:
            face = _nearest_shelf_heading(self.sim.cfg, self.x, self.y)
            self.busy(t, min(spec.exit - t, 1.0), cont=self._after_actions, face=face)
            return
        if any(c.state != "gone" and not c.finished for c in self.companions):
            self.busy(t, 0.5, cont=self._after_actions)
            return
        payer = self.payer
        if (payer is not None and spec.exit is None and payer.active and not payer.exiting):
            d = math.hypot(payer.x - self.x, payer.y - self.y)
            if d > 1.3:
                ang = math.atan2(self.y - payer.y, self.x - payer.x)
                tx, ty = payer.x + 0.8 * math.cos(ang), payer.y + 0.8 * math.sin(ang)
                if not self.sim.fmap.free(tx, ty):
                    tx, ty = payer.x, payer.y
                self.walk_to((tx, ty), cont=self._after_actions, max_time=1.0, near_ok=True,
                             tol=0.5)
            else:
                self.busy(t, 0.5, cont=self._after_actions,
                          face=math.atan2(payer.y - self.y, payer.x - self.x))
            return
        self._start_exit(t)

    def _start_exit(self, t: float) -> None:
        self.exiting = True
        gate = self.sim.fmap.exit
        offs = (0.0, -0.3, 0.3)
        off = offs[self.index % 3]
        off = float(np.clip(off, -gate.half_width, gate.half_width))
        approach = gate.point(off, gate.depth + 0.5)
        path = self.sim.fmap.plan((self.x, self.y), approach, self._standing_others())
        path += [gate.point(off, 0.4), gate.point(off, -0.35)]
        self._walk_path(path, cont=None, tol=0.05)

    # ---------------------------------------------------------------- walking
    def _standing_others(self) -> list[tuple[float, float]]:
        """Where the people who are not walking stand: global paths go around them."""
        t = self.sim.t
        return [(o.x, o.y) for o in self.sim.agents
                if o is not self and o.active and (o.mode != "walk" or t < o.frozen_until)]

    def walk_to(self, goal: tuple[float, float], cont: Callable[[float], None] | None, *,
                max_time: float | None = None, near_ok: bool = False,
                tol: float = 0.04) -> None:
        path = self.sim.fmap.plan((self.x, self.y), goal, self._standing_others())
        self._walk_path(path, cont, tol=tol, max_time=max_time)
        self.near_ok = near_ok

    def _walk_path(self, path: list[tuple[float, float]], cont: Callable[[float], None] | None,
                   *, tol: float, max_time: float | None = None) -> None:
        self.mode = "walk"
        self.path = path
        self.wp = 1 if len(path) > 1 else 0
        self.cont = cont
        self.goal_tol = tol
        self.walk_deadline = None if max_time is None else self.sim.t + max_time
        self.stuck = 0.0
        self.last_progress_pos = (self.x, self.y)
        self.near_ok = False
        self.replans = 0
        self.until = None

    def _arrive(self, t: float, near: bool = False) -> None:
        self.mode = "idle"
        self.v = 0.0
        self.near_goal = near
        cont, self.cont = self.cont, None
        self.face = None
        if cont is not None:
            cont(t)

    def _walk(self, t: float) -> None:
        sim = self.sim
        if self.walk_deadline is not None and t >= self.walk_deadline:
            self._arrive(t, near=True)
            return
        path = self.path
        last = len(path) - 1
        while self.wp < last and math.hypot(path[self.wp][0] - self.x,
                                            path[self.wp][1] - self.y) < 0.3:
            self.wp += 1
        tx, ty = path[self.wp]
        dx, dy = tx - self.x, ty - self.y
        dist = math.hypot(dx, dy)
        final = self.wp == last
        if final and dist <= self.goal_tol:
            self._arrive(t)
            return
        ux, uy = (dx / dist, dy / dist) if dist > 1e-9 else (math.cos(self.heading),
                                                              math.sin(self.heading))
        v = min(self.v_pref, self.v + _ACCEL * DT)
        if final:
            v = min(v, max(0.12, 1.6 * dist))
        x0, y0 = self.x, self.y
        nbrs = [(o.x, o.y, math.hypot(x0 - o.x, y0 - o.y)) for o in sim.agents
                if o is not self and o.state == "active" and abs(o.x - x0) < 2.0
                and abs(o.y - y0) < 2.0]
        best: tuple[float, float, float, float] | None = None
        free = sim.fmap.free
        for ang, sf, ca, sa in _CANDIDATES:
            dxc, dyc = ux * ca - uy * sa, ux * sa + uy * ca
            step = v * sf * DT
            if final:
                step = min(step, dist)
            qx, qy = x0 + dxc * step, y0 + dyc * step
            if not free(qx, qy):
                continue
            ok = True
            pen = 0.0
            for ox, oy, d0 in nbrs:
                dq = math.hypot(qx - ox, qy - oy)
                if dq < SEPARATION and dq < d0 - 1e-9:
                    ok = False
                    break
                # discomfort only for people ahead of us
                if dq < COMFORT and (ox - x0) * ux + (oy - y0) * uy > -0.1:
                    pen += COMFORT - dq
            if not ok:
                continue
            progress = (qx - x0) * ux + (qy - y0) * uy
            score = progress - 0.06 * pen - 0.004 * abs(ang) - (0.001 if ang > 0 else 0.0)
            if best is None or score > best[0]:
                best = (score, qx, qy, progress)
            if ang == 0.0 and sf == 1.0 and pen == 0.0:
                break               # nothing in the way: straight on
        moved = False
        if best is not None and best[3] > 1e-4:
            _, qx, qy, _ = best
            self.v = math.hypot(qx - self.x, qy - self.y) / DT
            self.x, self.y = qx, qy
            moved = True
        else:
            self.v = 0.0
        self.face = math.atan2(uy, ux)
        self._turn(_WALK_TURN_RATE)
        if self.until is not None and self.until():
            self._arrive(t, near=True)
            return
        # progress bookkeeping
        px, py = self.last_progress_pos
        if math.hypot(self.x - px, self.y - py) > 0.15:
            self.last_progress_pos = (self.x, self.y)
            self.stuck = 0.0
        else:
            self.stuck += DT
        goal = path[-1]
        gdist = math.hypot(goal[0] - self.x, goal[1] - self.y)
        if not moved or self.stuck > 0:
            if self.near_ok and self.stuck >= 1.0 and gdist < 1.2:
                self._arrive(t, near=True)
                return
            if self.stuck >= 6.0 and not self.exiting:
                # hemmed in: give up on this leg, the next action plans afresh
                self._arrive(t, near=True)
                return
            if (self.stuck >= 2.5 and not self.exiting) or self.stuck >= 4.0:
                self.stuck = 0.0
                self.last_progress_pos = (self.x, self.y)
                self.replans += 1
                cont, tol, dl, near_ok = self.cont, self.goal_tol, self.walk_deadline, self.near_ok
                tail = path[-2:] if self.exiting else [goal]
                base = [(o.x, o.y) for o in sim.agents if o.active and o is not self
                        and math.hypot(o.x - self.x, o.y - self.y) < 3.0]
                new = sim.fmap.plan((self.x, self.y), tail[0], base, SEPARATION + 0.1)
                if self.exiting and len(tail) == 2:
                    new = [*new, tail[1]]
                self.path, self.wp = new, 1 if len(new) > 1 else 0
                self.cont, self.goal_tol, self.walk_deadline, self.near_ok = cont, tol, dl, near_ok

    # ---------------------------------------------------------------- reaches
    def _reachable_from_here(self, lane: Lane, side: int) -> _Posture | None:
        cfg = self.sim.cfg
        shelf = cfg.shelf(lane.shelf_id)
        loc = shelf.to_local(np.array([[self.x, self.y, 0.0]]))[0]
        front = loc[1] - 0.5 * shelf.depth
        lo, hi = lane.box_local
        lateral = max(lo[0] - loc[0], loc[0] - hi[0], 0.0)
        if not (0.2 <= front <= 0.65 and lateral <= 0.45):
            return None
        key = (lane.id, side, round(self.x, 2), round(self.y, 2))
        post = self._reach_cache.get(key)
        if post is None:
            heading = lane_spot(cfg, lane, self.stance)[1]
            target = _grasp_point(cfg, lane, (self.x, self.y), depth=0.13, lift=0.045,
                                  shoulder=_shoulder_x(self.dims, side))
            post = _solve_posture(self.dims, (self.x, self.y), heading, target, side, shelf=shelf)
            self._reach_cache[key] = post
        return post if post.feasible else None

    def _reach_action(self, act: Pick | PutBack | Reach, t: float) -> None:
        cfg = self.sim.cfg
        lane = cfg.lane(act.lane)
        side = 0 if act.hand == "left" else 1
        if isinstance(act, PutBack) and self.holds(act.sku) < act.qty:
            if self.waited < ITEM_WAIT:             # a hand-off may still bring it
                self.waited += 0.5
                self.busy(t, 0.5, cont=lambda tt: self._reach_action(act, tt))
                return
            self.sim.skipped.append((self.spec.id, t, "put_back: item not held"))
            return
        if self._reachable_from_here(lane, side) is None:
            if self.waited >= SPOT_PATIENCE:
                self.sim.skipped.append((self.spec.id, t, f"cannot get to lane {lane.id}"))
                return
            spot, face = lane_spot(cfg, lane, self.stance)
            d = math.hypot(spot[0] - self.x, spot[1] - self.y)
            taken = any(o is not self and o.active and o.mode != "walk"
                        and math.hypot(o.x - spot[0], o.y - spot[1]) < SEPARATION
                        for o in self.sim.agents)
            if d < 0.05 or (taken and d < 1.6):
                # the spot is taken: wait nearby, looking at the shelf, until it is free
                self.waited += 0.5
                self.busy(t, 0.5, cont=lambda tt: self._reach_action(act, tt), face=face)
                return
            self.waited += 0.25
            self.walk_to(spot, cont=lambda tt: self._reach_action(act, tt), near_ok=True)
            return
        face = lane_spot(cfg, lane, self.stance)[1]
        if abs(_wrap(face - self.heading)) > 0.05:
            turn = abs(_wrap(face - self.heading)) / _TURN_RATE
            self.busy(t, turn + 0.05, cont=lambda tt: self._reach_action(act, tt), face=face)
            return
        if act.at is not None and t + 1e-9 < act.at:
            self.busy(t, act.at - t, cont=lambda tt: self._reach_action(act, tt), face=face)
            return
        self._reach_now(act, lane, side, t)

    def _rest_wrist(self, side: int) -> FloatArray:
        q = _Pose.still(1)
        q.pos[0] = (self.x, self.y)
        q.heading[0] = self.heading
        return _joints(self.dims, q)[0, _SIDE_JOINTS[side][2]]

    def _reach_now(self, act: Pick | PutBack | Reach, lane: Lane, side: int, t: float) -> None:
        cfg = self.sim.cfg
        r = self.rng
        shelf = cfg.shelf(lane.shelf_id)
        depth = float(r.uniform(*_WRIST_DEPTH))
        lift = float(r.uniform(*_WRIST_LIFT))
        lift = min(lift, 0.5 * (lane.box_local[1][2] - lane.box_local[0][2]))
        jitter = float(r.uniform(-0.04, 0.04))
        target = _grasp_point(cfg, lane, (self.x, self.y), depth=depth, lift=lift,
                              jitter=jitter, shoulder=_shoulder_x(self.dims, side))
        post = _solve_posture(self.dims, (self.x, self.y), self.heading, target, side, shelf=shelf)
        if not post.feasible:
            target = _grasp_point(cfg, lane, (self.x, self.y), depth=0.11, lift=0.035,
                                  shoulder=_shoulder_x(self.dims, side))
            post = _solve_posture(self.dims, (self.x, self.y), self.heading, target, side,
                                  shelf=shelf)
        nrm = shelf.front_normal_store()
        pre = target + nrm * (depth + _PRE_ENTRY) if post.feasible else target + nrm * 0.2
        pre = target + nrm * (np.dot(pre - target, nrm))
        pre[2] += 0.02
        rest = self._rest_wrist(side)
        slow = isinstance(act, Pick) and act.style == "slow"
        if slow:
            t_app = float(r.uniform(0.7, 0.95))
            hes = float(r.uniform(0.9, 1.5))
            hold = float(r.uniform(0.45, 0.8))
            half = target + nrm * (depth - 0.05)
            times = np.cumsum([t, t_app, 0.3, hes, 0.3, hold, 0.3, float(r.uniform(0.5, 0.7))])
            pts = np.array([rest, pre, half, half, target, target, pre, rest])
            hold_start, hold_end = float(times[4]), float(times[5])
        else:
            t_app = float(r.uniform(0.35, 0.5))
            hold = float(r.uniform(0.25, 0.6))
            t_in = float(r.uniform(0.2, 0.28))
            times = np.cumsum([t, t_app, t_in, hold, t_in, float(r.uniform(0.3, 0.42))])
            pts = np.array([rest, pre, target, target, pre, rest])
            hold_start, hold_end = float(times[2]), float(times[3])
        kind = "pick" if isinstance(act, Pick) else "put_back" if isinstance(act, PutBack) \
            else "reach_only"
        frac = _LIFT_AT if kind == "pick" else _SET_AT
        change = hold_start + frac * (hold_end - hold_start) if kind != "reach_only" else None
        move = _ArmMove(kind="reach", side=side, times=times, points=pts, posture=post,
                        full_from=float(times[1]), full_to=float(times[-2]), lane=lane.id,
                        action_kind=kind, change_at=change)
        move.qty = act.qty if not isinstance(act, Reach) else 0
        move.hand = act.hand
        if isinstance(act, PutBack):
            move.sku = act.sku
        self.moves.append(move)
        if isinstance(act, PutBack):            # the items go to the hand that reaches
            put = [it for it in self.holding if it.sku == act.sku][::-1][:act.qty]
            if any(it.hand != act.hand for it in put):
                for it in put:
                    it.hand = act.hand
                self.sim.note_held(self, t)
        if change is not None:
            self.sim.schedule(change, lambda: self.sim.item_change(self, move))
        self.arm_busy_until = float(times[-1])
        self.busy(t, float(times[-1]) - t)

    # ---------------------------------------------------------------- hand-offs
    def _handoff_action(self, act: HandTo, t: float) -> None:
        sim = self.sim
        recv = sim.by_id[act.shopper]
        if self.holds(act.sku) < act.qty or recv.state == "pending":
            if self.waited < ITEM_WAIT:
                self.waited += 0.5
                self.busy(t, 0.5, cont=lambda tt: self._handoff_action(act, tt))
                return
            sim.skipped.append((self.spec.id, t, "hand_to: item not held or receiver absent"))
            return
        if recv.state == "gone" or (recv.exiting and recv.mode == "walk"
                                    and recv.path and recv.wp >= len(recv.path) - 2):
            sim.skipped.append((self.spec.id, t, "hand_to: receiver already left"))
            return
        gap = 0.55 * (self.dims.arm + recv.dims.arm)
        gap = max(gap, SEPARATION + 0.08)
        d = math.hypot(recv.x - self.x, recv.y - self.y)
        available = (t >= recv.arm_busy_until and t >= recv.frozen_until and recv.active)
        if d <= gap + 0.3 and available:
            sim.exchange(self, recv, act, t)
            return
        if self.waited > 45.0:
            sim.skipped.append((self.spec.id, t, "hand_to: could not get to the receiver"))
            return
        self.waited += 0.5
        ang = math.atan2(self.y - recv.y, self.x - recv.x)
        goal = None
        for k in range(12):
            a = ang + (k + 1) // 2 * 0.5 * (1 if k % 2 else -1)
            gx, gy = recv.x + gap * math.cos(a), recv.y + gap * math.sin(a)
            if sim.fmap.free(gx, gy):
                goal = (gx, gy)
                break
        if goal is None or d <= gap + 0.3:
            self.busy(t, 0.5, cont=lambda tt: self._handoff_action(act, tt))
            return
        self.walk_to(goal, cont=lambda tt: self._handoff_action(act, tt), max_time=0.5,
                     near_ok=True, tol=0.1)


# ------------------------------------------------------------------------------- the simulation
class _Sim:
    """The navigation pass: agents, scheduled item changes, sessions, truth bookkeeping."""

    def __init__(self, cfg: StoreConfig, scenario: Scenario) -> None:
        self.cfg = cfg
        self.scenario = scenario
        self.seed = int(scenario.seed)
        self.fmap = floor_map(cfg)
        self.t = 0.0
        self.agents = [_Agent(self, i, s) for i, s in enumerate(scenario.shoppers)]
        self.by_id = {a.spec.id: a for a in self.agents}
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.skipped: list[tuple[str, float, str]] = []
        self.entries: list[tuple[float, str, str | None, tuple[str, ...]]] = []
        self.truth: list[TruthEvent] = []
        self.lane_changes: list[tuple[float, str, float]] = []
        self.stock_changes: list[tuple[float, str, int]] = []      # (t, lane, item delta)
        self.held_log: dict[int, list[tuple[float, tuple[tuple[str, str], ...]]]] = {}
        self.handoffs: list[tuple[_Agent, _Agent, _ArmMove, _ArmMove, HandTo]] = []
        self.billed: dict[int, list[_Item]] = {}
        # lanes: stacks of items, front item last
        self.lanes: dict[str, list[_Item]] = {}
        for lane in cfg.lanes():
            entry = cfg.planogram.get(lane.id)
            items: list[_Item] = []
            if entry is not None:
                prod = cfg.catalog[entry.sku]
                rng = _seed_rng(self.seed, 2, _key(lane.id))
                w = rng.normal(prod.unit_weight_g, prod.weight_sd_g, entry.facings)
                w = np.maximum(w, 0.5 * prod.unit_weight_g)
                items = [_Item(entry.sku, float(g)) for g in w]
            self.lanes[lane.id] = items
        self.initial_weights = {lid: float(sum(i.grams for i in its))
                                for lid, its in self.lanes.items()}
        self.initial_counts = {lid: len(its) for lid, its in self.lanes.items()}
        # sessions
        self.sessions: list[tuple[_Agent, tuple[_Agent, ...]]] = []
        companions = {c for s in scenario.shoppers for c in s.companions}
        for a in self.agents:
            if a.spec.id in companions:
                continue
            members = [a] + [self.by_id[c] for c in a.spec.companions if c in self.by_id]
            sid = len(self.sessions)
            for m in members:
                m.session = sid
            for c in members[1:]:
                c.payer = a
            a.companions = members[1:]
            self.sessions.append((a, tuple(members)))
        for a in self.agents:          # a companion nobody claims (invalid) pays for itself
            if a.session < 0:
                a.session = len(self.sessions)
                self.sessions.append((a, (a,)))

    def note_held(self, agent: _Agent, t: float) -> None:
        """Log what ``agent`` holds from ``t`` on (after a change)."""
        self.held_log.setdefault(agent.index, []).append(
            (t, tuple((it.sku, it.hand) for it in agent.holding)))

    def schedule(self, t: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self.events, (t, self._seq, fn))
        self._seq += 1

    def on_enter(self, agent: _Agent, t: float) -> None:
        self.truth.append(TruthEvent("enter", agent.spec.id, t, t))
        if agent.payer is None:
            self.entries.append((t, agent.spec.id, agent.spec.token,
                                 tuple(c.spec.id for c in agent.companions)))

    # ---- item changes (run at their exact instant, in time order)
    def item_change(self, agent: _Agent, move: _ArmMove) -> None:
        t = float(move.change_at or 0.0)
        lane_id = move.lane or ""
        stack = self.lanes[lane_id]
        if move.action_kind == "pick":
            taken = [stack.pop() for _ in range(min(move.qty, len(stack)))]
            for it in taken:
                it.session = agent.session
                it.hand = move.hand
            agent.holding.extend(taken)
            move.items = taken
            if taken:
                delta = -sum(it.grams for it in taken)
                self.lane_changes.append((t, lane_id, delta))
                self.stock_changes.append((t, lane_id, -len(taken)))
                self.note_held(agent, t)
        elif move.action_kind == "put_back":
            mine = [it for it in agent.holding if it.sku == move.sku]
            put = mine[::-1][:move.qty]  # the most recently taken ones
            for it in put:
                agent.holding.remove(it)
                it.session = None
                stack.append(it)
            move.items = put
            if put:
                self.lane_changes.append((t, lane_id, sum(it.grams for it in put)))
                self.stock_changes.append((t, lane_id, len(put)))
                self.note_held(agent, t)

    def exchange(self, giver: _Agent, recv: _Agent, act: HandTo, t: float) -> None:
        """Start a hand-off now: both face each other, both right arms meet in between."""
        turn = 0.35
        t_arm = t + turn
        gx, gy, rx, ry = giver.x, giver.y, recv.x, recv.y
        ang = math.atan2(ry - gy, rx - gx)
        giver.face = ang
        recv.face = _wrap(ang + math.pi)
        frac = giver.dims.arm / (giver.dims.arm + recv.dims.arm)
        mx, my = gx + (rx - gx) * frac, gy + (ry - gy) * frac
        z = min(giver.dims.hip_h + 0.55 * giver.dims.torso,
                recv.dims.hip_h + 0.55 * recv.dims.torso)
        moves = []
        for who, heading, delay, off in ((giver, ang, 0.0, -0.03),
                                          (recv, _wrap(ang + math.pi), 0.15, 0.03)):
            meet = np.array([mx - math.sin(ang) * off, my + math.cos(ang) * off, z])
            # rest wrist once turned towards the other
            h0 = who.heading
            who.heading = heading
            rest = who._rest_wrist(1)
            who.heading = h0
            post = _solve_posture(who.dims, (who.x, who.y), heading, meet, 1, shelf=None)
            ta = t_arm + delay
            times = np.array([ta, ta + 0.6, ta + 1.1, ta + 1.7])
            pts = np.array([rest, meet, meet, rest])
            mv = _ArmMove(kind="handoff", side=1, times=times, points=pts, posture=post,
                          full_from=ta + 0.6, full_to=ta + 1.1, action_kind="handoff")
            who.moves.append(mv)
            who.arm_busy_until = float(times[-1])
            moves.append(mv)
        t_end = t_arm + 1.9
        giver.busy(t, t_end - t, face=ang)
        recv.frozen_until = t_end
        if recv.mode == "busy" and recv.busy_until > t:
            recv.busy_until += t_end - t
        if recv.mode == "walk" and recv.walk_deadline is not None:
            recv.walk_deadline += t_end - t
        transfer = t_arm + 0.85
        moves[0].change_at = transfer

        # what is handed on goes to the giver's right hand, which reaches out
        given = [it for it in giver.holding if it.sku == act.sku][::-1][:act.qty]
        if any(it.hand != "right" for it in given):
            for it in given:
                it.hand = "right"
            self.note_held(giver, t)

        def do_transfer() -> None:
            mine = [it for it in giver.holding if it.sku == act.sku][::-1][:act.qty]
            for it in mine:
                giver.holding.remove(it)
                it.hand = "right"
                recv.holding.append(it)
            moves[0].items = mine
            if mine:
                self.note_held(giver, transfer)
                self.note_held(recv, transfer)

        self.schedule(transfer, do_transfer)
        self.handoffs.append((giver, recv, moves[0], moves[1], act))

    def on_gone(self, agent: _Agent, t: float) -> None:
        for it in agent.holding:
            if it.session is not None:
                self.billed.setdefault(it.session, []).append(it)
        if agent.holding:
            agent.holding = []
            self.note_held(agent, t)

    # ---- main loop
    def run(self) -> None:
        cap = float(self.scenario.duration) + 240.0
        step = 0
        while True:
            t = step * DT
            self.t = t
            while self.events and self.events[0][0] <= t + 1e-12:
                _, _, fn = heapq.heappop(self.events)
                fn()
            for a in self.agents:
                a.update(t)
            for a in self.agents:
                if a.state != "active":
                    continue
                a.samples.append((t, a.x, a.y, a.heading))
                self._check_exit(a, t)
            if all(a.state == "gone" for a in self.agents) and not self.events:
                break
            if t > cap:
                for a in self.agents:
                    if a.state == "active":
                        a.state = "gone"
                        a.t_gone = t
                        self.on_gone(a, t)
                    elif a.state == "pending":
                        a.state = "gone"
                break
            step += 1

    def _check_exit(self, a: _Agent, t: float) -> None:
        gate = self.fmap.exit
        if not a.exiting:
            return
        dep = gate.depth_of(a.x, a.y)
        if (math.isnan(a.t_exit_zone) and dep <= gate.depth + 0.05
                and self.fmap.in_exit_zone(a.x, a.y)):
            a.t_exit_zone = t
        if dep < 0.0 and len(a.samples) >= 2:
            t_prev, xp, yp, _ = a.samples[-2]
            dp = gate.depth_of(xp, yp)
            frac = dp / (dp - dep) if dp > dep else 1.0
            a.t_gone = t_prev + frac * (t - t_prev)
            if math.isnan(a.t_exit_zone):
                a.t_exit_zone = t_prev
            a.state = "gone"
            self.on_gone(a, a.t_gone)


# ------------------------------------------------------------------------------ pose synthesis
def _smooth01(s: FloatArray) -> FloatArray:
    s = np.clip(s, 0.0, 1.0)
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))      # minimum-jerk profile


def _keyframes(tt: FloatArray, times: FloatArray, values: FloatArray) -> FloatArray:
    """Minimum-jerk interpolation through key frames (values rows) at frame times ``tt``."""
    idx = np.clip(np.searchsorted(times, tt, side="right") - 1, 0, len(times) - 2)
    t0, t1 = times[idx], times[idx + 1]
    s = _smooth01((tt - t0) / np.maximum(t1 - t0, 1e-9))
    v0, v1 = values[idx], values[idx + 1]
    return v0 + (v1 - v0) * (s[:, None] if values.ndim > 1 else s)


def _synthesize(agent: _Agent) -> PersonTrack:
    dims = agent.dims
    samples = np.array(agent.samples)
    st, sx, sy, sh = samples[:, 0], samples[:, 1], samples[:, 2], np.unwrap(samples[:, 3])
    t0, t1 = float(st[0]), float(agent.t_gone if not math.isnan(agent.t_gone) else st[-1])
    k = max(math.floor((t1 - t0) * POSE_RATE + 1e-9) + 1, 1)
    tt = t0 + np.arange(k) / POSE_RATE
    q = _Pose.still(k)
    q.pos[:, 0] = np.interp(tt, st, sx)
    q.pos[:, 1] = np.interp(tt, st, sy)
    q.heading[:] = np.interp(tt, st, sh)

    # gait: phase advances with distance travelled
    step = np.zeros(k)
    if k > 1:
        step[1:] = np.hypot(np.diff(q.pos[:, 0]), np.diff(q.pos[:, 1]))
    win = 15
    speed = np.convolve(step * POSE_RATE, np.ones(win) / win, mode="same")
    amp = np.clip(speed / 0.25, 0.0, 1.0)
    stride = dims.stride * np.clip(0.4 + 0.6 * speed / agent.v_pref, 0.4, 1.0)
    phase = np.cumsum(step / stride) + agent.sway_phase[0] / (2 * math.pi)
    for side, off in ((0, 0.0), (1, 0.5)):
        ph = (phase + off) % 1.0
        stance_part = ph < 0.6
        a_st = 0.3 - ph / 0.6 * 0.6
        s_sw = (ph - 0.6) / 0.4
        a_sw = -0.3 + 0.6 * _smooth01(s_sw)
        rel = np.where(stance_part, a_st, a_sw)
        q.foot_a[:, side] = rel * stride * amp
        q.foot_h[:, side] = np.where(stance_part, 0.0,
                                     0.045 * dims.height * np.sin(np.pi * np.clip(s_sw, 0, 1)))
        q.foot_h[:, side] *= amp
    q.bob[:] = amp * (0.008 * dims.height * np.cos(4 * np.pi * (phase - 0.3))
                      - 0.025 * dims.height)
    q.arm_alpha[:, 0] = -q.foot_a[:, 0] / np.maximum(stride, 1e-6) * 1.0 * amp
    q.arm_alpha[:, 1] = -q.foot_a[:, 1] / np.maximum(stride, 1e-6) * 1.0 * amp
    q.arm_flex[:] = 0.15 + 0.25 * amp[:, None] * np.clip(q.arm_alpha / 0.3, 0.0, 1.0) \
        + 0.1 * amp[:, None]
    # idle sway and looking around while standing
    still = 1.0 - amp
    sp = agent.sway_phase
    q.sway[:] = still * (0.008 * np.sin(2 * np.pi * 0.23 * tt + sp[1])
                         + 0.004 * np.sin(2 * np.pi * 0.61 * tt + sp[2]))
    q.heading[:] += still * 0.02 * np.sin(2 * np.pi * 0.11 * tt + sp[3])
    q.head_yaw[:] = still * 0.25 * np.sin(2 * np.pi * 0.07 * tt + sp[2])

    # arm activities and the posture they need
    for mv in agent.moves:
        i0 = max(math.ceil((mv.t0 - t0) * POSE_RATE - 1e-9), 0)
        i1 = min(math.floor((mv.t1 - t0) * POSE_RATE + 1e-9), k - 1)
        if i1 < i0:
            continue
        sl = slice(i0, i1 + 1)
        ts = tt[sl]
        p = mv.posture
        ramp = _keyframes(ts, np.array([mv.t0, mv.full_from, mv.full_to, mv.t1]),
                          np.array([0.0, 1.0, 1.0, 0.0]))
        lead = _keyframes(ts, np.array([mv.t0, mv.t0 + 0.7 * (mv.full_from - mv.t0),
                                        mv.full_to, mv.t1]), np.array([0.0, 1.0, 1.0, 0.0]))
        q.lean[sl] = p.lean * lead
        q.lean_dir[sl] = p.lean_dir
        q.crouch[sl] = p.crouch * lead
        q.rise[sl] = p.rise * lead
        q.step_in[sl, mv.side] = p.step * lead
        q.twist[sl] = p.twist * lead
        q.head_yaw[sl] = q.head_yaw[sl] * (1.0 - ramp) + p.head_yaw * ramp
        q.sway[sl] *= 1.0 - ramp
        wrist = _keyframes(ts, mv.times, mv.points)
        w = np.clip((ts - mv.t0) / max(0.5 * (mv.times[1] - mv.t0), 1e-6), 0.0, 1.0)
        w = np.minimum(w, np.clip((mv.t1 - ts) / max(0.5 * (mv.t1 - mv.times[-2]), 1e-6),
                                  0.0, 1.0))
        w = _smooth01(w)
        inner = (ts >= mv.times[1]) & (ts <= mv.times[-2])
        w[inner] = 1.0
        q.arm_w[sl, mv.side] = w
        q.arm_target[sl, mv.side] = wrist
    joints = _joints(dims, q)
    tips = np.empty((k, 2, 3))
    for side in (0, 1):
        _, e_j, w_j = _SIDE_JOINTS[side]
        fore = _unit(joints[:, w_j] - joints[:, e_j])
        tips[:, side] = joints[:, w_j] + fore * dims.hand
    return PersonTrack(person=agent.index, shopper=agent.spec.id, body=agent.spec.body, t0=t0,
                       joints=joints.astype(np.float32), heading=q.heading.astype(np.float32),
                       hand_tip=tips.astype(np.float32))


# ----------------------------------------------------------------------------------- the World
class World:
    """A scenario played through: people, lane weights, shelf-front intrusions and the truth.

    See the module docstring for the model. All queries are pure functions of ``t``.
    """

    def __init__(self, cfg: StoreConfig, scenario: Scenario) -> None:
        self.cfg = cfg
        self.scenario = scenario
        sim = _Sim(cfg, scenario)
        sim.run()
        self._sim = sim
        self.tracks: list[PersonTrack] = [_synthesize(a) for a in sim.agents
                                          if a.samples]
        self._track_of = {tr.shopper: tr for tr in self.tracks}
        self.entries: list[tuple[float, str, str | None, tuple[str, ...]]] = sorted(
            sim.entries, key=lambda e: (e[0], e[1]))
        self.lane_changes: list[tuple[float, str, float]] = sorted(
            sim.lane_changes, key=lambda c: (c[0], c[1]))
        self.skipped: list[tuple[str, float, str]] = list(sim.skipped)
        last_out = max((a.t_gone for a in sim.agents if not math.isnan(a.t_gone)), default=0.0)
        self.overrun = max(0.0, last_out - float(scenario.duration))
        self.duration = float(scenario.duration) + (self.overrun + 0.5 if self.overrun else 0.0)
        self._hand_intervals: list[tuple[float, float, str]] = []
        #: Internal inconsistencies (expected empty; tests check the library).
        self.anomalies: list[str] = []
        self.truth: tuple[TruthEvent, ...] = self._build_truth(sim)
        self.receipts: tuple[TrueReceipt, ...] = self._build_receipts(sim)
        # lane weights: per lane sorted change times and cumulative totals
        self._lane_ids = [lane.id for lane in cfg.lanes()]
        self._lw_times: dict[str, list[float]] = {lid: [] for lid in self._lane_ids}
        self._lw_vals: dict[str, list[float]] = {lid: [] for lid in self._lane_ids}
        for lid in self._lane_ids:
            total = sim.initial_weights[lid]
            for t, l2, d in self.lane_changes:
                if l2 == lid:
                    total += d
                    self._lw_times[lid].append(t)
                    self._lw_vals[lid].append(total)
        self._initial = dict(sim.initial_weights)
        # lane item counts: per lane sorted change times and running counts
        self._stock0 = {lid: sim.initial_counts[lid] for lid in self._lane_ids}
        self._st_times: dict[str, list[float]] = {lid: [] for lid in self._lane_ids}
        self._st_vals: dict[str, list[int]] = {lid: [] for lid in self._lane_ids}
        for t, lid, dn in sorted(sim.stock_changes, key=lambda c: (c[0], c[1])):
            n = self._st_vals[lid][-1] if self._st_vals[lid] else self._stock0[lid]
            self._st_times[lid].append(t)
            self._st_vals[lid].append(n + dn)
        # what each person holds: per shopper sorted change times and snapshots
        self._held_times: dict[str, list[float]] = {}
        self._held_vals: dict[str, list[tuple[HeldItem, ...]]] = {}
        interned: dict[tuple[tuple[str, str], ...], tuple[HeldItem, ...]] = {}
        for agent in sim.agents:
            log = sorted(sim.held_log.get(agent.index, []), key=lambda e: e[0])
            self._held_times[agent.spec.id] = [t for t, _ in log]
            self._held_vals[agent.spec.id] = [
                interned.setdefault(snap, tuple(HeldItem(sku, hand)  # type: ignore[arg-type]
                                                for sku, hand in snap))
                for _, snap in log]
        self._hand_intervals.sort()
        # shelves' frames for intrusion tests
        self._shelves = list(cfg.shelves)
        self._shelf_rot = [s.pose.rotation() for s in self._shelves]
        self._shelf_org = [np.array([s.pose.x, s.pose.y, 0.0]) for s in self._shelves]
        # frames where any arm chain crosses a front face (cheap pre-filter for queries)
        self._cross_frames: dict[str, NDArray[np.bool_]] = {
            tr.shopper: self._crossing_frames(tr) for tr in self.tracks}

    # ---------------------------------------------------------------- truth
    def _build_truth(self, sim: _Sim) -> tuple[TruthEvent, ...]:
        events = list(sim.truth)
        for agent in sim.agents:
            track = self._track_of.get(agent.spec.id)
            if track is None:
                continue
            times = track.times()
            for mv in agent.moves:
                if mv.kind != "reach" or mv.lane is None:
                    continue
                lane = self.cfg.lane(mv.lane)
                w_j = _SIDE_JOINTS[mv.side][2]
                i0 = max(math.floor((mv.t0 - track.t0) * POSE_RATE), 0)
                i1 = min(math.ceil((mv.t1 - track.t0) * POSE_RATE), len(times) - 1)
                wr = track.joints[i0:i1 + 1, w_j].astype(np.float64)
                inside = lane.contains_store(wr)
                if np.any(inside):
                    idx = np.flatnonzero(inside)
                    t_in, t_out = float(times[i0 + idx[0]]), float(times[i0 + idx[-1]])
                else:       # cannot happen with a feasible posture; keep the truth consistent
                    self.anomalies.append(f"{agent.spec.id}: wrist never inside {lane.id} "
                                          f"during the reach at t={mv.t0:.2f}")
                    t_in, t_out = float(mv.times[1]), float(mv.times[-2])
                self._hand_intervals.append((t_in, t_out, lane.id))
                items = mv.items
                hand = mv.hand
                kind = mv.action_kind
                if kind in ("pick", "put_back") and items:
                    sign = -1.0 if kind == "pick" else 1.0
                    by_sku: dict[str, list[_Item]] = {}
                    for it in items:
                        by_sku.setdefault(it.sku, []).append(it)
                    for sku, its in by_sku.items():
                        events.append(TruthEvent(
                            kind, agent.spec.id, t_in, t_out, lane=lane.id, sku=sku,
                            qty=len(its), hand=hand,  # type: ignore[arg-type]
                            grams=sign * float(sum(i.grams for i in its))))
                else:
                    events.append(TruthEvent("reach_only", agent.spec.id, t_in, t_out,
                                             lane=lane.id, hand=hand))  # type: ignore[arg-type]
        for giver, recv, mv_g, _mv_r, act in sim.handoffs:
            items = mv_g.items
            events.append(TruthEvent("handoff", giver.spec.id, mv_g.t0, mv_g.t1, sku=act.sku,
                                     qty=len(items), hand="right", other=recv.spec.id))
        for agent in sim.agents:
            if not math.isnan(agent.t_gone):
                start = agent.t_exit_zone if not math.isnan(agent.t_exit_zone) else agent.t_gone
                events.append(TruthEvent("exit", agent.spec.id, float(start),
                                         float(agent.t_gone)))
        order = {"enter": 0, "pick": 1, "put_back": 1, "reach_only": 1, "handoff": 1, "exit": 2}
        events.sort(key=lambda e: (e.t_start, order[e.kind], e.shopper, e.lane or ""))
        return tuple(events)

    def _build_receipts(self, sim: _Sim) -> tuple[TrueReceipt, ...]:
        out = []
        for sid, (payer, members) in enumerate(sim.sessions):
            counts: dict[str, int] = {}
            for it in sim.billed.get(sid, []):
                counts[it.sku] = counts.get(it.sku, 0) + 1
            gone = [m.t_gone for m in members if not math.isnan(m.t_gone)]
            out.append(TrueReceipt(
                payer=payer.spec.id, token=payer.spec.token,
                members=tuple(m.spec.id for m in members),
                lines=tuple(TrueLine(s, q) for s, q in sorted(counts.items())),
                exit_time=float(max(gone)) if gone else float(self.duration)))
        return tuple(out)

    # ---------------------------------------------------------------- queries
    @property
    def shoppers(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.scenario.shoppers)

    def track(self, shopper: str) -> PersonTrack:
        """The precomputed 100 Hz joints of one shopper (KeyError if never entered)."""
        return self._track_of[shopper]

    def people_at(self, t: float) -> list[PersonState]:
        """Everybody inside the store at ``t`` (between appearing and crossing the exit line)."""
        out = []
        for tr in self.tracks:
            f = (t - tr.t0) * POSE_RATE
            n = tr.joints.shape[0]
            if f < -1e-6 or f > n - 1 + 1e-6:
                continue
            i = min(max(int(f), 0), n - 1)
            a = f - i
            if i + 1 < n and a > 1e-9:
                j = tr.joints[i] * (1.0 - a) + tr.joints[i + 1] * a
                h = float(tr.heading[i]) * (1.0 - a) + float(tr.heading[i + 1]) * a
            else:
                j = tr.joints[i]
                h = float(tr.heading[i])
            out.append(PersonState(person=tr.person, shopper=tr.shopper,
                                   joints=j.astype(np.float64), body=tr.body,
                                   heading=_wrap(h), in_store=True,
                                   held=self._held(tr.shopper, t)))
        return out

    def _held(self, shopper: str, t: float) -> tuple[HeldItem, ...]:
        times = self._held_times.get(shopper, [])
        i = bisect.bisect_right(times, t)
        return self._held_vals[shopper][i - 1] if i else ()

    def held_at(self, t: float) -> dict[str, tuple[HeldItem, ...]]:
        """What every shopper holds at ``t`` (every shopper listed; a change counts from its
        instant on): the items with the hand each is in, oldest first."""
        return {s: self._held(s, t) for s in self.shoppers}

    def lane_stock_at(self, t: float) -> dict[str, int]:
        """True number of items in every lane at ``t`` (steps with ``lane_weights_at``)."""
        out = {}
        for lid in self._lane_ids:
            i = bisect.bisect_right(self._st_times[lid], t)
            out[lid] = self._st_vals[lid][i - 1] if i else self._stock0[lid]
        return out

    def lane_weights_at(self, t: float) -> dict[str, float]:
        """True weight (g) of every lane at ``t``; a change counts from its instant on."""
        out = {}
        for lid in self._lane_ids:
            times = self._lw_times[lid]
            i = bisect.bisect_right(times, t)
            out[lid] = self._lw_vals[lid][i - 1] if i else self._initial[lid]
        return out

    def hands_in_lanes_at(self, t: float) -> dict[str, int]:
        """Number of wrists inside each lane box at ``t`` (every lane listed, mostly 0)."""
        out = dict.fromkeys(self._lane_ids, 0)
        for t_in, t_out, lid in self._hand_intervals:
            if t_in > t:
                break
            if t <= t_out:
                out[lid] += 1
        return out

    def _crossing_frames(self, tr: PersonTrack) -> NDArray[np.bool_]:
        k = tr.joints.shape[0]
        hit = np.zeros(k, dtype=bool)
        for side in (0, 1):
            s_j, e_j, w_j = _SIDE_JOINTS[side]
            chain = [tr.joints[:, s_j], tr.joints[:, e_j], tr.joints[:, w_j], tr.hand_tip[:, side]]
            for shelf, rot, org in zip(self._shelves, self._shelf_rot, self._shelf_org,
                                       strict=True):
                ys = [((c.astype(np.float64) - org) @ rot)[:, 1] - 0.5 * shelf.depth
                      for c in chain]
                for a, b in itertools.pairwise(ys):
                    hit |= (a <= 0.02) & (b >= -0.02) | (a >= -0.02) & (b <= 0.02)
        # widen by one frame so interpolated queries between frames are covered
        hit[1:] |= hit[:-1]
        hit[:-1] |= hit[1:]
        return hit

    def shelf_intrusions_at(self, t: float) -> dict[str, list[float]]:
        """Where arms cross each shelf's front face at ``t``: distances (m) along the front edge
        from the distance sensor's end (shelf-local x = -width/2), sorted; every shelf listed."""
        out: dict[str, list[float]] = {s.id: [] for s in self._shelves}
        for tr in self.tracks:
            f = (t - tr.t0) * POSE_RATE
            n = tr.joints.shape[0]
            if f < -1e-6 or f > n - 1 + 1e-6:
                continue
            i = min(max(int(f), 0), n - 1)
            cross = self._cross_frames[tr.shopper]
            if not (cross[i] or (i + 1 < n and cross[i + 1])):
                continue
            a = f - i
            i2 = min(i + 1, n - 1)
            j = tr.joints[i].astype(np.float64) * (1 - a) + tr.joints[i2] * a
            tip = tr.hand_tip[i].astype(np.float64) * (1 - a) + tr.hand_tip[i2] * a
            for side in (0, 1):
                s_j, e_j, w_j = _SIDE_JOINTS[side]
                chain = np.array([j[s_j], j[e_j], j[w_j], tip[side]])
                for shelf, rot, org in zip(self._shelves, self._shelf_rot, self._shelf_org,
                                           strict=True):
                    loc = (chain - org) @ rot
                    yy = loc[:, 1] - 0.5 * shelf.depth
                    for c in range(3):
                        y0, y1 = yy[c], yy[c + 1]
                        if (y0 > 0) == (y1 > 0) or y0 == y1:
                            continue
                        s = y0 / (y0 - y1)
                        p = loc[c] + (loc[c + 1] - loc[c]) * s
                        if abs(p[0]) <= 0.5 * shelf.width and 0.0 <= p[2] <= shelf.height:
                            out[shelf.id].append(float(p[0] + 0.5 * shelf.width))
        for v in out.values():
            v.sort()
        return out
