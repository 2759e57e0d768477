"""Batches are first-class (issue 16): `jobtui batches`, batch id prefixes wherever a
batch is taken, the recap the console leaves on the terminal, the demo's own state
directory, and `status` narrowed as the others are.

Real CLI processes on local-connection hosts (no SSH); the console under a real
pseudo-terminal.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import secrets
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from jobtui.cli import demo_plan
from jobtui.events import RunView
from jobtui.model import RunKey, RunState
from jobtui.report import recap
from tests.helpers import processes_matching, run_jobtui, wait_until


def inventory(tmp_path: Path) -> str:
    p = tmp_path / "inv.yml"
    p.write_text(
        textwrap.dedent(
            f"""\
            all:
              children:
                web:
                  hosts:
                    web01: {{ansible_connection: local, jobtui_dir: {tmp_path}/jd1}}
                    web02: {{ansible_connection: local, jobtui_dir: {tmp_path}/jd2}}
            """
        )
    )
    return str(p)


def jobs_file(tmp_path: Path, body: str, name: str = "jobs.yml") -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return str(p)


QUICK = """\
jobs:
  - name: hi
    hosts: web
    shell: echo hi
    poll: 0.2
  - name: bad
    hosts: web01
    shell: echo nope >&2; exit 3
    poll: 0.2
"""


JOBTUI = (sys.executable, "-m", "jobtui")


def jobtui(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_jobtui(*args, "--state-dir", str(state))


def listed(state: Path, *extra: str) -> list[dict[str, Any]]:
    proc = jobtui(state, "batches", "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    batches: list[dict[str, Any]] = json.loads(proc.stdout)["batches"]
    return batches


def run_quick(tmp_path: Path, state: Path, body: str = QUICK) -> str:
    """A finished batch (headless); its id."""
    proc = jobtui(state, "run", jobs_file(tmp_path, body), "-i", inventory(tmp_path), "--headless")
    assert proc.returncode in (0, 1), proc.stderr
    found = re.search(r"batch (\d{8}-\d{6}-[0-9a-f]{6})", proc.stderr)
    assert found, proc.stderr
    return found.group(1)


def same_prefix_batches(store: Path, prefix: str, n: int) -> list[str]:
    """`n` finished batches whose ids start with `prefix`, written into the store as
    `run` writes them (the real ids only share a prefix within a second)."""
    from jobtui.store import Store

    ids = [f"{prefix}{secrets.token_hex(3)}" for _ in range(n)]
    with Store.open(store) as st:
        for i, batch in enumerate(ids):
            st.create_batch(batch, [], {"jobs": "x.yml"}, 1)
            st.db.execute("UPDATE batches SET created=? WHERE id=?", (time.time() + i, batch))
    return ids


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


# -- jobtui batches ----------------------------------------------------------------------


def test_batches_lists_each_batch_newest_first_with_jobs_hosts_and_counts(
    tmp_path: Path, state: Path
) -> None:
    first = run_quick(tmp_path, state)
    second = run_quick(tmp_path, state, "jobs:\n  - {name: solo, hosts: web02, shell: 'true'}\n")
    batches = listed(state)
    assert [b["batch"] for b in batches] == [second, first]
    assert batches[1]["jobs"] == ["hi", "bad"]
    assert batches[1]["hosts"] == 2 and batches[1]["runs"] == 3
    assert batches[1]["counts"] == {"succeeded": 2, "failed": 1}
    assert batches[1]["started"].endswith("Z") and batches[1]["finished"]
    assert batches[0]["counts"] == {"succeeded": 1} and batches[0]["hosts"] == 1
    assert not batches[0]["followed"] and batches[0]["follower"] is None

    human = jobtui(state, "batches")
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert lines[0].split()[:4] == ["BATCH", "STARTED", "JOBS", "HOSTS"]
    assert lines[1].startswith(second) and lines[2].startswith(first)
    assert "hi,bad" in lines[2] and "2 succeeded, 1 failed" in lines[2]


def test_batches_of_an_empty_state_dir_lists_nothing_and_creates_nothing(state: Path) -> None:
    assert listed(state) == []
    human = jobtui(state, "batches")
    assert human.returncode == 0 and "no batch" in human.stdout
    assert not state.exists()


def test_batches_names_the_console_that_follows_a_batch_and_prefixes_reach_it(
    tmp_path: Path, state: Path
) -> None:
    marker = str(7000 + secrets.randbelow(2000))
    jobs = jobs_file(
        tmp_path, f"jobs:\n  - {{name: long, hosts: web01, shell: 'sleep {marker}', poll: 0.2}}\n"
    )
    console = subprocess.Popen(
        [*JOBTUI, "run", jobs, "-i", inventory(tmp_path), "--headless", "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: len(processes_matching(f"sleep {marker}")) == 1, 20)
        (batch,) = listed(state)
        assert batch["followed"] and f"pid {console.pid}" in batch["follower"]
        assert "jobtui run" in batch["follower"]
        human = jobtui(state, "batches").stdout.splitlines()[1]
        assert f"pid {console.pid}" in human
    finally:
        console.send_signal(signal.SIGINT)
        console.wait(20)
    (batch,) = listed(state)
    assert not batch["followed"] and batch["counts"] == {"running": 1}

    prefix = batch["batch"][:13]
    cancel = jobtui(state, "cancel", "-i", inventory(tmp_path), "--batch", prefix)
    assert cancel.returncode == 0, cancel.stderr
    assert "cancelled" in cancel.stdout
    assert wait_until(lambda: not processes_matching(f"sleep {marker}"), 20)
    cleanup = jobtui(state, "cleanup", "-i", inventory(tmp_path), "--batch", prefix)
    assert cleanup.returncode == 0, cleanup.stderr
    assert "removed" in cleanup.stdout
    assert not list((tmp_path / "jd1" / "jobs").iterdir())


def test_a_console_can_follow_a_batch_while_batches_probes_its_lock(state: Path) -> None:
    """`jobtui batches` holds a shared lock for an instant: never a "followed" error."""
    from jobtui.store import BatchBusy, Store

    (batch,) = same_prefix_batches(state, "20261201-173412-", 1)
    (state / "locks").mkdir()
    probe = os.open(state / "locks" / f"{batch}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(probe, fcntl.LOCK_SH)
    threading.Timer(0.05, os.close, (probe,)).start()
    with Store.open(state) as store:
        store.follow(batch, "jobtui attach")  # waits out the probe
        with Store.open(state) as other, pytest.raises(BatchBusy, match="jobtui attach"):
            other.follow(batch, "jobtui attach")
        assert "jobtui attach" in (store.follower(batch) or "")
    with Store.open(state) as store:
        assert store.follower(batch) is None


def test_batches_shows_what_it_did_not_write_inert(tmp_path: Path, state: Path) -> None:
    """The follower's lock is written by whoever holds it: shown as text, never obeyed."""
    batch = run_quick(tmp_path, state)
    fd = os.open(state / "locks" / f"{batch}.lock", os.O_RDWR)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, "pid 1\x1b[31m red\u202e\nforged line".encode())
        fcntl.flock(fd, fcntl.LOCK_EX)
        human = jobtui(state, "batches")
        raw = jobtui(state, "batches", "--json").stdout
    finally:
        os.close(fd)
    assert human.returncode == 0, human.stderr
    assert "\x1b" not in human.stdout and "\u202e" not in human.stdout
    assert "pid 1\\x1b[31m red\\u202e\\x0aforged line" in human.stdout
    assert len(human.stdout.splitlines()) == 2
    assert "\x1b" not in raw and "\u202e" not in raw
    assert json.loads(raw)["batches"][0]["follower"] == "pid 1\x1b[31m red\u202e\nforged line"


# -- prefixes ----------------------------------------------------------------------------


def test_attach_takes_a_unique_prefix_of_a_batch_id(tmp_path: Path, state: Path) -> None:
    batch = run_quick(tmp_path, state)
    proc = jobtui(state, "attach", batch[:15], "--headless", "--json")
    assert proc.returncode == 1, proc.stderr  # the batch has a failed run
    first = json.loads(proc.stdout.splitlines()[0])
    assert first["event"] == "batch" and first["batch"] == batch


COMMANDS = {
    "attach": ["attach", "{batch}", "--headless"],
    "status": ["status", "-i", "{inv}", "--batch", "{batch}"],
    "cancel": ["cancel", "-i", "{inv}", "--batch", "{batch}"],
    "cleanup": ["cleanup", "-i", "{inv}", "--batch", "{batch}"],
}


def command(name: str, batch: str, inv: str) -> list[str]:
    return [a.format(batch=batch, inv=inv) for a in COMMANDS[name]]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_ambiguous_prefix_is_exit_2_naming_the_candidates(
    name: str, tmp_path: Path, state: Path
) -> None:
    ids = same_prefix_batches(state, "20261201-173412-", 2)
    proc = jobtui(state, *command(name, "20261201-1734", inventory(tmp_path)))
    assert proc.returncode == 2, proc.stderr
    assert "ambiguous" in proc.stderr and all(b in proc.stderr for b in ids)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_unknown_prefix_is_exit_2_with_a_hint(name: str, tmp_path: Path, state: Path) -> None:
    run_quick(tmp_path, state)
    proc = jobtui(state, *command(name, "19990101", inventory(tmp_path)))
    assert proc.returncode == 2, proc.stderr
    assert "no batch '19990101'" in proc.stderr and "jobtui batches" in proc.stderr
    assert proc.stdout == ""


def test_an_exact_id_wins_over_a_longer_one_it_prefixes(tmp_path: Path, state: Path) -> None:
    from jobtui.batches_cmd import resolve_batch

    assert resolve_batch("ab", ["abc", "ab"], "here", "hint") == "ab"
    assert resolve_batch("ab", ["abc", "xyz"], "here", "hint") == "abc"


# -- status narrowed -----------------------------------------------------------------------


def test_status_is_narrowed_by_batch_prefix_job_and_states(tmp_path: Path, state: Path) -> None:
    first = run_quick(tmp_path, state)
    second = run_quick(tmp_path, state)
    inv = inventory(tmp_path)

    def shown(*narrowing: str) -> set[tuple[str, str, str]]:
        proc = jobtui(state, "status", "-i", inv, "--json", *narrowing)
        assert proc.returncode == 0, proc.stderr
        return {(r["batch"], r["job"], r["state"]) for r in json.loads(proc.stdout)["runs"]}

    assert len(shown()) == 4  # (batch, job, state) for two batches
    assert shown("--batch", second) == {(second, "hi", "succeeded"), (second, "bad", "failed")}
    assert shown("--state", "failed") == {(first, "bad", "failed"), (second, "bad", "failed")}
    assert shown("--state", "failed", "--state", "succeeded", "--job", "hi") == {
        (first, "hi", "succeeded"),
        (second, "hi", "succeeded"),
    }
    assert shown("--state", "timed_out,cancelled") == set()
    human = jobtui(state, "status", "-i", inv, "--batch", first, "--state", "failed")
    assert human.returncode == 0, human.stderr
    body = human.stdout.splitlines()[1:]
    assert len(body) == 1 and "bad" in body[0] and second not in human.stdout


def test_status_with_a_bad_state_name_is_exit_2_with_did_you_mean(
    tmp_path: Path, state: Path
) -> None:
    proc = jobtui(state, "status", "-i", inventory(tmp_path), "--state", "succeeded,faild")
    assert proc.returncode == 2
    assert "unknown state 'faild'" in proc.stderr and "did you mean 'failed'" in proc.stderr


# -- the demo's own state --------------------------------------------------------------------


def test_the_demo_keeps_its_batches_apart_from_the_real_ones(tmp_path: Path, state: Path) -> None:
    real = run_quick(tmp_path, state)
    demo = jobtui(state, "demo", "--headless", "--json", "--limit", "web02")
    assert demo.returncode == 1, demo.stderr  # web02's rotation fails, on purpose
    demo_batch = json.loads(demo.stdout.splitlines()[0])["batch"]

    assert [b["batch"] for b in listed(state)] == [real]
    assert [b["batch"] for b in listed(state, "--demo")] == [demo_batch]
    assert (state / "demo" / "jobtui.db").exists()

    latest = jobtui(state, "attach", "--headless", "--json")  # the latest real batch
    assert json.loads(latest.stdout.splitlines()[0])["batch"] == real
    again = jobtui(state, "attach", "--demo", demo_batch[:15], "--headless", "--json")
    assert json.loads(again.stdout.splitlines()[0])["batch"] == demo_batch, again.stderr
    plain = jobtui(state, "attach", demo_batch, "--headless")
    assert plain.returncode == 2
    assert "demo batch" in plain.stderr and f"jobtui attach --demo --state-dir {state}" in (
        plain.stderr
    )


def test_the_demos_hosts_look_at_no_ansible_job_of_this_machine(tmp_path: Path) -> None:
    """The demo's hosts are simulated on this machine: its user's own Ansible jobs
    (~/.ansible_async) are not theirs to show."""
    plan = demo_plan(argparse.Namespace(state_dir=str(tmp_path / "state"), limit=None))
    dirs = [h.ansible_async_dir for h in plan.hosts()]
    assert dirs and all(d.startswith(str(tmp_path / "state")) for d in dirs), dirs
    assert len(set(dirs)) == len(dirs)


# -- the recap -------------------------------------------------------------------------------


def view(state: RunState, host: str = "h1") -> RunView:
    return RunView(
        key=RunKey("j", host, 0), job="j", host=host, item="", jid="x" * 8, state=state, attempt=1
    )


def test_recap_counts_by_state_and_says_how_to_attach_again() -> None:
    runs = [view(RunState.SUCCEEDED), view(RunState.SUCCEEDED, "h2"), view(RunState.RUNNING)]
    text = recap("b1", runs, "jobtui attach b1")
    assert text.splitlines() == [
        "RECAP batch b1: 3 runs on 2 hosts",
        "  running=1  succeeded=2",
        "  1 goes on on its host: follow them again with: jobtui attach b1",
    ]
    done = recap("b1", [view(RunState.FAILED)], "jobtui attach b1").splitlines()
    assert done[1:] == [
        "  failed=1",
        "  every run finished; see the batch again with: jobtui attach b1",
    ]


def read_all(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal's other side is gone: the process ended
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


def test_leaving_the_console_leaves_a_recap_on_the_terminal(tmp_path: Path, state: Path) -> None:
    jobs = jobs_file(tmp_path, QUICK)
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    proc = subprocess.Popen(
        [*JOBTUI, "run", jobs, "-i", inventory(tmp_path), "--state-dir", str(state), "--no-bell"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        start_new_session=True,
    )
    os.close(follower)
    try:
        assert wait_until(lambda: bool(listed(state)) and listed(state)[0]["finished"], 30)
        (batch,) = listed(state)
        time.sleep(0.5)  # the console has seen the end too
        os.write(leader, b"q")
        out = read_all(leader, proc, 30)
        assert proc.wait(20) == 1  # a run failed
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]", b"", out).decode()
    recap_at = text.rindex("RECAP batch")
    lines = text[recap_at:].replace("\r", "").splitlines()
    assert lines[0] == f"RECAP batch {batch['batch']}: 3 runs on 2 hosts"
    assert lines[1].split() == ["succeeded=2", "failed=1"]
    assert f"jobtui attach --state-dir {state} {batch['batch']}" in lines[2]
