"""``./smart-store up --twin``: the live twin feeds the real drivers, shelf_events runs on them.

The twin plays ``single_shopper`` (two picks) without cameras; the load-cell and distance
drivers read its hub pseudo-terminals, shelf_events turns their output into events. The test
listens on the graph's topics and checks them against the ground truth the twin writes into its
run directory: samples stamped at their sim time (wall clock of sim time 0 + t), calibrated lane
weights, one beam break per reach and one weight event per pick with the true delta.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from smart_store.msg import BeamBreak, EntryEvent, LaneWeightArray, LoadCellRaw, WeightEvent

from smart_store.cli import up
from smart_store.cli.sim import with_render_overrides
from smart_store.config import load_store_config
from smart_store.drivers.image_convert import get_bridge
from smart_store.graph.table import LaunchOptions, graph_for_config
from smart_store.ros.qos import SENSOR
from smart_store.twin.camera_stream import encode_jpeg
from smart_store.twin.live import LiveOptions
from smart_store.twin.record import RunOptions, TwinRun
from smart_store.twin.scenario import load_scenario

#: Reliable and volatile: matches volatile and transient-local publishers alike.
EVENTS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
#: The twin's gate publishes its scans transient-local (the graph's 'events'): a subscription
#: that matches after the scan still gets it (the scan comes 1 s into the run, and this test's
#: node may match the twin later than that on a loaded machine).
LATCHED_EVENTS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.TRANSIENT_LOCAL)
pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]
CFG = load_store_config(ROOT / 'config' / 'demo_store.yaml')
SCENARIO = 'single_shopper'
TWIN_END = 20.0          # s of sim time: both picks (the last hand leaves at 18.4 s); the hubs
                         # send on for the 2 s tail, so the last event settles


def stamp_s(stamp: object) -> float:
    return stamp.sec + stamp.nanosec * 1e-9  # type: ignore[attr-defined]


class Output:
    """Drains a process's output in a thread (a full pipe would stall the supervisor)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        stream = proc.stdout
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def text(self) -> str:
        self._thread.join(10.0)
        return ''.join(self.lines)


def up_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    up.add_parser(parser.add_subparsers(), 'up')
    return parser.parse_args(['up', *argv])


def test_up_twin_command_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What ``up --twin`` starts, without starting it: per-node parameters and the twin."""
    args = up_args('--twin', SCENARIO, '--twin-dir', str(tmp_path), '--no-images',
                   '--param', 'shelf_events:store_config:="/x.yaml"')
    extra = up.twin_params(CFG, args.twin_dir)
    assert extra['loadcell_driver']['port_overrides'] == [
        f'{h.id}={tmp_path / "ptys" / h.id}' for h in CFG.hubs if h.kind == 'load_cell']
    assert extra['distance_driver']['port_overrides'] == [
        f'hub_distance={tmp_path / "ptys" / "hub_distance"}']
    assert up.parse_param(args.param[0]) == ('shelf_events', 'store_config', '/x.yaml')
    extra['shelf_events'] = {'store_config': '/x.yaml'}
    graph = graph_for_config(CFG)
    opts = LaunchOptions(store_config='/s.yaml', use_sim_time=True)
    specs = {s.name: s.argv for s in up.process_specs(graph, opts, None, extra)}
    lc = specs['loadcell_driver']
    assert f'port_overrides:={json.dumps(extra["loadcell_driver"]["port_overrides"])}' in lc
    ev = specs['shelf_events']  # an extra parameter wins over the launch argument
    assert 'store_config:="/x.yaml"' in ev and 'store_config:="/s.yaml"' not in ev
    argv = up.twin_argv(args, Path('/s.yaml'), ['loadcell_driver'], ['hub_lc_a'], python='py')
    assert argv[:4] == ['py', '-m', 'smart_store.twin.live', SCENARIO]
    assert '--no-images' in argv and '--hold' in argv
    assert argv[argv.index('--wait-for') + 1] == 'loadcell_driver'
    assert argv[argv.index('--wait-links') + 1] == 'hub_lc_a'
    # with images (the default), the camera driver reads the twin's streams
    args = up_args('--twin', SCENARIO, '--twin-dir', str(tmp_path), '--stream-port', '8090')
    argv = up.twin_argv(args, Path('/s.yaml'), ['camera_driver'], python='py')
    assert argv[argv.index('--camera-streams') + 1:][:2] == ['--stream-port', '8090']
    extra = up.twin_params(CFG, args.twin_dir, 8090, ['camera_driver'])
    assert extra['camera_driver']['sources'] == [
        f'{c.id}=http://127.0.0.1:8090/{c.id}' for c in CFG.cameras]
    per_camera = up.twin_params(CFG, args.twin_dir, 8090, ['camera_cam_fl', 'camera_cam_fr'])
    assert per_camera['camera_cam_fr']['sources'] == extra['camera_driver']['sources']
    assert '--camera-streams' not in up.twin_argv(
        up_args('--twin', SCENARIO, '--twin-cameras', 'topics'), Path('/s.yaml'), [])
    assert 1024 <= up.free_port() <= 65535
    # refused before anything starts: no camera driver when the twin publishes the images or
    # has no cameras; a scenario that does not exist; not a port
    assert up.run(up_args('--twin', SCENARIO, '--twin-cameras', 'topics',
                          '--only', 'camera_driver')) == 2
    assert up.run(up_args('--twin', SCENARIO, '--no-images', '--only', 'camera_driver')) == 2
    assert up.run(up_args('--twin', SCENARIO, '--stream-port', '70000')) == 2
    assert up.run(up_args('--stream-port', '8090')) == 2
    assert up.run(up_args('--twin', 'no_such_scenario')) == 2
    assert up.run(up_args('--param', 'nobody:x:=1')) == 2
    assert up.run(up_args('--twin', SCENARIO, '--use-sim-time')) == 2
    assert up.run(up_args('--no-images')) == 2
    err = capsys.readouterr().err
    assert 'only apply with --twin' in err
    assert 'camera' in err and 'no_such_scenario' in err and 'nobody' in err
    assert 'has no cameras' in err and 'not a TCP port' in err
    assert 'wall-clock' in err


@pytest.mark.slow
def test_up_twin_feeds_drivers_and_shelf_events(tmp_path: Path, ros_env: dict[str, str]
                                                ) -> None:
    run_dir = tmp_path / 'live'
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(ROOT / 'smart-store'), 'up', '--twin', SCENARIO, '--no-images',
         '--twin-end', str(TWIN_END), '--twin-dir', str(run_dir), '--duration', '42',
         '--only', 'loadcell_driver', 'distance_driver', 'shelf_events'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    output = Output(proc)
    weights: list[tuple[float, str, float]] = []      # (stamp, lane, grams) of fresh lanes
    hubs_seen: set[str] = set()
    events: list[WeightEvent] = []
    breaks: list[BeamBreak] = []
    raw: list[tuple[str, float, float]] = []          # (hub, hub_time, stamp)
    raw_ns: list[tuple[str, int]] = []                # (hub, stamp in exact ns)
    entries: list[EntryEvent] = []

    def on_weights(msg: LaneWeightArray) -> None:
        t = stamp_s(msg.header.stamp)
        hubs_seen.add(msg.hub_id)
        weights.extend((t, lw.lane_id, lw.grams) for lw in msg.lanes if not lw.stale)

    rclpy.init()
    try:
        node = rclpy.create_node('up_twin_test')
        node.create_subscription(LaneWeightArray, '/shelves/weights', on_weights, EVENTS)
        node.create_subscription(WeightEvent, '/shelves/weight_events', events.append, EVENTS)
        node.create_subscription(BeamBreak, '/shelves/beam_breaks', breaks.append, EVENTS)
        node.create_subscription(EntryEvent, '/entry/events', entries.append, LATCHED_EVENTS)
        node.create_subscription(
            LoadCellRaw, '/shelves/load_cells/raw',
            lambda m: (raw.append((m.hub_id, m.hub_time, stamp_s(m.header.stamp))),
                       raw_ns.append((m.hub_id, m.header.stamp.sec * 10**9
                                      + m.header.stamp.nanosec))), EVENTS)
        while proc.poll() is None and time.monotonic() - started < 60.0:
            rclpy.spin_once(node, timeout_sec=0.05)
        node.destroy_node()
    finally:
        rclpy.shutdown()
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
    out = output.text()
    wall = time.monotonic() - started
    assert proc.returncode == 0, out
    # the shutdown included: the drivers stop their reader threads before the context goes
    # (test_driver_shutdown.py)
    assert 'Traceback' not in out and 'RCLError' not in out, out
    assert '[twin' in out and 'done at t=' in out, f'the twin did not finish ({wall:.0f} s):\n{out}'

    live = json.loads((run_dir / 'live.json').read_text())
    truth = json.loads((run_dir / 'truth' / 'truth.json').read_text())
    epoch = live['wall_zero_ns'] / 1e9   # wall-clock time of sim time 0
    initial: dict[str, float] = live['initial_lane_weights']
    changes = [(c['t'], c['lane'], c['delta_g']) for c in truth['lane_changes']
               if c['t'] < TWIN_END]
    reaches = [e for e in truth['events'] if e['kind'] in ('pick', 'put_back', 'reach_only')
               and e['t_start'] < TWIN_END]
    assert len(changes) == 2 and len(reaches) == 2  # the scenario's two picks

    # -- the entry scan, published by the twin, restamped onto the wall clock ----------------
    assert [(e.account_token, round(stamp_s(e.header.stamp) - epoch, 3)) for e in entries] == [
        (e['token'], round(e['t'], 3)) for e in truth['entries']]

    # -- one time line: a sample is stamped at wall_zero + its sim time (via the hub clock) --
    zero = live['hub_ms_at_zero']
    lag = np.array([stamp - epoch - ((round(hub_time * 1000) - zero[hub]) % 2**32) / 1000.0
                    for hub, hub_time, stamp in raw])
    assert len(lag) > 1000
    for hub in {h for h, _, _ in raw}:  # per hub, stamps strictly increase (stamping.py)
        stamps = [ns for h, ns in raw_ns if h == hub]
        assert all(b > a for a, b in itertools.pairwise(stamps)), hub
    # typically within a few ms; a driver thread starved of CPU stamps a burst late (its hub
    # clock re-synchronises; the stamps are held, never set back, per hub), hence the 80 %
    assert abs(float(np.median(lag))) < 0.015, np.percentile(lag, [1, 50, 99])
    assert float(np.mean(np.abs(lag) < 0.05)) > 0.8, np.percentile(lag, [1, 10, 50, 90, 99])

    # -- calibrated lane weights: every hub, every lane, the true weight within noise --------
    assert hubs_seen == {h.id for h in CFG.hubs if h.kind == 'load_cell'}
    assert {lane for _, lane, _ in weights} == {lane.id for lane in CFG.lanes()}
    duration = TWIN_END - 1.0
    assert len(weights) > 0.5 * 80 * duration * len(initial), 'lane weights did not flow'
    busy = {(e['lane'], e['t_start'] - 0.3, e['t_end'] + 1.5) for e in reaches}
    errors: dict[str, list[float]] = {}
    for stamp, lane, grams in weights:
        t = stamp - epoch
        assert -0.5 < t < TWIN_END + 3.0, f'stamp {stamp} is not on the twin\'s time line'
        if any(lane == b and lo <= t <= hi for b, lo, hi in busy):
            continue  # a hand presses, the lane settles
        true = initial[lane] + sum(d for tc, ln, d in changes if ln == lane and tc <= t)
        errors.setdefault(lane, []).append(grams - true)
    flat = np.abs(np.concatenate([np.asarray(v) for v in errors.values()]))
    assert max(abs(float(np.median(v))) for v in errors.values()) < 2.0
    assert float(np.percentile(flat, 99.5)) < 8.0, 'weights off the true lane weights'

    # -- beam breaks: one around every reach, on its shelf ---------------------------------
    shelf_of = {lane.id: lane.shelf_id for lane in CFG.lanes()}
    for e in reaches:
        hits = [b for b in breaks if b.shelf_id == shelf_of[e['lane']]
                and stamp_s(b.start) - epoch <= e['t_end'] + 0.3
                and stamp_s(b.end) - epoch >= e['t_start'] - 0.3]
        seen = [(b.shelf_id, round(stamp_s(b.start) - epoch, 2)) for b in breaks]
        assert hits, f'no beam break for {e}; got {seen}'

    # -- weight events: exactly the picks, with the true delta, on the twin's time line ----
    got = [(ev.lane_id, stamp_s(ev.start) - epoch, stamp_s(ev.end) - epoch, ev.delta_grams)
           for ev in events]
    assert len(got) == len(changes), got
    for (tc, lane, delta), reach in zip(changes, reaches, strict=True):
        match = [g for g in got if g[0] == lane and abs(g[1] - reach['t_start']) < 0.5]
        assert len(match) == 1, (lane, tc, got)
        _, start, end, grams = match[0]
        assert abs(grams - delta) < 5.0, (lane, grams, delta)
        assert start <= tc <= end + 1e-3 and not math.isnan(grams)


CAM_FPS = 5.0
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
CAM_SIZE = (320, 240)


def jpeg_roundtrip(image: np.ndarray) -> np.ndarray:
    """The image as the twin streams it (JPEG at the live default quality), decoded."""
    data = np.frombuffer(encode_jpeg(image, LiveOptions().jpeg_quality), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


@pytest.mark.slow
def test_up_twin_runs_all_three_drivers_the_cameras_on_the_twin_streams(
        tmp_path: Path, ros_env: dict[str, str]) -> None:
    """The whole driver layer in one graph: camera_driver reads the twin's MJPEG streams (the
    twin's network cameras), the shelf drivers its ptys, shelf_events their output. Checked:
    every camera's images and CameraInfo come from the driver, are the frames the twin
    rendered for their time (re-rendered here) and are stamped on the twin's time line."""
    run_dir = tmp_path / 'live'
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(ROOT / 'smart-store'), 'up', '--twin', SCENARIO,
         '--resolution', f'{CAM_SIZE[0]}x{CAM_SIZE[1]}', '--fps', str(CAM_FPS),
         '--twin-end', str(TWIN_END), '--twin-dir', str(run_dir), '--duration', '60',
         '--only', 'camera_driver', 'loadcell_driver', 'distance_driver', 'shelf_events',
         # every frame: best effort loses ~10 % of 230 kB images over loopback on a loaded
         # 2-core machine, so the images go reliable through the ROS QoS overrides
         *itertools.chain.from_iterable(
             ('--param', f'camera_driver:qos_overrides.{c.topic}.publisher.reliability:='
              'reliable') for c in CFG.cameras)],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    output = Output(proc)
    bridge = get_bridge()
    images: dict[str, list[tuple[float, np.ndarray]]] = {c.id: [] for c in CFG.cameras}
    infos: dict[str, list[CameraInfo]] = {c.id: [] for c in CFG.cameras}
    events: list[WeightEvent] = []
    diag: dict[str, dict[str, str]] = {}
    rclpy.init()
    try:
        node = rclpy.create_node('up_twin_camera_test')
        for cam in CFG.cameras:
            node.create_subscription(
                Image, cam.topic,
                lambda m, c=cam.id: images[c].append(
                    (stamp_s(m.header.stamp), bridge.imgmsg_to_cv2(m, 'bgr8'))), RELIABLE)
            node.create_subscription(CameraInfo, cam.info_topic,
                                     lambda m, c=cam.id: infos[c].append(m), SENSOR)
        node.create_subscription(WeightEvent, '/shelves/weight_events', events.append, EVENTS)
        node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: diag.update(
            {st.name: {kv.key: kv.value for kv in st.values} for st in m.status
             if st.name.startswith('camera_driver')}), EVENTS)
        while proc.poll() is None and time.monotonic() - started < 80.0:
            rclpy.spin_once(node, timeout_sec=0.05)
        node.destroy_node()
    finally:
        rclpy.shutdown()
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
    out = output.text()
    assert proc.returncode == 0, out
    assert 'Traceback' not in out and 'done at t=' in out, out
    assert 'read by the camera driver' in out, out
    live = json.loads((run_dir / 'live.json').read_text())
    epoch = live['wall_zero_ns'] / 1e9
    assert set(live['camera_streams']) == {c.id for c in CFG.cameras}
    assert all(n >= 1 for n in live['stats']['stream_clients'].values()), live['stats']
    assert live['stats']['unwatched_streams'] == [], live['stats']

    scenario = with_render_overrides(load_scenario(SCENARIO), 'x'.join(map(str, CAM_SIZE)),
                                     CAM_FPS)
    twin = TwinRun(CFG, scenario, RunOptions(images=True, end=TWIN_END, coco=False))
    renderers = {r.camera.id: r for r in twin.renderers}
    n_frames = int(TWIN_END * CAM_FPS)
    for cam in CFG.cameras:
        run = [(s - epoch, img) for s, img in images[cam.id] if s >= epoch]
        # every frame of the run (a few may be lost on a loaded machine; none twice)
        assert len(run) >= n_frames - 2, (cam.id, len(run), n_frames, diag)
        # which frame each image is: the twin's render (re-rendered here) it matches, up to
        # JPEG, among the frames due by its stamp (a frame can come late, never early)
        r = renderers[cam.id]
        ks, errs = [], []
        for t, img in run:
            best = []
            for k in range(max(0, round(t * CAM_FPS) - 2), round(t * CAM_FPS) + 1):
                want = jpeg_roundtrip(
                    twin.render_frame(r, k / CAM_FPS, twin.world.people_at(k / CAM_FPS)))
                best.append((float(np.abs(img.astype(int) - want.astype(int)).mean()), k))
            err, k = min(best)
            ks.append(k)
            errs.append(err)
        assert max(errs) < 1.6, (cam.id, errs)   # the right frame ~1.0, a neighbour > 2
        assert len(set(ks)) == len(ks) and max(ks) <= n_frames, (cam.id, ks)
        # stamped at capture: just after the frame's time on the twin's time line
        lag = np.array([t - k / CAM_FPS for (t, _), k in zip(run, ks, strict=True)])
        assert float(np.median(lag)) < 0.05 and float(lag.min()) > -0.005, \
            (cam.id, np.percentile(lag, [0, 50, 100]))
        assert float(np.percentile(lag, 90)) < 0.1, (cam.id, np.percentile(lag, [50, 90, 100]))
        print(f'{cam.id}: {len(run)} frames, capture stamp - frame time: median '
              f'{1e3 * float(np.median(lag)):.1f} ms, 90th pct {1e3 * np.percentile(lag, 90):.1f}'
              f' ms, max {1e3 * float(lag.max()):.1f} ms; pixel error {np.mean(errs):.2f}')
        assert all(img.shape == (CAM_SIZE[1], CAM_SIZE[0], 3) for _, img in run)
        # the driver's CameraInfo: the store calibration scaled to the stream's size
        info = infos[cam.id][-1]
        assert (info.width, info.height) == CAM_SIZE
        k_cal = np.reshape(cam.model.camera_info_dict()['k'], (3, 3))
        assert abs(info.k[0] - k_cal[0, 0] * CAM_SIZE[0] / cam.model.camera_info_dict()['width']) \
            < 1e-6
    # and the shelf side ran beside it: the scenario's two picks
    assert len(events) == 2, [(e.lane_id, e.delta_grams) for e in events]
