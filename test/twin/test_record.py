"""Recording the twin: every library scenario records; bags open in two independent readers
(rosbags, and mcap + mcap-ros2-support); the same seed gives a byte-identical bag; the 2D truth
matches the rendered people; a bag replays into a live ROS graph."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from smart_store.config import load_store_config
from smart_store.resources import default_store_config
from smart_store.twin import bag as rb
from smart_store.twin.record import SIM_EPOCH_NS, RunOptions, TwinRun, record_run
from smart_store.twin.scenario import library_names, load_scenario

ROOT = Path(__file__).resolve().parents[2]
CFG = load_store_config(default_store_config())
SENSOR_TOPICS = {'/shelves/load_cells/raw', '/shelves/weights', '/shelves/ranges'}


def small(name: str, fps: float = 2.0, size: tuple[int, int] = (160, 120)):
    scenario = load_scenario(name)
    return replace(scenario, render=replace(scenario.render, width=size[0], height=size[1],
                                            fps=fps))


def record(name: str, out: Path, storage: str = 'mcap', **kw: object) -> Path:
    return record_run(TwinRun(CFG, small(name, **kw)), out, storage=storage)  # type: ignore[arg-type]


def mcap_messages(bag_dir: Path) -> dict[str, int]:
    """Topic -> count, decoded by the independent MCAP reader."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    counts: dict[str, int] = {}
    for path in bag_dir.glob('*.mcap'):
        with path.open('rb') as fh:
            reader = make_reader(fh, decoder_factories=[DecoderFactory()])
            for _schema, channel, _message, decoded in reader.iter_decoded_messages():
                assert decoded is not None
                counts[channel.topic] = counts.get(channel.topic, 0) + 1
    return counts


@pytest.mark.slow
@pytest.mark.parametrize('name', library_names())
def test_every_library_scenario_records_and_both_readers_agree(name: str, tmp_path: Path) -> None:
    bag = record(name, tmp_path / name)
    ours = dict.fromkeys(rb.bag_topics(bag), 0)
    for m in rb.read_bag(bag):
        ours[m.topic] += 1
    assert set(ours) >= SENSOR_TOPICS
    assert all(n > 0 for t, n in ours.items() if t in SENSOR_TOPICS)
    images = [t for t in ours if t.endswith('image_raw')]
    assert len(images) == len(CFG.cameras)
    assert mcap_messages(bag) == {t: n for t, n in ours.items() if n}
    truth = json.loads((tmp_path / name / 'truth' / 'truth.json').read_text())
    assert truth['scenario'] == name and truth['receipts']
    # every shopper of the truth's events is named in the person map (a bag render uses it)
    assert {e['shopper'] for e in truth['events']} <= set(truth['people'].values())
    metadata = (bag / 'metadata.yaml').read_text()
    assert 'storage_identifier: mcap' in metadata and 'offered_qos_profiles' in metadata


def test_sqlite3_storage_reads_back(tmp_path: Path) -> None:
    bag = record('single_shopper', tmp_path / 'sq', storage='sqlite3', fps=1.0)
    assert list(bag.glob('*.db3'))
    assert 'storage_identifier: sqlite3' in (bag / 'metadata.yaml').read_text()
    assert sum(1 for _ in rb.read_bag(bag)) > 100


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    digests = []
    for i in range(2):
        bag = record('simultaneous_two', tmp_path / f'r{i}', fps=2.0)
        digests.append(hashlib.sha256(b''.join(p.read_bytes() for p in sorted(bag.iterdir())))
                       .hexdigest())
    assert digests[0] == digests[1]


def test_truth_keypoints_match_the_rendered_people(tmp_path: Path) -> None:
    """Visible truth joints fall on rendered person pixels (differs from the empty store)."""
    scenario = small('crossed_arms', fps=1.0, size=(320, 240))
    run = TwinRun(CFG, scenario, RunOptions())
    from smart_store.twin.render import CameraRenderer

    checked = hits = 0
    for t in np.arange(6.0, 20.0, 2.0):
        people = run.world.people_at(float(t))
        for cam in CFG.cameras:
            r = CameraRenderer(CFG, cam, replace(scenario.render, noise_sigma=0.0,
                                                 exposure_jitter=0.0), scenario.seed)
            empty = r.render([], float(t)).astype(int)
            img = r.render(people, float(t)).astype(int)
            for kp in r.keypoints_2d(people).values():
                for u, v, flag in kp:
                    if flag != 2:
                        continue
                    x, y = round(u), round(v)
                    patch = np.abs(img[max(0, y - 2):y + 3, max(0, x - 2):x + 3]
                                   - empty[max(0, y - 2):y + 3, max(0, x - 2):x + 3])
                    checked += 1
                    hits += bool(patch.sum(axis=2).max() > 30)
    assert checked > 100
    assert hits / checked > 0.97, f'{hits}/{checked} visible joints on rendered people'


@pytest.mark.ros
def test_bag_replays_into_the_graph(tmp_path: Path, ros_env: dict[str, str]) -> None:
    import rclpy
    from rosgraph_msgs.msg import Clock
    from smart_store.msg import LaneWeightArray

    bag = record('single_shopper', tmp_path / 'rp', fps=1.0)
    proc = subprocess.Popen([str(ROOT / 'smart-store'), 'replay', str(bag), '--rate', '4',
                             '--start-offset', '2', '--quiet'], env=ros_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    got: list[LaneWeightArray] = []
    clock: list[Clock] = []
    try:
        node = rclpy.create_node('replay_test')
        node.create_subscription(LaneWeightArray, '/shelves/weights', got.append, 100)
        from smart_store.ros.qos import SENSOR
        node.create_subscription(Clock, '/clock', clock.append, SENSOR)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        node.destroy_node()
    finally:
        rclpy.shutdown()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert len(got) > 100 and clock
    first = min(c.clock.sec + c.clock.nanosec * 1e-9 for c in clock)
    assert first >= SIM_EPOCH_NS / 1e9 + 2.0 - 0.05  # --start-offset honoured
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in got]
    assert stamps == sorted(stamps)


# ------------------------------------------------------------------------ motion blur, stock
def _frame(run: TwinRun, cam_id: str) -> np.ndarray:
    """The one image of ``cam_id`` a short run records."""
    topic = next(c.topic for c in CFG.cameras if c.id == cam_id)
    for _, name, data in run.messages():
        if name == topic:
            msg = rb.deserialize(data, 'sensor_msgs/msg/Image')
            return np.asarray(msg.data, np.uint8).reshape(msg.height, msg.width, 3)
    raise AssertionError(f'no image of {cam_id}')


def _directional_energy(img: np.ndarray, rows: slice, cols: slice, d: np.ndarray) -> float:
    grey = img[rows, cols].astype(float).mean(axis=2)
    gy, gx = np.gradient(grey)
    return float(np.sum((gx * d[0] + gy * d[1]) ** 2))


def test_motion_blur_smears_a_walking_shopper_along_the_motion() -> None:
    """``render: {motion_blur: true}``: the recorder hands the renderer the people at the
    shutter opening, so a walking shopper is blurred along the way they move; off (the
    default) the recorded frame is exactly the renderer's frame of the pose at ``t``."""
    base = load_scenario('single_shopper')
    fps = 5.0                                               # exposure 0.1 s
    spec = replace(base.render, width=320, height=240, fps=fps, noise_sigma=0.0,
                   exposure_jitter=0.0)
    sharp_sc = replace(base, render=spec)
    run = TwinRun(CFG, sharp_sc, RunOptions(coco=False))
    world = run.world
    track = world.track('ana' if 'ana' in world.shoppers else world.shoppers[0])
    hips = track.joints[:, 11:13].mean(axis=1)
    speed = np.linalg.norm(np.diff(hips[:, :2], axis=0), axis=1) * 100.0
    k = int(np.argmax(np.where((track.times()[1:] > 2.0) & (track.times()[1:] < 9.0),
                               speed, 0.0)))
    t = round(float(track.times()[k + 1]) * fps) / fps      # a frame time while walking fast
    assert speed[k] > 0.8
    # the camera that sees the shopper largest
    from smart_store.twin.render import CameraRenderer
    renderers = {c.id: CameraRenderer(CFG, c, spec, base.seed) for c in CFG.cameras}
    person = next(p for p in world.people_at(t) if p.shopper == track.shopper)
    before = next(p for p in world.people_at(t - 0.5 / fps) if p.shopper == track.shopper)

    def extent(r: CameraRenderer) -> float:
        uv, _ = r.model.project(person.joints)
        return float(np.ptp(uv[:, 1])) if np.all(r.model.in_image(uv)) else 0.0

    cam_id = max(renderers, key=lambda c: extent(renderers[c]))
    r = renderers[cam_id]
    uv, _ = r.model.project(np.vstack([person.joints, before.joints]))   # and the shadow
    rows = slice(int(uv[:, 1].min()) - 12, int(uv[:, 1].max()) + 13)
    cols = slice(int(uv[:, 0].min()) - 16, int(uv[:, 0].max()) + 17)
    move = (r.model.project(person.joints[11:13].mean(0)[None])[0]
            - r.model.project(before.joints[11:13].mean(0)[None])[0])[0]
    assert np.linalg.norm(move) > 2.0                       # pixels moved during the shutter
    d = move / np.linalg.norm(move)
    window = RunOptions(start=t, end=t + 0.5 / fps, coco=False)
    sharp = _frame(TwinRun(CFG, sharp_sc, window), cam_id)
    direct = r.render(world.people_at(t), t, stock=world.lane_stock_at(t))
    assert np.array_equal(sharp, direct)                    # blur off: the plain frame
    blur_sc = replace(base, render=replace(spec, motion_blur=True))
    blurred = _frame(TwinRun(CFG, blur_sc, window), cam_id)
    assert not np.array_equal(blurred, sharp)
    outside = np.ones(sharp.shape[:2], bool)
    outside[rows, cols] = False
    assert np.array_equal(blurred[outside], sharp[outside])  # only the person is smeared
    along_sharp = _directional_energy(sharp, rows, cols, d)
    along_blur = _directional_energy(blurred, rows, cols, d)
    assert along_blur < 0.85 * along_sharp, (along_blur, along_sharp)


def test_recorded_frames_show_the_lane_emptying() -> None:
    """A pick takes items off the lane in the recorded images too (the world's stock)."""
    scenario = small('multi_quantity', fps=2.0, size=(320, 240))
    scenario = replace(scenario, render=replace(scenario.render, noise_sigma=0.0,
                                                exposure_jitter=0.0))
    run = TwinRun(CFG, scenario, RunOptions(coco=False, end=0.5))
    pick = next(e for e in run.world.truth if e.kind == 'pick')
    assert pick.lane is not None and pick.qty == 3
    stock = run.world.lane_stock_at(pick.t_end + 1.0)
    assert stock[pick.lane] == CFG.planogram[pick.lane].facings - 3
    from smart_store.twin.render import CameraRenderer
    for cam in CFG.cameras:
        r = CameraRenderer(CFG, cam, scenario.render, scenario.seed)
        full = r.render([], 0.0)
        now = r.render([], 0.0, stock=stock)
        changed = np.any(full != now, axis=2)
        if changed.any():
            break
    else:
        raise AssertionError(f'no camera shows lane {pick.lane} emptying')
