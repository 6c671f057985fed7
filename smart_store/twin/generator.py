"""Random scenario generator (deterministic from its seed) and the scenario -> YAML writer.

``generate_scenario(cfg, seed, ...)`` draws a plausible store visit pattern with
``numpy.random.Generator(PCG64(seed))`` and returns a validated ``Scenario`` (it goes through
the same ``parse_scenario`` as hand-written files, so it obeys every rule there, including the
nominal timeline fitting ``duration``). The knobs are shares in [0, 1]:

* ``crowding``: how bunched the arrivals are (all within the first ~15 % of the run at 1.0,
  spread over half the run at 0.0) and how strongly people favour one "hot" shelf;
* ``simultaneous``: share of shoppers paired with another for a reach into adjacent lanes of
  one board at the same instant (``at``);
* ``putback_share``: share of picks put back later; ``misplaced_share``: share of picks put back
  on a *different* lane of the same shelf (counted within the put-backs);
* ``similar_weights``: share of picks taken from a lane whose neighbour on the same board holds
  a product of near-identical weight (the pairs are found in the catalog, not hard-coded);
* ``family_share``: share of shoppers who come as a parent + child pair (one scan, the child
  picks its own item and sometimes hands it to the parent);
* ``unscanned_share``: share of shoppers who never scan (token null).

Every seed gives a valid scenario: hand-ons and put-backs are only drawn for items the shopper
still holds, with a hand that reaches the lane. Should a draw still break a validator rule, the
action group holding the offending action is dropped (``_Gen.drop_action``) instead of failing.

``scenario_to_yaml(scenario)`` (alias ``to_yaml``) writes any Scenario back as YAML that
``load_scenario``/``parse_scenario`` turns into an equal Scenario (bodies written out in full).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from smart_store.config import Lane, StoreConfig
from smart_store.twin.errors import ScenarioError
from smart_store.twin.model import (
    Action,
    BodySpec,
    Browse,
    HandTo,
    Pick,
    PutBack,
    Reach,
    Scenario,
    Wait,
    WalkTo,
)
from smart_store.twin.scenario import generate_body, nominal_plans, parse_scenario
from smart_store.twin.world import World, can_reach

__all__ = ["generate_scenario", "scenario_to_yaml", "similar_weight_pairs", "to_yaml"]

# Visits of one generated run (spread over its duration: the long-run drill plays 100 in 10 min)
MAX_SHOPPERS = 200
_END_SLACK = 2.0        # s: everybody out this long before the end
_ACTION_KEY = re.compile(r"^shoppers\[(\d+)\]\.actions\[(\d+)\]")


def similar_weight_pairs(cfg: StoreConfig) -> list[tuple[str, str]]:
    """Adjacent lanes of one board whose products differ by less than 3 item sigmas."""
    pairs = []
    for shelf in cfg.shelves:
        for level in shelf.levels:
            lanes = sorted(level.lanes, key=lambda ln: float(ln.box_local[0][0]))
            for a, b in itertools.pairwise(lanes):
                pa, pb = cfg.product_in_lane(a.id), cfg.product_in_lane(b.id)
                if pa is None or pb is None or pa.sku == pb.sku:
                    continue
                tol = 3.0 * max(pa.weight_sd_g, pb.weight_sd_g)
                if abs(pa.unit_weight_g - pb.unit_weight_g) <= tol:
                    pairs.append((a.id, b.id))
    return pairs


@dataclass
class _Person:
    id: str
    enter: float
    token: str | None
    body: BodySpec
    child: bool = False
    companions: list[str] = field(default_factory=list)
    groups: list[list[dict[str, Any]]] = field(default_factory=list)   # action groups (YAML)


def _check_share(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a share in [0, 1], got {value!r}")


def generate_scenario(cfg: StoreConfig, seed: int, *, shoppers: int = 8, duration: float = 60.0,
                      crowding: float = 0.3, simultaneous: float = 0.2,
                      putback_share: float = 0.15, misplaced_share: float = 0.05,
                      similar_weights: float = 0.2, family_share: float = 0.2,
                      unscanned_share: float = 0.05, name: str | None = None,
                      verify: bool = True) -> Scenario:
    """A random but plausible, validated scenario; identical for identical arguments.

    With ``verify`` the scenario is also played in a ``World`` and trimmed (trailing action
    groups of the latest leavers dropped) until congestion no longer makes anyone leave later
    than ``duration - 2 s`` or skip an action."""
    if not isinstance(shoppers, int) or shoppers < 1 or shoppers > MAX_SHOPPERS:
        raise ValueError(f"shoppers must be an integer 1-{MAX_SHOPPERS}, got {shoppers!r}")
    if not (math.isfinite(duration) and 15.0 <= duration <= 3600.0):
        raise ValueError(f"duration must be 15-3600 s, got {duration!r}")
    for key, val in (("crowding", crowding), ("simultaneous", simultaneous),
                     ("putback_share", putback_share), ("misplaced_share", misplaced_share),
                     ("similar_weights", similar_weights), ("family_share", family_share),
                     ("unscanned_share", unscanned_share)):
        _check_share(key, val)
    rng = np.random.default_rng(seed)
    gen = _Gen(cfg, rng, int(seed), duration)
    # share of the run kept free for queues and waiting: more people, more queueing
    gen.congestion = min(0.45, 0.06 + 0.012 * shoppers + 0.12 * crowding)
    people = gen.people(shoppers, crowding, family_share, unscanned_share)
    gen.shop(people, crowding, putback_share, misplaced_share, similar_weights)
    gen.pair_simultaneous(people, simultaneous)
    label = name or f"generated_{seed}"
    description = (f"Generated: seed {seed}, {shoppers} shoppers, {duration:g} s, crowding "
                   f"{crowding:g}, simultaneous {simultaneous:g}, put-backs {putback_share:g} "
                   f"(misplaced {misplaced_share:g}), similar weights {similar_weights:g}, "
                   f"families {family_share:g}, unscanned {unscanned_share:g}.")
    for _ in range(100):        # drop trailing action groups until everybody is out in time
        data = _to_data(label, description, duration, int(seed), tags=gen.tags(people),
                        people=people)
        try:
            scenario = parse_scenario(data, f"<generated seed={seed}>", cfg)
        except ScenarioError as err:
            # timing problems are relaxed; any other rule an action breaks (a safety net: the
            # drawing above is meant to obey them all) costs that action's group
            if not (gen.relax(people, err.key) or gen.drop_action(people, err.key)):
                raise
            continue
        if not verify:
            return scenario
        world = World(cfg, scenario)        # congestion is only known by playing it
        late = [e.shopper for e in world.truth
                if e.kind == "exit" and e.t_end > duration - _END_SLACK]
        late += [who for who, _, _ in world.skipped if who not in late]
        if not late:
            return scenario
        relaxed = [gen.relax(people, "duration", who) for who in late]
        if not any(relaxed):
            return scenario
    raise RuntimeError("generator could not fit the scenario")  # pragma: no cover


class _Gen:
    def __init__(self, cfg: StoreConfig, rng: np.random.Generator, seed: int,
                 duration: float) -> None:
        self.cfg = cfg
        self.rng = rng
        self.seed = seed
        self.duration = duration
        self.lanes = [ln for ln in cfg.lanes() if ln.id in cfg.planogram]
        self.stock = {ln.id: cfg.planogram[ln.id].facings for ln in self.lanes}
        self.pairs = similar_weight_pairs(cfg)
        self._reach_ok: dict[tuple[float, str, str], bool] = {}
        self.congestion = 0.1
        self.fragile: set[str] = set()            # lanes whose picked SKU a later action needs
        self.misplace_targets: set[str] = set()   # lanes that receive a misplaced item

    # ---- people
    def people(self, n: int, crowding: float, family_share: float,
               unscanned_share: float) -> list[_Person]:
        rng = self.rng
        n_fam = min(round(n * family_share / 2.0), n // 2)
        n_unscanned = min(round(n * unscanned_share), n - 2 * n_fam)
        units = n - n_fam                     # families enter as one unit
        window = max(2.0, self.duration * (0.5 - 0.35 * crowding))
        enters = np.sort(rng.uniform(0.5, 0.5 + window, units))
        for i in range(1, units):             # one scan at a time at the gate
            enters[i] = max(enters[i], enters[i - 1] + 0.8)
        kinds = ["family"] * n_fam + ["unscanned"] * n_unscanned
        kinds += ["single"] * (units - len(kinds))
        order = rng.permutation(units)
        people: list[_Person] = []
        for slot, u in enumerate(order):
            kind = kinds[u]
            pid = f"s{slot + 1:02d}"
            token = None if kind == "unscanned" else f"acct-{rng.integers(16**8):08x}"
            person = _Person(pid, round(float(enters[slot]), 2), token,
                             generate_body(self.seed, pid))
            people.append(person)
            if kind == "family":
                kid = f"{pid}k"
                person.companions.append(kid)
                people.append(_Person(kid, round(person.enter + float(rng.uniform(0.4, 1.2)), 2),
                                      None, generate_body(self.seed, kid, child=True),
                                      child=True))
        return people

    # ---- shopping
    def _reachable(self, person: _Person, lane: Lane, hand: str) -> bool:
        key = (person.body.height, lane.id, hand)
        if key not in self._reach_ok:
            self._reach_ok[key] = can_reach(self.cfg, person.body, lane, hand=hand)
        return self._reach_ok[key]

    def _reachable_any(self, person: _Person, lane: Lane) -> bool:
        return any(self._reachable(person, lane, h) for h in ("right", "left"))

    def _choose_lane(self, person: _Person, hot: str, crowding: float,
                     similar: float) -> tuple[Lane | None, str | None]:
        """A lane with stock left (and its similar-weight neighbour if that was the draw);
        ``None`` once every lane is nearly empty (a long run with many visits: nobody
        restocks during it, so the later shoppers find less and leave with less)."""
        rng = self.rng
        by_id = {ln.id: ln for ln in self.lanes}
        if self.pairs and rng.random() < similar:
            a, b = self.pairs[int(rng.integers(len(self.pairs)))]
            if self.stock[a] > 2 and self.stock[b] > 2:
                first, second = (a, b) if rng.random() < 0.5 else (b, a)
                return by_id[first], second
        pool = [ln for ln in self.lanes if self.stock[ln.id] > 2]
        if rng.random() < crowding:
            hot_pool = [ln for ln in pool if ln.shelf_id == hot]
            pool = hot_pool or pool
        if person.child:
            pool = [ln for ln in pool if ln.shelf_id in ("shelf_c", "shelf_d")] or pool
        if not pool:
            return None, None
        return pool[int(rng.integers(len(pool)))], None

    def _pick(self, person: _Person, lane: Lane, qty: int | None = None) -> dict[str, Any]:
        rng = self.rng
        hand = "right" if rng.random() < 0.72 else "left"
        if not self._reachable(person, lane, hand):
            hand = "left" if hand == "right" else "right"
        if qty is None:
            qty = int(rng.choice([1, 2, 3], p=[0.82, 0.13, 0.05]))
        qty = max(1, min(qty, self.stock[lane.id] - 1))
        self.stock[lane.id] -= qty
        pick: dict[str, Any] = {"lane": lane.id, "qty": qty, "hand": hand}
        if rng.random() < 0.12:
            pick["style"] = "slow"
        return {"pick": pick}

    def shop(self, people: list[_Person], crowding: float, putback: float, misplaced: float,
             similar: float) -> None:
        rng = self.rng
        shelves = [s.id for s in self.cfg.shelves]
        hot = shelves[int(rng.integers(len(shelves)))]
        payer_of = {c: p for p in people for c in p.companions}
        for person in people:
            n_groups = 1 if person.child else int(rng.integers(1, 4))
            for _ in range(n_groups):
                lane, neighbour = self._choose_lane(person, hot, crowding, similar)
                if lane is None or not self._reachable_any(person, lane):
                    continue
                group: list[dict[str, Any]] = [{"walk_to": {"lane": lane.id}}]
                if rng.random() < 0.35:
                    group.append({"browse": round(float(rng.uniform(1.0, 3.0)), 1)})
                if rng.random() < 0.08:
                    group.append({"reach": {"lane": lane.id}})
                group.append(self._pick(person, lane))
                if neighbour is not None:
                    other = next(ln for ln in self.lanes if ln.id == neighbour)
                    if self._reachable(person, other, "right"):
                        group.append(self._pick(person, other, 1))
                # a lane that receives a misplaced item may hand that item to its next picker,
                # so nobody puts back or hands on what they took from such a lane
                if rng.random() < putback and lane.id not in self.misplace_targets:
                    sku = self.cfg.planogram[lane.id].sku
                    target = lane
                    self.fragile.add(lane.id)
                    if rng.random() < misplaced / max(putback, 1e-9):
                        others = [ln for ln in self.lanes if ln.shelf_id == lane.shelf_id
                                  and ln.id != lane.id and ln.id not in self.fragile]
                        if others:
                            other = others[int(rng.integers(len(others)))]
                            if self._reachable_any(person, other):   # else: the same lane
                                target = other
                                self.misplace_targets.add(target.id)
                    if rng.random() < 0.6:
                        group.append({"browse": round(float(rng.uniform(1.0, 2.5)), 1)})
                    if target.id != lane.id:
                        group.append({"walk_to": {"lane": target.id}})
                    hand = "right" if self._reachable(person, target, "right") else "left"
                    group.append({"put_back": {"lane": target.id, "sku": sku, "qty": 1,
                                               "hand": hand}})
                person.groups.append(group)
                if not self.fits(person):
                    person.groups.pop()
                    break
            if person.child and person.id in payer_of and rng.random() < 0.35:
                # hand on the last pick the child still holds (not one it put back)
                held = self.held(person)
                last = [a["pick"]["lane"] for g in person.groups for a in g if "pick" in a]
                last = [lane_id for lane_id in last
                        if held.get(self.cfg.planogram[lane_id].sku, 0) > 0]
                if last and last[-1] not in self.misplace_targets:
                    lane_id = last[-1]
                    self.fragile.add(lane_id)
                    sku = self.cfg.planogram[lane_id].sku
                    person.groups.append([{"hand_to": {"shopper": payer_of[person.id].id,
                                                       "sku": sku, "qty": 1}}])
                    if not self.fits(person):
                        person.groups.pop()

    def held(self, person: _Person) -> dict[str, int]:
        """What ``person`` holds after its current actions, by SKU (picks count as the lane's
        planogram SKU: nobody picks from a lane that receives a misplaced item before them)."""
        held: dict[str, int] = {}
        for a in (a for g in person.groups for a in g):
            key, val = next(iter(a.items()))
            if key == "pick":
                sku = self.cfg.planogram[val["lane"]].sku
                held[sku] = held.get(sku, 0) + val["qty"]
            elif key in ("put_back", "hand_to"):
                held[val["sku"]] = held.get(val["sku"], 0) - val["qty"]
        return held

    def pair_simultaneous(self, people: list[_Person], share: float) -> None:
        """Give pairs of adult shoppers a reach into adjacent lanes of one board at one instant."""
        rng = self.rng
        adults = [p for p in people if not p.child]
        n_pairs = round(len(adults) * share / 2.0)
        if n_pairs == 0:
            return
        boards = [lv for s in self.cfg.shelves for lv in s.levels if len(lv.lanes) >= 2]
        idx = rng.permutation(len(adults))
        for k in range(n_pairs):
            if 2 * k + 1 >= len(idx):
                break
            a, b = adults[int(idx[2 * k])], adults[int(idx[2 * k + 1])]
            level = boards[int(rng.integers(len(boards)))]
            lanes = sorted(level.lanes, key=lambda ln: float(ln.box_local[0][0]))
            j = int(rng.integers(len(lanes) - 1))
            la, lb = lanes[j], lanes[j + 1]
            if self.stock[la.id] < 3 or self.stock[lb.id] < 3:
                continue
            if not (self._reachable_any(a, la) and self._reachable_any(b, lb)):
                continue
            # the later of the two arrivals, then a moment to settle
            plans = nominal_plans(self.cfg, (_spec(a), _spec(b)))
            arrive = max(plans[a.id].actions_done, plans[b.id].actions_done) + 4.5
            at = round(arrive + float(rng.uniform(0.5, 1.5)), 1)
            for person, lane in ((a, la), (b, lb)):
                group = [{"walk_to": {"lane": lane.id}}, self._pick(person, lane, 1)]
                group[1]["pick"]["at"] = at
                person.groups.append(group)
            if not (self.fits(a) and self.fits(b)):
                for person, lane in ((a, la), (b, lb)):
                    person.groups.pop()
                    self.stock[lane.id] += 1
                continue

    def relax(self, people: list[_Person], key: str, who: str | None = None) -> bool:
        """Make the scenario easier after a timing problem: drop the last action group of
        ``who`` (default: the shopper who is out last, nominally). A group holds its own
        put-back, and a child's hand-on is its own last group, so dropping from the end never
        strands an item. False when nothing can be dropped."""
        if key != "duration" and not key.endswith((".at", ".exit")):
            return False
        if who is not None:
            order = [p for p in people if p.id == who]
            payer = next((p for p in people if who in p.companions), None)
            order += [payer] if payer is not None else []
            order += [p for p in people if p.id in (order[0].companions if order else [])]
        else:
            plans = nominal_plans(self.cfg, tuple(_spec(p) for p in people))
            order = sorted(people, key=lambda p: plans[p.id].out, reverse=True)
        for person in order:
            if person.groups:
                person.groups.pop()
                return True
        return False

    def drop_action(self, people: list[_Person], key: str) -> bool:
        """Drop the action group holding the action that ``key`` (a validator key path such
        as ``shoppers[3].actions[5].hand_to.sku``) names. False when the key names none."""
        m = _ACTION_KEY.match(key)
        if m is None:
            return False
        i, k = int(m.group(1)), int(m.group(2))
        if i >= len(people):
            return False
        person = people[i]
        for g, group in enumerate(person.groups):
            if k < len(group):
                del person.groups[g]
                return True
            k -= len(group)
        return False

    def tags(self, people: list[_Person]) -> list[str]:
        """The hard cases the (current) people really exercise."""
        acts = [(p, a) for p in people for g in p.groups for a in g]
        similar = {lane for pair in self.pairs for lane in pair}
        tags = ["generated"]
        if len(people) >= 20:
            tags.append("crowded")
        if any(p.companions for p in people):
            tags.append("family")
        if any(p.token is None and not p.child for p in people):
            tags.append("unscanned")
        if any("pick" in a and "at" in a["pick"] for _, a in acts):
            tags.append("simultaneous")
        if any("put_back" in a for _, a in acts):
            tags.append("put_back")
        if any("put_back" in a and self.cfg.planogram[a["put_back"]["lane"]].sku
               != a["put_back"]["sku"] for _, a in acts):
            tags.append("misplaced")
        if any("pick" in a and a["pick"]["lane"] in similar for _, a in acts):
            tags.append("similar_weights")
        if any("hand_to" in a for _, a in acts):
            tags.append("handoff")
        if any("pick" in a and a["pick"]["qty"] > 1 for _, a in acts):
            tags.append("multi_quantity")
        return tags

    def fits(self, person: _Person) -> bool:
        """Does this person's nominal timeline leave room for congestion?"""
        plan = nominal_plans(self.cfg, (_spec(person),))[person.id]
        return plan.out <= self.duration * (1.0 - self.congestion) - _END_SLACK


def _spec(person: _Person) -> Any:
    """A ShopperSpec-like view of a generated person, for nominal timing."""
    from smart_store.twin.model import ShopperSpec  # noqa: PLC0415 - local helper type
    actions: list[Action] = []
    for group in person.groups:
        for a in group:
            key, val = next(iter(a.items()))
            if key == "walk_to":
                actions.append(WalkTo(lane=val["lane"]))
            elif key == "browse":
                actions.append(Browse(float(val)))
            elif key == "pick":
                actions.append(Pick(val["lane"], qty=val["qty"], hand=val["hand"],
                                    style=val.get("style", "normal"), at=val.get("at")))
            elif key == "put_back":
                actions.append(PutBack(val["lane"], val["sku"], qty=val["qty"]))
            elif key == "reach":
                actions.append(Reach(val["lane"]))
            elif key == "hand_to":
                actions.append(HandTo(val["shopper"], val["sku"], val["qty"]))
    return ShopperSpec(id=person.id, enter=person.enter, token=person.token, body=person.body,
                       actions=tuple(actions), companions=tuple(person.companions))


def _body_data(body: BodySpec) -> dict[str, Any]:
    return {"height": body.height, "build": body.build, "shirt": list(body.shirt),
            "pants": list(body.pants), "skin": list(body.skin), "hair": list(body.hair)}


def _to_data(name: str, description: str, duration: float, seed: int, *, tags: list[str],
             people: list[_Person]) -> dict[str, Any]:
    shoppers = []
    for p in people:
        entry: dict[str, Any] = {"id": p.id, "enter": p.enter, "token": p.token}
        if p.companions:
            entry["companions"] = list(p.companions)
        entry["body"] = _body_data(p.body)
        entry["actions"] = [a for g in p.groups for a in g]
        shoppers.append(entry)
    return {"name": name, "description": description, "duration": duration, "seed": seed,
            "tags": list(tags), "shoppers": shoppers}


# ------------------------------------------------------------------------------- YAML writer
def _action_data(act: Action) -> dict[str, Any]:
    if isinstance(act, WalkTo):
        if act.lane is not None:
            return {"walk_to": {"lane": act.lane}}
        assert act.point is not None
        return {"walk_to": {"point": [float(act.point[0]), float(act.point[1])]}}
    if isinstance(act, Browse):
        return {"browse": float(act.seconds)}
    if isinstance(act, Wait):
        return {"wait": float(act.seconds)}
    if isinstance(act, Pick):
        d: dict[str, Any] = {"lane": act.lane, "qty": act.qty, "hand": act.hand,
                             "style": act.style}
        if act.at is not None:
            d["at"] = float(act.at)
        return {"pick": d}
    if isinstance(act, PutBack):
        d = {"lane": act.lane, "sku": act.sku, "qty": act.qty, "hand": act.hand}
        if act.at is not None:
            d["at"] = float(act.at)
        return {"put_back": d}
    if isinstance(act, Reach):
        d = {"lane": act.lane, "hand": act.hand}
        if act.at is not None:
            d["at"] = float(act.at)
        return {"reach": d}
    return {"hand_to": {"shopper": act.shopper, "sku": act.sku, "qty": act.qty}}


class _Dumper(yaml.SafeDumper):
    """Block style for the document, flow style for leaf mappings and lists."""


def scenario_to_yaml(scenario: Scenario) -> str:
    """YAML text that loads back into an equal Scenario (``source`` aside)."""
    data: dict[str, Any] = {"name": scenario.name, "description": scenario.description,
                            "duration": float(scenario.duration), "seed": int(scenario.seed)}
    if scenario.store_config is not None:
        data["store"] = scenario.store_config
    if scenario.tags:
        data["tags"] = list(scenario.tags)
    r = scenario.render
    render: dict[str, Any] = {}
    for key in ("width", "height", "fps"):
        if getattr(r, key) is not None:
            render[key] = getattr(r, key)
    render.update({"noise_sigma": float(r.noise_sigma),
                   "exposure_jitter": float(r.exposure_jitter), "motion_blur": r.motion_blur})
    data["render"] = render
    faults: dict[str, Any] = {}
    if scenario.camera_faults:
        faults["cameras"] = []
        for cf in scenario.camera_faults:
            d: dict[str, Any] = {"camera": cf.camera, "start": float(cf.start),
                                 "end": None if cf.end is None else float(cf.end),
                                 "kind": cf.kind}
            if cf.kind == "drop":
                d["drop_rate"] = float(cf.drop_rate)
            faults["cameras"].append(d)
    if scenario.load_cell_faults:
        faults["load_cells"] = []
        for lf in scenario.load_cell_faults:
            d = {"kind": lf.kind, "start": float(lf.start), "duration": float(lf.duration)}
            if lf.kind == "stall":
                d["hub"] = lf.hub
            else:
                d["lane"] = lf.lane
                d["grams"] = float(lf.grams)
            faults["load_cells"].append(d)
    if faults:
        data["faults"] = faults
    shoppers = []
    for s in scenario.shoppers:
        entry: dict[str, Any] = {"id": s.id, "enter": float(s.enter), "token": s.token}
        if s.companions:
            entry["companions"] = list(s.companions)
        entry["body"] = _body_data(s.body)
        if s.exit is not None:
            entry["exit"] = float(s.exit)
        entry["actions"] = [_action_data(a) for a in s.actions]
        shoppers.append(entry)
    data["shoppers"] = shoppers
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None,
                     width=100, allow_unicode=True)


#: The name the design contract uses.
to_yaml = scenario_to_yaml
