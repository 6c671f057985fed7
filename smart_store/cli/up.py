"""``./smart-store up``: start the node graph as separate processes (pip installs).

On a full ROS 2 install the same graph starts with ``ros2 launch smart_store store.launch.py``;
both read smart_store/graph/table.py. Here each node is ``python -m <module> --ros-args ...``
under the supervisor (respawn, Ctrl-C, output prefixed with the node's name).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smart_store.config import load_store_config
from smart_store.graph.supervisor import ProcessSpec, Supervisor
from smart_store.graph.table import (
    LaunchOptions,
    NodeSpec,
    graph_for_config,
    node_namespace,
    node_parameters,
    read_executables,
)
from smart_store.resources import default_store_config, node_params_file

LOG_LEVELS = ('debug', 'info', 'warn', 'error', 'fatal')


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='start the whole node graph as separate processes')
    p.add_argument('--config', default=None, help='store config YAML (default: demo store)')
    p.add_argument('--use-sim-time', action='store_true', help='follow /clock (bag replay, twin)')
    p.add_argument('--device', default='auto', help='torch device for the tracker: auto|cpu|cuda')
    p.add_argument('--namespace', default='', help='ROS namespace for every node')
    p.add_argument('--camera-mode', choices=('shared', 'per_camera'), default='shared',
                   help='one capture process for all cameras, or one node per camera')
    p.add_argument('--log-level', default='info', choices=LOG_LEVELS)
    p.add_argument('--no-respawn', action='store_true', help='do not restart nodes that die')
    p.add_argument('--only', nargs='+', metavar='NODE', help='start only these nodes')
    p.add_argument('--duration', type=float, default=None,
                   help='stop after this many seconds (default: until Ctrl-C)')
    p.add_argument('--domain-id', type=int, default=None,
                   help='ROS_DOMAIN_ID for the graph (default: inherited)')
    p.set_defaults(run=run)


def _param_arg(name: str, value: object) -> str:
    # rcl parses -p values as YAML; JSON scalars are valid YAML and quote strings safely.
    return f'{name}:={json.dumps(value)}'


def node_argv(spec: NodeSpec, opts: LaunchOptions, python: str = sys.executable) -> list[str]:
    """Command line that runs one node the way ``launch_ros.actions.Node`` would."""
    module = read_executables()[spec.executable]
    argv = [python, '-m', module, '--ros-args', '-r', f'__node:={spec.name}']
    namespace = node_namespace(spec, opts)
    if namespace:
        argv += ['-r', f'__ns:={namespace}']
    argv += ['--params-file', str(node_params_file())]
    for name, value in node_parameters(spec, opts).items():
        argv += ['-p', _param_arg(name, value)]
    for src, dst in spec.remappings:
        argv += ['-r', f'{src}:={dst}']
    argv += ['--log-level', opts.log_level]
    return argv


def process_specs(graph: Sequence[NodeSpec], opts: LaunchOptions,
                  env: dict[str, str] | None = None) -> list[ProcessSpec]:
    return [ProcessSpec(spec.name, tuple(node_argv(spec, opts)), env=env,
                        respawn=opts.respawn and spec.respawn, respawn_delay=spec.respawn_delay)
            for spec in graph]


def run(args: argparse.Namespace) -> int:
    config_path = Path(args.config) if args.config else default_store_config()
    cfg = load_store_config(config_path)  # fail here, once, rather than in every node
    graph = graph_for_config(cfg, args.camera_mode)
    if args.only:
        unknown = sorted(set(args.only) - {spec.name for spec in graph})
        if unknown:
            print(f'smart-store up: unknown node(s) {", ".join(unknown)}; the graph has '
                  f'{", ".join(spec.name for spec in graph)}', file=sys.stderr)
            return 2
        graph = tuple(spec for spec in graph if spec.name in args.only)
    opts = LaunchOptions(store_config=str(config_path.resolve()),
                         use_sim_time=args.use_sim_time, device=args.device,
                         camera_mode=args.camera_mode,
                         namespace=args.namespace, log_level=args.log_level,
                         respawn=not args.no_respawn)
    env = {'ROS_DOMAIN_ID': str(args.domain_id)} if args.domain_id is not None else None
    print(f'[up] starting {len(graph)} node(s): {", ".join(s.name for s in graph)} '
          f'(domain {os.environ.get("ROS_DOMAIN_ID", "0") if env is None else args.domain_id}; '
          'Ctrl-C stops)', flush=True)
    supervisor = Supervisor(process_specs(graph, opts, env))
    return supervisor.run(duration=args.duration)
