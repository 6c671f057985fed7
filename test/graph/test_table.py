"""The node-graph table: consistent with CMake's executables, the node modules and RViz."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml

from smart_store.graph.table import (
    ABLATION_EXECUTABLES,
    EXTERNAL_TOPICS,
    LaunchOptions,
    build_graph,
    graph_for_config,
    node_namespace,
    node_parameters,
    published_topics,
    read_executables,
)

ROOT = Path(__file__).resolve().parents[2]
GRAPH = build_graph(['/cameras/cam_a/image_raw', '/cameras/cam_b/image_raw'])

# RViz display classes and the message types they take.
RVIZ_TYPES = {
    'rviz_default_plugins/MarkerArray': 'visualization_msgs/msg/MarkerArray',
    'rviz_default_plugins/Marker': 'visualization_msgs/msg/Marker',
    'rviz_default_plugins/Image': 'sensor_msgs/msg/Image',
    'rviz_default_plugins/Camera': 'sensor_msgs/msg/Image',
    'rviz_default_plugins/Range': 'sensor_msgs/msg/Range',
}


def test_every_node_has_an_installed_executable_and_a_main() -> None:
    exes = read_executables()
    assert {spec.executable for spec in GRAPH} | set(ABLATION_EXECUTABLES) == set(exes)
    for spec in GRAPH:
        module = importlib.import_module(exes[spec.executable])
        assert callable(module.main), spec.name


def test_cmake_reads_the_same_executables_file() -> None:
    cmake = (ROOT / 'CMakeLists.txt').read_text()
    assert 'smart_store/graph/executables.txt' in cmake
    pattern = re.search(r'REGEX "(.+?)"\)', cmake).group(1).replace('\\\\', '\\')
    lines = [ln for ln in (ROOT / 'smart_store/graph/executables.txt').read_text().splitlines()
             if ln and not ln.startswith('#')]
    assert lines and all(re.fullmatch(pattern, ln) for ln in lines)


def test_node_names_and_topics_are_unique_and_typed() -> None:
    names = [spec.name for spec in GRAPH]
    assert len(names) == len(set(names))
    seen: dict[str, str] = {}
    for spec in GRAPH:
        for topic in (*spec.publishes, *spec.subscribes):
            assert topic.name.startswith('/')
            assert re.fullmatch(r'[a-z_]+/msg/[A-Za-z0-9]+', topic.type), topic
            assert seen.setdefault(topic.name, topic.type) == topic.type, topic.name


def test_every_subscription_has_a_publisher() -> None:
    published = published_topics(GRAPH)
    for spec in GRAPH:
        for topic in spec.subscribes:
            assert topic.name in published, f'{spec.name} subscribes to unpublished {topic.name}'


def test_camera_topics_follow_the_config() -> None:
    driver = next(s for s in GRAPH if s.name == 'camera_driver')
    assert {t.name for t in driver.publishes} >= {
        '/cameras/cam_a/image_raw', '/cameras/cam_a/camera_info',
        '/cameras/cam_b/image_raw', '/cameras/cam_b/camera_info'}


def test_launch_arguments_become_parameters() -> None:
    opts = LaunchOptions(store_config='/x.yaml', use_sim_time=True, device='cuda')
    tracker = next(s for s in GRAPH if s.name == 'tracker')
    layout = next(s for s in GRAPH if s.name == 'store_layout')
    assert node_parameters(tracker, opts) == {
        'use_sim_time': True, 'store_config': '/x.yaml', 'device': 'cuda'}
    assert 'device' not in node_parameters(layout, opts)


def test_rviz_topics_are_published_by_the_graph_with_matching_types(root: Path) -> None:
    from smart_store.config import load_store_config

    cfg = load_store_config(root / 'config' / 'demo_store.yaml')
    graph = graph_for_config(cfg)
    published = published_topics(graph)
    rviz = yaml.safe_load((root / 'rviz' / 'store.rviz').read_text())
    manager = rviz['Visualization Manager']
    assert manager['Global Options']['Fixed Frame'] == cfg.frame_id
    displays = [d for d in manager['Displays'] if 'Topic' in d]
    assert len(displays) >= 5
    kinds = set()
    for display in displays:
        topic = display['Topic']['Value']
        assert display['Class'] in RVIZ_TYPES, display['Class']
        assert topic in published, f'RViz shows {topic}, which nothing in the graph publishes'
        assert published[topic] == RVIZ_TYPES[display['Class']], topic
        kinds.add(display['Class'])
        spec = next((t for s in graph for t in s.publishes if t.name == topic), None)
        if spec is not None and spec.qos == 'latched':
            assert display['Topic']['Durability Policy'] == 'Transient Local', topic
    assert 'rviz_default_plugins/Image' in kinds


def test_external_topics_are_sensor_level_inputs() -> None:
    assert {t.name for t in EXTERNAL_TOPICS} == {'/entry/events', '/clock'}


def test_readme_shows_the_real_graph() -> None:
    from smart_store.graph.docs import update_markdown

    readme = (ROOT / 'README.md').read_text()
    assert update_markdown(readme) == readme, 'run ./smart-store graph --update README.md'


def test_per_camera_mode_gives_one_namespaced_driver_per_camera() -> None:
    graph = build_graph([('cam_a', '/cameras/cam_a/image_raw'), ('b', '/other/b_image')],
                        camera_mode='per_camera')
    drivers = [s for s in graph if s.executable == 'camera_driver']
    assert [d.name for d in drivers] == ['camera_cam_a', 'camera_b']
    a, b = drivers
    assert a.namespace == '/cameras/cam_a' and a.parameters == {
        'cameras': ['cam_a'], 'relative_topics': True}
    assert b.namespace == '' and b.parameters['relative_topics'] is False
    opts = LaunchOptions(store_config='x', namespace='shop')
    assert node_namespace(a, opts) == '/shop/cameras/cam_a'
    assert node_namespace(b, opts) == '/shop'
    published = published_topics(graph)
    assert published['/cameras/cam_a/image_raw'] == 'sensor_msgs/msg/Image'
    assert published['/other/camera_info'] == 'sensor_msgs/msg/CameraInfo'
