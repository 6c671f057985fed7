"""``./smart-store up``: start the node graph as separate processes (pip installs).

On a full ROS 2 install the same graph starts with ``ros2 launch smart_store store.launch.py``;
both read smart_store/graph/table.py. Here each node is ``python -m <module> --ros-args ...``
under the supervisor (respawn, Ctrl-C, output prefixed with the node's name).

Per-node parameters on top of the table's: ``--param NODE:NAME:=VALUE`` (repeatable; VALUE is
YAML, as with ``ros2 run ... -p``), or ``extra_params`` of ``process_specs`` / ``node_argv``.

``--twin SCENARIO`` runs the digital twin live beside the graph (smart_store/twin/live.py): a
``twin`` process feeds the shelf hubs' pseudo-terminals (``<twin-dir>/ptys/<hub>``), which the
load-cell and distance drivers read through their ``port_overrides`` parameter, serves every
camera as an MJPEG-over-HTTP stream (``http://127.0.0.1:<port>/<camera id>``, a network camera)
that the camera driver reads through its ``sources`` parameter, and publishes the entry scans.
So all three drivers run in the graph, on the twin's devices. Everything is stamped on the wall
clock, as in the store (no ``/clock``; ``live.json`` gives the wall time of sim time 0).
``--twin-cameras topics`` has the twin publish the images and CameraInfo itself and leaves the
camera driver out (cheaper: no JPEG encode and decode); ``--no-images`` has no cameras at
all. The scenario starts once the graph's nodes are up and
the drivers have opened the links, and ``up`` ends when it does (or at ``--duration`` /
Ctrl-C); ground truth is written to ``<twin-dir>/truth``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

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
    p.add_argument('--param', action='append', default=[], metavar='NODE:NAME:=VALUE',
                   help='an extra parameter for one node (VALUE is YAML; repeatable)')
    twin = p.add_argument_group('live twin (--twin)')
    twin.add_argument('--twin', metavar='SCENARIO', default=None,
                      help='run the digital twin live on this scenario (library name or YAML) '
                      'in place of the store\'s cameras, shelf hubs and entry gate '
                      '(wall-clock time)')
    twin.add_argument('--twin-dir', type=Path, default=Path('out/live'),
                      help='hub links, ground truth and live.json (default: out/live)')
    twin.add_argument('--no-images', action='store_true',
                      help='twin without cameras (shelves and entry scans only)')
    twin.add_argument('--twin-cameras', choices=('driver', 'topics'), default='driver',
                      help='driver (default): the twin serves MJPEG streams that camera_driver '
                      'reads; topics: the twin publishes the images itself, no camera_driver')
    twin.add_argument('--stream-port', type=int, default=0, metavar='PORT',
                      help='TCP port of the twin\'s camera streams (default: a free one)')
    twin.add_argument('--resolution', default=None, metavar='WxH',
                      help='twin camera render size, e.g. 320x240')
    twin.add_argument('--fps', type=float, default=None, help='twin camera frame rate')
    twin.add_argument('--twin-end', type=float, default=None, metavar='S',
                      help='stop the scenario at this sim time (default: its duration)')
    twin.add_argument('--link-fault', action='append', default=[], metavar='KIND:HUB:START[:N]',
                      help='hub link fault: unplug|stall:HUB:START:SECONDS, '
                      'garbage:HUB:START:BYTES (repeatable)')
    p.set_defaults(run=run)


def _param_arg(name: str, value: object) -> str:
    # rcl parses -p values as YAML; JSON scalars are valid YAML and quote strings safely.
    return f'{name}:={json.dumps(value)}'


def node_argv(spec: NodeSpec, opts: LaunchOptions, python: str = sys.executable,
              extra_params: Mapping[str, object] | None = None) -> list[str]:
    """Command line that runs one node the way ``launch_ros.actions.Node`` would.

    ``extra_params`` replace the launch arguments' and the table's values of the same name (and,
    given with ``-p``, win over config/nodes.yaml).
    """
    module = read_executables()[spec.executable]
    argv = [python, '-m', module, '--ros-args', '-r', f'__node:={spec.name}']
    namespace = node_namespace(spec, opts)
    if namespace:
        argv += ['-r', f'__ns:={namespace}']
    argv += ['--params-file', str(node_params_file())]
    params = node_parameters(spec, opts)
    params.update(extra_params or {})
    for name, value in params.items():
        argv += ['-p', _param_arg(name, value)]
    for src, dst in spec.remappings:
        argv += ['-r', f'{src}:={dst}']
    argv += ['--log-level', opts.log_level]
    return argv


def process_specs(graph: Sequence[NodeSpec], opts: LaunchOptions,
                  env: dict[str, str] | None = None,
                  extra_params: Mapping[str, Mapping[str, object]] | None = None
                  ) -> list[ProcessSpec]:
    """One supervised process per node; ``extra_params`` maps node name -> parameters."""
    extra = extra_params or {}
    return [ProcessSpec(spec.name, tuple(node_argv(spec, opts, extra_params=extra.get(spec.name))),
                        env=env, respawn=opts.respawn and spec.respawn,
                        respawn_delay=spec.respawn_delay)
            for spec in graph]


def parse_param(text: str) -> tuple[str, str, object]:
    """``NODE:NAME:=VALUE`` -> (node, name, value parsed as YAML); ValueError if malformed."""
    node, sep, rest = text.partition(':')
    name, sep2, raw = rest.partition(':=')
    if not (sep and sep2 and node and name):
        raise ValueError(f'--param {text!r}: expected NODE:NAME:=VALUE')
    try:
        value = yaml.safe_load(raw) if raw.strip() else ''
    except yaml.YAMLError as err:
        raise ValueError(f'--param {text!r}: VALUE is not YAML ({err})') from None
    return node, name, value


#: Name of the live twin's process under the supervisor.
TWIN_PROCESS = 'twin'
#: The camera driver: it reads the twin's streams, or the twin replaces it (``topics``).
CAMERA_EXECUTABLE = 'camera_driver'
#: Where the twin serves its camera streams.
STREAM_HOST = '127.0.0.1'


def twin_argv(args: argparse.Namespace, config_path: Path, wait_for: Sequence[str],
              wait_links: Sequence[str] = (), python: str = sys.executable) -> list[str]:
    """Command line of the live twin process (smart_store/twin/live.py).

    The twin starts the scenario once the ``wait_for`` nodes are up and the ``wait_links`` hub
    links have a reader, and holds its links after the run until ``up`` has stopped the graph.
    """
    argv = [python, '-m', 'smart_store.twin.live', args.twin, '--config', str(config_path),
            '--run-dir', str(args.twin_dir.resolve()), '--hold']
    if args.no_images:
        argv.append('--no-images')
    elif args.twin_cameras == 'driver':
        argv += ['--camera-streams', '--stream-port', str(args.stream_port)]
    if args.resolution:
        argv += ['--resolution', args.resolution]
    if args.fps is not None:
        argv += ['--fps', str(args.fps)]
    if args.twin_end is not None:
        argv += ['--end', str(args.twin_end)]
    for fault in args.link_fault:
        argv += ['--link-fault', fault]
    if wait_for:
        argv += ['--wait-for', *wait_for]
    if wait_links:
        argv += ['--wait-links', *wait_links]
    return argv


def twin_params(cfg: Any, twin_dir: Path, stream_port: int | None = None,
                camera_nodes: Sequence[str] = ()) -> dict[str, dict[str, object]]:
    """The drivers' ``port_overrides`` that point them at the twin's hub links, and (with a
    ``stream_port``) the ``sources`` that point the ``camera_nodes`` at its camera streams."""
    from smart_store.twin.live import port_overrides  # noqa: PLC0415

    params: dict[str, dict[str, object]] = {
        'loadcell_driver': {'port_overrides': port_overrides(cfg, twin_dir, 'load_cell')},
        'distance_driver': {'port_overrides': port_overrides(cfg, twin_dir, 'distance')}}
    if stream_port is not None:
        sources = [f'{cam.id}=http://{STREAM_HOST}:{stream_port}/{cam.id}'
                   for cam in cfg.cameras]
        for name in camera_nodes:
            params[name] = {'sources': sources}
    return params


def free_port(host: str = '127.0.0.1') -> int:
    """A TCP port nobody listens on now (the twin binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _twin_config(args: argparse.Namespace) -> Path | None:
    """The store config the twin's scenario names (None: the default), checking the scenario."""
    from smart_store.twin.scenario import load_scenario  # noqa: PLC0415

    scenario = load_scenario(args.twin)
    return Path(scenario.store_config) if scenario.store_config else None


def _stop_when_finished(supervisor: Supervisor, name: str, marker: Path,
                        done: threading.Event) -> None:
    """Stop the whole graph once the twin's run is over: it wrote ``marker`` (and holds its
    links until stopped, so the drivers never see them vanish) or process ``name`` exited."""
    while not done.wait(0.2):
        if marker.exists() or supervisor.status().get(name, '').startswith('exited'):
            supervisor.stop()
            return


def run(args: argparse.Namespace) -> int:
    from smart_store.twin.errors import ScenarioError  # noqa: PLC0415

    twin_only = [flag for flag, given in (
        ('--no-images', args.no_images), ('--resolution', args.resolution),
        ('--fps', args.fps is not None), ('--twin-end', args.twin_end is not None),
        ('--link-fault', args.link_fault), ('--twin-cameras', args.twin_cameras != 'driver'),
        ('--stream-port', args.stream_port != 0)) if given]
    if twin_only and not args.twin:
        print(f'smart-store up: {", ".join(twin_only)} only apply with --twin', file=sys.stderr)
        return 2
    twin_config = None
    if args.twin:
        try:
            twin_config = _twin_config(args)
        except ScenarioError as err:
            print(f'smart-store up: {err}', file=sys.stderr)
            return 2
    config_path = (Path(args.config) if args.config
                   else twin_config or default_store_config())
    cfg = load_store_config(config_path)  # fail here, once, rather than in every node
    graph = graph_for_config(cfg, args.camera_mode)
    if args.only:
        unknown = sorted(set(args.only) - {spec.name for spec in graph})
        if unknown:
            print(f'smart-store up: unknown node(s) {", ".join(unknown)}; the graph has '
                  f'{", ".join(spec.name for spec in graph)}', file=sys.stderr)
            return 2
        graph = tuple(spec for spec in graph if spec.name in args.only)
    extra: dict[str, dict[str, object]] = {}
    if args.twin and args.use_sim_time:
        print('smart-store up: --twin runs on wall-clock time (no /clock); drop --use-sim-time',
              file=sys.stderr)
        return 2
    if args.twin:
        cameras = [s.name for s in graph if s.executable == CAMERA_EXECUTABLE]
        if not cameras and not args.no_images and args.twin_cameras == 'driver':
            # --only without the camera driver: nobody would read the streams
            print('[up] no camera driver in --only: the twin publishes the camera topics itself',
                  flush=True)
            args.twin_cameras = 'topics'
        streams = not args.no_images and args.twin_cameras == 'driver'
        if args.only and cameras and not streams:
            why = 'has no cameras' if args.no_images else 'publishes the camera topics itself'
            print(f'smart-store up: --twin {why}; drop {", ".join(cameras)} from --only',
                  file=sys.stderr)
            return 2
        if not 0 <= args.stream_port <= 65535:
            print(f'smart-store up: --stream-port {args.stream_port}: not a TCP port',
                  file=sys.stderr)
            return 2
        if streams:
            if not args.stream_port:
                args.stream_port = free_port(STREAM_HOST)
            extra = twin_params(cfg, args.twin_dir, args.stream_port, cameras)
        else:
            graph = tuple(s for s in graph if s.executable != CAMERA_EXECUTABLE)
            extra = twin_params(cfg, args.twin_dir)
    try:
        for text in args.param:
            node_name, name, value = parse_param(text)
            if node_name not in {s.name for s in graph}:
                raise ValueError(f'--param {text!r}: no node {node_name!r} in the graph')
            extra.setdefault(node_name, {})[name] = value
    except ValueError as err:
        print(f'smart-store up: {err}', file=sys.stderr)
        return 2
    opts = LaunchOptions(store_config=str(config_path.resolve()),
                         use_sim_time=args.use_sim_time, device=args.device,
                         camera_mode=args.camera_mode,
                         namespace=args.namespace, log_level=args.log_level,
                         respawn=not args.no_respawn)
    env = {'ROS_DOMAIN_ID': str(args.domain_id)} if args.domain_id is not None else None
    specs = process_specs(graph, opts, env, extra)
    if args.twin:
        names = [s.name for s in graph]
        kinds = {'loadcell_driver': 'load_cell', 'distance_driver': 'distance'}
        read = {kinds[n] for n in names if n in kinds}
        links = [h.id for h in cfg.hubs if h.kind in read]
        argv = twin_argv(args, config_path.resolve(), names, links)
        # first, so that its hub links exist as early as possible
        specs.insert(0, ProcessSpec(TWIN_PROCESS, tuple(argv), env=env, respawn=False))
        (args.twin_dir / 'done').unlink(missing_ok=True)
    print(f'[up] starting {len(graph)} node(s): {", ".join(s.name for s in graph)} '
          f'(domain {os.environ.get("ROS_DOMAIN_ID", "0") if env is None else args.domain_id}; '
          'Ctrl-C stops)', flush=True)
    if args.twin:
        print(f'[up] live twin: {args.twin} (wall-clock time; hub links, truth and live.json in '
              f'{args.twin_dir}); the run ends with the scenario', flush=True)
        if not args.no_images and args.twin_cameras == 'driver':
            print(f'[up] twin cameras: MJPEG streams on http://{STREAM_HOST}:{args.stream_port}/'
                  '<camera id>, read by the camera driver', flush=True)
    supervisor = Supervisor(specs)
    if not args.twin:
        return supervisor.run(duration=args.duration)
    done = threading.Event()
    watcher = threading.Thread(target=_stop_when_finished,
                               args=(supervisor, TWIN_PROCESS, args.twin_dir / 'done', done),
                               daemon=True)
    watcher.start()
    try:
        return supervisor.run(duration=args.duration)
    finally:
        done.set()
