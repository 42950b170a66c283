"""`courier up`'s supervision without Airflow: restarts with backoff, crash loops, no orphans after SIGKILL,
and a later start ending an earlier stack's leftovers (real processes, checked with psutil)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from courier.runtime.processes import STACK_ID_ENV, RestartPolicy, Supervisor, ordinal, tagged_processes
from courier.runtime.stack import Stack, StackError

pytestmark = pytest.mark.timeout(120)

# A supervising process like `courier up`: a watchdog, then children that fork grandchildren (one of
# which leaves the process group, as Airflow's task runners may), then it waits to be killed.
_SUPERVISOR = """
import sys, time
from pathlib import Path
from courier.runtime.processes import Supervisor
sup = Supervisor(sys.argv[1], Path(sys.argv[2]))
sup.start_watchdog()
sup.start("plain", ["sleep", "300"], {"PATH": "/usr/bin:/bin"})
sup.start("forks", ["sh", "-c", "sleep 300 & sleep 300"], {"PATH": "/usr/bin:/bin"})
escape = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(300)\\ntime.sleep(300)"
sup.start("escapes", [sys.executable, "-c", escape], {"PATH": "/usr/bin:/bin"})
# a grandchild that renames itself like Airflow's LocalExecutor workers: its environ (and tag) is overwritten
rename = ("import os, sys, time\\nif os.fork() == 0:\\n    import setproctitle\\n"
          "    setproctitle.setproctitle('airflow worker -- LocalExecutor: <idle>')\\n"
          "    open(sys.argv[1], 'w').write(str(os.getpid()))\\n    time.sleep(300)\\ntime.sleep(300)")
sup.start("renames", [sys.executable, "-c", rename, sys.argv[3]], {"PATH": "/usr/bin:/bin"})
print("ready", flush=True)
time.sleep(300)
"""


def _wait(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_restart_policy_counts_backs_off_and_detects_a_crash_loop() -> None:
    policy = RestartPolicy()
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
    ]  # fmt: skip
    assert policy.record_exit("triggerer", now=0.0) == (1, False, 2.0)
    assert policy.describe("triggerer", -9, 1) == "triggerer exited with code -9; restarted (1st time in 10 min)"
    assert policy.record_exit("triggerer", now=200.0) == (2, False, 2.0), "the first exit is out of the 2-min window"
    assert policy.record_exit("triggerer", now=210.0) == (3, False, 4.0)
    assert policy.record_exit("triggerer", now=220.0)[1:] == (False, 8.0)
    assert policy.record_exit("triggerer", now=230.0)[1:] == (False, 15.0)
    assert policy.record_exit("scheduler", now=235.0) == (1, False, 2.0), "counted per component"
    count, looping, _ = policy.record_exit("triggerer", now=240.0)
    assert looping and count == 6
    assert policy.record_exit("triggerer", now=2000.0) == (1, False, 2.0), "old exits are forgotten"


def test_exited_child_is_restarted_with_a_line_and_a_crash_loop_stops_with_its_log(tmp_path: Path) -> None:
    lines: list[str] = []
    stack = Stack(home=tmp_path / "home", progress=lines.append, restart_policy=RestartPolicy(first_delay=0.05))
    try:
        stack.supervisor.start("flaky", ["sh", "-c", "echo boom-$$; exit 3"], {"PATH": "/usr/bin:/bin"})
        pids = set()
        with pytest.raises(StackError) as caught:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                pids |= {c.process.pid for c in stack.supervisor.children}
                stack.supervise()
                time.sleep(0.02)
    finally:
        stack.supervisor.stop()
    assert lines[0] == "  !!  flaky exited with code 3; restarted (1st time in 10 min)"
    assert lines[3].startswith("  !!  flaky exited with code 3; restarted (4th time in 10 min)")
    assert len(lines) == 4 and len(pids) == 5, "restarted 4 times, the 5th exit is a crash loop"
    message = str(caught.value)
    assert "flaky is crash-looping (5 exits within 120s, last with code 3)" in message
    assert "boom-" in message, "the component's last log lines are shown"


def test_killed_supervisor_takes_children_and_grandchildren_along(tmp_path: Path) -> None:
    stack_id = uuid.uuid4().hex
    renamed_pid = tmp_path / "renamed.pid"
    parent = subprocess.Popen(
        [sys.executable, "-c", _SUPERVISOR, stack_id, str(tmp_path), str(renamed_pid)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        assert _wait(lambda: len(tagged_processes(stack_id)) >= 6, 20), tagged_processes(stack_id)
        assert _wait(lambda: renamed_pid.exists() and renamed_pid.read_text(), 20)
        renamed = psutil.Process(int(renamed_pid.read_text()))
        assert renamed.pid not in {p.pid for p in tagged_processes(stack_id)}, "its tag is unreadable"
        escaped = [p for p in tagged_processes(stack_id) if p.pid == os.getsid(p.pid)]
        assert len(escaped) >= 4, "three children and one grandchild in sessions of their own"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait(lambda: not tagged_processes(stack_id), 5), [p.as_dict(["pid", "cmdline"]) for p in
                                                                  tagged_processes(stack_id)]  # fmt: skip
        assert _wait(lambda: not renamed.is_running() or renamed.status() == psutil.STATUS_ZOMBIE, 5), (
            "a renamed grandchild (no readable tag) is ended through its session"
        )
    finally:
        parent.kill()
        if renamed_pid.exists() and renamed_pid.read_text():
            with contextlib.suppress(psutil.Error):
                psutil.Process(int(renamed_pid.read_text())).kill()
        for proc in tagged_processes(stack_id):
            proc.kill()


def test_supervisor_stop_ends_the_watchdog(tmp_path: Path) -> None:
    supervisor = Supervisor(uuid.uuid4().hex, tmp_path)
    supervisor.start_watchdog()
    watchdog = supervisor.watchdog
    assert watchdog is not None and watchdog.poll() is None
    supervisor.start("plain", ["sleep", "300"], {"PATH": "/usr/bin:/bin"})
    supervisor.stop(timeout=5)
    assert watchdog.poll() is not None and not tagged_processes(supervisor.stack_id)


def test_a_new_stack_ends_the_leftovers_of_a_killed_one_and_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    earlier = uuid.uuid4().hex
    env = {"PATH": "/usr/bin:/bin", STACK_ID_ENV: earlier}
    orphans = [subprocess.Popen(["sleep", "300"], env=env, start_new_session=True) for _ in range(2)]
    dead = subprocess.Popen(["true"])
    dead.wait()
    (home / "stack.json").write_text(json.dumps({"stack_id": earlier, "pid": dead.pid}))
    lines: list[str] = []
    try:
        Stack(home=home, progress=lines.append)._end_leftovers()
        for orphan in orphans:
            orphan.wait(timeout=5)
    finally:
        for orphan in orphans:
            orphan.kill()
    assert all(o.returncode == -signal.SIGKILL for o in orphans)
    assert len(lines) == 1 and "ended 2 leftover process(es) of an earlier `courier up` on this home" in lines[0]


def test_a_running_stack_on_the_same_home_is_not_killed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    earlier = uuid.uuid4().hex
    owner = subprocess.Popen(["sleep", "300"])  # stands for the running `courier up`
    child = subprocess.Popen(["sleep", "300"], env={"PATH": "/usr/bin:/bin", STACK_ID_ENV: earlier})
    (home / "stack.json").write_text(json.dumps({"stack_id": earlier, "pid": owner.pid}))
    try:
        with pytest.raises(StackError, match=rf"another `courier up` \(pid {owner.pid}\) is running"):
            Stack(home=home, progress=lambda line: None)._end_leftovers()
        assert child.poll() is None and psutil.pid_exists(child.pid)
    finally:
        owner.kill()
        child.kill()


def test_stop_ends_untagged_processes_in_the_groups_of_tagged_ones(tmp_path: Path) -> None:
    """Like Chromium's zygote: started with a cleaned environment (no tag), in the group of a browser that a
    grandchild started in a session of its own. Stopping the stack ends it too."""
    supervisor = Supervisor(uuid.uuid4().hex, tmp_path)
    pid_file = tmp_path / "untagged.pid"
    browser = f"env -i sleep 300 & echo $! > {pid_file}; exec sleep 300"  # an untagged member of its group
    launcher = f"import subprocess, time\nsubprocess.Popen(['sh', '-c', {browser!r}], start_new_session=True)\n"
    supervisor.start("task", [sys.executable, "-c", launcher + "time.sleep(300)"], {"PATH": "/usr/bin:/bin"})
    assert _wait(lambda: pid_file.exists() and pid_file.read_text().strip(), 10)
    untagged = psutil.Process(int(pid_file.read_text()))
    assert STACK_ID_ENV not in untagged.environ() and os.getpgid(untagged.pid) != os.getpgid(os.getpid())
    supervisor.stop(timeout=5)
    assert _wait(lambda: not untagged.is_running() or untagged.status() == psutil.STATUS_ZOMBIE, 5)
    assert not tagged_processes(supervisor.stack_id)


def test_a_component_that_dies_in_c_code_leaves_its_python_traceback_in_its_log(tmp_path: Path) -> None:
    """A segfault (here: reading address 0) in a component started with the stack's environment: its log names
    the fatal error and the Python line that was running, so a crash like a worker's in CPython's allocator can
    be traced to the code that triggered it."""
    from courier.runtime.airflow_home import Secrets

    stack = Stack(home=tmp_path / "home", progress=lambda line: None)
    env = stack._component_env("postgresql://nobody@127.0.0.1:1/none", Secrets.load_or_create(tmp_path / "s.json"))
    supervisor = Supervisor(uuid.uuid4().hex[:8], tmp_path / "logs")
    crash = "import ctypes\ndef read_nothing():\n    return ctypes.string_at(0)\nread_nothing()"
    child = supervisor.start("crasher", [sys.executable, "-c", crash], env)
    try:
        assert child.process.wait(30) == -signal.SIGSEGV
        log = child.log_path.read_text(errors="replace")
        assert "Fatal Python error: Segmentation fault" in log
        assert "line 3 in read_nothing" in log, log
    finally:
        supervisor.stop()
