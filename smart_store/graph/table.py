"""The node graph of the store: one table that both launchers read.

`launch/store.launch.py` turns it into launch_ros ``Node`` actions for ``ros2 launch`` on a full
ROS 2 install; ``./smart-store up`` (smart_store/cli/up.py) turns it into OS processes for pip
installs, where launch_ros does not exist. Keeping one table means the two cannot drift apart,
and tests (the RViz topic check, the README topic table) can reason about the graph without
starting it.

This module is pure Python: it must import without ROS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from smart_store.config import StoreConfig

# Message type names in the ROS 2 "pkg/msg/Type" form used by rosbag2 and `ros2 topic`.
IMAGE = 'sensor_msgs/msg/Image'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
RANGE = 'sensor_msgs/msg/Range'
MARKER_ARRAY = 'visualization_msgs/msg/MarkerArray'
DIAGNOSTICS = 'diagnostic_msgs/msg/DiagnosticArray'
CLOCK = 'rosgraph_msgs/msg/Clock'


def ss(name: str) -> str:
    """Type name of one of this package's messages."""
    return f'smart_store/msg/{name}'


Qos = Literal['sensor', 'events', 'latched', 'state']
"""QoS profile names; smart_store/ros/qos.py maps them to rclpy profiles:
sensor = best effort, keep last 5 (sensor data); events = reliable, keep last 100;
latched = reliable + transient local, keep last 1; state = reliable + transient local, keep last 100
(one message per key, e.g. per session cart)."""


@dataclass(frozen=True)
class Topic:
    """A topic a node publishes or subscribes to."""

    name: str
    type: str
    qos: Qos = 'events'
    description: str = ''


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph.

    ``implemented`` is False for a stage whose issue is still open; the documentation marks
    such nodes (every stage of the store is implemented now).
    """

    name: str
    executable: str
    stage: str
    description: str
    publishes: tuple[Topic, ...] = ()
    subscribes: tuple[Topic, ...] = ()
    parameters: Mapping[str, object] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    respawn: bool = True
    respawn_delay: float = 1.0
    implemented: bool = False
    issue: int | None = None
    uses_device: bool = False
    namespace: str = ''          # below the launch namespace (per-camera drivers)


# Topics that enter the graph from outside it: the twin or a recorded bag replays them, and in a
# real store the entry gate's app backend publishes EntryEvent.
LAYOUT = Topic('/store/layout', MARKER_ARRAY, 'latched', 'static store layout for RViz')
ENTRY = Topic('/entry/events', ss('EntryEvent'), 'events', 'app scans at the entry gate')
CLOCK_TOPIC = Topic('/clock', CLOCK, 'sensor', 'sim time from the twin or a bag replay')
LOADCELL_RAW = Topic('/shelves/load_cells/raw', ss('LoadCellRaw'), 'events', 'raw ADC counts')
WEIGHTS = Topic('/shelves/weights', ss('LaneWeightArray'), 'events', 'calibrated lane weights')
RANGES = Topic('/shelves/ranges', RANGE, 'sensor', 'shelf-front distance readings')
DIAG = Topic('/diagnostics', DIAGNOSTICS, 'events', 'driver health')
WEIGHT_EVENTS = Topic('/shelves/weight_events', ss('WeightEvent'), 'events', 'lane changes')
BEAM_BREAKS = Topic('/shelves/beam_breaks', ss('BeamBreak'), 'events', 'arm-in-shelf intervals')
DETECTIONS = Topic('/tracking/detections', ss('PersonDetectionArray'), 'sensor', '2D poses')
TRACKS = Topic('/tracking/tracks', ss('TrackArray'), 'events', '3D people with IDs')
TRACK_MARKERS = Topic('/tracking/markers', MARKER_ARRAY, 'events', 'skeletons, IDs, trails')
REACHES = Topic('/reach/events', ss('ReachEvent'), 'events', 'hands in shelf lanes')
REACH_MARKERS = Topic('/reach/markers', MARKER_ARRAY, 'events', 'reach highlights')
SESSIONS = Topic('/sessions', ss('Session'), 'state', 'sessions and their tracks')
CARTS = Topic('/carts', ss('Cart'), 'state', 'live cart per session')
CART_UPDATES = Topic('/carts/updates', ss('CartUpdate'), 'events', 'cart changes + evidence')
CART_MARKERS = Topic('/carts/markers', MARKER_ARRAY, 'events', 'cart labels over shoppers')
REVIEW = Topic('/review', ss('ReviewItem'), 'events', 'decisions sent to staff')
RECEIPTS = Topic('/receipts', ss('Receipt'), 'state', 'final receipts, exactly once')

EXTERNAL_TOPICS: tuple[Topic, ...] = (ENTRY, CLOCK_TOPIC)

# Executables that are not part of the product graph: the ground-truth tracks ablation of the
# benchmark, which takes the tracker's place (name and topics) when asked for.
ABLATION_EXECUTABLES = {'truth_tracker': 'tracker'}


def camera_topics(image_topic: str) -> tuple[Topic, Topic]:
    """The image and camera-info topics of one camera (info is the image topic's sibling)."""
    info = image_topic.rsplit('/', 1)[0] + '/camera_info'
    return (Topic(image_topic, IMAGE, 'sensor', 'camera image'),
            Topic(info, CAMERA_INFO, 'sensor', 'camera calibration'))


CameraRef = str | tuple[str, str]
CAMERA_MODES = ('shared', 'per_camera')


def _camera_nodes(cameras: list[tuple[str, str]], mode: str) -> tuple[NodeSpec, ...]:
    """Camera capture: one process for all cameras, or one node per camera in its namespace."""
    description = ('Captures cameras (V4L2, file, stream or image folder) through OpenCV and '
                   'publishes images and CameraInfo.')
    if mode == 'shared':
        topics = tuple(t for _, topic in cameras for t in camera_topics(topic))
        return (NodeSpec('camera_driver', 'camera_driver', 'drivers', description,
                         publishes=(*topics, DIAG), implemented=True, issue=4),)
    nodes = []
    for cam_id, topic in cameras:
        parent, _, base = topic.rpartition('/')
        relative = base == 'image_raw' and bool(parent)
        nodes.append(NodeSpec(
            f'camera_{cam_id}', 'camera_driver', 'drivers', description,
            publishes=(*camera_topics(topic), DIAG), implemented=True, issue=4,
            parameters={'cameras': [cam_id], 'relative_topics': relative},
            namespace=parent if relative else ''))
    return tuple(nodes)


def build_graph(cameras: Iterable[CameraRef], camera_mode: str = 'shared'
                ) -> tuple[NodeSpec, ...]:
    """The whole node graph for a store with these cameras.

    ``cameras`` are ``(id, image topic)`` pairs, or bare image topics (ids are then derived
    from the topic, which is enough for the shared capture node and for documentation).
    """
    if camera_mode not in CAMERA_MODES:
        raise ValueError(f'camera_mode must be one of {CAMERA_MODES}, not {camera_mode!r}')
    refs = [c if isinstance(c, tuple) else (c.strip('/').replace('/', '_'), c) for c in cameras]
    # The tracker reads the images only: its calibration is the store config's (CameraInfo
    # is for RViz and other consumers). Listing camera_info here made the pipeline wait for a
    # subscription the tracker never makes (60 s, then the learned demo failed).
    images = tuple(camera_topics(topic)[0] for _, topic in refs)
    return (
        NodeSpec(
            'store_layout', 'store_layout', 'layout',
            'Publishes the static store (floor, zones, shelves, lanes with their sku, camera '
            'frusta) as a latched MarkerArray.',
            publishes=(LAYOUT,), implemented=True, issue=2),
        *_camera_nodes(refs, camera_mode),
        NodeSpec(
            'loadcell_driver', 'loadcell_driver', 'drivers',
            'Reads the shelf load-cell hubs over serial; publishes raw counts and calibrated '
            'lane weights with a stale flag; tare/calibrate services.',
            publishes=(LOADCELL_RAW, WEIGHTS, DIAG), implemented=True, issue=4),
        NodeSpec(
            'distance_driver', 'distance_driver', 'drivers',
            'Reads the shelf-front distance sensors over serial; publishes sensor_msgs/Range.',
            publishes=(RANGES, DIAG), implemented=True, issue=4),
        NodeSpec(
            'shelf_events', 'shelf_events', 'events',
            'Turns lane weights into weight-change events and ranges into beam-break intervals.',
            publishes=(WEIGHT_EVENTS, BEAM_BREAKS), subscribes=(WEIGHTS, RANGES),
            implemented=True, issue=4),
        NodeSpec(
            'tracker', 'tracker', 'tracking',
            'Batched 2D pose over all cameras, cross-view association, triangulation and 3D '
            'tracking with persistent IDs.',
            publishes=(TRACKS, TRACK_MARKERS, DETECTIONS), subscribes=images,
            implemented=True, issue=5, uses_device=True),
        NodeSpec(
            'reach_detector', 'reach_detector', 'reach',
            'Detects wrists entering shelf lanes, confirmed by beam breaks.',
            publishes=(REACHES, REACH_MARKERS), subscribes=(TRACKS, BEAM_BREAKS),
            implemented=True, issue=6),
        NodeSpec(
            'cart_arbiter', 'cart_arbiter', 'arbiter',
            'Joins weight events with reaches into per-session carts by global assignment; '
            'unsure decisions go to review.',
            publishes=(CARTS, CART_UPDATES, CART_MARKERS, REVIEW),
            subscribes=(SESSIONS, TRACKS, REACHES, WEIGHT_EVENTS), implemented=True,
            issue=6),
        NodeSpec(
            'billing', 'billing', 'billing',
            'Binds entry scans to the tracks born in the entry zone (sessions, families), and '
            'issues one receipt per session when its last track leaves through the exit zone; '
            'persists sessions, carts, reviews and receipts in SQLite.',
            publishes=(SESSIONS, RECEIPTS, REVIEW),
            subscribes=(ENTRY, TRACKS, CARTS, CART_UPDATES, REVIEW), implemented=True,
            issue=7),
    )


def executables_file() -> Path:
    """The `executable module` list CMake reads to install `ros2 run` entry points."""
    return Path(__file__).with_name('executables.txt')


def read_executables() -> dict[str, str]:
    """executable name -> Python module whose ``main()`` runs the node."""
    table: dict[str, str] = {}
    for raw in executables_file().read_text(encoding='utf-8').splitlines():
        line = raw.strip()
        if line and not line.startswith('#'):
            exe, module = line.split()
            table[exe] = module
    return table


def node(graph: Iterable[NodeSpec], name: str) -> NodeSpec:
    """The node called ``name``; KeyError if the graph has none."""
    for spec in graph:
        if spec.name == name:
            return spec
    raise KeyError(name)


def published_topics(graph: Iterable[NodeSpec]) -> dict[str, str]:
    """topic name -> message type, for everything the graph (or its external inputs) publishes."""
    topics = {t.name: t.type for t in EXTERNAL_TOPICS}
    for spec in graph:
        topics.update({t.name: t.type for t in spec.publishes})
    return topics


@dataclass(frozen=True)
class LaunchOptions:
    """The arguments both launchers accept (``ros2 launch ... name:=value`` / ``up --name``)."""

    store_config: str
    use_sim_time: bool = False
    camera_mode: str = 'shared'
    device: str = 'auto'
    namespace: str = ''
    log_level: str = 'info'
    respawn: bool = True


def graph_for_config(cfg: StoreConfig, camera_mode: str = 'shared') -> tuple[NodeSpec, ...]:
    """The graph of a loaded store config."""
    return build_graph(((cam.id, cam.topic) for cam in cfg.cameras), camera_mode)


def node_namespace(spec: NodeSpec, opts: LaunchOptions) -> str:
    """The node's namespace: its own (if any) below the launch namespace."""
    parts = [p.strip('/') for p in (opts.namespace, spec.namespace) if p.strip('/')]
    return '/' + '/'.join(parts) if parts else ''


def node_parameters(spec: NodeSpec, opts: LaunchOptions) -> dict[str, object]:
    """Parameters given on top of config/nodes.yaml: the launch arguments a node uses."""
    params: dict[str, object] = {'use_sim_time': opts.use_sim_time,
                                 'store_config': opts.store_config}
    if spec.uses_device:
        params['device'] = opts.device
    params.update(spec.parameters)
    return params
