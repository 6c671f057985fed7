"""launch/store.launch.py, checked structurally.

launch and launch_ros are not installable from PyPI, so this test gives the launch file minimal
stand-ins with the same constructor signatures, runs generate_launch_description(), resolves the
OpaqueFunction with a context that holds the default arguments, and checks the Node actions
against the graph table. The stand-ins are used on a full ROS 2 install too: there,
`ros2 launch smart_store store.launch.py` itself is the end-to-end check.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from smart_store.config import load_store_config
from smart_store.graph.table import graph_for_config

ROOT = Path(__file__).resolve().parents[2]


class _Recorder:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context: Any) -> str:
        return context.launch_configurations[self.name]


class _Context:
    def __init__(self, values: dict[str, str]) -> None:
        self.launch_configurations = values


def _stub_modules() -> dict[str, types.ModuleType]:
    launch = types.ModuleType('launch')
    launch.LaunchContext = _Context
    launch.LaunchDescription = list
    actions = types.ModuleType('launch.actions')
    actions.DeclareLaunchArgument = _Recorder
    actions.OpaqueFunction = _Recorder
    subs = types.ModuleType('launch.substitutions')
    subs.LaunchConfiguration = _LaunchConfiguration
    launch_ros = types.ModuleType('launch_ros')
    ros_actions = types.ModuleType('launch_ros.actions')
    ros_actions.Node = _Recorder
    return {'launch': launch, 'launch.actions': actions, 'launch.substitutions': subs,
            'launch_ros': launch_ros, 'launch_ros.actions': ros_actions}


@pytest.fixture()
def launch_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    # Stand-ins even on a full install: this is a structural check of what the file builds.
    for name, module in _stub_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location('store_launch', ROOT / 'launch/store.launch.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_description_matches_the_graph_table(launch_module: types.ModuleType) -> None:
    entities = launch_module.generate_launch_description()
    declared = {e.args[0]: e.kwargs['default_value']
                for e in entities if isinstance(e, _Recorder) and 'default_value' in e.kwargs}
    assert set(declared) == {'config', 'use_sim_time', 'device', 'namespace', 'log_level',
                             'respawn', 'camera_mode'}
    opaque = [e for e in entities if isinstance(e, _Recorder) and 'function' in e.kwargs]
    assert len(opaque) == 1
    values = dict(declared, use_sim_time='true', device='cpu', namespace='store1',
                  respawn='false', camera_mode='per_camera')
    nodes = opaque[0].kwargs['function'](_Context(values))

    cfg = load_store_config(values['config'])
    graph = graph_for_config(cfg, 'per_camera')
    assert sum(s.executable == 'camera_driver' for s in graph) == len(cfg.cameras)
    assert [n.kwargs['name'] for n in nodes] == [s.name for s in graph]
    for node, spec in zip(nodes, graph, strict=True):
        kw = node.kwargs
        assert kw['package'] == 'smart_store'
        assert kw['executable'] == spec.executable
        assert kw['namespace'] == '/store1' + (f'/{spec.namespace.strip("/")}'
                                               if spec.namespace else '')
        assert kw['respawn'] is False
        params_file, overrides = kw['parameters']
        assert Path(params_file).name == 'nodes.yaml' and Path(params_file).exists()
        assert overrides['use_sim_time'] is True
        assert overrides['store_config'] == values['config']
        assert ('device' in overrides) == spec.uses_device
        assert kw['remappings'] == list(spec.remappings)
        assert kw['arguments'] == ['--ros-args', '--log-level', 'info']


def test_bad_config_fails_with_one_line(launch_module: types.ModuleType,
                                        tmp_path: Path) -> None:
    from smart_store.config import ConfigError

    bad = tmp_path / 'store.yaml'
    bad.write_text('store: {}\n')
    entities = launch_module.generate_launch_description()
    opaque = next(e for e in entities if 'function' in e.kwargs)
    values = {'config': str(bad), 'use_sim_time': 'false', 'device': 'auto', 'namespace': '',
              'log_level': 'info', 'respawn': 'true', 'camera_mode': 'shared'}
    with pytest.raises(ConfigError) as err:
        opaque.kwargs['function'](_Context(values))
    assert str(err.value).startswith(str(bad)) and '\n' not in str(err.value)
