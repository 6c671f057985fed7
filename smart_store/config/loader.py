"""Load and validate a store configuration YAML file into a ``StoreConfig``.

The loader is strict on purpose: a store config is written by hand, and a typo such as
``widht`` or a price of ``1.99`` (instead of 199 cents) would otherwise surface hours later as a
mis-billed customer. Every problem raises exactly one ``ConfigError`` naming the file, the key
path (``shelves[1].levels[0].lanes[2].load_cell.channel``) and what is wrong, on one line.

Reading goes through ``_Node``, a tiny typed key-path reader: every value carries the path it
was reached by, so every check can name its key without bookkeeping at the call site.

The schema is pinned in docs/design-contract.md; config/demo_store.yaml is the reference file.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable
from typing import Any, NoReturn

import numpy as np
import yaml

from smart_store.config.errors import ConfigError
from smart_store.config.model import (
    HUB_KINDS,
    ZONE_KINDS,
    CameraConfig,
    DistanceSensor,
    Hub,
    Lane,
    Level,
    LoadCellChannel,
    PlanogramEntry,
    Pose2D,
    Product,
    Shelf,
    StoreConfig,
    Zone,
)
from smart_store.geometry.camera import CameraModel
from smart_store.geometry.errors import GeometryError
from smart_store.geometry.polygon import (
    convex_polygons_overlap,
    intervals_overlap,
    point_in_polygon,
    polygon_area,
    polygon_contains,
    polygons_overlap,
    rect_corners,
    segments_cross,
)

__all__ = ["MIN_FLOOR_SHARE", "load_store_config", "parse_store_config"]

#: A camera must see the store floor in at least this share of its image area.
MIN_FLOOR_SHARE = 0.05

# Ids end up in topic names, TF frame ids and log lines, so keep them ROS-name safe.
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# SKUs come from merchandise systems: allow digits first and dashes/dots, but no whitespace.
_SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_FRAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
_TOPIC_RE = re.compile(r"^(/|~/)?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")

# Boundary tolerance (metres) for "inside the floor" checks: shelves stand flush to walls.
_EDGE_TOL = 1e-6
# Pixel grid used to measure how much of each camera image shows the floor.
_COVERAGE_GRID = (32, 24)


# --------------------------------------------------------------------------- YAML reading
# libyaml's parser when PyYAML was built with it (about 8x faster), else the pure-Python one.
_SafeLoaderBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoaderBase):  # type: ignore[valid-type, misc]
    """Safe loader that rejects duplicate mapping keys and reads ``1e-3`` as a float.

    PyYAML silently keeps the last of two equal keys, which hides copy-paste mistakes; and YAML
    1.1 reads ``1e-3`` (no dot) as a *string*, which would produce a confusing type error.
    Only the safe constructors are used: no arbitrary Python objects.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # complex keys are rejected later ("keys must be strings")
            # The composer already resolved the tag: 'a' and a are the same key, 1 and '1' not.
            ident = (key_node.tag, key_node.value)
            if ident in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key_node.value!r}",
                    key_node.start_mark,
                )
            seen.add(ident)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _read_yaml(file: str) -> Any:
    """Read and parse ``file``; every failure becomes a ``ConfigError`` (never OSError)."""
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(file, "<file>", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(file, "<file>", "is a directory, not a YAML file") from None
    except PermissionError:
        raise ConfigError(file, "<file>", "permission denied") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "<file>", f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(file, "<file>", f"cannot read file: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # safe: SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        what = exc.problem or exc.context or "syntax error"
        raise ConfigError(file, "<yaml>", f"invalid YAML at {where}: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(file, "<yaml>", f"invalid YAML: {exc}") from None


def _describe(value: Any) -> str:
    """Short, type-first description of a YAML value for error messages."""
    if value is None:
        return "null (empty value)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _fmt(values: Iterable[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


# --------------------------------------------------------------------------- typed reader
class _Node:
    """A YAML value together with the file and key path it was reached by."""

    __slots__ = ("file", "path", "value")

    def __init__(self, file: str, path: str, value: Any) -> None:
        self.file = file
        self.path = path
        self.value = value

    def fail(self, problem: str) -> NoReturn:
        raise ConfigError(self.file, self.path or "<root>", problem)

    def _sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    # ---- containers
    def as_map(self, required: Iterable[str], optional: Iterable[str] = ()) -> _Map:
        """Check this is a mapping with exactly the allowed keys; unknown keys first."""
        if not isinstance(self.value, dict):
            self.fail(f"expected a mapping, got {_describe(self.value)}")
        required, optional = tuple(required), tuple(optional)
        allowed = required + optional
        for key in self.value:
            if not isinstance(key, str):
                self.fail(f"mapping keys must be strings, got key {_describe(key)}")
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                extra = f"; did you mean '{hint[0]}'?" if hint else ""
                raise ConfigError(
                    self.file,
                    self._sub(key),
                    f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))}){extra}",
                )
        for key in required:
            if key not in self.value:
                raise ConfigError(self.file, self._sub(key), "missing required key")
        return _Map(self)

    def as_list(self, min_len: int = 0, what: str = "entry") -> list[_Node]:
        if not isinstance(self.value, list):
            self.fail(f"expected a list, got {_describe(self.value)}")
        if len(self.value) < min_len:
            self.fail(f"needs at least {min_len} {what}{'' if min_len == 1 else 's'}")
        return [_Node(self.file, f"{self.path}[{i}]", v) for i, v in enumerate(self.value)]

    # ---- scalars
    def as_str(self, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        v = self.value
        if not isinstance(v, str):
            hint = " (quote it)" if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            self.fail(f"expected a string, got {_describe(v)}{hint}")
        if not v.strip():
            self.fail("must not be empty")
        if pattern is not None and not pattern.match(v):
            self.fail(f"invalid {what or 'value'} {v!r}")
        return v

    def as_id(self) -> str:
        v = self.as_str()
        if not _ID_RE.match(v):
            self.fail(
                f"invalid id {v!r}: use a letter followed by letters, digits or '_' "
                "(ids become ROS names)"
            )
        return v

    def as_choice(self, choices: Iterable[str]) -> str:
        choices = tuple(choices)
        v = self.as_str()
        if v not in choices:
            self.fail(f"must be one of {', '.join(choices)}; got {v!r}")
        return v

    def as_int(self, minimum: int | None = None, what: str = "an integer") -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(f"expected {what}, got {_describe(v)}")
        if minimum is not None and v < minimum:
            self.fail(f"must be >= {minimum}, got {v}")
        return int(v)

    def as_number(self, *, positive: bool = False, nonneg: bool = False) -> float:
        v = self.value
        if isinstance(v, bool):
            self.fail(f"expected a number, got {_describe(v)} (booleans are not numbers)")
        if not isinstance(v, (int, float)):
            self.fail(f"expected a number, got {_describe(v)}")
        try:
            f = float(v)
        except OverflowError:  # a YAML integer with hundreds of digits
            self.fail(f"number is too large: {str(v)[:20]}...")
        if not math.isfinite(f):
            self.fail(f"must be a finite number, got {v!r}")
        if positive and f <= 0.0:
            self.fail(f"must be positive, got {v!r}")
        if nonneg and f < 0.0:
            self.fail(f"must not be negative, got {v!r}")
        return f

    def as_vector(self, dim: int) -> np.ndarray:
        items = self.as_list()
        if len(items) != dim:
            self.fail(f"expected a list of {dim} numbers, got {len(items)} items")
        return np.array([item.as_number() for item in items], dtype=np.float64)

    def as_polygon(self) -> np.ndarray:
        """A simple polygon ``[[x, y], ...]``: >= 3 points, non-zero area, no self-crossing."""
        items = self.as_list()
        if len(items) < 3:
            self.fail(f"polygon needs at least 3 points, got {len(items)}")
        poly = np.array([item.as_vector(2) for item in items])
        n = len(poly)
        starts, ends = poly, np.roll(poly, -1, axis=0)
        cross = segments_cross(
            starts[:, None, :], ends[:, None, :], starts[None, :, :], ends[None, :, :]
        )
        if np.any(cross):
            i, j = (int(k) for k in np.argwhere(cross)[0])
            self.fail(
                f"polygon edges {i}-{(i + 1) % n} and {j}-{(j + 1) % n} cross each other "
                "(not a simple polygon)"
            )
        if polygon_area(poly) <= 1e-9:
            self.fail("polygon has zero area (points are collinear or repeated)")
        return poly


class _Map:
    """A validated mapping node: children are read by key, with paths built automatically."""

    __slots__ = ("node",)

    def __init__(self, node: _Node) -> None:
        self.node = node

    def __contains__(self, key: str) -> bool:
        return key in self.node.value

    def __getitem__(self, key: str) -> _Node:
        return _Node(self.node.file, self.node._sub(key), self.node.value[key])


class _Unique:
    """Detects duplicate values (ids, ports, channels), remembering where each was first seen."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.first: dict[Any, str] = {}

    def add(self, node: _Node, value: Any, shown: str | None = None) -> None:
        if value in self.first:
            node.fail(
                f"duplicate {self.what} {shown or repr(value)} (first used at {self.first[value]})"
            )
        self.first[value] = node.path


# --------------------------------------------------------------------------- sections
def _parse_store(node: _Node) -> tuple[str, str, str, np.ndarray]:
    m = node.as_map(("name", "currency", "floor"), ("frame_id",))
    name = m["name"].as_str()
    frame_id = "store"
    if "frame_id" in m:
        frame_id = m["frame_id"].as_str()
        if not _FRAME_RE.match(frame_id):
            m["frame_id"].fail(f"invalid TF frame id {frame_id!r} (no leading '/', no spaces)")
    currency = m["currency"].as_str()
    if not _CURRENCY_RE.match(currency):
        m["currency"].fail(
            f"must be a 3-letter upper-case ISO 4217 code such as EUR or USD, got {currency!r}"
        )
    floor = m["floor"].as_polygon()
    return name, frame_id, currency, floor


def _parse_zones(node: _Node, floor: np.ndarray) -> tuple[Zone, ...]:
    ids = _Unique("zone id")
    zones: list[tuple[Zone, _Node]] = []
    for item in node.as_list():
        m = item.as_map(("id", "kind", "polygon"))
        zid = m["id"].as_id()
        ids.add(m["id"], zid)
        kind = m["kind"].as_choice(ZONE_KINDS)
        poly = m["polygon"].as_polygon()
        if not polygon_contains(floor, poly, tol=_EDGE_TOL):
            outside = ~point_in_polygon(poly, floor, tol=_EDGE_TOL)
            detail = f" (point {_fmt(poly[np.argmax(outside)])})" if np.any(outside) else ""
            m["polygon"].fail(f"zone '{zid}' does not lie inside the store floor{detail}")
        zones.append((Zone(id=zid, kind=kind, polygon=_ro(poly)), m["polygon"]))
    for kind in ("entry", "exit"):
        if not any(z.kind == kind for z, _ in zones):
            node.fail(f"needs at least one zone of kind '{kind}'")
    # A person standing in an area that is both entry and exit would open and close a session.
    for entry, _ in (zp for zp in zones if zp[0].kind == "entry"):
        for exit_zone, exit_node in (zp for zp in zones if zp[0].kind == "exit"):
            if polygons_overlap(entry.polygon, exit_zone.polygon):
                exit_node.fail(f"exit zone '{exit_zone.id}' overlaps entry zone '{entry.id}'")
    return tuple(z for z, _ in zones)


def _floor_share(model: CameraModel, floor: np.ndarray) -> float:
    """Share of the image area whose pixels see the store floor (0..1).

    Samples a pixel grid, back-projects each pixel through the distortion model and intersects
    its ray with the floor plane. Sampling the *image* (rather than projecting floor samples)
    measures exactly "how much of this picture is floor" and cannot be fooled by the
    distortion polynomial folding far-away points back into view.
    """
    nu, nv = _COVERAGE_GRID
    us = (np.arange(nu) + 0.5) * model.width / nu
    vs = (np.arange(nv) + 0.5) * model.height / nv
    gu, gv = np.meshgrid(us, vs)
    pix = np.column_stack([gu.ravel(), gv.ravel()])
    hits = model.floor_point(pix, z=0.0)
    ok = np.all(np.isfinite(hits), axis=1)
    inside = np.zeros(len(pix), dtype=bool)
    inside[ok] = point_in_polygon(hits[ok, :2], floor)
    return float(np.count_nonzero(inside)) / len(pix)


def _parse_cameras(node: _Node, floor: np.ndarray) -> tuple[CameraConfig, ...]:
    ids = _Unique("camera id")
    topics = _Unique("camera topic")
    cameras: list[CameraConfig] = []
    for item in node.as_list(min_len=1, what="camera"):
        m = item.as_map(
            ("id", "width", "height", "fps", "intrinsics", "distortion", "pose"), ("topic",)
        )
        cid = m["id"].as_id()
        ids.add(m["id"], cid)
        topic = f"/cameras/{cid}/image_raw"
        if "topic" in m:
            topic = m["topic"].as_str()
            if not _TOPIC_RE.match(topic):
                m["topic"].fail(f"invalid ROS topic name {topic!r}")
            topics.add(m["topic"], topic)
        else:
            topics.add(m["id"], topic)
        width = m["width"].as_int(minimum=1, what="a positive integer (pixels)")
        height = m["height"].as_int(minimum=1, what="a positive integer (pixels)")
        fps = m["fps"].as_number(positive=True)

        intr = m["intrinsics"].as_map(("fx", "fy", "cx", "cy"))
        fx = intr["fx"].as_number(positive=True)
        fy = intr["fy"].as_number(positive=True)
        cx = intr["cx"].as_number()
        cy = intr["cy"].as_number()
        if not 0.0 <= cx < width:
            intr["cx"].fail(f"principal point cx={cx:g} lies outside the image (0..{width} px)")
        if not 0.0 <= cy < height:
            intr["cy"].fail(f"principal point cy={cy:g} lies outside the image (0..{height} px)")
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])

        dist_m = m["distortion"].as_map(("model", "coefficients"))
        if dist_m["model"].as_str() != "plumb_bob":
            dist_m["model"].fail(
                f"unsupported distortion model {dist_m['model'].value!r} (only plumb_bob)"
            )
        dist = dist_m["coefficients"].as_vector(5)

        pose = m["pose"].as_map(("position", "look_at"))
        position = pose["position"].as_vector(3)
        look_at = pose["look_at"].as_vector(3)
        if position[2] <= 0.0:
            pose["position"].fail(f"camera must be above the floor (z > 0), got z={position[2]:g}")
        try:
            model = CameraModel.from_look_at(K, dist, position, look_at, width, height)
        except GeometryError as exc:
            pose["look_at"].fail(str(exc))
        share = _floor_share(model, floor)
        if share < MIN_FLOOR_SHARE:
            m["pose"].fail(
                f"camera view misses the floor (looks at {_fmt(look_at)} from "
                f"{_fmt(position)}; {100.0 * share:.1f}% of the image shows the store floor, "
                f"need >= {100.0 * MIN_FLOOR_SHARE:.0f}%)"
            )
        cameras.append(
            CameraConfig(
                id=cid,
                topic=topic,
                width=width,
                height=height,
                fps=fps,
                model=model,
                position=_ro(position),
                look_at=_ro(look_at),
            )
        )
    return tuple(cameras)


def _parse_hubs(node: _Node) -> dict[str, Hub]:
    ids = _Unique("hub id")
    ports = _Unique("serial port")
    hubs: dict[str, Hub] = {}
    for item in node.as_list():
        m = item.as_map(("id", "kind", "port", "baud", "rate_hz"))
        hid = m["id"].as_id()
        ids.add(m["id"], hid)
        kind = m["kind"].as_choice(HUB_KINDS)
        port = m["port"].as_str()
        ports.add(m["port"], port)
        baud = m["baud"].as_int(minimum=1, what="a positive integer (bits per second)")
        rate = m["rate_hz"].as_number(positive=True)
        hubs[hid] = Hub(id=hid, kind=kind, port=port, baud=baud, rate_hz=rate)
    return hubs


def _hub_ref(node: _Node, hubs: dict[str, Hub], kind: str, user: str) -> str:
    hub_id = node.as_str()
    if hub_id not in hubs:
        known = ", ".join(sorted(hubs)) or "none"
        node.fail(f"unknown hub '{hub_id}' (known hubs: {known})")
    if hubs[hub_id].kind != kind:
        node.fail(
            f"hub '{hub_id}' is of kind {hubs[hub_id].kind}, but a {user} needs a hub of "
            f"kind {kind}"
        )
    return hub_id


def _parse_shelves(node: _Node, floor: np.ndarray, hubs: dict[str, Hub]) -> tuple[Shelf, ...]:
    shelf_ids = _Unique("shelf id")
    lane_ids = _Unique("lane id")
    sensor_ids = _Unique("distance sensor id")
    channels = _Unique("use of")
    shelves: list[Shelf] = []
    footprints: list[tuple[str, np.ndarray]] = []
    for item in node.as_list(min_len=1, what="shelf"):
        m = item.as_map(("id", "pose", "size", "levels"), ("distance_sensor",))
        sid = m["id"].as_id()
        shelf_ids.add(m["id"], sid)
        pm = m["pose"].as_map(("x", "y", "yaw"))
        pose = Pose2D(
            x=pm["x"].as_number(),
            y=pm["y"].as_number(),
            yaw=math.radians(pm["yaw"].as_number()),
        )
        sm = m["size"].as_map(("width", "depth", "height"))
        width = sm["width"].as_number(positive=True)
        depth = sm["depth"].as_number(positive=True)
        height = sm["height"].as_number(positive=True)

        foot = rect_corners(width, depth, (pose.x, pose.y), pose.yaw)
        if not polygon_contains(floor, foot, tol=_EDGE_TOL):
            m["pose"].fail(
                f"shelf '{sid}' footprint does not lie inside the store floor "
                f"(corners {', '.join(_fmt(np.round(c, 3)) for c in foot)})"
            )
        for other_id, other in footprints:
            if convex_polygons_overlap(foot, other, tol=_EDGE_TOL):
                m["pose"].fail(f"shelf '{sid}' footprint overlaps shelf '{other_id}'")
        footprints.append((sid, foot))

        sensor = None
        if "distance_sensor" in m:
            dm = m["distance_sensor"].as_map(
                ("id", "hub", "channel", "min_range", "max_range", "fov")
            )
            did = dm["id"].as_id()
            sensor_ids.add(dm["id"], did)
            hub = _hub_ref(dm["hub"], hubs, "distance", "distance sensor")
            channel = dm["channel"].as_int(minimum=0, what="a channel number (integer >= 0)")
            channels.add(dm["channel"], (hub, channel), f"hub '{hub}' channel {channel}")
            min_range = dm["min_range"].as_number(positive=True)
            max_range = dm["max_range"].as_number(positive=True)
            if max_range <= min_range:
                dm["max_range"].fail(
                    f"must be greater than min_range ({max_range:g} <= {min_range:g})"
                )
            fov = dm["fov"].as_number(positive=True)
            if fov >= math.pi:
                dm["fov"].fail(f"field of view is in radians and must be < pi, got {fov:g}")
            sensor = DistanceSensor(
                id=did,
                shelf_id=sid,
                hub=hub,
                channel=channel,
                min_range=min_range,
                max_range=max_range,
                fov=fov,
            )

        level_ids = _Unique("level id")
        levels: list[Level] = []
        spans: list[tuple[str, float, float]] = []
        for lvl_node in m["levels"].as_list(min_len=1, what="level"):
            lm = lvl_node.as_map(("id", "z", "clearance", "lanes"))
            lid = lm["id"].as_id()
            level_ids.add(lm["id"], lid)
            z = lm["z"].as_number(nonneg=True)
            clearance = lm["clearance"].as_number(positive=True)
            if z >= height:
                lm["z"].fail(f"board at z={z:g} m is not below the shelf height {height:g} m")
            if z + clearance > height + 1e-9:
                lm["clearance"].fail(
                    f"level top z + clearance = {z + clearance:g} m exceeds the shelf height "
                    f"{height:g} m"
                )
            for other_id, z0, z1 in spans:
                if intervals_overlap(z, z + clearance, z0, z1):
                    lm["z"].fail(
                        f"level '{lid}' spans {_fmt((z, z + clearance))} m and overlaps "
                        f"level '{other_id}' {_fmt((z0, z1))} m"
                    )
            spans.append((lid, z, z + clearance))

            lanes: list[Lane] = []
            lane_spans: list[tuple[str, float, float]] = []
            for lane_node in lm["lanes"].as_list(min_len=1, what="lane"):
                am = lane_node.as_map(("id", "x", "load_cell"))
                aid = am["id"].as_id()
                lane_ids.add(am["id"], aid)
                x0, x1 = (float(v) for v in am["x"].as_vector(2))
                if x1 <= x0:
                    am["x"].fail(f"lane span {_fmt((x0, x1))} must have x0 < x1")
                half = 0.5 * width
                if x0 < -half - 1e-9 or x1 > half + 1e-9:
                    am["x"].fail(
                        f"lane span {_fmt((x0, x1))} m extends beyond the shelf width "
                        f"({-half:g}..{half:g} m)"
                    )
                for other_id, o0, o1 in lane_spans:
                    if intervals_overlap(x0, x1, o0, o1):
                        am["x"].fail(
                            f"lane span {_fmt((x0, x1))} overlaps lane '{other_id}' "
                            f"{_fmt((o0, o1))} on the same level"
                        )
                lane_spans.append((aid, x0, x1))

                cm = am["load_cell"].as_map(("hub", "channel", "offset", "scale"))
                hub = _hub_ref(cm["hub"], hubs, "load_cell", "load cell")
                channel = cm["channel"].as_int(minimum=0, what="a channel number (integer >= 0)")
                channels.add(cm["channel"], (hub, channel), f"hub '{hub}' channel {channel}")
                offset = cm["offset"].as_int(what="an integer count (raw ADC counts)")
                scale = cm["scale"].as_number(positive=True)
                box = (
                    _ro([x0, -0.5 * depth, z]),
                    _ro([x1, 0.5 * depth, z + clearance]),
                )
                lanes.append(
                    Lane(
                        id=aid,
                        shelf_id=sid,
                        level_id=lid,
                        box_local=box,
                        load_cell=LoadCellChannel(
                            hub=hub, channel=channel, offset=offset, scale=scale
                        ),
                        shelf_pose=pose,
                    )
                )
            levels.append(Level(id=lid, z=z, clearance=clearance, lanes=tuple(lanes)))
        shelves.append(
            Shelf(
                id=sid,
                pose=pose,
                width=width,
                depth=depth,
                height=height,
                levels=tuple(levels),
                distance_sensor=sensor,
            )
        )
    return tuple(shelves)


def _parse_catalog(node: _Node) -> dict[str, Product]:
    skus = _Unique("sku")
    catalog: dict[str, Product] = {}
    for item in node.as_list(min_len=1, what="product"):
        if isinstance(item.value, dict) and "currency" in item.value:
            raise ConfigError(
                item.file,
                f"{item.path}.currency",
                "prices are in the store currency (store.currency); per-product currency is "
                "not supported",
            )
        m = item.as_map(("sku", "name", "price", "unit_weight_g", "weight_sd_g"))
        sku = m["sku"].as_str(_SKU_RE, "sku (letters, digits, '_', '-', '.'; no spaces)")
        skus.add(m["sku"], sku)
        name = m["name"].as_str()
        price_node = m["price"]
        price = price_node.value
        if isinstance(price, float) and not isinstance(price, bool):
            price_node.fail(
                f"price must be an integer number of minor units (e.g. cents), got {price!r}"
            )
        price = price_node.as_int(what="an integer price in minor units (e.g. cents)")
        if price <= 0:
            price_node.fail(f"price must be positive, got {price}")
        weight = m["unit_weight_g"].as_number(positive=True)
        sd = m["weight_sd_g"].as_number(positive=True)
        catalog[sku] = Product(
            sku=sku, name=name, price=price, unit_weight_g=weight, weight_sd_g=sd
        )
    return catalog


def _parse_planogram(
    node: _Node, lane_ids: set[str], catalog: dict[str, Product]
) -> dict[str, PlanogramEntry]:
    planned = _Unique("planogram lane")
    planogram: dict[str, PlanogramEntry] = {}
    for item in node.as_list():
        m = item.as_map(("lane", "sku", "facings"))
        lane = m["lane"].as_str()
        if lane not in lane_ids:
            m["lane"].fail(f"unknown lane '{lane}' (not defined under shelves)")
        if lane in planned.first:
            m["lane"].fail(
                f"lane '{lane}' is listed twice (first at {planned.first[lane]}); "
                "a lane holds one product"
            )
        planned.add(m["lane"], lane)
        sku = m["sku"].as_str()
        if sku not in catalog:
            m["sku"].fail(f"unknown sku '{sku}' (not in the catalog)")
        facings = m["facings"].as_int(minimum=0, what="an integer item count")
        planogram[lane] = PlanogramEntry(lane=lane, sku=sku, facings=facings)
    return planogram


def _ro(values: Any) -> np.ndarray:
    arr = np.array(values, dtype=np.float64)
    arr.flags.writeable = False
    return arr


# --------------------------------------------------------------------------- entry points
def parse_store_config(data: Any, file: str) -> StoreConfig:
    """Validate already-parsed YAML ``data`` (a dict) and build the ``StoreConfig``.

    ``file`` is only used in error messages and as ``StoreConfig.path``; tests and tools that
    generate configs in memory call this directly.

    Raises:
        ConfigError: for the first problem found (sections are checked in file order).
    """
    file = str(file)
    if not isinstance(data, dict):
        got = "an empty document" if data is None else _describe(data)
        raise ConfigError(
            file,
            "<root>",
            "top level must be a mapping with keys store, zones, cameras, hubs, shelves, "
            f"catalog, planogram; got {got}",
        )
    top = _Node(file, "", data).as_map(
        ("store", "zones", "cameras", "hubs", "shelves", "catalog", "planogram")
    )
    name, frame_id, currency, floor = _parse_store(top["store"])
    zones = _parse_zones(top["zones"], floor)
    cameras = _parse_cameras(top["cameras"], floor)
    hubs = _parse_hubs(top["hubs"])
    shelves = _parse_shelves(top["shelves"], floor, hubs)
    catalog = _parse_catalog(top["catalog"])
    lane_ids = {lane.id for shelf in shelves for lane in shelf.lanes()}
    planogram = _parse_planogram(top["planogram"], lane_ids, catalog)
    return StoreConfig(
        path=file,
        name=name,
        frame_id=frame_id,
        currency=currency,
        floor=_ro(floor),
        zones=zones,
        cameras=cameras,
        hubs=tuple(hubs.values()),
        shelves=shelves,
        catalog=catalog,
        planogram=planogram,
    )


def load_store_config(path: str | os.PathLike[str]) -> StoreConfig:
    """Read, parse and validate the store configuration YAML at ``path``.

    Raises:
        ConfigError: the file is missing, unreadable, not YAML, or invalid; ``str(err)`` is
            the single line ``"<path>: <key path>: <problem>"``.
    """
    file = os.fspath(path)
    return parse_store_config(_read_yaml(file), file)
