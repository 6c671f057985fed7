"""Tests for smart_store.graph.supervisor (small ``python -c`` children, short bounds)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from smart_store.graph.supervisor import ProcessSpec, Supervisor

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the supervisor is POSIX only")

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
SLEEPER = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(60)"
T = TypeVar("T")


def py(code: str) -> tuple[str, ...]:
    """argv running ``code`` in a fresh interpreter."""
    return (PY, "-c", textwrap.dedent(code))


def wait_for(predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:
        return False
    return state == "Z"


def pids_in(text: str, tag: str = "pid") -> list[int]:
    return [int(m) for m in re.findall(rf"\b{tag} (\d+)\b", text)]


def run_in_thread(sup: Supervisor, duration: float) -> tuple[threading.Thread, list[int]]:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(sup.run(duration)), daemon=True)
    thread.start()
    return thread, result


# --------------------------------------------------------------------------- output


class ChoppyOut(io.StringIO):
    """An output whose writes are not atomic: each lands in two halves, yielding in between."""

    def write(self, s: str) -> int:
        half = len(s) // 2
        super().write(s[:half])
        time.sleep(0)  # let another writer thread run if it is not locked out
        return super().write(s[half:])


def test_output_is_prefixed_aligned_and_never_interleaved_mid_line() -> None:
    n, width = 300, 3000
    code = """
        import sys
        for _ in range({n}):
            print({ch!r} * {width})
        sys.stdout.write("tail-{ch}")  # partial last line, no newline
    """
    specs = [
        ProcessSpec("a", py(code.format(n=n, ch="A", width=width))),
        ProcessSpec("bb", py(code.format(n=n, ch="B", width=width))),
    ]
    out = ChoppyOut()
    assert Supervisor(specs, out=out).run(duration=20) == 0

    text = out.getvalue()
    assert "\x1b[" not in text  # StringIO is not a tty: no colour by default
    counts = {"a": 0, "bb": 0}
    col = len("[supervisor] ")
    for line in text.splitlines():
        m = re.fullmatch(r"\[(a|bb|supervisor)\] +(.*)", line)
        assert m, f"unprefixed line: {line[:80]!r}"
        assert len(line) - len(m.group(2)) == col  # prefixes padded to one column
        name, body = m.groups()
        if name == "supervisor":
            continue
        ch = "A" if name == "a" else "B"
        if body == f"tail-{ch}":
            continue
        assert body == ch * width, f"{name}: mangled line {body[:40]!r}...{body[-40:]!r}"
        counts[name] += 1
    assert counts == {"a": n, "bb": n}
    assert text.count("[a]          tail-A\n") == 1
    assert text.count("[bb]         tail-B\n") == 1
    assert "[supervisor] a exited (code 0)" in text


def test_color_env_and_unbuffered() -> None:
    code = "import os; print(os.environ['FOO'], os.environ['PYTHONUNBUFFERED'])"
    out = io.StringIO()
    sup = Supervisor([ProcessSpec("env", py(code), env={"FOO": "bar"})], out=out, color=True)
    assert sup.run(duration=10) == 0
    text = out.getvalue()
    assert re.search(r"\x1b\[[0-9;]+m\[env\] +\x1b\[0m bar 1\n", text), text
    assert sup.status() == {"env": "exited(0)"}


# --------------------------------------------------------------------------- respawn


def test_respawn_after_sigkill_gives_new_pid() -> None:
    out = io.StringIO()
    sup = Supervisor(
        [ProcessSpec("tracker", py(SLEEPER), respawn=True, respawn_delay=0.1)], out=out
    )
    thread, result = run_in_thread(sup, duration=20)
    try:
        first = wait_for(lambda: sup.pid("tracker"))
        wait_for(lambda: pids_in(out.getvalue()))
        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: sup.pid("tracker") not in (None, first) and sup.pid("tracker"))
        assert second != first
        assert sup.restarts("tracker") == 1
        assert sup.status() == {"tracker": "running"}
        wait_for(lambda: len(pids_in(out.getvalue())) == 2)  # the new one really runs
    finally:
        sup.stop()
        thread.join(10)
    assert result == [0]
    assert gone(first) and gone(second)
    text = out.getvalue()
    assert "[supervisor] tracker exited (signal 9); respawning in 0.1 s (restart 1)" in text


def test_uptime_counts_from_the_current_process_start() -> None:
    # Drills hold the replay's clock until a respawned node has been back long enough.
    sup = Supervisor(
        [ProcessSpec("tracker", py(SLEEPER), respawn=True, respawn_delay=0.3)], out=io.StringIO()
    )
    thread, _ = run_in_thread(sup, duration=20)
    try:
        first = wait_for(lambda: sup.pid("tracker"))
        time.sleep(0.5)
        before = sup.uptime("tracker")
        assert before is not None and before >= 0.5
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: sup.status()["tracker"] == "respawning")
        assert sup.uptime("tracker") is None
        wait_for(lambda: sup.pid("tracker") not in (None, first))
        after = sup.uptime("tracker")
        assert after is not None and after < before
    finally:
        sup.stop()
        thread.join(10)


def test_max_respawns_is_honoured() -> None:
    out = io.StringIO()
    spec = ProcessSpec(
        "flaky", py("import sys; sys.exit(3)"), respawn=True, respawn_delay=0.02, max_respawns=2
    )
    sup = Supervisor([spec], out=out)
    t0 = time.monotonic()
    assert sup.run(duration=20) == 1  # gave up on a failing child
    assert time.monotonic() - t0 < 10
    assert sup.restarts("flaky") == 2
    assert sup.status() == {"flaky": "exited(3)"}
    text = out.getvalue()
    assert text.count("flaky exited (code 3)") == 3
    assert "(restart 1)" in text and "(restart 2)" in text and "(restart 3)" not in text
    assert "not respawning (max_respawns=2 reached)" in text


def test_exited_child_leaves_no_grandchild_behind() -> None:
    code = f"""
        import subprocess, sys
        gc = subprocess.Popen([sys.executable, '-c', {SLEEPER!r}], stdout=subprocess.PIPE)
        print('grand' + gc.stdout.readline().decode(), end='', flush=True)
    """
    out = io.StringIO()
    assert Supervisor([ProcessSpec("parent", py(code))], out=out).run(duration=10) == 0
    (grandchild,) = pids_in(out.getvalue(), "grandpid")
    wait_for(lambda: gone(grandchild), timeout=2)


# --------------------------------------------------------------------------- exit codes


def test_non_respawning_failure_makes_run_return_1() -> None:
    out = io.StringIO()
    specs = [ProcessSpec("ok", py("pass")), ProcessSpec("bad", py("import sys; sys.exit(2)"))]
    sup = Supervisor(specs, out=out)
    assert sup.run(duration=20) == 1
    assert sup.status() == {"ok": "exited(0)", "bad": "exited(2)"}
    assert "[supervisor] bad exited (code 2)" in out.getvalue()
    assert sup.pid("bad") is None


def test_all_clean_exits_return_0_and_duration_stops_cleanly() -> None:
    assert Supervisor([ProcessSpec("ok", py("pass"))], out=io.StringIO()).run(10) == 0

    out = io.StringIO()
    sup = Supervisor([ProcessSpec("sleeper", py(SLEEPER))], out=out)
    t0 = time.monotonic()
    assert sup.run(duration=0.3) == 0
    assert time.monotonic() - t0 < 5
    (pid,) = pids_in(out.getvalue())
    assert gone(pid)
    assert sup.status()["sleeper"].startswith("exited(")


def test_missing_executable_is_one_clear_line() -> None:
    missing = "/nonexistent/dir/smart-store-tracker"
    out = io.StringIO()
    specs = [
        ProcessSpec("tracker", (missing, "--x"), respawn=True),
        ProcessSpec("ok", py("pass")),
    ]
    sup = Supervisor(specs, out=out)
    assert sup.run(duration=10) == 1
    text = out.getvalue()
    lines = [ln for ln in text.splitlines() if "tracker" in ln]
    assert lines == [f"[supervisor] cannot start tracker: No such file or directory: {missing}"]
    assert "Traceback" not in text
    assert sup.status() == {"tracker": "exited(127)", "ok": "exited(0)"}
    assert sup.restarts("tracker") == 0


# --------------------------------------------------------------------------- stop()

GRANDCHILD = """
import os, signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print('grandchild', os.getpid(), flush=True)
time.sleep(60)
"""
STUBBORN = f"""
import os, signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, '-c', {GRANDCHILD!r}])
print('child', os.getpid(), flush=True)
time.sleep(60)
"""


def test_stop_escalates_and_kills_grandchildren() -> None:
    out = io.StringIO()
    sup = Supervisor([ProcessSpec("stubborn", py(STUBBORN))], out=out, shutdown_timeout=0.3)
    sup.start()
    try:
        child, grandchild = wait_for(
            lambda: (
                pids_in(out.getvalue(), "child")
                and pids_in(out.getvalue(), "grandchild")
                and (pids_in(out.getvalue(), "child")[0], pids_in(out.getvalue(), "grandchild")[0])
            )
        )
        assert sup.pid("stubborn") == child
        t0 = time.monotonic()
        sup.stop()
        elapsed = time.monotonic() - t0
    finally:
        sup.stop()
    assert gone(child) and gone(grandchild)
    assert 0.5 < elapsed < 4  # waited for SIGINT and SIGTERM, then killed
    text = out.getvalue()
    assert "stopping stubborn (SIGINT" in text
    assert "stubborn still running; sending SIGTERM" in text
    assert "stubborn still running; sending SIGKILL" in text
    assert sup.status() == {"stubborn": "exited(-9)"}
    t0 = time.monotonic()
    sup.stop()  # idempotent
    assert time.monotonic() - t0 < 0.1
    with pytest.raises(RuntimeError):
        sup.start()


# --------------------------------------------------------------------------- signals

QUIET_SLEEPER = """
import os, signal, sys, time
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
print('pid', os.getpid(), flush=True)
time.sleep(60)
"""
DEAF_SLEEPER = """
import os, signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
print('pid', os.getpid(), flush=True)
time.sleep(60)
"""
DRIVER = """
import sys
sys.path.insert(0, {repo!r})
from smart_store.graph.supervisor import ProcessSpec, Supervisor
specs = [
    ProcessSpec("a", (sys.executable, "-c", {child!r})),
    ProcessSpec("b", (sys.executable, "-c", {child!r}), respawn=True),
]
sys.exit(Supervisor(specs, shutdown_timeout={timeout!r}).run(duration=30))
"""


class Driver:
    """A supervisor running in its own interpreter, its output collected by a thread."""

    def __init__(self, tmp_path: Path, child: str, timeout: float) -> None:
        script = tmp_path / "driver.py"
        script.write_text(DRIVER.format(repo=str(REPO), child=child, timeout=timeout))
        self.proc = subprocess.Popen(
            [PY, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def child_pids(self) -> list[int]:
        return wait_for(lambda: len(pids_in(self.text)) == 2 and pids_in(self.text))

    def finish(self, timeout: float) -> int:
        rc = self.proc.wait(timeout)
        self._thread.join(5)
        return rc

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in pids_in(self.text):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


def test_sigint_to_supervisor_process_stops_children_and_exits_0(tmp_path: Path) -> None:
    driver = Driver(tmp_path, QUIET_SLEEPER, timeout=5.0)
    try:
        pids = driver.child_pids()
        driver.proc.send_signal(signal.SIGINT)
        assert driver.finish(timeout=10) == 0
    finally:
        driver.cleanup()
    assert all(gone(pid) for pid in pids)
    text = driver.text
    assert "[supervisor] stopping a, b (SIGINT; Ctrl-C again to kill)" in text
    assert "Traceback" not in text
    assert "respawning" not in text  # a stopping supervisor does not respawn


def test_second_sigint_escalates_to_sigkill(tmp_path: Path) -> None:
    driver = Driver(tmp_path, DEAF_SLEEPER, timeout=30.0)
    try:
        pids = driver.child_pids()
        driver.proc.send_signal(signal.SIGINT)
        wait_for(lambda: "stopping a, b" in driver.text)
        t0 = time.monotonic()
        driver.proc.send_signal(signal.SIGINT)
        assert driver.finish(timeout=10) == 0
        assert time.monotonic() - t0 < 5  # did not wait for shutdown_timeout=30
    finally:
        driver.cleanup()
    assert all(gone(pid) for pid in pids)
    assert "killing a, b (SIGKILL)" in driver.text


# --------------------------------------------------------------------------- API checks


def test_spec_and_constructor_validation() -> None:
    spec = ProcessSpec("n", ["echo", "hi"], env={"A": "1"})  # type: ignore[arg-type]
    assert spec.argv == ("echo", "hi")
    assert hash(spec) == hash(ProcessSpec("n", ("echo", "hi"), env={"A": "1"}))
    with pytest.raises(ValueError):
        ProcessSpec("n", ())
    with pytest.raises(ValueError):
        ProcessSpec("supervisor", ("true",))
    with pytest.raises(ValueError):
        ProcessSpec("n", ("true",), max_respawns=-1)
    with pytest.raises(ValueError):
        Supervisor([ProcessSpec("n", ("true",)), ProcessSpec("n", ("false",))])
    sup = Supervisor([ProcessSpec("n", ("true",))], out=io.StringIO())
    assert sup.status() == {"n": "pending"}
    assert sup.pid("n") is None and sup.restarts("n") == 0
    with pytest.raises(KeyError):
        sup.pid("nope")
    sup.stop()  # stopping a never-started supervisor is harmless
