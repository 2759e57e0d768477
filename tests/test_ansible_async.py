"""Ansible's own async jobs, end to end: a real ansible-playbook launches `async` +
`poll: 0` jobs over the sshd fleet (tests/ansiblefleet.py, tests/playbooks/), then the
real jobtui CLI sees them (`status`, `watch`), cancels one for real, cleans up finished
ones, prints a finished one's output, and survives bad job files; Ansible's own
`async_status` checks what jobtui wrote.

Each test has its own async dirs (the inventory's `ansible_async_dir`), so it sees no
other test's jobs; the `ans` fixture kills whatever a test's jobs left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobtui.cli import load_routed, main
from jobtui.fleet import DiscoveryPoller, transports_for
from jobtui.model import ANSIBLE_JID_RE, JID_RE
from jobtui.ui.app import make_app
from tests.ansiblefleet import JOBS, AnsibleFleet, available
from tests.helpers import processes_matching, processes_using, run_jobtui, wait_until
from tests.sshfleet import SshFleet
from tests.test_watch import WRITING_CALLS, record_scripts

pytestmark = pytest.mark.skipif(not available(), reason="ansible-core (test extra) missing")

FINISH_WAIT = 30.0
"""Seconds a gated job gets to finish once its gate opens, or the timeout job to be
ended by Ansible (2 s, checked every 1 s)."""
CANCEL_WAIT = 15.0
"""Seconds for a cancelled job's processes to be gone (TERM, then KILL after 5 s)."""
WATCH_WAIT = 30.0
"""Seconds for the console to show what the hosts hold."""
"""The wrapper's functions that change something on a host."""


@pytest.fixture
def ans(ssh_fleet: SshFleet, tmp_path: Path) -> Iterator[AnsibleFleet]:
    """Ansible on host1 and host2 of the session fleet, rooted in this test's tmp dir;
    at teardown every process the playbook runs left (wrappers, modules, jobs) is
    killed, and none may survive."""
    harness = AnsibleFleet(ssh_fleet, tmp_path / "ans", ssh_fleet.hosts[:2])
    try:
        yield harness
    finally:
        harness.kill_leftovers()
    # Nothing in the real async dir: each job went to the inventory's ansible_async_dir.
    real = Path.home() / ".ansible_async"
    assert not [j for j in harness.launched if (real / j).exists()]


@pytest.fixture
def state(tmp_path: Path) -> str:
    return str(tmp_path / "state")


def jobtui(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The real CLI in-process: exit code, stdout, stderr."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def status(ans: AnsibleFleet, capsys: pytest.CaptureFixture[str], state: str) -> dict[str, Any]:
    """`jobtui status -i INV --json`: jid -> run; every host read, no traceback."""
    code, out, err = jobtui(
        capsys, "status", "-i", str(ans.inventory), "--json", "--state-dir", state
    )
    assert "Traceback" not in err
    assert code == 0, err
    document = json.loads(out)
    assert document["unreachable"] == {}
    return {r["jid"]: r for r in document["runs"]}


def wait_states(
    ans: AnsibleFleet,
    capsys: pytest.CaptureFixture[str],
    state: str,
    want: dict[str, str],
    timeout: float = FINISH_WAIT,
) -> dict[str, Any]:
    """Ask `status` until each jid of `want` is in its state; the last answer."""
    seen: list[dict[str, Any]] = []

    def reached() -> bool:
        seen.append(status(ans, capsys, state))
        return all(seen[-1].get(j, {}).get("state") == s for j, s in want.items())

    wait_until(reached, timeout, 0.5)
    got = {j: seen[-1].get(j, {}).get("state") for j in want}
    assert got == want
    return seen[-1]


def launch_jobtui_run(ans: AnsibleFleet, tmp_path: Path, state: str, capsys: Any) -> None:
    """One of jobtui's own runs on every host, followed to its end."""
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        textwrap.dedent(
            """
            jobs:
              - name: mine
                hosts: fleet
                shell: echo mine
                poll: 0.5
            """
        )
    )
    code, _, err = jobtui(
        capsys, "run", str(jobs), "-i", str(ans.inventory), "--headless", "--state-dir", state
    )
    assert code == 0, err


def test_status_lists_ansible_jobs_beside_jobtuis_with_their_states_as_they_change(
    ans: AnsibleFleet, tmp_path: Path, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = ["host1", "host2"]
    launch_jobtui_run(ans, tmp_path, state, capsys)
    jids = ans.launch(JOBS, hosts)
    assert all(ANSIBLE_JID_RE.match(j) for j in jids.values())

    first = status(ans, capsys, state)
    for (job, host), jid in jids.items():
        run = first[jid]
        assert (run["host"], run["jid"], run.get("ansible")) == (host, jid, True), run
        if job == "timeout":  # Ansible may have ended it already (2 s)
            assert run["state"] in ("running", "timed_out"), run
        else:  # ok and fail wait for the gate; long sleeps 300 s
            assert (run["state"], run["rc"]) == ("running", None), run
        if run["state"] == "running":  # since its file was written
            assert run["started"] is not None and run["finished"] is None, run
        if job == "long":  # its command from /proc, its time limit from the wrapper's argv
            assert str(ans.sleepers["long"]) in run.get("command", ""), run
            assert run["timeout"] == 600
    mine = [r for r in first.values() if r["job"] == "mine"]
    assert sorted(r["host"] for r in mine) == hosts
    assert all(JID_RE.match(r["jid"]) and not r.get("ansible") for r in mine)
    assert {(r["state"], r["rc"]) for r in mine} == {("succeeded", 0)}
    assert len(first) == len(jids) + len(mine)

    ans.open_gate()
    want = {"ok": "succeeded", "fail": "failed", "timeout": "timed_out", "long": "running"}
    last = wait_states(ans, capsys, state, {jid: want[job] for (job, _), jid in jids.items()})
    for (job, _), jid in jids.items():
        run = last[jid]
        assert run.get("ansible") is True
        assert run["rc"] == {"ok": 0, "fail": 4}.get(job), run
        if job in ("ok", "fail"):
            assert run["finished"] is not None
    assert ans.ok_line in last[jids[("ok", "host1")]].get("command", "")  # the result's cmd
    assert {r["jid"] for r in last.values() if r["job"] == "mine"} == {r["jid"] for r in mine}

    # A reboot, a kill -9: no wrapper left, no result written. Lost, not running.
    gone = jids[("long", "host2")]
    kill_session(ans.job_processes(gone))
    after = wait_states(ans, capsys, state, {gone: "lost", jids[("long", "host1")]: "running"})
    assert (after[gone]["rc"], after[gone].get("ansible")) == (None, True)


def kill_session(pids: list[int]) -> None:
    """SIGKILL every one of `pids`, as a reboot would end them."""
    assert pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_cancel_ends_an_ansible_job_and_all_its_children_and_async_status_says_failed(
    ans: AnsibleFleet, tmp_path: Path, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    jid = ans.launch(["long"], ["host1"])[("long", "host1")]
    marker = str(ans.sleepers["long"])
    assert wait_until(lambda: len(processes_matching(marker)) == 3, 10)  # sh + 2 sleeps
    wrappers = ans.wrappers(jid)  # the watcher and the module runner
    assert len(wrappers) == 2
    in_session, marked = set(ans.job_processes(jid)), set(processes_matching(marker))
    assert len(marked - in_session) == 1  # the sleep that left with setsid
    job = sorted(in_session | marked)
    # What the session's guard (conftest's nothing_is_left_behind) would catch.
    assert set(wrappers) | set(processes_matching(marker)) <= set(processes_using(tmp_path))

    code, out, err = jobtui(
        capsys, "cancel", "-i", str(ans.inventory), "--jid", jid, "--state-dir", state
    )
    assert code == 0, err
    assert re.search(rf"{re.escape(jid)} .*: cancelled$", out, re.MULTILINE), out
    assert wait_until(lambda: processes_matching(marker) == [], CANCEL_WAIT)
    assert wait_until(lambda: process_facts(job) == {}, CANCEL_WAIT)

    answer = ans.async_status("host1", jid)
    assert answer.failed, answer
    assert answer.result["finished"] in (True, 1), answer
    assert "jobtui" in answer.result["msg"], answer
    run = status(ans, capsys, state)[jid]
    assert (run["state"], run.get("ansible")) == ("cancelled", True), run


def test_cleanup_refuses_a_running_ansible_job_and_removes_finished_ones(
    ans: AnsibleFleet, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    jids = ans.launch(["ok", "fail", "long"], ["host1"])
    ok, fail, long = (jids[(j, "host1")] for j in ("ok", "fail", "long"))
    ans.open_gate()
    assert ans.wait_finished("host1", ok, FINISH_WAIT).get("rc") == 0
    assert ans.wait_finished("host1", fail, FINISH_WAIT).get("rc") == 4
    inv = str(ans.inventory)

    code, out, err = jobtui(capsys, "cleanup", "-i", inv, "--jid", long, "--state-dir", state)
    assert code == 1
    assert re.search(rf"{re.escape(long)} .*: running, refused", err), err
    assert ans.job_file("host1", long).exists()
    assert processes_matching(str(ans.sleepers["long"]))  # and untouched

    code, out, err = jobtui(capsys, "cleanup", "-i", inv, "--jid", ok, "--state-dir", state)
    assert code == 0, err
    assert re.search(rf"{re.escape(ok)} .*: removed$", out, re.MULTILINE), out
    assert not ans.job_file("host1", ok).exists()

    code, out, err = jobtui(
        capsys, "cleanup", "-i", inv, "--finished", "--yes", "--state-dir", state
    )
    assert code == 0, err
    assert re.search(rf"{re.escape(fail)} .*: removed$", out, re.MULTILINE), out
    assert long not in out
    assert sorted(p.name for p in ans.async_dirs["host1"].iterdir()) == [long]

    answer = ans.async_status("host1", ok)
    assert answer.failed and answer.result["msg"] == "could not find job", answer
    assert set(status(ans, capsys, state)) == {long}


def process_facts(pids: list[int]) -> dict[int, tuple[str, str]]:
    """pid -> (state, start time) from /proc/PID/stat: a process that was signalled to
    death is gone, one stopped is `T`, one replaced has another start time."""
    facts = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        facts[pid] = (fields[0], fields[19])
    return facts


def test_watch_shows_ansible_jobs_and_changes_no_file_and_signals_no_process(
    ans: AnsibleFleet, capsys: pytest.CaptureFixture[str]
) -> None:
    jids = ans.launch(["ok", "long"], ["host1"])
    ok, long = jids[("ok", "host1")], jids[("long", "host1")]
    ans.open_gate()
    assert ans.wait_finished("host1", ok, FINISH_WAIT).get("rc") == 0
    marker = str(ans.sleepers["long"])
    assert wait_until(lambda: len(processes_matching(marker)) == 3, 10)
    before = ans.digest()
    procs = process_facts(sorted(set(ans.job_processes(long)) | set(processes_matching(marker))))
    assert len(procs) == 6  # watcher, runner, module, sh, 2 sleeps

    inventory, _ = load_routed([str(ans.inventory)], None)
    transports = transports_for(inventory.hosts.values())
    sent = record_scripts(transports)
    poller = DiscoveryPoller(transports, interval=0.2)
    app = make_app(source=poller, title="jobtui watch", read_only=True)
    seen: dict[str, Any] = {}

    async def drive() -> None:
        async with app.run_test(size=(160, 40)) as pilot:
            deadline = time.monotonic() + WATCH_WAIT
            while time.monotonic() < deadline:
                await pilot.pause(0.1)
                seen.update({v.jid: v for v in app.board.runs.values() if v.jid})
                if seen.get(ok) and seen[ok].state.value == "succeeded" and long in seen:
                    break
            # Every action key an operator would try; none may do anything.
            await pilot.press("c", "x", "r", "space", "enter", "y", "escape")
            await pilot.pause(1.0)
            seen.update({v.jid: v for v in app.board.runs.values() if v.jid})
            await pilot.press("q")

    asyncio.run(drive())
    assert set(seen) == {ok, long}
    assert (seen[ok].state.value, seen[ok].rc, seen[ok].ansible) == ("succeeded", 0, True)
    assert (seen[long].state.value, seen[long].ansible) == ("running", True)
    assert ans.ok_line in seen[ok].command  # the result's cmd
    assert marker in seen[long].command  # the module's `sh -c ...`, from /proc
    assert sent and not [s for s in sent if WRITING_CALLS.search(s)]
    assert ans.digest() == before
    assert process_facts(list(procs)) == procs
    capsys.readouterr()


def test_logs_prints_a_finished_ansible_jobs_stdout(ans: AnsibleFleet, state: str) -> None:
    ok = ans.launch(["ok"], ["host1"])[("ok", "host1")]
    ans.open_gate()
    result = ans.wait_finished("host1", ok, FINISH_WAIT)
    assert result.get("stdout") == ans.ok_line

    done = run_jobtui("logs", "-i", str(ans.inventory), ok, "--state-dir", state)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip("\n") == ans.ok_line
    assert "ok-stderr" not in done.stdout


BAD_FILES = {
    "j100000000001.4001.tmp": b'{"started": true, "fini',
    "j100000000002.4002": b'{"rc": 0, "stdout": "half a resul',
    "j100000000003.4003": b'{"rc": "0", "stdout": "", "cmd": "true", "changed": true}',
    "j100000000005.4005": b'{"rc": 1' + b"0" * 30 + b', "stdout": "", "cmd": "true"}',
}
SYMLINK = "j100000000004.4004"


def test_bad_job_files_are_each_one_unreadable_job_and_spoil_nothing(
    ans: AnsibleFleet, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    jids = ans.launch(["ok", "long"], ["host1"])
    ok, long = jids[("ok", "host1")], jids[("long", "host1")]
    ans.open_gate()
    assert ans.wait_finished("host1", ok, FINISH_WAIT).get("rc") == 0
    adir = ans.async_dirs["host1"]
    for name, body in BAD_FILES.items():
        (adir / name).write_bytes(body)
    (adir / SYMLINK).symlink_to(ans.job_file("host1", ok))
    inv = str(ans.inventory)

    runs = status(ans, capsys, state)  # exit 0: the host was read (lifecycle.status)
    assert (runs[ok]["state"], runs[ok]["rc"]) == ("succeeded", 0)
    assert runs[long]["state"] == "running"
    bad = {j: r for j, r in runs.items() if j not in (ok, long)}
    assert set(bad) == {name for name in BAD_FILES if not name.endswith(".tmp")} | {SYMLINK}
    for run in bad.values():
        assert run.get("ansible") is True
        assert run["state"] == "lost" and run["rc"] is None, run
        assert run["reason"] and "unreadable" in run["reason"], run
    assert "JSON" in bad["j100000000002.4002"]["reason"]
    assert "rc" in bad["j100000000003.4003"]["reason"]
    assert "rc" in bad["j100000000005.4005"]["reason"]
    assert "link" in bad[SYMLINK]["reason"]

    code, out, err = jobtui(capsys, "status", "-i", inv, "--state-dir", state)
    assert code == 0 and "Traceback" not in err
    assert ok in out and long in out
    for jid in bad:
        assert re.search(rf"{re.escape(jid)}: lost: .*unreadable", err), err
    assert ans.job_file("host1", ok).read_bytes()  # the link's target is left alone
