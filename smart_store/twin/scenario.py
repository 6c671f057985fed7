"""Twin scenarios: the YAML format, its strict validation, and the scenario library.

A scenario says who comes into the store, when, and what they do there. ``load_scenario`` reads
a library scenario by name (``smart_store/twin/scenarios/<name>.yaml``) or any file by path and
returns a validated ``smart_store.twin.model.Scenario``; every problem raises one
``ScenarioError`` naming the file, the key path (``shoppers[2].actions[1].pick.lane``) and the
problem, on one line. The same format is described for scenario authors in
``smart_store/twin/scenarios/README.md``.

Format (all times are seconds of sim time from the start of the run, positions store metres)::

    name: family_child_picks        # required; letters, digits, '_' and '-'
    description: A parent scans ... # optional text
    duration: 40                    # required, s of sim time (> 0); must fit every shopper
    seed: 7                         # required, integer >= 0: everything random derives from it
    store: config/demo_store.yaml   # optional store config (relative to this file, then to the
                                    # package); default: the packaged demo store
    tags: [family, companion_pick]  # optional: the hard cases this scenario exercises
    render:                         # optional camera-render settings (all keys optional)
      {width: 640, height: 480, fps: 15, noise_sigma: 2.0, exposure_jitter: 0.08,
       motion_blur: false}
    faults:                         # optional
      cameras:                      # a camera dead, or dropping a share of its frames
        - {camera: cam_fl, start: 12, end: 20, kind: dead}        # end: null = to the end
        - {camera: cam_br, start: 5, kind: drop, drop_rate: 0.3}
      load_cells:
        - {kind: bump, lane: C3a, start: 14.0, duration: 0.4, grams: 350}
        - {kind: noise_burst, lane: C3b, start: 14.0, duration: 2.0, grams: 25}   # rms
        - {kind: stall, hub: hub_loadcells, start: 30, duration: 1.5}
    shoppers:                       # required, at least one
      - id: parent                  # required, unique
        enter: 1.0                  # required: appears at the entry door
        token: acct-7f3a            # required: app account scanned at the gate, or null
        companions: [kid]           # optional: people this shopper scans in (one session)
        body:                       # optional; each missing field is drawn from seed + id
          {height: 1.74, build: average, shirt: [200, 40, 40], pants: [30, 30, 60],
           skin: [200, 160, 130], hair: [50, 35, 25], child: false}
        exit: 35                    # optional: do not head out before this time
        actions:                    # optional list of one-key mappings, done in order
          - walk_to: {lane: C3a}    # or {point: [x, y]}, or just the lane id
          - browse: 2.5             # stand facing the nearest shelf (or {seconds: 2.5})
          - pick: {lane: C3a, qty: 1, hand: right, style: normal, at: 12.0}
          - put_back: {lane: C3b, sku: COOKIE-CHOC-200, qty: 1, hand: left}
          - reach: {lane: C3c}      # reach in, take nothing
          - hand_to: {shopper: kid, sku: COOKIE-CHOC-200, qty: 1}
          - wait: 1.5               # stand still (or {seconds: 1.5})

Render options: ``width``/``height`` override every camera's image size (one given: the other
keeps the camera's aspect ratio), ``fps`` its frame rate, ``noise_sigma`` is the sensor noise
(grey levels rms), ``exposure_jitter`` the slow relative exposure drift, and ``motion_blur``
(default false) blurs moving people over the shutter time (half a frame interval: each frame
averages the poses at the shutter opening, mid-exposure and ``t``).

Action fields: ``pick`` takes the lane's front ``qty`` items (1-10); ``hand`` is left or right
(default right); ``style`` normal (1.2-2 s) or slow (a hesitant 3-5 s pick that pauses half
in); ``at`` (pick, put_back, reach) is the earliest start: a shopper who is early waits in place,
which is how scenarios make reaches simultaneous. Picks, put-backs and reaches walk to the lane's
spot first unless the lane is within arm's reach of where the shopper stands. ``hand_to`` walks
up to the other shopper. A ``body`` with ``child: true`` and no height gets 1.1-1.4 m.

Semantics the validator enforces (beyond types, ranges and finite numbers):
    * unknown keys are errors (with a did-you-mean), ids are unique, lane ids, SKUs, cameras
      and hubs must exist in the store config; walk_to points must be free floor;
    * ``enter`` < ``duration``, ``exit`` after ``enter``, ``at`` not before ``enter``;
    * companions exist, appear in one list once, are not the payer, have ``token: null``, have
      no companions of their own, and enter 0-5 s after their payer; tokens are unique;
    * items: the scenario is played through on a nominal timeline (walking 0.95 m/s, children
      0.85 m/s, the longest reach times), holding lane stock and what everyone holds, including
      items received by ``hand_to``; a put-back or hand-on of an item not held at that point, or
      a pick from a lane with too few items left, is an error;
    * every shopper's body can reach the lanes it reaches into;
    * ``duration`` must cover the nominal timeline of everybody plus a margin.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import yaml

from smart_store.config import StoreConfig, load_store_config
from smart_store.resources import data_path, default_store_config
from smart_store.twin.errors import ScenarioError
from smart_store.twin.model import (
    Action,
    BodySpec,
    Browse,
    CameraFault,
    HandTo,
    LoadCellFault,
    Pick,
    PutBack,
    Reach,
    RenderSpec,
    Scenario,
    ShopperSpec,
    Wait,
    WalkTo,
)
from smart_store.twin.world import (
    HANDOFF_SECONDS,
    NOMINAL_SPEED,
    REACH_SECONDS,
    can_reach,
    floor_map,
    lane_spot,
)

__all__ = [
    "LIBRARY_DIR",
    "NominalPlan",
    "ScenarioError",
    "generate_body",
    "library_names",
    "library_path",
    "load_scenario",
    "nominal_plans",
    "parse_scenario",
    "scenario_store_config",
]

#: Folder of the packaged scenario library.
LIBRARY_DIR = Path(__file__).resolve().with_name("scenarios")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_ACTIONS = ("walk_to", "browse", "pick", "put_back", "reach", "hand_to", "wait")
_MARGIN = 2.0                   # s of slack the duration must leave after the nominal timeline
_COMPANION_LAG = 5.0            # s a companion may enter after its payer


# --------------------------------------------------------------------------- YAML reading
_SafeLoaderBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoaderBase):  # type: ignore[valid-type, misc]
    """Safe loader that rejects duplicate mapping keys and reads ``1e-3`` as a float."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            ident = (key_node.tag, key_node.value)
            if ident in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key_node.value!r}", key_node.start_mark)
            seen.add(ident)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _read_yaml(file: str) -> Any:
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ScenarioError(file, "<file>", "file not found") from None
    except IsADirectoryError:
        raise ScenarioError(file, "<file>", "is a directory, not a YAML file") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(file, "<file>", f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ScenarioError(file, "<file>", f"cannot read file: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # safe: SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise ScenarioError(file, "<yaml>",
                            f"invalid YAML at {where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, "<yaml>", f"invalid YAML: {exc}") from None


def _describe(value: Any) -> str:
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


def _hint(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


class _Node:
    """A YAML value together with the file and key path it was reached by."""

    __slots__ = ("file", "path", "value")

    def __init__(self, file: str, path: str, value: Any) -> None:
        self.file = file
        self.path = path
        self.value = value

    def fail(self, problem: str) -> NoReturn:
        raise ScenarioError(self.file, self.path or "<root>", problem)

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def as_map(self, required: Iterable[str] = (), optional: Iterable[str] = ()) -> _Map:
        if not isinstance(self.value, dict):
            self.fail(f"expected a mapping, got {_describe(self.value)}")
        required, optional = tuple(required), tuple(optional)
        allowed = required + optional
        for key in self.value:
            if not isinstance(key, str):
                self.fail(f"mapping keys must be strings, got key {_describe(key)}")
            if key not in allowed:
                raise ScenarioError(
                    self.file, self.sub(key),
                    f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})"
                    f"{_hint(key, allowed)}")
        for key in required:
            if key not in self.value:
                raise ScenarioError(self.file, self.sub(key), "missing required key")
        return _Map(self)

    def as_list(self, min_len: int = 0, what: str = "entry") -> list[_Node]:
        if not isinstance(self.value, list):
            self.fail(f"expected a list, got {_describe(self.value)}")
        if len(self.value) < min_len:
            self.fail(f"needs at least {min_len} {what}{'' if min_len == 1 else 's'}")
        return [_Node(self.file, f"{self.path}[{i}]", v) for i, v in enumerate(self.value)]

    def as_str(self, pattern: re.Pattern[str] | None = None, what: str = "value") -> str:
        v = self.value
        if not isinstance(v, str):
            hint = " (quote it)" if isinstance(v, int | float) and not isinstance(v, bool) else ""
            self.fail(f"expected a string, got {_describe(v)}{hint}")
        if not v.strip():
            self.fail("must not be empty")
        if pattern is not None and not pattern.match(v):
            self.fail(f"invalid {what} {v!r}: use letters, digits, '_' and '-'")
        return v

    def as_text(self) -> str:
        if not isinstance(self.value, str):
            self.fail(f"expected a string, got {_describe(self.value)}")
        return self.value

    def as_bool(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, got {_describe(self.value)}")
        return bool(self.value)

    def as_choice(self, choices: Iterable[str]) -> str:
        choices = tuple(choices)
        v = self.as_str()
        if v not in choices:
            self.fail(f"must be one of {', '.join(choices)}; got {v!r}{_hint(v, choices)}")
        return v

    def as_int(self, minimum: int | None = None, maximum: int | None = None) -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(f"expected an integer, got {_describe(v)}")
        if minimum is not None and v < minimum:
            self.fail(f"must be >= {minimum}, got {v}")
        if maximum is not None and v > maximum:
            self.fail(f"must be <= {maximum}, got {v}")
        return int(v)

    def as_number(self, *, positive: bool = False, nonneg: bool = False,
                  maximum: float | None = None) -> float:
        v = self.value
        if isinstance(v, bool):
            self.fail(f"expected a number, got {_describe(v)} (booleans are not numbers)")
        if not isinstance(v, int | float):
            self.fail(f"expected a number, got {_describe(v)}")
        try:
            f = float(v)
        except OverflowError:
            self.fail(f"number is too large: {str(v)[:20]}...")
        if not math.isfinite(f):
            self.fail(f"must be a finite number, got {v!r}")
        if positive and f <= 0.0:
            self.fail(f"must be positive, got {v!r}")
        if nonneg and f < 0.0:
            self.fail(f"must not be negative, got {v!r}")
        if maximum is not None and f > maximum:
            self.fail(f"must be <= {maximum:g}, got {v!r}")
        return f

    def as_color(self) -> tuple[int, int, int]:
        v = self.value
        if isinstance(v, str):
            m = re.fullmatch(r"#?([0-9a-fA-F]{6})", v.strip())
            if not m:
                self.fail(f"expected [r, g, b] or '#rrggbb', got {_describe(v)}")
            h = m.group(1)
            return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
        items = self.as_list()
        if len(items) != 3:
            self.fail(f"expected [r, g, b] (3 integers 0-255), got {len(items)} items")
        r, g, b = (it.as_int(0, 255) for it in items)
        return r, g, b


class _Map:
    __slots__ = ("node",)

    def __init__(self, node: _Node) -> None:
        self.node = node

    def __contains__(self, key: str) -> bool:
        return key in self.node.value

    def __getitem__(self, key: str) -> _Node:
        return _Node(self.node.file, self.node.sub(key), self.node.value[key])

    def get(self, key: str) -> _Node | None:
        """The child node, or None if the key is absent or null."""
        if key not in self.node.value or self.node.value[key] is None:
            return None
        return self[key]


# --------------------------------------------------------------------------- bodies
_SHIRTS = ((40, 90, 160), (200, 40, 40), (30, 130, 70), (230, 200, 60), (240, 240, 235),
           (25, 25, 30), (120, 60, 140), (230, 120, 40), (90, 160, 200), (150, 150, 150),
           (200, 90, 130), (70, 70, 120))
_PANTS = ((40, 40, 50), (30, 45, 90), (90, 80, 60), (20, 20, 22), (120, 120, 125),
          (60, 90, 140), (160, 140, 110))
_SKINS = ((250, 215, 190), (230, 185, 150), (200, 160, 130), (160, 115, 85), (120, 80, 55),
          (85, 55, 40))
_HAIRS = ((20, 15, 10), (50, 35, 25), (110, 75, 40), (190, 160, 100), (140, 60, 30),
          (160, 160, 160))


def _jitter(rng: np.random.Generator, c: tuple[int, int, int], amount: int) -> tuple[int, ...]:
    return tuple(int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in c)


def generate_body(seed: int, shopper_id: str, *, child: bool = False,
                  given: dict[str, Any] | None = None) -> BodySpec:
    """A deterministic body for ``shopper_id`` under ``seed``; fields in ``given`` win.

    Adults are N(1.72 m, 0.09 m) clipped to 1.52-1.98 m, children 1.1-1.4 m."""
    rng = np.random.default_rng(np.random.SeedSequence(
        [seed % (1 << 63), zlib.crc32(shopper_id.encode("utf-8"))]))
    height = float(rng.uniform(1.1, 1.4)) if child else float(
        np.clip(rng.normal(1.72, 0.09), 1.52, 1.98))
    build = str(rng.choice(["slim", "average", "broad"], p=[0.3, 0.45, 0.25]))
    shirt = _jitter(rng, _SHIRTS[int(rng.integers(len(_SHIRTS)))], 20)
    pants = _jitter(rng, _PANTS[int(rng.integers(len(_PANTS)))], 12)
    skin = _jitter(rng, _SKINS[int(rng.integers(len(_SKINS)))], 8)
    hair = _jitter(rng, _HAIRS[int(rng.integers(len(_HAIRS)))], 10)
    fields: dict[str, Any] = {"height": round(height, 3), "build": build, "shirt": shirt,
                              "pants": pants, "skin": skin, "hair": hair}
    fields.update(given or {})
    return BodySpec(**fields)


# --------------------------------------------------------------------------- library
def library_names() -> tuple[str, ...]:
    """Names of the packaged scenarios, sorted."""
    return tuple(sorted(p.stem for p in LIBRARY_DIR.glob("*.yaml")))


def library_path(name: str) -> Path:
    """Path of library scenario ``name``; ``ScenarioError`` if there is none."""
    path = LIBRARY_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ScenarioError(name, "<file>", "no such library scenario (library: "
                            f"{', '.join(library_names())}){_hint(name, library_names())}")
    return path


def _resolve_store(store: str, file: str) -> Path:
    p = Path(store)
    if p.is_absolute():
        return p
    here = Path(file).resolve().parent / p if file and not file.startswith("<") else None
    if here is not None and here.exists():
        return here
    if p.exists():
        return p.resolve()
    return data_path(*p.parts)


def scenario_store_config(scenario: Scenario) -> StoreConfig:
    """Load the store config a scenario names (the packaged demo store when it names none)."""
    path = scenario.store_config or os.fspath(default_store_config())
    return load_store_config(path)


def load_scenario(name_or_path: str | os.PathLike[str],
                  cfg: StoreConfig | None = None) -> Scenario:
    """Read and validate a scenario: a library name (``"demo"``) or a YAML file path.

    ``cfg``: the store to validate against; default = the store the scenario names (or the
    packaged demo store). Raises ``ScenarioError`` (and ``ConfigError`` for a broken store
    file)."""
    text = os.fspath(name_or_path)
    is_path = (os.sep in text or text.endswith((".yaml", ".yml")) or os.path.exists(text))
    file = text if is_path else os.fspath(library_path(text))
    data = _read_yaml(file)
    if cfg is None:
        store = None
        if isinstance(data, dict) and isinstance(data.get("store"), str):
            resolved = _resolve_store(data["store"], file)
            if not resolved.exists():
                raise ScenarioError(file, "store", f"store config not found: {data['store']}")
            store = os.fspath(resolved)
        cfg = load_store_config(store or default_store_config())
    return parse_scenario(data, file, cfg)


# --------------------------------------------------------------------------- parsing
def parse_scenario(data: Any, file: str, cfg: StoreConfig | None = None) -> Scenario:
    """Validate already-parsed YAML ``data`` (from ``file``, used in messages) against ``cfg``
    (default: the packaged demo store) and build the ``Scenario``."""
    if cfg is None:
        cfg = load_store_config(default_store_config())
    root = _Node(file, "", data)
    if data is None:
        root.fail("the file is empty")
    m = root.as_map(("name", "duration", "seed", "shoppers"),
                    ("description", "store", "tags", "render", "faults"))
    name = m["name"].as_str(_NAME_RE, "name")
    description = m["description"].as_text() if m.get("description") else ""
    duration = m["duration"].as_number(positive=True, maximum=3600.0)
    seed = m["seed"].as_int(0, 2**63 - 1)
    store: str | None = None
    if m.get("store") is not None:
        store_node = m["store"]
        raw = store_node.as_str()
        resolved = _resolve_store(raw, file)
        if not resolved.exists():
            store_node.fail(f"store config not found: {raw}")
        store = os.fspath(resolved)
    tag_list: list[str] = []
    if m.get("tags") is not None:
        for node in m["tags"].as_list():
            tag = node.as_str(_NAME_RE, "tag")
            if tag in tag_list:
                node.fail(f"duplicate tag {tag!r}")
            tag_list.append(tag)
    tags = tuple(tag_list)
    render = _parse_render(m["render"]) if m.get("render") else RenderSpec()
    cam_faults: tuple[CameraFault, ...] = ()
    lc_faults: tuple[LoadCellFault, ...] = ()
    if m.get("faults") is not None:
        cam_faults, lc_faults = _parse_faults(m["faults"], cfg, duration)
    shoppers = _parse_shoppers(m["shoppers"], cfg, seed, duration)
    scenario = Scenario(name=name, description=description, duration=duration, seed=seed,
                        shoppers=shoppers, store_config=store, camera_faults=cam_faults,
                        load_cell_faults=lc_faults, render=render, tags=tags,
                        source=file if not file.startswith("<") else "")
    _check_timeline(scenario, cfg, file)
    return scenario


def _parse_render(node: _Node) -> RenderSpec:
    m = node.as_map((), ("width", "height", "fps", "noise_sigma", "exposure_jitter",
                         "motion_blur"))
    kw: dict[str, Any] = {}
    for key in ("width", "height"):
        if m.get(key) is not None:
            kw[key] = m[key].as_int(16, 8192)
    if m.get("fps") is not None:
        kw["fps"] = m["fps"].as_number(positive=True, maximum=240.0)
    for key in ("noise_sigma", "exposure_jitter"):
        if m.get(key) is not None:
            kw[key] = m[key].as_number(nonneg=True, maximum=255.0)
    if m.get("motion_blur") is not None:
        blur = m["motion_blur"]
        if not isinstance(blur.value, bool):
            blur.fail("expected true or false (true: moving people are blurred over the "
                      f"shutter time, half a frame interval), got {_describe(blur.value)}")
        kw["motion_blur"] = blur.value
    return RenderSpec(**kw)


def _time(node: _Node, duration: float, what: str = "time") -> float:
    t = node.as_number(nonneg=True)
    if t >= duration:
        node.fail(f"{what} {t:g} is not before the end of the scenario (duration {duration:g})")
    return t


def _parse_faults(node: _Node, cfg: StoreConfig,
                  duration: float) -> tuple[tuple[CameraFault, ...], tuple[LoadCellFault, ...]]:
    m = node.as_map((), ("cameras", "load_cells"))
    cams: list[CameraFault] = []
    cam_ids = [c.id for c in cfg.cameras]
    if m.get("cameras") is not None:
        for item in m["cameras"].as_list():
            f = item.as_map(("camera", "start"), ("end", "kind", "drop_rate"))
            cam = f["camera"].as_str()
            if cam not in cam_ids:
                f["camera"].fail(f"unknown camera {cam!r} (store has: {', '.join(cam_ids)})"
                                 f"{_hint(cam, cam_ids)}")
            start = _time(f["start"], duration, "start")
            end = None
            if f.get("end") is not None:
                end = f["end"].as_number(nonneg=True)
                if end <= start:
                    f["end"].fail(f"end {end:g} must be after start {start:g}")
            kind = f["kind"].as_choice(("dead", "drop")) if f.get("kind") else "dead"
            rate = 0.0
            if kind == "drop":
                if f.get("drop_rate") is None:
                    raise ScenarioError(item.file, item.sub("drop_rate"),
                                        "missing required key (kind drop needs drop_rate)")
                rate = f["drop_rate"].as_number(positive=True, maximum=1.0)
            elif f.get("drop_rate") is not None:
                f["drop_rate"].fail("drop_rate only applies to kind: drop")
            cams.append(CameraFault(camera=cam, start=start, end=end, kind=kind,  # type: ignore[arg-type]
                                    drop_rate=rate))
    lcs: list[LoadCellFault] = []
    lane_ids = [lane.id for lane in cfg.lanes()]
    hubs = {h.id: h for h in cfg.hubs}
    if m.get("load_cells") is not None:
        for item in m["load_cells"].as_list():
            f = item.as_map(("kind", "start", "duration"), ("lane", "hub", "grams"))
            kind = f["kind"].as_choice(("bump", "noise_burst", "stall"))
            start = _time(f["start"], duration, "start")
            dur = f["duration"].as_number(positive=True, maximum=duration)
            lane = hub = None
            grams = 0.0
            if kind == "stall":
                if f.get("hub") is None:
                    raise ScenarioError(item.file, item.sub("hub"),
                                        "missing required key (kind stall needs a hub)")
                hub = f["hub"].as_str()
                if hub not in hubs:
                    f["hub"].fail(f"unknown hub {hub!r} (store has: {', '.join(hubs)})"
                                  f"{_hint(hub, hubs)}")
                if hubs[hub].kind != "load_cell":
                    f["hub"].fail(f"hub {hub!r} is a {hubs[hub].kind} hub, not a load_cell hub")
                for key in ("lane", "grams"):
                    if f.get(key) is not None:
                        f[key].fail(f"{key} does not apply to kind: stall")
            else:
                for key in ("lane", "grams"):
                    if f.get(key) is None:
                        raise ScenarioError(item.file, item.sub(key),
                                            f"missing required key (kind {kind} needs {key})")
                lane = f["lane"].as_str()
                if lane not in lane_ids:
                    f["lane"].fail(f"unknown lane {lane!r}{_hint(lane, lane_ids)}")
                grams = f["grams"].as_number(positive=True, maximum=100000.0)
                if f.get("hub") is not None:
                    f["hub"].fail(f"hub does not apply to kind: {kind} (it names a lane)")
            lcs.append(LoadCellFault(kind=kind, start=start, duration=dur,  # type: ignore[arg-type]
                                     lane=lane, hub=hub, grams=grams))
    return tuple(cams), tuple(lcs)


def _lane(node: _Node, cfg: StoreConfig) -> str:
    lane = node.as_str()
    ids = [ln.id for ln in cfg.lanes()]
    if lane not in ids:
        node.fail(f"unknown lane {lane!r}{_hint(lane, ids)}")
    return lane


def _sku(node: _Node, cfg: StoreConfig) -> str:
    sku = node.as_str()
    if sku not in cfg.catalog:
        node.fail(f"unknown sku {sku!r}{_hint(sku, cfg.catalog)}")
    return sku


def _hand(m: _Map) -> str:
    return m["hand"].as_choice(("left", "right")) if m.get("hand") else "right"


def _at(m: _Map, duration: float) -> float | None:
    return _time(m["at"], duration, "at") if m.get("at") is not None else None


def _parse_action(node: _Node, cfg: StoreConfig, duration: float) -> Action:
    if not isinstance(node.value, dict) or len(node.value) != 1:
        node.fail("an action is a one-key mapping such as {pick: {lane: A2a}} "
                  f"(one of: {', '.join(_ACTIONS)}), got {_describe(node.value)}"
                  + (f" with {len(node.value)} keys" if isinstance(node.value, dict) else ""))
    key = next(iter(node.value))
    if key not in _ACTIONS:
        raise ScenarioError(node.file, node.sub(str(key)),
                            f"unknown action '{key}' (one of: {', '.join(_ACTIONS)})"
                            f"{_hint(str(key), _ACTIONS)}")
    body = _Node(node.file, node.sub(key), node.value[key])
    if key in ("browse", "wait"):
        if isinstance(body.value, dict):
            seconds = body.as_map(("seconds",))["seconds"].as_number(positive=True,
                                                                   maximum=duration)
        else:
            seconds = body.as_number(positive=True, maximum=duration)
        return Browse(seconds) if key == "browse" else Wait(seconds)
    if key in ("walk_to", "pick", "reach") and isinstance(body.value, str):
        lane = _lane(body, cfg)
        return WalkTo(lane=lane) if key == "walk_to" else Pick(lane) if key == "pick" \
            else Reach(lane)
    if key == "walk_to":
        m = body.as_map((), ("lane", "point"))
        if ("lane" in m) == ("point" in m):
            body.fail("walk_to needs exactly one of lane or point")
        if "lane" in m:
            return WalkTo(lane=_lane(m["lane"], cfg))
        pt = m["point"]
        items = pt.as_list()
        if len(items) != 2:
            pt.fail(f"expected [x, y], got {len(items)} items")
        x, y = (it.as_number() for it in items)
        if not floor_map(cfg).free(x, y):
            pt.fail(f"point [{x:g}, {y:g}] is not free floor (outside the store, or too close "
                    "to a shelf or wall for a person to stand)")
        return WalkTo(point=(x, y))
    if key == "pick":
        m = body.as_map(("lane",), ("qty", "hand", "style", "at"))
        return Pick(lane=_lane(m["lane"], cfg),
                    qty=m["qty"].as_int(1, 10) if m.get("qty") else 1,
                    hand=_hand(m),  # type: ignore[arg-type]
                    style=m["style"].as_choice(("normal", "slow")) if m.get("style")  # type: ignore[arg-type]
                    else "normal",
                    at=_at(m, duration))
    if key == "put_back":
        m = body.as_map(("lane", "sku"), ("qty", "hand", "at"))
        return PutBack(lane=_lane(m["lane"], cfg), sku=_sku(m["sku"], cfg),
                       qty=m["qty"].as_int(1, 10) if m.get("qty") else 1,
                       hand=_hand(m), at=_at(m, duration))  # type: ignore[arg-type]
    if key == "reach":
        m = body.as_map(("lane",), ("hand", "at"))
        return Reach(lane=_lane(m["lane"], cfg), hand=_hand(m),  # type: ignore[arg-type]
                     at=_at(m, duration))
    m = body.as_map(("shopper", "sku"), ("qty",))           # hand_to
    return HandTo(shopper=m["shopper"].as_str(_ID_RE, "shopper id"), sku=_sku(m["sku"], cfg),
                  qty=m["qty"].as_int(1, 10) if m.get("qty") else 1)


def _parse_body(node: _Node | None, seed: int, shopper_id: str) -> BodySpec:
    if node is None:
        return generate_body(seed, shopper_id)
    m = node.as_map((), ("height", "build", "shirt", "pants", "skin", "hair", "child"))
    child = m["child"].as_bool() if m.get("child") is not None else False
    given: dict[str, Any] = {}
    if m.get("height") is not None:
        h = m["height"].as_number(positive=True)
        if not 1.0 <= h <= 2.1:
            m["height"].fail(f"height must be 1.0-2.1 m, got {h:g}")
        if child and h >= 1.5:
            m["height"].fail(f"a child (child: true) should be under 1.5 m, got {h:g}")
        given["height"] = h
    if m.get("build") is not None:
        given["build"] = m["build"].as_choice(("slim", "average", "broad"))
    for key in ("shirt", "pants", "skin", "hair"):
        if m.get(key) is not None:
            given[key] = m[key].as_color()
    return generate_body(seed, shopper_id, child=child, given=given)


def _parse_shoppers(node: _Node, cfg: StoreConfig, seed: int,
                    duration: float) -> tuple[ShopperSpec, ...]:
    items = node.as_list(1, "shopper")
    specs: list[ShopperSpec] = []
    first_id: dict[str, str] = {}
    for item in items:
        m = item.as_map(("id", "enter", "token"), ("companions", "body", "actions", "exit"))
        sid = m["id"].as_str(_ID_RE, "shopper id")
        if sid in first_id:
            m["id"].fail(f"duplicate shopper id {sid!r} (first used at {first_id[sid]})")
        first_id[sid] = m["id"].path
        enter = _time(m["enter"], duration, "enter")
        token = None if m.get("token") is None else m["token"].as_str()
        companions: list[str] = []
        if m.get("companions") is not None:
            for c in m["companions"].as_list():
                companions.append(c.as_str(_ID_RE, "shopper id"))
        body = _parse_body(m.get("body"), seed, sid)
        actions: list[Action] = []
        if m.get("actions") is not None:
            actions = [_parse_action(a, cfg, duration) for a in m["actions"].as_list()]
        exit_t = None
        if m.get("exit") is not None:
            exit_t = m["exit"].as_number(nonneg=True)
            if exit_t <= enter:
                m["exit"].fail(f"exit {exit_t:g} must be after enter {enter:g}")
            if exit_t >= duration:
                m["exit"].fail(f"exit {exit_t:g} is not before the end of the scenario "
                               f"(duration {duration:g})")
        for k, act in enumerate(actions):
            at = getattr(act, "at", None)
            if at is not None and at < enter:
                key = next(iter(m["actions"].value[k]))
                raise ScenarioError(item.file, f"{item.path}.actions[{k}].{key}.at",
                                    f"at {at:g} is before the shopper enters ({enter:g})")
        specs.append(ShopperSpec(id=sid, enter=enter, token=token, body=body,
                                 actions=tuple(actions), companions=tuple(companions),
                                 exit=exit_t))
    _check_people(items, specs)
    return tuple(specs)


def _check_people(items: list[_Node], specs: list[ShopperSpec]) -> None:
    """Cross-shopper rules: companions, tokens, hand-off partners."""
    index = {s.id: i for i, s in enumerate(specs)}
    payer_of: dict[str, tuple[str, str]] = {}
    tokens: dict[str, str] = {}
    for node, spec in zip(items, specs, strict=True):
        if spec.token is not None:
            if spec.token in tokens:
                raise ScenarioError(node.file, node.sub("token"),
                                    f"token {spec.token!r} is already used by shopper "
                                    f"{tokens[spec.token]!r} (one scan per account)")
            tokens[spec.token] = spec.id
        for j, cid in enumerate(spec.companions):
            key = f"{node.path}.companions[{j}]"
            if cid == spec.id:
                raise ScenarioError(node.file, key, "a shopper cannot be its own companion")
            if cid not in index:
                raise ScenarioError(node.file, key, f"unknown shopper {cid!r}"
                                    f"{_hint(cid, index)}")
            if cid in payer_of:
                raise ScenarioError(node.file, key,
                                    f"{cid!r} is already a companion of {payer_of[cid][0]!r}"
                                    " (listed twice)")
            payer_of[cid] = (spec.id, key)
            comp = specs[index[cid]]
            if comp.token is not None:
                raise ScenarioError(node.file, key,
                                    f"companion {cid!r} has its own token {comp.token!r}; a "
                                    "companion is scanned in by its payer (token: null)")
    for node, spec in zip(items, specs, strict=True):
        if spec.id in payer_of:
            payer_id, key = payer_of[spec.id]
            if spec.companions:
                raise ScenarioError(node.file, node.sub("companions"),
                                    f"{spec.id!r} is a companion of {payer_id!r} and cannot "
                                    "have companions of its own")
            payer = specs[index[payer_id]]
            lag = spec.enter - payer.enter
            if lag < 0 or lag > _COMPANION_LAG:
                raise ScenarioError(
                    node.file, node.sub("enter"),
                    f"companion {spec.id!r} must enter with its payer {payer_id!r} "
                    f"({payer.enter:g}-{payer.enter + _COMPANION_LAG:g} s), got {spec.enter:g}")
        for k, act in enumerate(spec.actions):
            if isinstance(act, HandTo):
                key = f"{node.path}.actions[{k}].hand_to.shopper"
                if act.shopper == spec.id:
                    raise ScenarioError(node.file, key, "a shopper cannot hand items to itself")
                if act.shopper not in index:
                    raise ScenarioError(node.file, key, f"unknown shopper {act.shopper!r}"
                                        f"{_hint(act.shopper, index)}")


# --------------------------------------------------------------------------- nominal timeline
@dataclass
class NominalPlan:
    """One shopper's nominal (uncongested, conservative) timeline."""

    shopper: str
    enter: float
    starts: list[float] = field(default_factory=list)     # per action
    ends: list[float] = field(default_factory=list)
    changes: list[float | None] = field(default_factory=list)   # item change instant
    positions: list[tuple[float, float]] = field(default_factory=list)  # after each action
    actions_done: float = 0.0
    leave: float = 0.0            # starts walking out
    out: float = 0.0              # crosses the exit door


def _speed(body: BodySpec) -> float:
    return 0.85 if body.height < 1.45 else NOMINAL_SPEED


def nominal_plans(cfg: StoreConfig, shoppers: tuple[ShopperSpec, ...]) -> dict[str, NominalPlan]:
    """Nominal timelines of all shoppers (two passes, so hand-offs walk to where the receiver
    nominally is)."""
    plans: dict[str, NominalPlan] = {}
    for _ in range(2):
        plans = {s.id: _plan_one(cfg, s, plans) for s in shoppers}
    # families: a payer waits for its companions; actionless-done companions leave with it
    by_id = {s.id: s for s in shoppers}
    for s in shoppers:
        if not s.companions:
            continue
        group = [s.id, *[c for c in s.companions if c in plans]]
        leave = max(plans[g].leave for g in group)
        for g in group:
            p = plans[g]
            if g != s.id and by_id[g].exit is not None:
                continue
            if leave > p.leave:
                p.out += leave - p.leave
                p.leave = leave
    return plans


def _exit_walk(cfg: StoreConfig, pos: tuple[float, float]) -> tuple[float, tuple[float, float]]:
    fmap = floor_map(cfg)
    gate = fmap.exit
    approach = gate.point(0.0, gate.depth + 0.5)
    return fmap.path_length(pos, approach) + gate.depth + 0.5, approach


def _plan_one(cfg: StoreConfig, spec: ShopperSpec,
              previous: dict[str, NominalPlan]) -> NominalPlan:
    fmap = floor_map(cfg)
    speed = _speed(spec.body)
    stance = 0.31 if spec.body.height < 1.45 else 0.40
    gate = fmap.entry
    pos = gate.point(0.0, gate.depth + 0.45)
    t = spec.enter + (gate.depth + 0.45) / speed
    plan = NominalPlan(shopper=spec.id, enter=spec.enter)
    at_shelf: str | None = None

    def walk(goal: tuple[float, float]) -> None:
        nonlocal t, pos
        if math.hypot(goal[0] - pos[0], goal[1] - pos[1]) > 0.05:
            t += fmap.path_length(pos, goal) / speed + 0.4
            pos = goal

    for act in spec.actions:
        start = t
        change: float | None = None
        if isinstance(act, WalkTo):
            if act.lane is not None:
                walk(lane_spot(cfg, cfg.lane(act.lane), stance)[0])
                at_shelf = act.lane
            elif act.point is not None:
                walk((float(act.point[0]), float(act.point[1])))
                at_shelf = None
        elif isinstance(act, Browse | Wait):
            t += act.seconds
        elif isinstance(act, Pick | PutBack | Reach):
            lane = cfg.lane(act.lane)
            near = False
            if at_shelf is not None:
                cur = cfg.lane(at_shelf)
                if cur.shelf_id == lane.shelf_id:
                    lo, hi = lane.box_local
                    c_lo, c_hi = cur.box_local
                    mid = 0.5 * (c_lo[0] + c_hi[0])
                    near = max(lo[0] - mid, mid - hi[0], 0.0) <= 0.4
            if not near:
                walk(lane_spot(cfg, lane, stance)[0])
                at_shelf = act.lane
            if act.at is not None:
                t = max(t, act.at)
            slow = isinstance(act, Pick) and act.style == "slow"
            change = t + (2.6 if slow else 0.9)
            t += REACH_SECONDS["slow" if slow else "normal"]
        elif isinstance(act, HandTo):
            other = previous.get(act.shopper)
            goal = pos
            if other is not None:
                goal = other.positions[-1] if other.positions else goal
                for p_end, p_pos in zip(other.ends, other.positions, strict=False):
                    if p_end <= t:
                        goal = p_pos
            d = fmap.path_length(pos, goal) if goal != pos else 0.0
            t += max(d - 0.6, 0.0) / speed
            change = t + 1.2
            t += HANDOFF_SECONDS
            at_shelf = None
        plan.starts.append(start)
        plan.ends.append(t)
        plan.changes.append(change)
        plan.positions.append(pos)
    plan.actions_done = t
    plan.leave = max(t, spec.exit or 0.0)
    walk_len, _ = _exit_walk(cfg, pos)
    plan.out = plan.leave + walk_len / speed
    return plan


def _action_key(spec_index: int, k: int, act: Action) -> str:
    name = {WalkTo: "walk_to", Browse: "browse", Pick: "pick", PutBack: "put_back",
            Reach: "reach", HandTo: "hand_to", Wait: "wait"}[type(act)]
    return f"shoppers[{spec_index}].actions[{k}].{name}"


def _check_timeline(scenario: Scenario, cfg: StoreConfig, file: str) -> None:
    """Reachability, item holdings in nominal time order, and the duration."""
    reach_cache: dict[tuple[float, str, str, str], bool] = {}
    for i, spec in enumerate(scenario.shoppers):
        for k, act in enumerate(spec.actions):
            if isinstance(act, Pick | PutBack | Reach):
                ck = (spec.body.height, spec.body.build, act.lane, act.hand)
                if ck not in reach_cache:
                    reach_cache[ck] = can_reach(cfg, spec.body, cfg.lane(act.lane),
                                                hand=act.hand)
                if not reach_cache[ck]:
                    raise ScenarioError(
                        file, f"{_action_key(i, k, act)}.lane",
                        f"shopper {spec.id!r} ({spec.body.height:.2f} m) cannot reach into "
                        f"lane {act.lane} with the {act.hand} hand")
    plans = nominal_plans(cfg, scenario.shoppers)
    # play items through in nominal time order
    stock: dict[str, list[str]] = {}
    for lane in cfg.lanes():
        entry = cfg.planogram.get(lane.id)
        stock[lane.id] = [entry.sku] * entry.facings if entry is not None else []
    held: dict[str, list[str]] = {s.id: [] for s in scenario.shoppers}
    events: list[tuple[float, int, int, ShopperSpec, Action]] = []
    for i, spec in enumerate(scenario.shoppers):
        plan = plans[spec.id]
        for k, act in enumerate(spec.actions):
            ch = plan.changes[k]
            if ch is not None and isinstance(act, Pick | PutBack | HandTo):
                events.append((ch, i, k, spec, act))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    for t, i, k, spec, act in events:
        key = _action_key(i, k, act)
        if isinstance(act, Pick):
            lane_stock = stock[act.lane]
            if len(lane_stock) < act.qty:
                raise ScenarioError(file, f"{key}.qty",
                                    f"lane {act.lane} has only {len(lane_stock)} item(s) left "
                                    f"at about t={t:.1f} s, cannot pick {act.qty}")
            for _ in range(act.qty):
                held[spec.id].append(lane_stock.pop())
        elif isinstance(act, PutBack | HandTo):
            have = held[spec.id].count(act.sku)
            if have < act.qty:
                raise ScenarioError(
                    file, f"{key}.sku",
                    f"shopper {spec.id!r} holds {have} x {act.sku} at that point (about "
                    f"t={t:.1f} s), cannot {'put back' if isinstance(act, PutBack) else 'hand on'}"
                    f" {act.qty}")
            for _ in range(act.qty):
                held[spec.id].remove(act.sku)
                if isinstance(act, PutBack):
                    stock[act.lane].append(act.sku)
                else:
                    held[act.shopper].append(act.sku)
            if isinstance(act, HandTo):
                other = plans[act.shopper]
                if t < other.enter or t > other.leave + 1.0:
                    raise ScenarioError(
                        file, f"{key}.shopper",
                        f"{act.shopper!r} is not in the store at about t={t:.1f} s (in from "
                        f"{other.enter:g} s, heads out at about {other.leave:.1f} s)")
    for i, spec in enumerate(scenario.shoppers):
        plan = plans[spec.id]
        for k, act in enumerate(spec.actions):
            at = getattr(act, "at", None)
            if at is not None and plan.starts[k] > at + 3.0:
                raise ScenarioError(
                    file, f"{_action_key(i, k, act)}.at",
                    f"shopper {spec.id!r} cannot be at lane {getattr(act, 'lane', '?')} by "
                    f"t={at:g} s (arrives at about {plan.starts[k]:.1f} s)")
        if spec.exit is not None and plan.actions_done > spec.exit + 1e-9:
            raise ScenarioError(
                file, f"shoppers[{i}].exit",
                f"shopper {spec.id!r} cannot finish its actions by exit {spec.exit:g} s "
                f"(about {plan.actions_done:.1f} s needed)")
    last = max(plans.values(), key=lambda p: p.out)
    need = last.out + _MARGIN
    if need > scenario.duration:
        raise ScenarioError(
            file, "duration",
            f"too short: shopper {last.shopper!r} is out only at about {last.out:.1f} s "
            f"(nominal walking {NOMINAL_SPEED:g} m/s, children 0.85 m/s); make duration at least "
            f"{math.ceil(need):d}")

