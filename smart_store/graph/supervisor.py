"""A small process supervisor: the engine behind ``./smart-store up`` on pip installs.

``launch_ros`` is not available when the stack is installed with pip, so the node graph is
started as plain OS processes, one per node, by :class:`Supervisor`.  This module is pure
Python (no ``rclpy``) and POSIX only.

What it does:

* every child runs in its own session / process group (``start_new_session=True``), so a
  Ctrl-C at the terminal reaches only the supervisor, which then forwards ``SIGINT`` to each
  child's whole group and waits; after ``shutdown_timeout`` it sends ``SIGTERM``, then
  ``SIGKILL``.  A second Ctrl-C (or ``SIGTERM``/``SIGHUP``) skips straight to ``SIGKILL``;
* stdout and stderr of each child are merged and re-emitted line by line on ``out``, each line
  prefixed with ``[name]`` (padded so the columns line up, ANSI-coloured per name on a tty).
  One lock guards the writes, so lines of different children never interleave mid-line;
* children with ``respawn=True`` are restarted ``respawn_delay`` seconds after they exit
  (whatever the cause, ``kill -9`` included), at most ``max_respawns`` times;
* when a child exits, whatever it left behind in its process group (grandchildren) is killed,
  and :meth:`Supervisor.stop` kills every group it started: no orphans are left, except for
  descendants that deliberately left the group (``setsid``) and children of a supervisor
  that was itself killed with ``SIGKILL``.

Example::

    specs = [
        ProcessSpec("tracker", ("python3", "-m", "smart_store.tracking.node"), respawn=True),
        ProcessSpec("billing", ("python3", "-m", "smart_store.billing.node")),
    ]
    sys.exit(Supervisor(specs).run())
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, TextIO

__all__ = ["ProcessSpec", "Supervisor"]

#: Name used to prefix the supervisor's own log lines.
SUPERVISOR_NAME = "supervisor"

#: Exit code recorded for a child whose executable does not exist (shell convention).
RC_NOT_FOUND = 127
#: Exit code recorded for a child that could not be started for another reason.
RC_CANNOT_EXECUTE = 126

_POLL_S = 0.05  # main loop period: how quickly exits are noticed
_WAIT_POLL_S = 0.02  # period while waiting for process groups to disappear during stop()
_TERM_GRACE_MAX_S = 2.0  # wait after SIGTERM (never longer than shutdown_timeout)
_KILL_GRACE_S = 2.0  # wait after SIGKILL for the kernel to tear the groups down
_READER_JOIN_S = 1.0  # wait for the output of a finished child to be drained

# ANSI SGR colours cycled over the children (no red: it reads as an error).
_PALETTE = ("36", "32", "33", "35", "34", "96", "92", "93", "95", "94")
_SUPERVISOR_SGR = "1"  # bold
_RESET = "\x1b[0m"

_PENDING = "pending"
_RUNNING = "running"
_RESPAWNING = "respawning"
_EXITED = "exited"


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one node of the graph.

    Attributes:
        name: Unique name, used as the output prefix (``[tracker]``) and in :class:`Supervisor`
            look-ups.
        argv: Full command line; ``argv[0]`` is looked up on ``PATH``.  A list is accepted and
            stored as a tuple.
        env: Extra environment variables merged over ``os.environ`` (they also override the
            ``PYTHONUNBUFFERED=1`` the supervisor sets for every child).
        respawn: Restart the process whenever it exits, for whatever reason.
        respawn_delay: Seconds between the exit and the restart.
        max_respawns: Maximum number of restarts; ``None`` means unlimited.
    """

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = field(default=None, hash=False)
    respawn: bool = False
    respawn_delay: float = 1.0
    max_respawns: int | None = None

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "[]\n\r"):
            raise ValueError(f"invalid process name {self.name!r}")
        if self.name == SUPERVISOR_NAME:
            raise ValueError(f"process name {SUPERVISOR_NAME!r} is reserved")
        if isinstance(self.argv, str):
            raise TypeError(f"{self.name}: argv must be a sequence of strings, not a string")
        argv = tuple(str(a) for a in self.argv)
        if not argv:
            raise ValueError(f"{self.name}: argv is empty")
        object.__setattr__(self, "argv", argv)
        if self.env is not None:
            env = {str(k): str(v) for k, v in self.env.items()}
            object.__setattr__(self, "env", types.MappingProxyType(env))
        if self.respawn_delay < 0:
            raise ValueError(f"{self.name}: respawn_delay must be >= 0")
        if self.max_respawns is not None and self.max_respawns < 0:
            raise ValueError(f"{self.name}: max_respawns must be >= 0 or None")


@dataclass
class _Child:
    """Mutable run-time state of one :class:`ProcessSpec` (guarded by ``Supervisor._lock``)."""

    spec: ProcessSpec
    prefix: str
    state: str = _PENDING
    proc: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None
    returncode: int | None = None
    restarts: int = 0
    respawn_at: float = 0.0
    started_at: float = 0.0  # monotonic time the current process was started
    failed: bool = False  # ended with a non-zero code and will not run again


def _describe_rc(rc: int) -> str:
    """Human form of a :class:`subprocess.Popen` return code: ``code 1`` or ``signal 9``."""
    return f"signal {-rc}" if rc < 0 else f"code {rc}"


class Supervisor:
    """Start, watch, respawn and stop a set of processes (see the module docstring).

    Typical use is ``sys.exit(Supervisor(specs).run())``.  :meth:`start`, :meth:`stop` and the
    query methods may also be used directly, and the query methods are safe to call from
    another thread while :meth:`run` is blocking.

    Args:
        specs: The processes; names must be unique.
        out: Where the prefixed output goes; ``None`` means ``sys.stdout`` (looked up when the
            supervisor is created, so ``contextlib.redirect_stdout`` works).
        color: ANSI-colour the prefixes; ``None`` means "if ``out`` is a tty and ``NO_COLOR``
            is not set".
        shutdown_timeout: Seconds :meth:`stop` waits after ``SIGINT`` before escalating to
            ``SIGTERM`` (then waits ``min(2, shutdown_timeout)`` more before ``SIGKILL``).
    """

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        out: TextIO | None = None,
        color: bool | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        names = [s.name for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate process names: {', '.join(duplicates)}")
        if shutdown_timeout < 0:
            raise ValueError("shutdown_timeout must be >= 0")
        self._out: TextIO = sys.stdout if out is None else out
        self._color = _want_color(self._out) if color is None else color
        self.shutdown_timeout = float(shutdown_timeout)

        width = max(len(n) for n in [*names, SUPERVISOR_NAME]) + 2
        self._children: dict[str, _Child] = {}
        for i, spec in enumerate(specs):
            prefix = self._make_prefix(spec.name, width, _PALETTE[i % len(_PALETTE)])
            self._children[spec.name] = _Child(spec=spec, prefix=prefix)
        self._log_prefix = self._make_prefix(SUPERVISOR_NAME, width, _SUPERVISOR_SGR)

        self._lock = threading.RLock()  # child states; may be held while writing
        self._write_lock = threading.Lock()  # one line at a time on `out`
        self._stop_lock = threading.Lock()  # one stop() at a time
        self._out_broken = False
        self._groups: set[int] = set()  # process groups that may still have members
        self._started = False
        self._stopping = False
        self._stopped = False
        # Plain flags, not threading.Event: they are set from signal handlers, and Event.set()
        # there can deadlock on the Event's internal lock held by the interrupted main thread.
        self._stop_requested = False  # first SIGINT/SIGTERM/SIGHUP
        self._kill_now = False  # second one: skip straight to SIGKILL
        self._signal_count = 0

    # ------------------------------------------------------------------ public API

    def start(self) -> None:
        """Start every process.  Raises :class:`RuntimeError` if called twice or after stop."""
        with self._lock:
            if self._started or self._stopping:
                raise RuntimeError("Supervisor.start() called twice or after stop()")
            self._started = True
            for child in self._children.values():
                self._spawn(child)

    def run(self, duration: float | None = None) -> int:
        """Start (if needed) and supervise until told to stop; always ends with :meth:`stop`.

        Blocks while pumping output and respawning children.  Returns when ``SIGINT``,
        ``SIGTERM`` or ``SIGHUP`` is received (signal handlers are installed only when called
        from the main thread, and restored on return), when ``duration`` seconds have passed,
        when :meth:`stop` is called from another thread, or when every process has ended and
        none will respawn.

        Returns:
            ``1`` if a process ended with a non-zero code (or could not be started) and will
            not run again, before shutdown began; ``0`` otherwise (clean shutdown, or every
            process exited 0).  Exit codes caused by the shutdown itself are not failures.
        """
        deadline = None if duration is None else time.monotonic() + duration
        previous = self._install_signal_handlers()
        try:
            if not self._started:
                self.start()
            while not self._stop_requested and not self._stopping:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                next_respawn = self._tick(now)
                if self._all_done():
                    break
                timeout = _POLL_S
                if next_respawn is not None:
                    timeout = min(timeout, max(0.0, next_respawn - now))
                if deadline is not None:
                    timeout = min(timeout, max(0.0, deadline - now))
                time.sleep(timeout)
        finally:
            try:
                self.stop()
            finally:
                self._restore_signal_handlers(previous)
        return 1 if any(c.failed for c in self._children.values()) else 0

    def stop(self) -> None:
        """Shut every process down and leave no process of their groups behind.

        Sends ``SIGINT`` to each live process group, waits up to ``shutdown_timeout``, then
        ``SIGTERM`` (waits up to ``min(2, shutdown_timeout)``), then ``SIGKILL``.  Pending
        respawns are cancelled.  Idempotent and thread-safe; a concurrent caller blocks until
        the first one has finished.
        """
        with self._stop_lock:
            if self._stopped:
                return
            with self._lock:
                self._stopping = True
                for child in self._children.values():
                    if child.state == _RESPAWNING:
                        child.state = _EXITED
            self._tick(time.monotonic())  # reap what already exited
            phases = (
                (signal.SIGINT, self.shutdown_timeout),
                (signal.SIGTERM, min(_TERM_GRACE_MAX_S, self.shutdown_timeout)),
                (signal.SIGKILL, _KILL_GRACE_S),
            )
            for sig, grace in phases:
                if self._kill_now and sig != signal.SIGKILL:
                    continue
                alive = self._live_groups()
                if not alive:
                    break
                self._announce_signal(sig, alive)
                for pgid in alive:
                    _killpg(pgid, sig)
                if self._wait_groups_gone(grace, interruptible=sig != signal.SIGKILL):
                    break
            else:
                left = self._live_groups()
                if left:
                    self._log(f"process groups {sorted(left)} did not go away after SIGKILL")
            self._tick(time.monotonic())
            for child in self._children.values():
                if child.reader is not None:
                    child.reader.join(_READER_JOIN_S)
            self._stopped = True

    def pid(self, name: str) -> int | None:
        """Pid of the running process ``name``, or ``None`` when it is not running.

        Raises:
            KeyError: ``name`` is not one of the specs.
        """
        with self._lock:
            child = self._children[name]
            if child.state == _RUNNING and child.proc is not None:
                return child.proc.pid
            return None

    def uptime(self, name: str) -> float | None:
        """Seconds the current process ``name`` has been running, or ``None`` when it is not
        running.  Raises :class:`KeyError` if unknown."""
        with self._lock:
            child = self._children[name]
            if child.state == _RUNNING and child.proc is not None:
                return max(0.0, time.monotonic() - child.started_at)
            return None

    def restarts(self, name: str) -> int:
        """How many times ``name`` has been respawned.  Raises :class:`KeyError` if unknown."""
        with self._lock:
            return self._children[name].restarts

    def status(self) -> dict[str, str]:
        """Map each name to ``pending``, ``running``, ``respawning`` or ``exited(rc)``.

        ``rc`` is the :class:`subprocess.Popen` return code (``-9`` for ``SIGKILL``); a process
        that could not be started reads ``exited(127)`` (not found) or ``exited(126)``.
        Reflects the last time the supervisor looked (at least every 50 ms inside
        :meth:`run`).
        """
        with self._lock:
            result: dict[str, str] = {}
            for name, child in self._children.items():
                if child.state == _EXITED:
                    result[name] = f"exited({child.returncode})"
                else:
                    result[name] = child.state
            return result

    # ------------------------------------------------------------------ processes

    def _spawn(self, child: _Child) -> None:
        """Start ``child`` (caller holds ``_lock``); a start failure is final."""
        spec = child.spec
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        if spec.env:
            env.update(spec.env)
        try:
            proc = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._log(f"cannot start {spec.name}: {reason}: {spec.argv[0]}")
            child.proc = None
            child.state = _EXITED
            child.returncode = (
                RC_NOT_FOUND if isinstance(exc, FileNotFoundError) else RC_CANNOT_EXECUTE
            )
            child.failed = not self._stopping
            return
        self._groups.add(proc.pid)
        child.proc = proc
        child.started_at = time.monotonic()
        child.state = _RUNNING
        child.returncode = None
        assert proc.stdout is not None
        child.reader = threading.Thread(
            target=self._pump,
            args=(child.prefix, proc.stdout),
            name=f"supervisor-out-{spec.name}",
            daemon=True,
        )
        child.reader.start()

    def _tick(self, now: float) -> float | None:
        """Reap exited children and start due respawns.

        Returns the monotonic time of the next pending respawn, if any.
        """
        next_respawn: float | None = None
        with self._lock:
            for child in self._children.values():
                if child.state == _RUNNING and child.proc is not None:
                    if not self._stopping and _exited_unreaped(child.proc.pid):
                        # Kill what the node left in its group (grandchildren) so respawns do
                        # not pile them up.  Done before reaping: the leader's zombie keeps the
                        # group id from being reused meanwhile.
                        _killpg(child.proc.pid, signal.SIGKILL)
                    rc = child.proc.poll()
                    if rc is not None:
                        self._on_exit(child, rc, now)
                if child.state == _RESPAWNING:
                    if self._stopping:
                        child.state = _EXITED
                    elif now >= child.respawn_at:
                        child.restarts += 1
                        self._spawn(child)
                    elif next_respawn is None or child.respawn_at < next_respawn:
                        next_respawn = child.respawn_at
            self._forget_empty_groups()
        return next_respawn

    def _on_exit(self, child: _Child, rc: int, now: float) -> None:
        """Handle the exit of ``child`` with return code ``rc`` (caller holds ``_lock``)."""
        spec = child.spec
        assert child.proc is not None
        child.returncode = rc
        if not self._stopping and not hasattr(os, "waitid"):
            # Done by _tick() before reaping where waitid() exists; elsewhere (macOS) this is
            # the only chance.
            _killpg(child.proc.pid, signal.SIGKILL)
        if child.reader is not None:
            child.reader.join(0.5 if not self._stopping else 0.0)  # its last lines first
        what = f"{spec.name} exited ({_describe_rc(rc)})"
        if self._stopping:
            child.state = _EXITED
            self._log(what)
        elif spec.respawn and (spec.max_respawns is None or child.restarts < spec.max_respawns):
            child.state = _RESPAWNING
            child.respawn_at = now + spec.respawn_delay
            self._log(
                f"{what}; respawning in {spec.respawn_delay:.1f} s (restart {child.restarts + 1})"
            )
        else:
            child.state = _EXITED
            child.failed = rc != 0
            if spec.respawn:
                self._log(f"{what}; not respawning (max_respawns={spec.max_respawns} reached)")
            else:
                self._log(what)

    def _all_done(self) -> bool:
        """True when no process runs and none will be respawned."""
        with self._lock:
            return all(c.state == _EXITED for c in self._children.values())

    def _live_groups(self) -> set[int]:
        """Reap children, then return the process groups that still have members."""
        self._tick(time.monotonic())
        with self._lock:
            return set(self._groups)

    def _forget_empty_groups(self) -> None:
        """Drop groups with no live member left (caller holds ``_lock``).

        A group is kept while its leader is our un-reaped child, so that its pid (and hence
        the group id) cannot be reused by an unrelated process before we stop tracking it.
        """
        leaders = {
            c.proc.pid
            for c in self._children.values()
            if c.proc is not None and c.proc.returncode is None
        }
        orphaned = self._groups - leaders
        if orphaned:
            self._groups -= orphaned - _groups_with_live_members(orphaned)

    def _wait_groups_gone(self, timeout: float, *, interruptible: bool) -> bool:
        """Wait up to ``timeout`` s for every tracked group to disappear.

        Returns ``True`` if they all did; ``False`` on timeout, or early when ``interruptible``
        and a second stop signal asked to kill now.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self._live_groups():
                return True
            if interruptible and self._kill_now:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(_WAIT_POLL_S, remaining))

    def _announce_signal(self, sig: signal.Signals, groups: set[int]) -> None:
        """Log which processes are being sent ``sig`` during :meth:`stop`."""
        with self._lock:
            names = [
                c.spec.name
                for c in self._children.values()
                if c.proc is not None and c.proc.pid in groups
            ]
        who = ", ".join(names) if names else f"{len(groups)} process group(s)"
        if sig == signal.SIGINT:
            self._log(f"stopping {who} (SIGINT; Ctrl-C again to kill)")
        elif self._kill_now:
            self._log(f"killing {who} ({sig.name})")
        else:
            self._log(f"{who} still running; sending {sig.name}")

    # ------------------------------------------------------------------ signals

    def _install_signal_handlers(self) -> dict[int, Any]:
        """Route SIGINT/SIGTERM/SIGHUP to :meth:`_on_signal` (main thread only)."""
        previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return previous
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def _on_signal(self, signum: int, frame: types.FrameType | None) -> None:
        """First signal: graceful stop.  Second: kill now.  Only sets flags."""
        del frame
        self._signal_count += 1
        self._stop_requested = True
        if self._signal_count >= 2 or self._stopping:
            self._kill_now = True

    # ------------------------------------------------------------------ output

    def _make_prefix(self, name: str, width: int, sgr: str) -> str:
        text = f"[{name}]".ljust(width)
        if self._color:
            return f"\x1b[{sgr}m{text}{_RESET} "
        return f"{text} "

    def _pump(self, prefix: str, stream: IO[bytes]) -> None:
        """Reader thread: copy ``stream`` line by line to ``out`` until EOF."""
        try:
            for raw in iter(stream.readline, b""):
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                self._write(f"{prefix}{text}\n")  # a partial last line gets its newline here
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                stream.close()

    def _log(self, message: str) -> None:
        """Write one ``[supervisor]`` line."""
        self._write(f"{self._log_prefix}{message}\n")

    def _write(self, line: str) -> None:
        with self._write_lock:
            if self._out_broken:
                return  # keep draining the children's pipes, just drop the text
            try:
                self._out.write(line)
                self._out.flush()
            except (OSError, ValueError):
                self._out_broken = True


def _want_color(out: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _exited_unreaped(pid: int) -> bool:
    """True if our child ``pid`` has exited, without reaping it (``False`` if unknown)."""
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return False
    try:
        return waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return False


def _killpg(pgid: int, sig: int) -> None:
    """``os.killpg`` ignoring groups that are already gone or not ours to signal."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _groups_with_live_members(pgids: set[int]) -> set[int]:
    """The process groups among ``pgids`` that still have a member that is not a zombie.

    Zombies are ignored: an orphaned grandchild that was killed stays a zombie until init (or
    whatever reaps orphans in a container) collects it, which may take a while or never
    happen, yet it no longer runs.  Zombies are told apart through ``/proc`` where it exists.
    """
    live: set[int] = set()
    for pgid in pgids:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        live.add(pgid)
    if not live or not os.path.isdir("/proc/self"):
        return live
    running: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        # After the command name: state, ppid, pgrp, ...
        if len(fields) >= 3 and fields[0] not in (b"Z", b"X") and int(fields[2]) in live:
            running.add(int(fields[2]))
    return running
