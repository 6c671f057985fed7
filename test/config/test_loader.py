"""Store-config loader: the demo file loads, and every kind of mistake raises ONE ConfigError
naming the file, the exact key path and the problem, on a single line.

Bad variants are built by loading the demo YAML as a dict, mutating it, dumping it to a temp
file and loading that file, so each case exercises the full path a user's typo takes.
"""

from __future__ import annotations

import copy
import math
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from smart_store.config import (
    ConfigError,
    StoreConfig,
    load_store_config,
    parse_store_config,
)
from smart_store.config.__main__ import main as cli_main
from smart_store.geometry import point_in_polygon, polygon_contains

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "config" / "demo_store.yaml"
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DELETE = object()  # sentinel: remove the key instead of setting it


# --------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def demo_data() -> dict[str, Any]:
    return yaml.load(DEMO.read_text(encoding="utf-8"), Loader=_Loader)


@pytest.fixture(scope="module")
def demo() -> StoreConfig:
    return load_store_config(DEMO)


def _tokens(path: str) -> list[str | int]:
    """'cameras[2].intrinsics.fx' -> ['cameras', 2, 'intrinsics', 'fx']."""
    out: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        out.append(int(index) if index else name)
    return out


def set_path(data: Any, path: str, value: Any) -> None:
    *parents, last = _tokens(path)
    for tok in parents:
        data = data[tok]
    if value is DELETE:
        del data[last]
    else:
        data[last] = value


def get_path(data: Any, path: str) -> Any:
    for tok in _tokens(path):
        data = data[tok]
    return data


def rename_key(data: Any, path: str, new_name: str) -> None:
    *parents, last = _tokens(path)
    for tok in parents:
        data = data[tok]
    data[new_name] = data.pop(last)


def write_yaml(tmp_path: Path, data: Any, name: str = "store.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False), encoding="utf-8")
    return path


def expect_error(path: Path, key: str, fragment: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_store_config(path)
    err = info.value
    text = str(err)
    assert err.key == key, text
    assert fragment in err.problem, text
    assert err.file == str(path)
    assert text.startswith(f"{path}: ")
    assert text == f"{path}: {key}: {err.problem}"
    assert "\n" not in text and "\r" not in text
    return err


# --------------------------------------------------------------------------- the demo store
def test_demo_loads_with_expected_counts(demo: StoreConfig) -> None:
    assert demo.path == str(DEMO)
    assert (demo.name, demo.frame_id, demo.currency) == ("Smart Store Demo", "store", "EUR")
    assert demo.floor.shape == (4, 2)
    assert len(demo.zones) == 4
    assert len(demo.cameras) == 4
    assert len(demo.hubs) == 5
    assert len(demo.shelves) == 4
    assert sum(len(s.levels) for s in demo.shelves) == 12
    assert len(demo.lanes()) == 30
    assert len(demo.catalog) == 30
    assert len(demo.planogram) == 30


def test_demo_zones(demo: StoreConfig) -> None:
    assert demo.zone("entry").kind == "entry"
    assert demo.zone("exit").kind == "exit"
    assert [z.id for z in demo.zones_of_kind("analytics")] == ["aisle_1", "aisle_2"]
    assert demo.zone("entry").contains([[1.0, 0.5]]).all()
    assert not demo.zone("exit").contains([[1.0, 0.5]]).any()
    with pytest.raises(KeyError, match="nope"):
        demo.zone("nope")


def test_demo_cameras(demo: StoreConfig) -> None:
    for cam in demo.cameras:
        assert cam.topic == f"/cameras/{cam.id}/image_raw"
        assert cam.info_topic == f"/cameras/{cam.id}/camera_info"
        assert (cam.width, cam.height, cam.fps) == (640, 480, 15.0)
        assert 380.0 <= cam.model.fx <= 450.0
        assert 2.8 <= cam.model.center[2] <= 3.0
        uv, depth = cam.model.project([[3.0, 4.0, 0.0]])  # every camera sees the centre
        assert depth[0] > 0 and cam.model.in_image(uv).all()
    assert demo.camera("cam_fl").model.dist[0] == pytest.approx(-0.05)


def test_demo_hubs_and_channels(demo: StoreConfig) -> None:
    assert demo.hub("hub_lc_a").kind == "load_cell"
    assert demo.hub("hub_distance").port == "/dev/ttySS4"
    cells = [lane.load_cell for lane in demo.lanes()]
    assert len({(c.hub, c.channel) for c in cells}) == 30
    for shelf in demo.shelves:  # one load-cell hub per shelving unit, channels from 0
        hub = f"hub_lc_{shelf.id[-1]}"
        assert [lane.load_cell.hub for lane in shelf.lanes()] == [hub] * len(shelf.lanes())
        assert [lane.load_cell.channel for lane in shelf.lanes()] == list(range(len(shelf.lanes())))
    assert all(8000 <= c.offset <= 90000 and 100 <= c.scale <= 450 for c in cells)
    assert len({c.offset for c in cells}) == 30  # realistic: every channel differs
    sensors = [s.distance_sensor for s in demo.shelves]
    assert all(s is not None and s.hub == "hub_distance" for s in sensors)
    assert cells[0].grams(cells[0].offset + 100 * cells[0].scale) == pytest.approx(100.0)


def test_demo_shelf_geometry(demo: StoreConfig) -> None:
    shelf_a = demo.shelf("shelf_a")  # left wall, yaw -90: front faces +x
    assert shelf_a.pose.yaw == pytest.approx(-math.pi / 2)
    np.testing.assert_allclose(shelf_a.to_store([[1.0, 0.0, 0.0]]), [[0.25, 3.5, 0.0]], atol=1e-12)
    np.testing.assert_allclose(shelf_a.front_normal_store(), [1.0, 0.0, 0.0], atol=1e-12)
    face = shelf_a.front_face_store()
    assert face.shape == (4, 3)
    np.testing.assert_allclose(face[:, 0], 0.5, atol=1e-12)
    np.testing.assert_allclose(sorted(face[:, 2]), [0, 0, 1.8, 1.8])
    np.testing.assert_allclose(
        shelf_a.to_local(shelf_a.to_store([[0.3, 0.1, 0.2]])), [[0.3, 0.1, 0.2]]
    )
    for shelf in demo.shelves:
        assert polygon_contains(demo.floor, shelf.footprint_store(), tol=1e-6)
        # a 1.0 m walkway in front of every shelf: free floor, no other shelf
        centre = shelf.front_face_store()[:2].mean(axis=0)
        probe = (centre + 1.0 * shelf.front_normal_store())[:2]
        assert point_in_polygon(probe, demo.floor).all()
        for other in demo.shelves:
            assert not point_in_polygon(probe, other.footprint_store(), tol=1e-6).any()


def test_demo_lanes(demo: StoreConfig) -> None:
    lane = demo.lane("A1a")
    assert (lane.shelf_id, lane.level_id) == ("shelf_a", "l1")
    lo, hi = lane.box_local
    np.testing.assert_allclose(lo, [-0.93, -0.25, 0.10])
    np.testing.assert_allclose(hi, [-0.32, 0.25, 0.55])
    corners = lane.corners_store()
    assert corners.shape == (8, 3)
    shelf = demo.shelf(lane.shelf_id)
    assert polygon_contains(shelf.footprint_store(), corners[:4, :2], tol=1e-9)
    assert lane.contains_store(lane.center_store()).all()
    np.testing.assert_allclose(lane.front_center_store()[0], 0.5)  # on shelf_a's front face
    assert [lane.id for lane in demo.lanes()][:3] == ["A1a", "A1b", "A1c"]
    with pytest.raises(KeyError, match="Z9z"):
        demo.lane("Z9z")


def test_demo_catalog_and_planogram(demo: StoreConfig) -> None:
    assert demo.catalog["COLA-330"].unit_weight_g == pytest.approx(350.0)
    assert all(isinstance(p.price, int) and p.price > 0 for p in demo.catalog.values())
    assert set(demo.planogram) == {lane.id for lane in demo.lanes()}
    assert all(6 <= e.facings <= 12 for e in demo.planogram.values())
    assert demo.product_in_lane("A2a").sku == "COLA-330"


def test_demo_has_near_identical_weights_on_adjacent_lanes(demo: StoreConfig) -> None:
    pairs = []
    for shelf in demo.shelves:
        for level in shelf.levels:
            for left, right in zip(level.lanes, level.lanes[1:], strict=False):
                a = demo.product_in_lane(left.id)
                b = demo.product_in_lane(right.id)
                if a.sku != b.sku and abs(a.unit_weight_g - b.unit_weight_g) <= 3.0:
                    pairs.append((a.sku, b.sku))
    assert len(pairs) >= 3, pairs


def test_parse_store_config_from_dict(demo_data: dict[str, Any]) -> None:
    cfg = parse_store_config(copy.deepcopy(demo_data), "in-memory.yaml")
    assert cfg.path == "in-memory.yaml" and len(cfg.lanes()) == 30


def test_optional_keys_have_defaults(tmp_path: Path, demo_data: dict[str, Any]) -> None:
    data = copy.deepcopy(demo_data)
    del data["store"]["frame_id"]
    del data["shelves"][0]["distance_sensor"]
    data["cameras"][0]["topic"] = "/ceiling/front_left/image"
    cfg = load_store_config(write_yaml(tmp_path, data))
    assert cfg.frame_id == "store"
    assert cfg.shelves[0].distance_sensor is None
    assert cfg.cameras[0].info_topic == "/ceiling/front_left/camera_info"


def test_config_error_is_one_line_and_pickles() -> None:
    err = ConfigError("a.yaml", "cameras[0].fx", "bad\n  value")
    assert str(err) == "a.yaml: cameras[0].fx: bad value"
    again = pickle.loads(pickle.dumps(err))
    assert (again.file, again.key, again.problem) == (err.file, err.key, err.problem)
    assert isinstance(err, ValueError)


# --------------------------------------------------------------------------- bad variants
def _entry_zone_kind_analytics(d: dict[str, Any]) -> None:
    d["zones"][0]["kind"] = "analytics"


def _drop_exit_zone(d: dict[str, Any]) -> None:
    del d["zones"][1]


def _per_product_currency(d: dict[str, Any]) -> None:
    d["catalog"][0]["currency"] = "USD"


def _typo_width(d: dict[str, Any]) -> None:
    rename_key(d, "shelves[0].size.width", "widht")


def _typo_top_level(d: dict[str, Any]) -> None:
    d["camera"] = []


def _planogram_lane_twice(d: dict[str, Any]) -> None:
    d["planogram"][6]["lane"] = d["planogram"][2]["lane"]


def _duplicate_sku(d: dict[str, Any]) -> None:
    d["catalog"][5]["sku"] = d["catalog"][0]["sku"]


Mutation = Callable[[dict[str, Any]], None]
S0L0 = "shelves[0].levels[0]"

# (test id, mutation: (path, value) or callable, expected key, problem fragment)
# fmt: off
BAD_CASES: list[tuple[str, tuple[str, Any] | Mutation, str, str]] = [
    # missing / unknown keys
    ("missing-key", ("cameras[1].intrinsics.fx", DELETE), "cameras[1].intrinsics.fx",
     "missing required key"),
    ("missing-section", ("planogram", DELETE), "planogram", "missing required key"),
    ("missing-lane-load-cell", (f"{S0L0}.lanes[1].load_cell", DELETE),
     f"{S0L0}.lanes[1].load_cell", "missing required key"),
    ("unknown-key-typo", _typo_width, "shelves[0].size.widht",
     "unknown key 'widht' (allowed: depth, height, width); did you mean 'width'?"),
    ("unknown-top-level-key", _typo_top_level, "camera", "did you mean 'cameras'?"),
    ("per-product-currency", _per_product_currency, "catalog[0].currency",
     "prices are in the store currency"),
    # wrong types
    ("string-for-int", ("cameras[0].width", "640"), "cameras[0].width",
     "expected a positive integer (pixels), got string '640'"),
    ("float-for-int", ("cameras[0].height", 480.5), "cameras[0].height", "got number 480.5"),
    ("bool-is-not-a-number", ("cameras[2].intrinsics.fx", True), "cameras[2].intrinsics.fx",
     "booleans are not numbers"),
    ("bool-is-not-an-int", ("hubs[0].baud", False), "hubs[0].baud", "got boolean false"),
    ("null-list", ("zones", None), "zones", "expected a list, got null"),
    ("mapping-expected", ("cameras[0].pose", [1, 2, 3]), "cameras[0].pose",
     "expected a mapping, got a list"),
    ("number-for-sku", ("catalog[2].sku", 4006381333931), "catalog[2].sku", "(quote it)"),
    ("string-for-number", ("shelves[0].pose.yaw", "ninety"), "shelves[0].pose.yaw",
     "expected a number, got string 'ninety'"),
    ("bad-enum", ("hubs[0].kind", "loadcell"), "hubs[0].kind",
     "must be one of load_cell, distance"),
    ("bad-id", ("cameras[0].id", "cam fl"), "cameras[0].id", "invalid id 'cam fl'"),
    # non-finite numbers
    ("nan", ("shelves[0].size.width", math.nan), "shelves[0].size.width", "finite"),
    ("inf", ("cameras[1].fps", math.inf), "cameras[1].fps", "finite"),
    ("neg-inf-pose", ("shelves[1].pose.x", -math.inf), "shelves[1].pose.x", "finite"),
    ("huge-int", ("shelves[1].pose.y", 10**400), "shelves[1].pose.y", "too large"),
    # non-positive sizes, rates, focal lengths
    ("zero-depth", ("shelves[1].size.depth", 0), "shelves[1].size.depth", "must be positive"),
    ("negative-height", ("shelves[2].size.height", -1.8), "shelves[2].size.height",
     "must be positive"),
    ("zero-fps", ("cameras[3].fps", 0), "cameras[3].fps", "must be positive"),
    ("negative-focal", ("cameras[0].intrinsics.fy", -400.0), "cameras[0].intrinsics.fy",
     "must be positive"),
    ("zero-width-px", ("cameras[0].width", 0), "cameras[0].width", "must be >= 1"),
    ("zero-clearance", (f"{S0L0}.clearance", 0.0), f"{S0L0}.clearance", "must be positive"),
    ("zero-scale", (f"{S0L0}.lanes[0].load_cell.scale", 0), f"{S0L0}.lanes[0].load_cell.scale",
     "must be positive"),
    ("zero-rate", ("hubs[1].rate_hz", 0), "hubs[1].rate_hz", "must be positive"),
    ("zero-unit-weight", ("catalog[1].unit_weight_g", 0), "catalog[1].unit_weight_g",
     "must be positive"),
    ("negative-facings", ("planogram[0].facings", -1), "planogram[0].facings", "must be >= 0"),
    # prices
    ("zero-price", ("catalog[3].price", 0), "catalog[3].price", "price must be positive"),
    ("negative-price", ("catalog[4].price", -5), "catalog[4].price", "price must be positive"),
    ("fractional-price", ("catalog[0].price", 0.89), "catalog[0].price",
     "integer number of minor units"),
    # duplicate ids
    ("duplicate-camera", ("cameras[2].id", "cam_fl"), "cameras[2].id",
     "duplicate camera id 'cam_fl' (first used at cameras[0].id)"),
    ("duplicate-shelf", ("shelves[3].id", "shelf_b"), "shelves[3].id", "duplicate shelf id"),
    ("duplicate-lane", ("shelves[3].levels[0].lanes[1].id", "A1a"),
     "shelves[3].levels[0].lanes[1].id", f"duplicate lane id 'A1a' (first used at {S0L0}"),
    ("duplicate-sku", _duplicate_sku, "catalog[5].sku", "duplicate sku 'WATER-500'"),
    ("duplicate-zone", ("zones[3].id", "aisle_1"), "zones[3].id", "duplicate zone id"),
    ("duplicate-hub", ("hubs[1].id", "hub_lc_a"), "hubs[1].id", "duplicate hub id"),
    ("duplicate-level", ("shelves[0].levels[2].id", "l1"), "shelves[0].levels[2].id",
     "duplicate level id"),
    ("duplicate-port", ("hubs[1].port", "/dev/ttySS0"), "hubs[1].port", "duplicate serial port"),
    ("duplicate-topic", ("cameras[1].topic", "/cameras/cam_fl/image_raw"), "cameras[1].topic",
     "duplicate camera topic"),
    # zones and polygons
    ("no-entry-zone", _entry_zone_kind_analytics, "zones", "zone of kind 'entry'"),
    ("no-exit-zone", _drop_exit_zone, "zones", "zone of kind 'exit'"),
    ("zone-outside-floor", ("zones[2].polygon", [[5, 7], [7, 7], [7, 9]]), "zones[2].polygon",
     "does not lie inside the store floor (point [7, 7])"),
    ("entry-exit-overlap", ("zones[1].polygon", [[1, 0], [2, 0], [2, 1], [1, 1]]),
     "zones[1].polygon", "overlaps entry zone 'entry'"),
    ("polygon-two-points", ("zones[0].polygon", [[0.5, 0], [1.7, 0]]), "zones[0].polygon",
     "at least 3 points, got 2"),
    ("polygon-zero-area", ("store.floor", [[0, 0], [3, 0], [6, 0]]), "store.floor", "zero area"),
    ("polygon-bowtie", ("zones[2].polygon", [[1, 4], [2, 5], [2, 4], [1, 5]]), "zones[2].polygon",
     "cross each other"),
    ("polygon-bad-point", ("store.floor[1]", [6.0]), "store.floor[1]",
     "expected a list of 2 numbers, got 1 items"),
    # store block
    ("currency-lowercase", ("store.currency", "eur"), "store.currency", "ISO 4217"),
    ("currency-too-long", ("store.currency", "EURO"), "store.currency", "3-letter"),
    ("frame-leading-slash", ("store.frame_id", "/store"), "store.frame_id", "invalid TF frame"),
    # shelves, levels, lanes
    ("shelf-outside-floor", ("shelves[3].pose.x", 5.9), "shelves[3].pose",
     "footprint does not lie inside the store floor"),
    ("shelves-overlap", ("shelves[2].pose.x", 3.0), "shelves[2].pose",
     "footprint overlaps shelf 'shelf_b'"),
    ("lanes-overlap", (f"{S0L0}.lanes[1].x", [-0.5, 0.31]), f"{S0L0}.lanes[1].x",
     "overlaps lane 'A1a' [-0.93, -0.32]"),
    ("lane-beyond-width", ("shelves[1].levels[1].lanes[2].x", [0.32, 1.0]),
     "shelves[1].levels[1].lanes[2].x", "extends beyond the shelf width (-0.95..0.95 m)"),
    ("lane-reversed", (f"{S0L0}.lanes[0].x", [-0.32, -0.93]), f"{S0L0}.lanes[0].x",
     "x0 < x1"),
    ("level-above-height", ("shelves[0].levels[2].clearance", 0.8),
     "shelves[0].levels[2].clearance", "exceeds the shelf height 1.8 m"),
    ("level-board-above-top", ("shelves[0].levels[2].z", 1.9), "shelves[0].levels[2].z",
     "not below the shelf height"),
    ("levels-overlap", ("shelves[0].levels[1].z", 0.5), "shelves[0].levels[1].z",
     "overlaps level 'l1'"),
    ("no-levels", ("shelves[1].levels", []), "shelves[1].levels", "needs at least 1 level"),
    # hubs and channels
    ("load-cell-unknown-hub", (f"{S0L0}.lanes[2].load_cell.hub", "hub_nope"),
     f"{S0L0}.lanes[2].load_cell.hub", "unknown hub 'hub_nope'"),
    ("load-cell-on-distance-hub", (f"{S0L0}.lanes[2].load_cell.hub", "hub_distance"),
     f"{S0L0}.lanes[2].load_cell.hub", "needs a hub of kind load_cell"),
    ("channel-used-twice", ("shelves[2].levels[0].lanes[1].load_cell.channel", 0),
     "shelves[2].levels[0].lanes[1].load_cell.channel",
     "duplicate use of hub 'hub_lc_c' channel 0"),
    ("negative-channel", (f"{S0L0}.lanes[0].load_cell.channel", -1),
     f"{S0L0}.lanes[0].load_cell.channel", "must be >= 0"),
    ("fractional-offset", (f"{S0L0}.lanes[0].load_cell.offset", 123.5),
     f"{S0L0}.lanes[0].load_cell.offset", "integer count"),
    ("distance-sensor-on-load-cell-hub", ("shelves[1].distance_sensor.hub", "hub_lc_b"),
     "shelves[1].distance_sensor.hub", "needs a hub of kind distance"),
    ("distance-channel-twice", ("shelves[1].distance_sensor.channel", 0),
     "shelves[1].distance_sensor.channel", "duplicate use of hub 'hub_distance' channel 0"),
    ("distance-range-order", ("shelves[0].distance_sensor.max_range", 0.02),
     "shelves[0].distance_sensor.max_range", "greater than min_range"),
    ("distance-fov-degrees", ("shelves[0].distance_sensor.fov", 25),
     "shelves[0].distance_sensor.fov", "radians"),
    ("duplicate-distance-sensor", ("shelves[2].distance_sensor.id", "ds_a"),
     "shelves[2].distance_sensor.id", "duplicate distance sensor id"),
    # planogram
    ("planogram-unknown-lane", ("planogram[4].lane", "Z9z"), "planogram[4].lane",
     "unknown lane 'Z9z'"),
    ("planogram-unknown-sku", ("planogram[5].sku", "NOPE-1"), "planogram[5].sku",
     "unknown sku 'NOPE-1'"),
    ("planogram-lane-twice", _planogram_lane_twice, "planogram[6].lane",
     "lane 'A1c' is listed twice (first at planogram[2].lane)"),
    # cameras
    ("camera-looks-at-ceiling", ("cameras[1].pose.look_at", [3.0, 4.0, 6.0]), "cameras[1].pose",
     "camera view misses the floor (looks at [3, 4, 6]"),
    ("camera-looks-out-of-store", ("cameras[0].pose.look_at", [-30.0, -30.0, 1.0]),
     "cameras[0].pose", "camera view misses the floor"),
    ("camera-look-at-equals-position", ("cameras[2].pose.look_at", [0.3, 7.7, 2.95]),
     "cameras[2].pose.look_at", "look_at equals position"),
    ("camera-straight-down", ("cameras[0].pose.look_at", [0.3, 0.3, 0.0]),
     "cameras[0].pose.look_at", "straight down"),
    ("camera-below-floor", ("cameras[0].pose.position", [0.3, 0.3, -1.0]),
     "cameras[0].pose.position", "above the floor"),
    ("principal-point-outside", ("cameras[0].intrinsics.cx", 700.0), "cameras[0].intrinsics.cx",
     "principal point cx=700 lies outside the image (0..640 px)"),
    ("principal-point-negative", ("cameras[3].intrinsics.cy", -1), "cameras[3].intrinsics.cy",
     "principal point"),
    ("distortion-model", ("cameras[0].distortion.model", "equidistant"),
     "cameras[0].distortion.model", "only plumb_bob"),
    ("distortion-four-coefficients", ("cameras[0].distortion.coefficients", [0.1, 0, 0, 0]),
     "cameras[0].distortion.coefficients", "expected a list of 5 numbers"),
    ("bad-topic", ("cameras[0].topic", "cameras//x"), "cameras[0].topic", "invalid ROS topic"),
]
# fmt: on


@pytest.mark.parametrize(
    ("mutation", "key", "fragment"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_bad_variant_names_key_and_problem(
    tmp_path: Path,
    demo_data: dict[str, Any],
    mutation: tuple[str, Any] | Mutation,
    key: str,
    fragment: str,
) -> None:
    data = copy.deepcopy(demo_data)
    if callable(mutation):
        mutation(data)
    else:
        set_path(data, *mutation)
    expect_error(write_yaml(tmp_path, data), key, fragment)


def test_sanity_of_the_case_table(demo_data: dict[str, Any]) -> None:
    """The mutations above must hit keys that exist in the demo (no silent no-ops)."""
    for case_id, mutation, _, _ in BAD_CASES:
        if isinstance(mutation, tuple) and mutation[1] is not DELETE:
            *parent, _ = _tokens(mutation[0])
            node: Any = demo_data
            for tok in parent:
                node = node[tok]
            assert node is not None, case_id
    assert get_path(demo_data, "planogram[2].lane") == "A1c"


# --------------------------------------------------------------------------- file-level errors
def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.yaml", "<file>", "file not found")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    expect_error(tmp_path, "<file>", "is a directory")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"store:\n  name: Caf\xe9\n")
    expect_error(path, "<file>", "not UTF-8")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod 0 cannot make a file unreadable for root (CI runs as root), so the loader's open()
    # is made to fail the way the kernel would for an ordinary user.
    from smart_store.config import loader

    path = tmp_path / "secret.yaml"
    path.write_text("store: {}\n")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(loader, "open", denied, raising=False)
    expect_error(path, "<file>", "permission denied")


def test_invalid_yaml_reports_line_number(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("store:\n  name: Demo\n  floor: [[0, 0], [1, 0]\nzones: []\n")
    err = expect_error(path, "<yaml>", "invalid YAML at line 4, column 1")
    assert "did not find expected" in err.problem


def test_duplicate_yaml_key_reports_line_number(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("store:\n  name: Demo\n  name: Other\n")
    expect_error(path, "<yaml>", "line 3, column 3: found duplicate key 'name'")


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- store\n- zones\n")
    expect_error(path, "<root>", "top level must be a mapping")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here\n")
    expect_error(path, "<root>", "got an empty document")


def test_exponent_without_dot_is_a_number(tmp_path: Path, demo_data: dict[str, Any]) -> None:
    """YAML 1.1 reads 1e-3 as a string; the loader treats it as the number people mean."""
    text = DEMO.read_text(encoding="utf-8").replace("min_range: 0.03", "min_range: 3e-2")
    path = tmp_path / "exp.yaml"
    path.write_text(text, encoding="utf-8")
    cfg = load_store_config(path)
    assert cfg.shelves[0].distance_sensor.min_range == pytest.approx(0.03)


# --------------------------------------------------------------------------- CLI
def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "smart_store.config", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_cli_valid_file_prints_summary() -> None:
    proc = _run_cli(str(DEMO))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    line = proc.stdout.strip()
    assert "\n" not in line
    assert "4 cameras" in line and "4 shelves" in line and "30 lanes" in line
    assert "30 products" in line


def test_cli_invalid_file_prints_one_line_and_exits_2(
    tmp_path: Path, demo_data: dict[str, Any]
) -> None:
    data = copy.deepcopy(demo_data)
    data["cameras"][2]["intrinsics"]["fx"] = True
    path = write_yaml(tmp_path, data)
    proc = _run_cli(str(path))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.endswith("\n") and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"{path}: cameras[2].intrinsics.fx: ")


def test_cli_missing_file_exits_2_without_traceback(tmp_path: Path) -> None:
    proc = _run_cli(str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2
    assert proc.stderr == f"{tmp_path / 'missing.yaml'}: <file>: file not found\n"


def test_cli_main_usage_and_oserror(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli_main([]) == 2
    assert "usage" in capsys.readouterr().err
    assert cli_main(["--help"]) == 0
    assert "usage" in capsys.readouterr().out

    def boom(path: str) -> StoreConfig:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("smart_store.config.__main__.load_store_config", boom)
    assert cli_main(["x.yaml"]) == 2
    assert capsys.readouterr().err == "x.yaml: <file>: [Errno 5] Input/output error\n"


def test_config_and_geometry_never_import_ros() -> None:
    code = (
        "import sys, smart_store.config, smart_store.config.__main__, smart_store.geometry\n"
        "ros = {'rclpy', 'rosidl_runtime_py', 'sensor_msgs', 'std_msgs', 'geometry_msgs'}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ros)\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
