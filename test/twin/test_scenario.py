"""Scenario format, validation (exact key paths), the library and the generator."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from smart_store.config import StoreConfig, load_store_config
from smart_store.twin.errors import ScenarioError
from smart_store.twin.generator import (
    generate_scenario,
    scenario_to_yaml,
    similar_weight_pairs,
    to_yaml,
)
from smart_store.twin.model import HandTo, Pick, PutBack, Scenario
from smart_store.twin.scenario import (
    generate_body,
    library_names,
    library_path,
    load_scenario,
    parse_scenario,
)

ROOT = Path(__file__).resolve().parents[2]

REQUIRED = ("demo", "single_shopper", "family_child_picks", "friends_separate",
            "simultaneous_two", "simultaneous_three", "putback_same_lane", "putback_misplaced",
            "similar_weights", "multi_quantity", "handoff", "crowded", "camera_dropout",
            "loadcell_bump", "unscanned_shopper", "reach_no_take", "crossed_arms")


@pytest.fixture(scope="module")
def cfg() -> StoreConfig:
    return load_store_config(ROOT / "config" / "demo_store.yaml")


@pytest.fixture(scope="module")
def library(cfg: StoreConfig) -> dict[str, Scenario]:
    return {name: load_scenario(name, cfg) for name in library_names()}


# --------------------------------------------------------------------------- library
def test_library_has_every_required_scenario(library: dict[str, Scenario]) -> None:
    assert set(REQUIRED) <= set(library)
    for name, sc in library.items():
        assert sc.name == name
        assert sc.tags, name
        assert sc.description
        assert sc.source.endswith(f"{name}.yaml")
        assert sc.shoppers


def test_library_is_mostly_short(library: dict[str, Scenario]) -> None:
    short = [n for n, sc in library.items() if 20.0 <= sc.duration <= 45.0]
    assert len(short) >= len(library) - 2          # demo and crowded may be longer
    assert 55.0 <= library["demo"].duration <= 65.0
    assert len(library["demo"].shoppers) >= 7
    assert len(library["crowded"].shoppers) >= 20


def test_library_scenarios_exercise_their_cases(library: dict[str, Scenario]) -> None:
    fam = library["family_child_picks"]
    payer = next(s for s in fam.shoppers if s.companions)
    kid = next(s for s in fam.shoppers if s.id in payer.companions)
    assert payer.token and kid.token is None and kid.body.height < 1.45
    assert any(isinstance(a, Pick) for a in kid.actions)
    unscanned = library["unscanned_shopper"]
    assert any(s.token is None and not s.companions for s in unscanned.shoppers)
    mis = library["putback_misplaced"]
    cfg_sku = {"C2b": "PEANUT-200"}
    assert any(isinstance(a, PutBack) and a.lane == "C2b" and a.sku != cfg_sku["C2b"]
               for s in mis.shoppers for a in s.actions)
    assert any(isinstance(a, Pick) and a.qty == 3
               for s in library["multi_quantity"].shoppers for a in s.actions)
    assert any(isinstance(a, HandTo) for s in library["handoff"].shoppers for a in s.actions)
    assert library["camera_dropout"].camera_faults
    assert {f.kind for f in library["loadcell_bump"].load_cell_faults} >= {"bump",
                                                                          "noise_burst"}


def test_similar_weight_pairs_come_from_the_catalog(cfg: StoreConfig) -> None:
    pairs = {frozenset(p) for p in similar_weight_pairs(cfg)}
    assert frozenset(("A2a", "A2b")) in pairs
    assert frozenset(("D1a", "D1b")) in pairs
    assert frozenset(("C1a", "C1b")) in pairs
    assert frozenset(("A1a", "A1b")) in pairs


def test_load_by_name_and_by_path(cfg: StoreConfig, tmp_path: Path) -> None:
    by_name = load_scenario("single_shopper", cfg)
    by_path = load_scenario(library_path("single_shopper"), cfg)
    assert by_name == by_path
    copy_path = tmp_path / "mine.yaml"
    copy_path.write_text(library_path("single_shopper").read_text(encoding="utf-8"),
                         encoding="utf-8")
    mine = load_scenario(str(copy_path))        # default store = the packaged demo store
    assert replace(mine, source="") == replace(by_name, source="")


def test_unknown_library_name_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        library_path("demoo")
    assert err.value.key == "<file>" and "did you mean 'demo'" in err.value.problem
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "missing.yaml")
    assert err.value.key == "<file>"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    assert err.value.key == "<yaml>"
    assert "\n" not in str(err.value)


def test_generated_bodies_are_deterministic() -> None:
    a, b = generate_body(5, "kid", child=True), generate_body(5, "kid", child=True)
    assert a == b
    assert 1.1 <= a.height <= 1.4
    adult = generate_body(5, "someone")
    assert 1.52 <= adult.height <= 1.98
    assert generate_body(6, "someone") != adult


# --------------------------------------------------------------------------- validation
BASE: dict[str, Any] = {
    "name": "t",
    "duration": 40,
    "seed": 1,
    "shoppers": [
        {"id": "a", "enter": 1.0, "token": "tok-a", "companions": ["k"],
         "actions": [{"walk_to": {"lane": "C3a"}},
                     {"pick": {"lane": "C3a", "hand": "right"}},
                     {"put_back": {"lane": "C3a", "sku": "COOKIE-CHOC-200"}}]},
        {"id": "k", "enter": 1.5, "token": None, "body": {"child": True},
         "actions": [{"pick": "D2b"}, {"hand_to": {"shopper": "a", "sku": "GRANOLA-40"}}]},
        {"id": "b", "enter": 2.0, "token": "tok-b",
         "actions": [{"browse": 2}, {"reach": {"lane": "B3a"}}]},
    ],
}


def _mutated(fn: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    fn(data)
    return data


def _set(path: list[Any], value: Any) -> Any:
    def go(d: dict[str, Any]) -> None:
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return go


def _del(path: list[Any]) -> Any:
    def go(d: dict[str, Any]) -> None:
        for k in path[:-1]:
            d = d[k]
        del d[path[-1]]
    return go


A0 = ["shoppers", 0, "actions"]

BAD = [
    ("missing key", _del(["shoppers", 1, "enter"]), "shoppers[1].enter", "missing required"),
    ("missing token", _del(["shoppers", 2, "token"]), "shoppers[2].token", "missing required"),
    ("unknown top key", _set(["durration"], 3), "durration", "did you mean 'duration'"),
    ("unknown shopper key", _set(["shoppers", 2, "exitt"], 3), "shoppers[2].exitt",
     "unknown key"),
    ("wrong type", _set(["duration"], "40"), "duration", "expected a number"),
    ("bool is not a number", _set(["shoppers", 0, "enter"], True), "shoppers[0].enter",
     "booleans are not numbers"),
    ("non-finite", _set(["duration"], math.inf), "duration", "finite"),
    ("nan enter", _set(["shoppers", 2, "enter"], math.nan), "shoppers[2].enter", "finite"),
    ("unknown lane", _set([*A0, 1, "pick", "lane"], "C3x"), "shoppers[0].actions[1].pick.lane",
     "unknown lane 'C3x'"),
    ("unknown sku", _set([*A0, 2, "put_back", "sku"], "COOKIE"),
     "shoppers[0].actions[2].put_back.sku", "unknown sku"),
    ("put back what is not held", _set([*A0, 2, "put_back", "sku"], "BISCUIT-150"),
     "shoppers[0].actions[2].put_back.sku", "holds 0"),
    ("hand on what is not held", _set(["shoppers", 1, "actions", 1, "hand_to", "sku"],
                                      "GUM-MINT"),
     "shoppers[1].actions[1].hand_to.sku", "holds 0"),
    ("hand to nobody", _set(["shoppers", 1, "actions", 1, "hand_to", "shopper"], "zed"),
     "shoppers[1].actions[1].hand_to.shopper", "unknown shopper"),
    ("pick more than the lane holds", _set([*A0, 1, "pick", "qty"], 10),
     "shoppers[0].actions[1].pick.qty", "only 9"),
    ("bad hand", _set([*A0, 1, "pick", "hand"], "both"), "shoppers[0].actions[1].pick.hand",
     "must be one of left, right"),
    ("bad style", _set([*A0, 1, "pick", "style"], "fast"), "shoppers[0].actions[1].pick.style",
     "normal, slow"),
    ("unknown action", _set([*A0, 0], {"jump": 1}), "shoppers[0].actions[0].jump",
     "unknown action"),
    ("two-key action", _set([*A0, 0], {"browse": 1, "wait": 1}), "shoppers[0].actions[0]",
     "one-key mapping"),
    ("unknown companion", _set(["shoppers", 0, "companions"], ["zed"]),
     "shoppers[0].companions[0]", "unknown shopper 'zed'"),
    ("companion listed twice", _set(["shoppers", 2, "companions"], ["k"]),
     "shoppers[2].companions[0]", "listed twice"),
    ("companion of itself", _set(["shoppers", 0, "companions"], ["a"]),
     "shoppers[0].companions[0]", "its own companion"),
    ("companion with own token", _set(["shoppers", 1, "token"], "tok-k"),
     "shoppers[0].companions[0]", "own token"),
    ("companion enters late", _set(["shoppers", 1, "enter"], 9.0), "shoppers[1].enter",
     "must enter with its payer"),
    ("duplicate token", _set(["shoppers", 2, "token"], "tok-a"), "shoppers[2].token",
     "already used"),
    ("enter after exit", _set(["shoppers", 2, "exit"], 1.5), "shoppers[2].exit",
     "must be after enter"),
    ("enter after the end", _set(["shoppers", 2, "enter"], 45.0), "shoppers[2].enter",
     "not before the end"),
    ("at before enter", _set([*A0, 1, "pick", "at"], 0.5), "shoppers[0].actions[1].pick.at",
     "before the shopper enters"),
    ("duration too short", _set(["duration"], 12), "duration", "too short"),
    ("duplicate shopper id", _set(["shoppers", 2, "id"], "a"), "shoppers[2].id",
     "duplicate shopper id"),
    ("unknown fault camera", _set(["faults"], {"cameras": [{"camera": "cam_x", "start": 1}]}),
     "faults.cameras[0].camera", "unknown camera"),
    ("unknown fault lane", _set(["faults"], {"load_cells": [
        {"kind": "bump", "lane": "Q1", "start": 1, "duration": 1, "grams": 5}]}),
     "faults.load_cells[0].lane", "unknown lane"),
    ("unknown fault hub", _set(["faults"], {"load_cells": [
        {"kind": "stall", "hub": "hub_x", "start": 1, "duration": 1}]}),
     "faults.load_cells[0].hub", "unknown hub"),
    ("stall on a distance hub", _set(["faults"], {"load_cells": [
        {"kind": "stall", "hub": "hub_distance", "start": 1, "duration": 1}]}),
     "faults.load_cells[0].hub", "not a load_cell hub"),
    ("drop without rate", _set(["faults"], {"cameras": [
        {"camera": "cam_fl", "start": 1, "kind": "drop"}]}),
     "faults.cameras[0].drop_rate", "missing required"),
    ("walk into a shelf", _set([*A0, 0], {"walk_to": {"point": [0.2, 4.5]}}),
     "shoppers[0].actions[0].walk_to.point", "not free floor"),
    ("too small to reach", _set(["shoppers", 2, "body"], {"height": 1.0}),
     "shoppers[2].actions[1].reach.lane", "cannot reach"),
    ("bad colour", _set(["shoppers", 2, "body"], {"shirt": [300, 0, 0]}),
     "shoppers[2].body.shirt[0]", "must be <= 255"),
    ("motion blur not a boolean", _set(["render"], {"motion_blur": "yes"}),
     "render.motion_blur", "expected true or false (true: moving people are blurred"),
    ("motion blur as a number", _set(["render"], {"motion_blur": 1}),
     "render.motion_blur", "got integer 1"),
    ("unknown render key", _set(["render"], {"motionblur": True}), "render.motionblur",
     "did you mean 'motion_blur'"),
]


def test_render_options_parse(cfg: StoreConfig) -> None:
    data = _mutated(_set(["render"], {"width": 320, "fps": 10, "noise_sigma": 0,
                                      "motion_blur": True}))
    render = parse_scenario(data, "r.yaml", cfg).render
    assert (render.width, render.height, render.fps, render.noise_sigma) == (320, None, 10.0, 0.0)
    assert render.motion_blur is True
    assert parse_scenario(copy.deepcopy(BASE), "r.yaml", cfg).render.motion_blur is False


def test_base_scenario_is_valid(cfg: StoreConfig) -> None:
    sc = parse_scenario(copy.deepcopy(BASE), "base.yaml", cfg)
    assert [s.id for s in sc.shoppers] == ["a", "k", "b"]
    assert sc.shoppers[1].body.height < 1.45
    assert sc.shoppers[0].actions[1] == Pick("C3a", hand="right")


@pytest.mark.parametrize(("label", "mutate", "key", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_scenarios_name_the_exact_key(cfg: StoreConfig, label: str, mutate: Any, key: str,
                                          words: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(_mutated(mutate), "bad.yaml", cfg)
    e = err.value
    assert e.file == "bad.yaml"
    assert e.key == key, f"{label}: {e}"
    assert words in e.problem, f"{label}: {e}"
    assert str(e) == f"bad.yaml: {key}: {e.problem}"
    assert "\n" not in str(e)


def test_items_received_by_hand_to_can_be_put_back(cfg: StoreConfig) -> None:
    data = copy.deepcopy(BASE)
    data["shoppers"][0]["actions"].append({"put_back": {"lane": "D2b", "sku": "GRANOLA-40"}})
    parse_scenario(data, "ok.yaml", cfg)
    data["shoppers"][0]["actions"].append({"put_back": {"lane": "D2b", "sku": "GRANOLA-40"}})
    with pytest.raises(ScenarioError) as err:          # only one was handed over
        parse_scenario(data, "bad.yaml", cfg)
    assert err.value.key == "shoppers[0].actions[4].put_back.sku"


# --------------------------------------------------------------------------- generator
def test_generator_is_deterministic_and_round_trips(cfg: StoreConfig) -> None:
    kw: dict[str, Any] = {"shoppers": 5, "duration": 40.0, "family_share": 0.4,
                          "putback_share": 0.4, "misplaced_share": 0.2}
    a = generate_scenario(cfg, 11, **kw)
    b = generate_scenario(cfg, 11, **kw)
    c = generate_scenario(cfg, 12, **kw)
    ya, yb, yc = scenario_to_yaml(a), scenario_to_yaml(b), scenario_to_yaml(c)
    assert ya == yb
    assert ya != yc
    assert to_yaml(a) == ya
    back = parse_scenario(yaml.safe_load(ya), "<round trip>", cfg)
    assert replace(back, source="") == replace(a, source="")
    assert len(a.shoppers) == 5
    assert a.name == "generated_11" and "generated" in a.tags


def test_library_scenarios_round_trip_through_yaml(library: dict[str, Scenario],
                                                   cfg: StoreConfig) -> None:
    for name in ("demo", "camera_dropout", "loadcell_bump", "crossed_arms"):
        sc = library[name]
        back = parse_scenario(yaml.safe_load(scenario_to_yaml(sc)), "<rt>", cfg)
        assert replace(back, source="") == replace(sc, source=""), name


def test_generator_rejects_bad_arguments(cfg: StoreConfig) -> None:
    with pytest.raises(ValueError, match="crowding"):
        generate_scenario(cfg, 1, crowding=1.5)
    with pytest.raises(ValueError, match="shoppers"):
        generate_scenario(cfg, 1, shoppers=0)
