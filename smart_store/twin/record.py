"""Turn a scenario into the sensor-level message stream of a store run, and record it.

``TwinRun`` plays a World forward and yields ``(stamp_ns, topic, cdr_bytes)`` in time order:
camera images and CameraInfo, raw and calibrated load-cell weights, shelf-front ranges and entry
scans, i.e. what the drivers and the entry gate publish. Nothing derived (events, tracks, carts)
is produced here: replaying the stream recomputes it. The same stream goes into a rosbag2
directory (``record_run``) or, in live mode, to rclpy publishers.

Ground truth is written beside the bag (``<run>/truth``): the scenario, the true action log and
receipts, every person's 3D joints per camera frame, and their 2D joints with visibility in each
camera as COCO keypoint JSON (so a pose model can train on the renders).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smart_store.config import StoreConfig
from smart_store.drivers.lanes import LaneMap
from smart_store.twin import bag as rb
from smart_store.twin.model import COCO_KEYPOINTS, COCO_SKELETON, PersonState, Scenario

# Sim time 0 is this instant (2026-01-01T00:00:00Z): a fixed origin keeps runs deterministic,
# and a non-zero ROS time avoids "time 0 = clock not received yet" in sim-time nodes.
SIM_EPOCH_NS = 1_767_225_600 * 1_000_000_000
RANGE_NO_RETURN_MM = 65535

CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
RANGE_TYPE = 'sensor_msgs/msg/Range'
RAW_TOPIC = '/shelves/load_cells/raw'
WEIGHTS_TOPIC = '/shelves/weights'
RANGES_TOPIC = '/shelves/ranges'
ENTRY_TOPIC = '/entry/events'


def coco_person(kp: np.ndarray, w: int, h: int) -> dict[str, Any] | None:
    """A COCO keypoint annotation from (17, 3) rows (u, v, flag 0/1/2); None when no joint is
    visible (nothing to learn from). The box spans the in-image joints plus a margin, clipped
    to the image (``0 <= u < w``, ``0 <= v < h``: ``CameraModel.in_image``) and rounded
    outwards, so every labelled joint lies in it."""
    flags = kp[:, 2]
    if not np.any(flags == 2):
        return None
    inside = kp[flags > 0, :2]
    margin = 0.025 * max(w, h)
    x0, y0 = np.maximum(inside.min(axis=0) - margin, 0.0)
    x1, y1 = np.minimum(inside.max(axis=0) + margin, [float(w), float(h)])
    x0, y0 = math.floor(x0 * 100) / 100, math.floor(y0 * 100) / 100
    x1, y1 = math.ceil(x1 * 100) / 100, math.ceil(y1 * 100) / 100
    flat = [round(float(v), 2) if i % 3 != 2 else int(v)
            for i, v in enumerate(np.where(flags[:, None] > 0, kp, 0.0).reshape(-1))]
    return {'category_id': 1, 'keypoints': flat, 'num_keypoints': int(np.sum(flags > 0)),
            'bbox': [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)],
            'area': round((x1 - x0) * (y1 - y0), 2), 'iscrowd': 0}


def coco_categories() -> list[dict[str, Any]]:
    return [{'id': 1, 'name': 'person', 'supercategory': 'person',
             'keypoints': list(COCO_KEYPOINTS),
             'skeleton': [[a + 1, b + 1] for a, b in COCO_SKELETON]}]


def shutter_people(world: Any, renderer: Any, t: float) -> list[PersonState] | None:
    """The people at the shutter opening of ``renderer``'s frame at ``t``
    (``world.people_at(t - renderer.exposure)``) when its render spec asks for motion blur,
    else None (no blur): pass it to ``CameraRenderer.render`` as ``shutter``."""
    if not renderer.spec.motion_blur:
        return None
    return world.people_at(t - renderer.exposure)


def stamp_ns(t: float) -> int:
    """Sim time (s from the start of the run) -> ROS time in ns."""
    return SIM_EPOCH_NS + round(t * 1e9)


def _time(ns: int) -> Any:
    sec, nsec = divmod(ns, 1_000_000_000)
    return rb.msg_class('builtin_interfaces/msg/Time')(sec=sec, nanosec=nsec)


def _header(ns: int, frame_id: str) -> Any:
    return rb.msg_class('std_msgs/msg/Header')(stamp=_time(ns), frame_id=frame_id)


@dataclass(frozen=True)
class RunOptions:
    images: bool = True               # render cameras (False: shelves and entries only)
    start: float = 0.0                # s of sim time
    end: float | None = None          # s; None = the scenario's duration
    coco: bool = True                 # collect 2D/3D ground truth per camera frame


class TwinRun:
    """One scenario run of the twin, as a time-ordered stream of serialised messages."""

    def __init__(self, cfg: StoreConfig, scenario: Scenario,
                 options: RunOptions | None = None, world: Any | None = None) -> None:
        """``world``: the ``World`` of this scenario if it was played already (default: play
        it here)."""
        from smart_store.twin.render import CameraRenderer  # noqa: PLC0415 - heavy imports
        from smart_store.twin.sensors import DistanceEmulator, LoadCellEmulator  # noqa: PLC0415
        from smart_store.twin.world import World  # noqa: PLC0415

        self.cfg = cfg
        self.scenario = scenario
        self.options = options or RunOptions()
        if world is not None and world.scenario is not scenario:
            raise ValueError('world was played from another scenario')
        self.world = world if world is not None else World(cfg, scenario)
        self.renderers = ([CameraRenderer(cfg, cam, scenario.render, scenario.seed)
                           for cam in cfg.cameras] if self.options.images else [])
        self.loadcells = LoadCellEmulator(cfg, self.world, scenario.load_cell_faults,
                                          scenario.seed)
        self.distances = DistanceEmulator(cfg, self.world, scenario.seed)
        self.lanes = LaneMap(cfg)
        self._sensor_by_key = {
            (s.distance_sensor.hub, s.distance_sensor.channel): s.distance_sensor
            for s in cfg.shelves if s.distance_sensor is not None}
        self._gate = cfg.zones_of_kind('entry')[0].id
        self.end = min(self.options.end if self.options.end is not None else scenario.duration,
                       scenario.duration)
        # Ground truth collected while the stream is produced.
        self.coco_images: list[dict[str, Any]] = []
        self.coco_annotations: list[dict[str, Any]] = []
        self.joints_times: list[float] = []
        self.joints: list[dict[int, np.ndarray]] = []
        self.frame_counts: dict[str, int] = {}
        self.dropped_frames: dict[str, int] = {}

    # ---------------------------------------------------------------- topics
    def topics(self) -> list[rb.TopicSpec]:
        specs = []
        for r in self.renderers:
            cam = r.camera
            specs.append(rb.TopicSpec(cam.topic, IMAGE_TYPE, 'sensor'))
            specs.append(rb.TopicSpec(cam.info_topic, CAMERA_INFO_TYPE, 'sensor'))
        specs += [rb.TopicSpec(RAW_TOPIC, 'smart_store/msg/LoadCellRaw', 'events'),
                  rb.TopicSpec(WEIGHTS_TOPIC, 'smart_store/msg/LaneWeightArray', 'events'),
                  rb.TopicSpec(RANGES_TOPIC, RANGE_TYPE, 'sensor'),
                  rb.TopicSpec(ENTRY_TOPIC, 'smart_store/msg/EntryEvent', 'events')]
        return specs

    # ---------------------------------------------------------------- frames
    def _frame_times(self, renderer: Any) -> np.ndarray:
        fps = float(self.scenario.render.fps or renderer.camera.fps)
        n0 = math.ceil(self.options.start * fps - 1e-9)
        n1 = math.ceil(self.end * fps - 1e-9)
        return np.arange(n0, n1) / fps

    def _camera_alive(self, cam_id: str, t: float, frame_index: int) -> bool:
        for fault in self.scenario.camera_faults:
            if fault.camera != cam_id or t < fault.start:
                continue
            if fault.end is not None and t >= fault.end:
                continue
            if fault.kind == 'dead':
                return False
            # Dropped frames: a deterministic coin per (seed, camera, frame).
            key = [self.scenario.seed, frame_index, zlib.crc32(cam_id.encode())]
            rng = np.random.default_rng(key)
            if rng.random() < fault.drop_rate:
                return False
        return True

    def render_frame(self, renderer: Any, t: float, people: Sequence[PersonState], *,
                      stock: dict[str, int] | None = None) -> np.ndarray:
        """One camera's BGR image at ``t``: the people holding what they hold, the lanes at
        ``stock`` (default: the world's stock at ``t``), motion blur if the scenario asks."""
        if stock is None:
            stock = self.world.lane_stock_at(t)
        image: np.ndarray = renderer.render(
            people, t, shutter=shutter_people(self.world, renderer, t), stock=stock)
        return image

    def _image_messages(self, renderer: Any, t: float, people: Sequence[PersonState], *,
                        stock: dict[str, int] | None = None) -> list[tuple[int, str, bytes]]:
        """Image and CameraInfo of one frame: the people at ``t`` holding what they hold,
        the lanes at ``stock`` (default: the world's stock at ``t``), blurred over the
        shutter time when the scenario asks for motion blur."""
        cam = renderer.camera
        ns = stamp_ns(t)
        image = self.render_frame(renderer, t, people, stock=stock)
        h, w = image.shape[:2]
        img = rb.msg_class(IMAGE_TYPE)(
            header=_header(ns, cam.id), height=h, width=w, encoding='bgr8', is_bigendian=0,
            step=w * 3, data=np.ascontiguousarray(image).reshape(-1))
        info = renderer.model.camera_info_dict()
        roi = rb.msg_class('sensor_msgs/msg/RegionOfInterest')(
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        cinfo = rb.msg_class(CAMERA_INFO_TYPE)(
            header=_header(ns, cam.id), height=h, width=w,
            distortion_model=info['distortion_model'], d=np.array(info['d'], dtype=np.float64),
            k=np.array(info['k'], dtype=np.float64), r=np.array(info['r'], dtype=np.float64),
            p=np.array(info['p'], dtype=np.float64), binning_x=0, binning_y=0, roi=roi)
        if self.options.coco:
            self._collect_coco(renderer, people, ns, w, h)
        return [(ns, cam.topic, rb.serialize(img, IMAGE_TYPE)),
                (ns, cam.info_topic, rb.serialize(cinfo, CAMERA_INFO_TYPE))]

    def _collect_coco(self, renderer: Any, people: Sequence[PersonState], ns: int, w: int,
                      h: int) -> None:
        image_id = len(self.coco_images) + 1
        cam_id = renderer.camera.id
        self.coco_images.append({'id': image_id, 'file_name': f'{cam_id}/{ns}.jpg',
                                 'width': w, 'height': h, 'camera': cam_id, 'stamp_ns': ns})
        by_person = {p.person: p for p in people}
        for person, kp in renderer.keypoints_2d(people).items():
            ann = coco_person(kp, w, h)
            if ann is not None:
                ann.update(id=len(self.coco_annotations) + 1, image_id=image_id,
                           track_id=person, shopper=by_person[person].shopper)
                self.coco_annotations.append(ann)

    # ---------------------------------------------------------------- shelves
    def _shelf_messages(self, t0: float, t1: float) -> list[tuple[int, str, bytes]]:
        out: list[tuple[int, str, bytes]] = []
        raw_cls = rb.msg_class('smart_store/msg/LoadCellRaw')
        arr_cls = rb.msg_class('smart_store/msg/LaneWeightArray')
        lw_cls = rb.msg_class('smart_store/msg/LaneWeight')
        groups: dict[tuple[float, str], list[tuple[int, int]]] = {}
        for t, hub, channel, counts in self.loadcells.samples(t0, t1):
            groups.setdefault((t, hub), []).append((channel, counts))
        frame = self.cfg.frame_id
        for (t, hub), samples in sorted(groups.items()):
            ns = stamp_ns(t)
            samples.sort()
            raw = raw_cls(header=_header(ns, frame), hub_id=hub, hub_time=float(t),
                          channels=np.array([c for c, _ in samples], dtype=np.uint16),
                          counts=np.array([n for _, n in samples], dtype=np.int32))
            lanes = []
            for channel, counts in samples:
                info = self.lanes.get(hub, channel)
                if info is None:
                    continue
                lanes.append(lw_cls(shelf_id=info.lane.shelf_id, lane_id=info.lane.id,
                                    hub_id=hub, channel=channel, raw_counts=counts,
                                    grams=info.grams(counts), stale=False))
            weights = arr_cls(header=_header(ns, frame), hub_id=hub, lanes=lanes)
            out.append((ns, RAW_TOPIC, rb.serialize(raw, 'smart_store/msg/LoadCellRaw')))
            out.append((ns, WEIGHTS_TOPIC,
                        rb.serialize(weights, 'smart_store/msg/LaneWeightArray')))
        range_cls = rb.msg_class(RANGE_TYPE)
        for t, hub, channel, mm in self.distances.samples(t0, t1):
            sensor = self._sensor_by_key.get((hub, channel))
            if sensor is None:
                continue
            ns = stamp_ns(t)
            value = math.inf if mm >= RANGE_NO_RETURN_MM else mm / 1000.0
            msg = range_cls(header=_header(ns, sensor.id), radiation_type=1,
                            field_of_view=float(sensor.fov), min_range=float(sensor.min_range),
                            max_range=float(sensor.max_range), range=float(value),
                            variance=0.0)
            out.append((ns, RANGES_TOPIC, rb.serialize(msg, RANGE_TYPE)))
        return out

    def _entry_messages(self, t0: float, t1: float) -> list[tuple[int, str, bytes]]:
        cls = rb.msg_class('smart_store/msg/EntryEvent')
        out = []
        for t, payer, token, companions in self.world.entries:
            if t0 <= t < t1 and token is not None:
                ns = stamp_ns(t)
                count = companions if isinstance(companions, int) else len(companions)
                msg = cls(header=_header(ns, self.cfg.frame_id), event_id=f'entry-{payer}',
                          gate_id=self._gate, account_token=token, companions=count)
                out.append((ns, ENTRY_TOPIC, rb.serialize(msg, 'smart_store/msg/EntryEvent')))
        return out

    # ---------------------------------------------------------------- stream
    def messages(self, window: float = 0.5,
                 on_time: Callable[[float], None] | None = None
                 ) -> Iterator[tuple[int, str, bytes]]:
        """All messages of the run in (stamp, topic) order, produced window by window."""
        frame_times = {id(r): self._frame_times(r) for r in self.renderers}
        t0 = self.options.start
        while t0 < self.end - 1e-12:
            t1 = min(t0 + window, self.end)
            batch = self._shelf_messages(t0, t1) + self._entry_messages(t0, t1)
            times = sorted({float(t) for r in self.renderers for t in frame_times[id(r)]
                            if t0 - 1e-12 <= t < t1 - 1e-12})
            for t in times:
                people = self.world.people_at(t)
                stock = self.world.lane_stock_at(t)
                self.joints_times.append(t)
                self.joints.append({p.person: p.joints.copy() for p in people})
                for r in self.renderers:
                    cam_id = r.camera.id
                    index = round(t * float(self.scenario.render.fps or r.camera.fps))
                    if not np.any(np.isclose(frame_times[id(r)], t)):
                        continue
                    if not self._camera_alive(cam_id, t, index):
                        self.dropped_frames[cam_id] = self.dropped_frames.get(cam_id, 0) + 1
                        continue
                    self.frame_counts[cam_id] = self.frame_counts.get(cam_id, 0) + 1
                    batch += self._image_messages(r, t, people, stock=stock)
            batch.sort(key=lambda m: (m[0], m[1]))
            yield from batch
            if on_time is not None:
                on_time(t1)
            t0 = t1

    # ---------------------------------------------------------------- truth
    def write_truth(self, folder: Path) -> None:
        """Everything an evaluation needs, beside the bag."""
        folder.mkdir(parents=True, exist_ok=True)
        world = self.world
        truth = {
            'scenario': self.scenario.name,
            'seed': self.scenario.seed,
            'duration': self.end,
            'sim_epoch_ns': SIM_EPOCH_NS,
            'store_config': self.cfg.path,
            # the person index of joints3d.npz / coco_keypoints.json -> the scenario's shopper id
            'people': {str(i): shopper.id for i, shopper in enumerate(self.scenario.shoppers)},
            'entries': [{'t': t, 'payer': p, 'token': tok, 'companions': c}
                        for t, p, tok, c in world.entries],
            'events': [asdict(e) for e in world.truth],
            'receipts': [asdict(r) for r in world.receipts],
            'lane_changes': [{'t': t, 'lane': lane, 'delta_g': d}
                             for t, lane, d in world.lane_changes],
            'camera_frames': self.frame_counts,
            'dropped_frames': self.dropped_frames,
        }
        (folder / 'truth.json').write_text(json.dumps(truth, indent=1, sort_keys=True),
                                           encoding='utf-8')
        if self.scenario.source:
            (folder / 'scenario.yaml').write_text(
                Path(self.scenario.source).read_text(encoding='utf-8'), encoding='utf-8')
        persons = sorted({p for frame in self.joints for p in frame})
        joints = np.full((len(self.joints), len(persons), 17, 3), np.nan)
        for i, frame in enumerate(self.joints):
            for j, person in enumerate(persons):
                if person in frame:
                    joints[i, j] = frame[person]
        np.savez_compressed(folder / 'joints3d.npz', times=np.array(self.joints_times),
                            persons=np.array(persons, dtype=np.int64), joints=joints)
        if self.options.coco:
            coco = {
                'info': {'description': f'smart_store twin: {self.scenario.name}',
                         'seed': self.scenario.seed},
                'images': self.coco_images, 'annotations': self.coco_annotations,
                'categories': coco_categories(),
            }
            (folder / 'coco_keypoints.json').write_text(json.dumps(coco), encoding='utf-8')


def record_run(run: TwinRun, out_dir: Path, storage: rb.Storage = 'mcap', overwrite: bool = False,
               on_time: Callable[[float], None] | None = None) -> Path:
    """Record a run: ``<out_dir>/bag`` (rosbag2) and ``<out_dir>/truth``. Returns the bag."""
    bag_dir = out_dir / 'bag'
    if out_dir.exists() and not overwrite and any(out_dir.iterdir()):
        raise FileExistsError(f'{out_dir} exists and is not empty (use --overwrite)')
    out_dir.mkdir(parents=True, exist_ok=True)
    with rb.BagWriter(bag_dir, run.topics(), storage=storage, overwrite=True) as writer:
        for ns, topic, data in run.messages(on_time=on_time):
            writer.write(topic, ns, data)
    run.write_truth(out_dir / 'truth')
    return bag_dir
