"""become runs after launch: their time limit, `cancel`, `status`, `cleanup`, `watch`'s
discovery and `attach`, over a real sshd fleet and the machine's real sudo.

Every job here is marked by a random `sleep N` (N is the marker): every process of a
run carries it in its command line, so the test finds them all (`processes_matching`),
whoever their parent is, and knows when none is left.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobtui import become_cmd
from jobtui.config import load_inventory
from jobtui.events import Event, RunChanged
from jobtui.fleet import DiscoveryPoller, transports_for
from jobtui.model import RunState
from tests.becomeusers import NOPASS, PASS, BecomeUsers, sudo_invocations, sudo_log_offset
from tests.helpers import processes_matching, processes_using, wait_until
from tests.sshfleet import SshFleet
from tests.test_become_run import REPO, home_root, inventory, jobtui, summary, write_jobs

pytest_plugins = ["tests.fixtures_become"]
pytestmark = pytest.mark.ssh

__all__ = ["home_root"]  # a fixture of test_become_run's, used by name below

Become = Callable[..., SshFleet]
CLI = (sys.executable, "-m", "jobtui")
Dirs = Callable[[str], Path]


def marker() -> str:
    return str(5000 + secrets.randbelow(4000))


def family(mark: str, stubborn: bool = False) -> str:
    """A job that starts two children in its group and one that leaves it (setsid);
    `stubborn`: and one more, in a session of its own, that ignores TERM."""
    deaf = f"setsid sh -c 'trap \"\" TERM; sleep {mark}; :' & " if stubborn else ""
    return f"sh -c 'sleep {mark} & sleep {mark} & wait' & setsid sleep {mark} & {deaf}wait"


def status_field(pid: int, name: str) -> str | None:
    """The first word of a field of /proc/PID/status (None once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return line.split()[1]
    except OSError:
        return None
    return None


def uid_of(pid: int) -> int | None:
    uid = status_field(pid, "Uid")
    return None if uid is None else int(uid)


def ignores_term(pid: int) -> bool:
    return bool(int(status_field(pid, "SigIgn") or "0", 16) & (1 << (signal.SIGTERM - 1)))


def sleepers(mark: str) -> list[int]:
    """The run's `sleep` processes (its shells carry the marker too)."""
    found = []
    for pid in processes_matching(f"sleep {mark}"):
        with contextlib.suppress(OSError):  # gone meanwhile
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep":
                found.append(pid)
    return found


def kill_leftovers(mark: str, roots: list[Path]) -> None:
    """After a failed test: kill what is left of its runs (none when it passed)."""
    for pid in {
        *processes_matching(f"sleep {mark}"),
        *(p for r in roots for p in processes_using(r)),
    }:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def sleeping(mark: str, count: int) -> Callable[[], bool]:
    """For wait_until: exactly `count` of the run's sleeps are alive."""
    return lambda: len(sleepers(mark)) == count


def per_host(fleet: SshFleet, path: Path, roots: dict[str, str], **extra: Any) -> Path:
    """An inventory whose hosts (all this machine) each have their own job root, so a
    run is found once, on its own host."""
    return fleet.write_inventory(
        path, host_vars={h.name: {"jobtui_dir": roots[h.name], **extra} for h in fleet.hosts}
    )


def run_cli(jobs: Path, inv: Path, state: Path, *extra: str, **kw: Any) -> Any:
    args = ["run", str(jobs), "-i", str(inv), "--headless", "--json", "--state-dir", str(state)]
    return jobtui(*args, *extra, **kw)


def status_runs(inv: Path, state: Path, *extra: str) -> list[dict[str, Any]]:
    st = jobtui("status", "-i", str(inv), "--json", "--state-dir", str(state), *extra)
    assert st.returncode == 0, st.stderr
    runs: list[dict[str, Any]] = json.loads(st.stdout)["runs"]
    return runs


def test_a_root_jobs_time_limit_kills_it_and_every_child(
    become_fleet: Become, become_dir: Dirs, tmp_path: Path
) -> None:
    fleet = become_fleet(NOPASS)
    mark = marker()
    root = become_dir("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root)
    jobs = write_jobs(tmp_path / "jobs.yml", shell=family(mark, True), become=True, timeout=3)
    argv = ["run", str(jobs), "-i", str(inv), "--headless", "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobtui", *argv, "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        # Four sleeps per host: two in the job's group, one in a session of its own, one
        # in another that ignores TERM (the supervisor's KILL after the grace ends it).
        assert wait_until(sleeping(mark, 4 * len(fleet.hosts)), 15)
        alive = processes_matching(f"sleep {mark}")
        assert {uid_of(p) for p in alive} == {0}, "not all of the run's processes are root's"
        assert len([p for p in sleepers(mark) if ignores_term(p)]) == len(fleet.hosts)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        runs = summary(out)["runs"]
        assert {(r["state"], r["user"]) for r in runs} == {("timed_out", "root")}
        assert wait_until(lambda: processes_matching(f"sleep {mark}") == [], 10), [
            Path(f"/proc/{p}/cmdline").read_bytes() for p in processes_matching(f"sleep {mark}")
        ]
    finally:
        proc.kill()
        proc.wait()
        kill_leftovers(mark, [root])


def test_cancel_reaches_a_root_job_left_running_and_every_child(
    become_fleet: Become, become_dir: Dirs, tmp_path: Path
) -> None:
    fleet = become_fleet(NOPASS)
    mark = marker()
    roots = {h.name: str(become_dir("root")) for h in fleet.hosts}
    inv = per_host(fleet, tmp_path / "inv.yml", roots, ansible_become=True)
    plain = per_host(fleet, tmp_path / "plain.yml", roots)
    state, elsewhere = tmp_path / "state", tmp_path / "elsewhere"
    jobs = write_jobs(
        tmp_path / "jobs.yml", shell=family(mark), become=True, poll=0, timeout=600, loop=[1, 2]
    )
    launched = run_cli(jobs, plain, state)
    try:
        assert launched.returncode == 0, launched.stderr
        batch = summary(launched.stdout)["batch"]
        runs = {(r["host"], r["item"]): r for r in summary(launched.stdout)["runs"]}
        assert {r["state"] for r in runs.values()} == {"running"}
        assert wait_until(sleeping(mark, 3 * len(runs)), 15)
        assert {uid_of(p) for p in processes_matching(f"sleep {mark}")} == {0}
        (one, _), (two, _), *rest = sorted(runs.items())
        left = len(runs)
        # One run by its jid from a machine that never saw the batch (`elsewhere`): the
        # inventory says become; then another with -b; the rest by the batch, from the
        # machine that launched it, which remembers that its runs became root.
        for inventory_, flags, state_dir in [
            (inv, ["--jid", runs[one]["jid"]], elsewhere),
            (plain, ["-b", "--jid", runs[two]["jid"]], elsewhere),
            (plain, ["--batch", batch], state),
        ]:
            since = sudo_log_offset()
            done = jobtui("cancel", "-i", str(inventory_), *flags, "--state-dir", str(state_dir))
            assert done.returncode == 0, done.stderr
            cancelled = 1 if "--jid" in flags else len(rest)
            assert done.stdout.count(": cancelled") == cancelled, done.stdout
            # One sudo per host: the cancel looked for the runs on every host.
            assert sudo_invocations(NOPASS, since) == len(fleet.hosts)
            left -= cancelled
            assert wait_until(sleeping(mark, 3 * left), 10)
        assert processes_matching(f"sleep {mark}") == []
        found = status_runs(inv, elsewhere)
        assert sorted((r["host"], r["item"], r["user"], r["state"]) for r in found) == [
            (*key, "root", "cancelled") for key in sorted(runs)
        ]
    finally:
        kill_leftovers(mark, [Path(r) for r in roots.values()])


def test_status_and_cleanup_of_root_runs_with_become_and_without(
    become_fleet: Become,
    become_users: BecomeUsers,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    users = become_users
    fleet = become_fleet(NOPASS)
    home = request.getfixturevalue("home_root")
    # `~/NAME`: the login user's runs in its home, root's in /root (the default's shape).
    names = {h.name: home("root") for h in fleet.hosts}
    inv = per_host(fleet, tmp_path / "inv.yml", names)
    state = tmp_path / "state"
    mine = {"name": "mine", "hosts": "fleet", "shell": "true", "poll": 0.3}
    root = {**mine, "name": "root", "become": True}
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(json.dumps({"jobs": [mine, root]}))
    done = run_cli(jobs, inv, state)
    assert done.returncode == 0, done.stderr
    batch = summary(done.stdout)["batch"]
    runs = summary(done.stdout)["runs"]
    job_dirs = {
        r["jid"]: Path("/root" if r["user"] else users.nopass.home, names[r["host"]][2:], "jobs")
        / r["jid"]
        for r in runs
    }
    assert {p.stat().st_uid for j, p in job_dirs.items()} == {0, users.nopass.uid}
    expected = sorted((r["host"], r["job"], r["user"], r["state"]) for r in runs)
    # Without -b, no ansible_become, and no memory of the batch (another machine's
    # state dir), status is the login user's: root's runs are in root's job root.
    elsewhere = tmp_path / "elsewhere"
    assert sorted(r["job"] for r in status_runs(inv, elsewhere)) == ["mine", "mine"]
    # -b: root's runs too, as root, for one sudo per host.
    since = sudo_log_offset()
    found = status_runs(inv, elsewhere, "-b")
    assert sorted((r["host"], r["job"], r["user"], r["state"]) for r in found) == expected
    assert {r["user"] for r in found if r["job"] == "root"} == {"root"}
    assert sudo_invocations(NOPASS, since) == len(fleet.hosts)
    # The machine that launched the batch remembers who its runs became: no -b needed.
    found = status_runs(inv, state)
    assert sorted((r["host"], r["job"], r["user"], r["state"]) for r in found) == expected
    # When jobtui_dir names root's job root itself and nothing says become: the login
    # user cannot enter /root, and status lists nothing, exit 0, without a word.
    theirs = {h: "/root/" + n[2:] for h, n in names.items()}
    blind = per_host(fleet, tmp_path / "theirs.yml", theirs)
    assert status_runs(blind, elsewhere) == []
    assert sorted(r["user"] for r in status_runs(blind, elsewhere, "-b")) == ["root", "root"]

    since = sudo_log_offset()
    gone = jobtui("cleanup", "-i", str(inv), "-b", "--batch", batch, "--state-dir", str(state))
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.count("removed") == len(runs), gone.stdout
    assert [p for p in job_dirs.values() if p.exists()] == []
    assert sudo_invocations(NOPASS, since) == len(fleet.hosts)
    assert status_runs(inv, state, "-b") == []


def test_watch_discovers_root_runs_and_follows_them_with_one_sudo_per_host(
    become_fleet: Become, become_dir: Dirs, tmp_path: Path
) -> None:
    fleet = become_fleet(NOPASS)
    roots = {h.name: str(become_dir("root")) for h in fleet.hosts}
    inv = per_host(fleet, tmp_path / "inv.yml", roots)
    jobs = write_jobs(tmp_path / "jobs.yml", shell="sleep 2", become=True, poll=0)
    launched = run_cli(jobs, inv, tmp_path / "state")
    assert launched.returncode == 0, launched.stderr
    jids = {r["jid"] for r in summary(launched.stdout)["runs"]}
    hosts = list(load_inventory(str(inv)).hosts.values())
    # What `jobtui watch -i INV -b` builds (cli.watch), without the console around it.
    args = argparse.Namespace(become=True, become_user=None, ask_become_pass=False)
    since = sudo_log_offset()
    poller = DiscoveryPoller(
        transports_for(hosts, become=become_cmd.for_hosts(hosts, args)), interval=0.2
    )
    seen: list[RunChanged] = []

    def emit(ev: Event) -> None:
        if isinstance(ev, RunChanged):
            seen.append(ev)

    def states() -> set[tuple[str | None, str, str, RunState]]:
        return {(e.run.jid, e.run.host, e.run.user, e.run.state) for e in seen}

    thread = threading.Thread(target=poller.run, args=(emit,), name="test-watch-poller")
    thread.start()
    try:
        ended = {RunState.SUCCEEDED}
        assert wait_until(lambda: {e.run.state for e in seen if e.run.jid in jids} >= ended, 20)
    finally:
        poller.stop()
        thread.join(10)
    assert not thread.is_alive()
    by_jid = {(jid, host, user) for jid, host, user, _ in states()}
    assert by_jid == {(r["jid"], r["host"], "root") for r in summary(launched.stdout)["runs"]}
    # Seen running, then succeeded: several polls, and one sudo per host for all of them.
    assert {s for *_, s in states()} == {RunState.RUNNING, RunState.SUCCEEDED}
    assert sudo_invocations(NOPASS, since) == len(fleet.hosts)


@pytest.mark.parametrize("left", ["launched with poll 0", "follower killed"])
def test_attach_follows_a_become_batch_to_its_end_with_one_sudo_per_host(
    become_fleet: Become,
    become_dir: Dirs,
    become_users: BecomeUsers,
    tmp_path: Path,
    left: str,
) -> None:
    fleet = become_fleet(PASS)
    root = become_dir("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root)
    env = {"ANSIBLE_BECOME_PASS": become_users.password}
    state = tmp_path / "state"
    poll = 0 if left == "launched with poll 0" else 0.3
    jobs = write_jobs(tmp_path / "jobs.yml", shell="sleep 4; id -un", become=True, poll=poll)
    argv = [*CLI, "run", str(jobs), "-i", str(inv), "--headless", "--json", "--state-dir"]
    follower = subprocess.Popen(
        [*argv, str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
        cwd=REPO,
    )
    try:
        if poll:
            # Both runs started: the console dies with them running (kill -9, no goodbye).
            assert wait_until(lambda: len(list(root.glob("jobs/*/pid"))) == len(fleet.hosts))
            follower.kill()
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
        follower.wait()
    assert follower.returncode == (-signal.SIGKILL if poll else 0), err
    batch = json.loads(out.splitlines()[0])["batch"]
    since = sudo_log_offset()
    done = jobtui("attach", batch, "--headless", "--json", "--state-dir", str(state), env=env)
    assert done.returncode == 0, done.stderr
    runs = summary(done.stdout)["runs"]
    assert len(runs) == len(fleet.hosts)
    assert {(r["state"], r["user"]) for r in runs} == {("succeeded", "root")}
    for r in runs:
        assert (root / "jobs" / r["jid"] / "stdout").read_text().strip() == "root"
    assert sudo_invocations(PASS, since) == len(fleet.hosts)


@pytest.mark.parametrize(
    ("password", "reason"),
    [(None, "sudo: a password is required; give the password with -K"), ("wrong", "incorrect")],
)
def test_status_and_cancel_without_the_right_password_say_why_and_touch_nothing(
    become_fleet: Become,
    become_dir: Dirs,
    become_users: BecomeUsers,
    tmp_path: Path,
    password: str | None,
    reason: str,
) -> None:
    fleet = become_fleet(PASS)
    mark = marker()
    roots = {h.name: str(become_dir("root")) for h in fleet.hosts}
    inv = per_host(fleet, tmp_path / "inv.yml", roots)
    state = tmp_path / "state"
    good = {"ANSIBLE_BECOME_PASS": become_users.password}
    bad = {} if password is None else {"ANSIBLE_BECOME_PASS": password}
    jobs = write_jobs(tmp_path / "jobs.yml", shell=f"sleep {mark}", become=True, poll=0)
    try:
        launched = run_cli(jobs, inv, state, env=good)
        assert launched.returncode == 0, launched.stderr
        batch = summary(launched.stdout)["batch"]
        assert wait_until(sleeping(mark, len(fleet.hosts)))
        for argv in (["status", "-b"], ["cancel", "--batch", batch]):
            since = sudo_log_offset()
            done = jobtui(*argv, "-i", str(inv), "--state-dir", str(state), env=bad)
            assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
            for h in fleet.hosts:
                assert f"{h.name}: unreachable" in done.stderr, done.stderr
            assert done.stderr.count(f"sudo to root: {reason}") == len(fleet.hosts), done.stderr
            # Asked once per host, never again (a wrong password could lock the account).
            assert sudo_invocations(PASS, since) == len(fleet.hosts)
            assert len(sleepers(mark)) == len(fleet.hosts)
        done = jobtui(
            "cancel", "--batch", batch, "-i", str(inv), "--state-dir", str(state), env=good
        )
        assert done.returncode == 0, done.stderr
        assert wait_until(lambda: processes_matching(f"sleep {mark}") == [], 10)
    finally:
        kill_leftovers(mark, [Path(r) for r in roots.values()])
