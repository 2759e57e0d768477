"""The host side against its red-team findings (issue 11): helpers that outlive their
console, a launch race, signals sent on the word of a file the job can write, a job
that leaves its process group, busybox's `kill`, a job root another user controls,
and secrets written to disk. Over the real sshd fleet where the finding is end to
end; under dash or busybox directly where it is the shell's.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobtui.config import load_inventory
from jobtui.model import Host, RunState, new_jid
from jobtui.remote import protocol
from jobtui.remote.parse import LaunchOutcome
from jobtui.remote.protocol import LaunchRequest
from jobtui.transport import Transport, make_transport
from jobtui.transport.local import LocalSession, LocalTransport
from tests.helpers import processes_matching, processes_using, wait_state, wait_until


def req(script: str, timeout: int = 60, **kw: object) -> LaunchRequest:
    return LaunchRequest(new_jid(), script, timeout, {"job": "t"}, grace=1, **kw)  # type: ignore[arg-type]


def marker() -> str:
    """A `sleep` duration no other test uses: its processes can be counted by name."""
    return str(30000 + secrets.randbelow(30000))


def wait_pid(t: Transport, jid: str) -> None:
    assert wait_until(lambda: t.status([jid]).runs[jid].pid is not None, 10)


@pytest.fixture
def ssh_host(fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path]) -> Iterator[Transport]:
    """A transport to the fleet's first host, as the console makes it."""
    host = next(iter(load_inventory(str(fleet_inventory)).hosts.values()))
    with make_transport(host) as t:
        yield t


def root_of(t: Transport) -> Path:
    return Path(t.host.jobtui_dir)


# -- 1. end watchers end with their console ------------------------------------------


@pytest.mark.parametrize("how", ["transport closed", "watch session closed"])
def test_an_end_watcher_over_ssh_ends_when_its_console_closes_it(
    ssh_host: Transport, how: str
) -> None:
    ssh_host.status([])
    session, token = ssh_host.open_watch()
    session.read_until(f"{token} ended start".encode(), 10)
    watch = root_of(ssh_host) / "watch"
    assert wait_until(lambda: processes_using(watch) != [], 5)
    if how == "transport closed":
        ssh_host.close()
    session.close()
    assert wait_until(lambda: processes_using(watch) == [], 5), processes_using(watch)


def test_an_end_watcher_over_ssh_ends_when_its_console_is_killed(
    fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """kill -9 of the console: sshd closes the session and the watcher's stdin ends."""
    console = textwrap.dedent(
        f"""
        import sys, time
        from jobtui.config import load_inventory
        from jobtui.transport import make_transport
        hosts = load_inventory({str(fleet_inventory)!r}).hosts.values()
        for h in hosts:
            t = make_transport(h)
            t.status([])
            s, tok = t.open_watch()
            s.read_until((tok + " ended start").encode(), 10)
        print("ready", flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", console], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        watches = [d / "watch" for d in fleet_jobtui_dirs.values()]
        assert all(processes_using(w) for w in watches)
        proc.kill()
        proc.wait()
        assert wait_until(lambda: not any(processes_using(w) for w in watches), 5), [
            processes_using(w) for w in watches
        ]
    finally:
        proc.kill()
        proc.wait()


# -- 4. a launch race lost to another console ---------------------------------------------


def test_a_launch_whose_dir_another_console_made_first_is_already_launched(
    tmp_path: Path,
) -> None:
    """Another console creates the job dir between any test and our mkdir: simulated by
    a `mkdir` that runs twice, so its second, failing run is the one the wrapper sees."""
    real = shutil.which("mkdir")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "mkdir").write_text(f'#!/bin/sh\n{real} "$@" 2>/dev/null\nexec {real} "$@"\n')
    (fake / "mkdir").chmod(0o755)
    t = LocalTransport(
        Host(name="l", address="l", connection="local", jobtui_dir=str(tmp_path / "j"))
    )
    t.env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    r = req("echo should-not-run")
    with t:
        res = t.launch([r])[r.jid]
    assert res.outcome is LaunchOutcome.EXISTS, res


# -- 5. cancel trusts nothing the job can write ---------------------------------------


def rewrite_pid_field(t: Transport, jid: str, first: str) -> None:
    pid_file = root_of(t) / "jobs" / jid / "pid"
    fields = pid_file.read_text().split()
    pid_file.write_text(" ".join([first, *fields[1:]]) + "\n")


def test_cancel_spares_an_innocent_process_the_pid_file_names_and_ends_the_job(
    ssh_host: Transport,
) -> None:
    job_sleep, innocent_sleep = marker(), marker()
    innocent = subprocess.Popen(["sleep", innocent_sleep], start_new_session=True)
    try:
        r = req(f"sleep {job_sleep}")
        ssh_host.launch([r])
        wait_pid(ssh_host, r.jid)
        rewrite_pid_field(ssh_host, r.jid, str(innocent.pid))
        assert ssh_host.cancel([r.jid], grace=1) == {r.jid: "ok"}
        assert wait_until(lambda: processes_matching(f"sleep {job_sleep}") == [], 5)
        assert innocent.poll() is None
        assert wait_state(ssh_host, r.jid) is RunState.CANCELLED
    finally:
        innocent.kill()
        innocent.wait()
        for pid in processes_matching(f"sleep {job_sleep}"):
            os.kill(pid, signal.SIGKILL)


class NamespaceTransport(LocalTransport):
    """The local shell in a PID namespace of its own: a `kill -1` from it reaches only
    the processes in there (its pid 1 is that shell), never this machine's."""

    shell = ("unshare", "--pid", "--fork", "--mount-proc", "/bin/sh", "-s")


def test_cancel_with_a_pid_file_naming_pid_1_signals_nothing_else(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare: kill -1 is only safe to try in a PID namespace")
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"no PID namespaces here: {probe.stderr.decode(errors='replace')}")
    t = NamespaceTransport(
        Host(name="l", address="l", connection="local", jobtui_dir=str(tmp_path / "j"))
    )
    other_sleep, job_sleep = marker(), marker()
    other, r = req(f"sleep {other_sleep}"), req(f"sleep {job_sleep}")
    with t:
        t.launch([other, r])
        wait_pid(t, other.jid)
        wait_pid(t, r.jid)
        rewrite_pid_field(t, r.jid, "1")
        assert t.cancel([r.jid], grace=1) == {r.jid: "ok"}
        assert wait_state(t, r.jid) is RunState.CANCELLED
        assert processes_matching(f"sleep {job_sleep}") == []
        # Another run's job (and its supervisor) did not get the signal.
        assert processes_matching(f"sleep {other_sleep}") != []
        assert t.status([other.jid]).runs[other.jid].state is RunState.RUNNING
        t.cancel([other.jid], grace=1)
    assert wait_until(lambda: processes_matching(f"sleep {other_sleep}") == [], 5)


# -- 6. a job that leaves its process group ------------------------------------------


@pytest.mark.parametrize("end", ["timeout", "cancel"])
def test_a_process_that_left_the_group_with_setsid_ends_with_its_run(
    ssh_host: Transport, end: str
) -> None:
    escapee = marker()
    r = req(f"setsid sleep {escapee} & sleep 600", timeout=2 if end == "timeout" else 60)
    ssh_host.launch([r])
    assert wait_until(lambda: processes_matching(f"sleep {escapee}") != [], 5)
    try:
        if end == "cancel":
            assert ssh_host.cancel([r.jid], grace=1) == {r.jid: "ok"}
        want = RunState.TIMED_OUT if end == "timeout" else RunState.CANCELLED
        assert wait_state(ssh_host, r.jid) is want
        assert wait_until(lambda: processes_matching(f"sleep {escapee}") == [], 3)
    finally:
        for pid in processes_matching(f"sleep {escapee}"):
            os.kill(pid, signal.SIGKILL)
        ssh_host.cancel([r.jid], grace=1)


# -- 7. busybox (and the other shells) ---------------------------------------------


@pytest.fixture(params=["dash", "bash", "busybox"])
def shell_host(request: pytest.FixtureRequest, tmp_path: Path) -> LocalTransport:
    """The wrapper in the given shell; busybox's with busybox's applets first on PATH
    (its `kill`, `sleep`, `setsid`, `grep`, `sh` for the supervisor and the job)."""
    name = request.param
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not installed (scripts/test.sh installs busybox)")
    t = LocalTransport(
        Host(name=name, address=name, connection="local", jobtui_dir=str(tmp_path / "j"))
    )
    t.shell = (found, "-s")
    if name == "busybox":
        applets = tmp_path / "busybox-bin"
        applets.mkdir()
        listed = subprocess.run([found, "--list"], capture_output=True, text=True, check=True)
        for applet in listed.stdout.split():
            (applets / applet).symlink_to(found)
        t.shell = (found, "sh", "-s")
        t.env = {**os.environ, "PATH": f"{applets}:{os.environ['PATH']}"}
    return t


def test_an_end_watcher_ends_by_itself_when_its_stdin_ends(shell_host: LocalTransport) -> None:
    with shell_host:
        shell_host.status([])
        session, token = shell_host.open_watch()
        session.read_until(f"{token} ended start".encode(), 10)
        assert isinstance(session, LocalSession)
        session.close()
        # It exited on its own (status 0), not killed when the close ran out of patience.
        assert session.proc.returncode == 0
    assert processes_using(root_of(shell_host) / "watch") == []


def test_a_term_deaf_job_is_killed_at_its_time_limit(shell_host: LocalTransport) -> None:
    deaf = marker()
    r = req(f"trap '' TERM; sleep {deaf}", timeout=2)
    with shell_host:
        shell_host.launch([r])
        try:
            assert wait_state(shell_host, r.jid) is RunState.TIMED_OUT
            assert processes_matching(f"sleep {deaf}") == []
        finally:
            for pid in processes_matching(f"sleep {deaf}"):
                os.kill(pid, signal.SIGKILL)


def test_cancel_waits_the_grace_then_kills_a_term_deaf_job(
    shell_host: LocalTransport, tmp_path: Path
) -> None:
    deaf, tidy = marker(), marker()
    cleaned = tmp_path / "cleaned"
    # One that takes half a second to clean up on TERM, one that ignores TERM.
    polite = req(f"trap 'sleep 0.5; echo yes > {cleaned}; exit 1' TERM; sleep {tidy} & wait")
    rude = req(f"trap '' TERM; sleep {deaf}")
    with shell_host:
        shell_host.launch([polite, rude])
        wait_pid(shell_host, polite.jid)
        wait_pid(shell_host, rude.jid)
        assert shell_host.cancel([polite.jid, rude.jid], grace=2) == {
            polite.jid: "ok",
            rude.jid: "ok",
        }
        assert cleaned.read_text() == "yes\n"
        assert wait_state(shell_host, rude.jid) is RunState.CANCELLED
        assert processes_matching(f"sleep {deaf}") == []
        assert wait_until(lambda: processes_matching(f"sleep {tidy}") == [], 3)


# -- 8. a job root another user controls --------------------------------------------


def nobody() -> tuple[int, int]:
    import pwd

    try:
        p = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user `nobody` on this machine")
    return p.pw_uid, p.pw_gid


@pytest.mark.parametrize(
    ("planted", "reason"),
    [
        ("supervisor owned by another user", "not owned by"),
        ("supervisor writable by others", "writable by"),
        ("job root owned by another user", "not owned by"),
        ("job root writable by its group", "writable by"),
        ("supervisor a symbolic link", "symbolic link"),
    ],
)
def test_a_job_root_or_supervisor_another_user_controls_is_refused_and_nothing_runs(
    ssh_host: Transport, tmp_path: Path, planted: str, reason: str
) -> None:
    root = root_of(ssh_host)
    (root / "jobs").mkdir(parents=True, mode=0o700)
    root.chmod(0o700)
    canary = tmp_path / "canary"
    sup = root / protocol.SUPERVISOR_NAME
    sup.write_text(f"touch {canary}\n")
    target = sup if planted.startswith("supervisor") else root
    if planted.endswith("symbolic link"):
        # To a file of ours: what it runs would still be whoever made the link's choice.
        ours = tmp_path / "ours.sh"
        sup.rename(ours)
        sup.symlink_to(ours)
    elif "another user" in planted:
        if os.geteuid() != 0:
            pytest.skip("needs root to give a file to another user")
        os.chown(target, *nobody())
    else:
        target.chmod(0o666 if target == sup else 0o770)
    r = req(f"touch {canary}")
    res = ssh_host.launch([r])[r.jid]
    assert res.outcome is LaunchOutcome.ERROR
    assert str(target) in res.message and reason in res.message, res.message
    assert not (root / "jobs" / r.jid).exists()
    assert not wait_until(canary.exists, 1)


# -- 9. secrets stay off the host's disk ------------------------------------------------


def test_a_secret_env_value_is_in_no_file_on_the_host_and_the_job_sees_it(
    ssh_host: Transport,
) -> None:
    value = f"s3cret-{secrets.token_hex(8)}-'quoted' \"$HOME\"\nsecond line"
    r = req(
        'printf %s "$API_TOKEN" | sha256sum; echo "$PLAIN"; sleep 2',
        env={"PLAIN": "visible"},
        secret_env={"API_TOKEN": value},
    )
    assert ssh_host.launch([r])[r.jid].outcome is LaunchOutcome.OK
    needle = value.encode()
    # Not in any process's argv while it runs (any user can read those).
    assert wait_until(lambda: processes_matching("sleep 2") != [], 5)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                assert b"s3cret-" not in (entry / "cmdline").read_bytes()
            except OSError:
                continue
    assert wait_state(ssh_host, r.jid) is RunState.SUCCEEDED
    digest = hashlib.sha256(needle).hexdigest()
    assert ssh_host.status([r.jid]).runs[r.jid].tail == f"{digest}  -\nvisible\n"
    for f in root_of(ssh_host).rglob("*"):
        if f.is_file():
            assert b"s3cret-" not in f.read_bytes(), f


# -- the suite's own guard -----------------------------------------------------------


def test_a_session_that_leaves_a_process_behind_fails(tmp_path: Path) -> None:
    """The guard in conftest.py, in a session of its own: a test that passes but
    leaves a process running in its temp dir makes the session fail, and the process
    is ended."""
    leaky = tmp_path / "test_leaky.py"
    leaky.write_text(
        textwrap.dedent(
            f"""
            import subprocess

            def test_passes_but_leaks(tmp_path):
                subprocess.Popen(["sleep", "{marker()}"], cwd=tmp_path, start_new_session=True)
            """
        )
    )
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "-c",
            os.devnull,
            f"--basetemp={tmp_path / 'inner'}",
            str(leaky),
        ],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "outlived them" in proc.stdout, proc.stdout
    assert processes_using(tmp_path / "inner") == []
