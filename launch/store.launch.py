"""Launch the whole smart_store graph on a full ROS 2 install.

    ros2 launch smart_store store.launch.py use_sim_time:=true
    ros2 launch smart_store store.launch.py config:=/path/store.yaml device:=cuda respawn:=false

The nodes, their parameters, remappings and respawn policy come from smart_store/graph/table.py,
the same table `./smart-store up` reads on pip installs.
"""

from __future__ import annotations

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchContext, LaunchDescription
from smart_store.config import load_store_config
from smart_store.graph.table import (
    LaunchOptions,
    graph_for_config,
    node_namespace,
    node_parameters,
)
from smart_store.resources import default_store_config, node_params_file

ARGUMENTS = (
    ('config', str(default_store_config()), 'store config YAML'),
    ('use_sim_time', 'false', 'follow /clock (bag replay, twin)'),
    ('device', 'auto', 'torch device for the tracker: auto, cpu or cuda'),
    ('namespace', '', 'namespace for every node'),
    ('log_level', 'info', 'log level: debug, info, warn, error or fatal'),
    ('respawn', 'true', 'restart nodes that die'),
    ('camera_mode', 'shared', 'camera capture: shared (one process) or per_camera'),
)


def _truthy(text: str) -> bool:
    return text.strip().lower() in ('1', 'true', 'yes', 'on')


def _nodes(context: LaunchContext) -> list[Node]:
    """Resolve the arguments, load the store config and build one Node per table row."""
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    opts = LaunchOptions(
        store_config=arg('config'), use_sim_time=_truthy(arg('use_sim_time')),
        device=arg('device'), namespace=arg('namespace'), log_level=arg('log_level'),
        respawn=_truthy(arg('respawn')), camera_mode=arg('camera_mode'))
    # A bad config fails here with one line (file, key, problem) instead of once per node.
    cfg = load_store_config(opts.store_config)
    graph = graph_for_config(cfg, opts.camera_mode)
    return [
        Node(
            package='smart_store',
            executable=spec.executable,
            name=spec.name,
            namespace=node_namespace(spec, opts),
            parameters=[str(node_params_file()), node_parameters(spec, opts)],
            remappings=list(spec.remappings),
            respawn=opts.respawn and spec.respawn,
            respawn_delay=spec.respawn_delay,
            arguments=['--ros-args', '--log-level', opts.log_level],
            output='screen',
            emulate_tty=True,
        )
        for spec in graph
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=description)
          for name, default, description in ARGUMENTS),
        OpaqueFunction(function=_nodes),
    ])
