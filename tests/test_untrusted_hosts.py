"""A job runs as the same user as jobtui on its host and can rewrite its own files:
garbage there makes that one run unreadable (with the reason), never `status`,
`cancel`, `cleanup` or a following console; names from config or a host never reach
a terminal raw. Over real sshd hosts (and the CLI as a user runs it)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobtui import fleet, lifecycle
from jobtui.config import load_inventory
from jobtui.events import Event, RunChanged, RunView
from jobtui.transport import Transport
from tests.helpers import processes_matching, run_jobtui, wait_until

GOOD_PID = "999999 999998 1700000000 not-this-boot"
"""A pid line of a supervisor that is gone (another boot)."""
GOOD_RC = "0 1700000010 exited"
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Control characters (C0 but newline and tab, DEL, C1) and bidi overrides."""


def jobtui(
    *args: str, state: Path, timeout: float = 60, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return run_jobtui(*args, "--state-dir", str(state), timeout=timeout, **kw)


def meta(**fields: object) -> str:
    base: dict[str, object] = {"batch": "planted", "job": "planted", "item": "", "index": 0}
    return json.dumps({**base, **fields})


def plant(
    jobtui_dir: Path,
    jid: str,
    meta_text: str | None = None,
    pid: str = GOOD_PID,
    rc: str | None = GOOD_RC,
    stdout: str = "",
) -> None:
    """Write a run's files by hand, as a job rewriting its own could."""
    d = jobtui_dir / "jobs" / jid
    d.mkdir(parents=True, mode=0o700)
    jobtui_dir.chmod(0o700)
    (jobtui_dir / "jobs").chmod(0o700)
    files = {"pid": pid, "rc": rc, "meta": meta_text, "stdout": stdout}
    for name, text in files.items():
        if text is not None:
            (d / name).write_text(text + ("\n" if name != "stdout" else ""))


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def marker() -> Iterator[str]:
    """A `sleep` length unique to the test; every such sleep is killed at the end."""
    m = str(5000 + secrets.randbelow(4000))
    yield m
    for pid in processes_matching(f"sleep {m}"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def launch_sleepers(
    inventory: Path, tmp_path: Path, state: Path, marker: str, count: int
) -> dict[str, str]:
    """`sleep MARKER` on every host, fire and forget; returns host -> jid."""
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        textwrap.dedent(
            f"""
            jobs:
              - name: long
                hosts: all
                shell: sleep {marker}
                poll: 0
            """
        )
    )
    proc = jobtui("run", str(jobs), "-i", str(inventory), "--headless", "--json", state=state)
    assert proc.returncode == 0, proc.stderr
    assert wait_until(lambda: len(processes_matching(f"sleep {marker}")) == count, 15)
    st = jobtui("status", "-i", str(inventory), "--json", state=state)
    assert st.returncode == 0, st.stderr
    return {r["host"]: r["jid"] for r in json.loads(st.stdout)["runs"]}


PLANTED = {
    # jid: (meta, pid line, rc line, the reason expected)
    "garbage-index-list": (meta(index=[1]), GOOD_PID, GOOD_RC, "index is not an integer"),
    "garbage-index-inf": ('{"job": "g", "index": 1e400}', GOOD_PID, GOOD_RC, "index is not an"),
    "garbage-launched-400": (
        meta(launched=int("9" * 400)),
        GOOD_PID,
        GOOD_RC,
        "launched is out of range",
    ),
    "garbage-started-400": (meta(), "99999 99998 " + "9" * 400, GOOD_RC, "started is out of"),
    "garbage-rc-huge": (meta(), GOOD_PID, "100000000000000000000 1700000010 exited", "rc is out"),
    "garbage-timeout": (meta(timeout="1h"), GOOD_PID, GOOD_RC, "timeout is not an integer"),
}


def test_garbage_in_job_files_makes_only_those_runs_unreadable_for_status_cancel_cleanup(
    fleet_inventory: Path,
    fleet_jobtui_dirs: dict[str, Path],
    tmp_path: Path,
    state: Path,
    marker: str,
) -> None:
    jids = launch_sleepers(fleet_inventory, tmp_path, state, marker, 3)
    host1 = fleet_jobtui_dirs["host1"]
    # The running job on host1 rewrites its own meta.
    (host1 / "jobs" / jids["host1"] / "meta").write_text(meta(job="long", index="abc") + "\n")
    for jid, (m, pid, rc, _) in PLANTED.items():
        plant(host1, jid, m, pid, rc)

    st = jobtui("status", "-i", str(fleet_inventory), "--json", state=state)
    no_traceback(st)
    assert st.returncode == 0, st.stderr
    runs = {r["jid"]: r for r in json.loads(st.stdout)["runs"]}
    for host in ("host2", "host3"):
        r = runs[jids[host]]
        assert (r["host"], r["job"], r["state"], r["reason"]) == (host, "long", "running", None)
    bad = runs[jids["host1"]]
    assert (bad["host"], bad["state"]) == ("host1", "running")
    assert bad["reason"] == "unreadable metadata: index is not an integer"
    for jid, (*_, reason) in PLANTED.items():
        assert reason in (runs[jid]["reason"] or ""), runs[jid]
        assert runs[jid]["reason"].startswith("unreadable ")
    assert runs["garbage-rc-huge"]["rc"] is None
    assert runs["garbage-rc-huge"]["state"] == "lost"

    human = jobtui("status", "-i", str(fleet_inventory), state=state)
    no_traceback(human)
    assert human.returncode == 0
    assert all(jid in human.stdout for jid in [*jids.values(), *PLANTED])
    assert "garbage-index-list: succeeded: unreadable metadata: index is not an" in human.stderr
    assert "garbage-rc-huge: lost: unreadable exit status: rc is out of range" in human.stderr

    cancel = jobtui(
        "cancel", "-i", str(fleet_inventory), "--jid", jids["host1"], jids["host2"], state=state
    )
    no_traceback(cancel)
    assert cancel.returncode == 0, cancel.stderr
    assert f"{jids['host1']} " in cancel.stdout and f"{jids['host2']} " in cancel.stdout
    assert cancel.stdout.count(": cancelled") == 2, cancel.stdout

    cleanup = jobtui("cleanup", "-i", str(fleet_inventory), "--finished", "--yes", state=state)
    no_traceback(cleanup)
    assert cleanup.returncode == 0, cleanup.stderr
    for jid in [jids["host1"], jids["host2"], *PLANTED]:
        assert f"{jid} " in cleanup.stdout, cleanup.stdout
    assert jids["host3"] not in cleanup.stdout
    assert sorted(p.name for p in (host1 / "jobs").iterdir()) == []


def test_a_planted_progress_regex_is_never_evaluated(
    fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path], state: Path
) -> None:
    # `(a+)+$` over 3,000 a's and a non-a backtracks for longer than anyone waits.
    plant(
        fleet_jobtui_dirs["host1"],
        "planted-redos",
        meta(job="redos", progress_re="(a+)+$"),
        stdout="a" * 3000 + "!\n",
    )
    try:
        st = jobtui("status", "-i", str(fleet_inventory), "--json", state=state, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("status hung on a host's progress regex")
    no_traceback(st)
    (run,) = json.loads(st.stdout)["runs"]
    assert (run["job"], run["state"], run["progress"]) == ("redos", "succeeded", 100.0)


def test_a_job_that_writes_an_absurd_rc_is_lost_for_the_console_following_it(
    fleet_inventory: Path, tmp_path: Path, state: Path, marker: str
) -> None:
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        textwrap.dedent(
            f"""
            jobs:
              - name: liar
                hosts: host1
                shell: >-
                  printf '100000000000000000000 1 exited\\n' > "$JOBTUI_JOB_DIR/rc";
                  sleep {marker}
                poll: 1
                timeout: 60
            """
        )
    )
    proc = jobtui("run", str(jobs), "-i", str(fleet_inventory), "--headless", "--json", state=state)
    no_traceback(proc)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert lines and lines[-1]["event"] == "summary", proc.stderr
    (run,) = lines[-1]["runs"]
    assert (run["state"], run["rc"]) == ("lost", None)
    assert run["reason"] == "unreadable exit status: rc is out of range"
    assert proc.returncode == 1
    # The store recorded it: a console re-attached to the batch reads it back.
    again = jobtui("attach", "--headless", "--json", state=state)
    no_traceback(again)
    assert json.loads(again.stdout.splitlines()[-1])["runs"][0]["state"] == "lost"


EVIL_HOST = "evil\n  FORGED host2 long: succeeded\x1bc\x07\u202e"
EVIL_ITEM = "\x1b]0;pwned\x07\x1b[2J"
EVIL_DICT_ITEM = "x\n[   0.1s] FORGED: succeeded\x9b31m"


def evil_inventory(fleet_inventory: Path, tmp_path: Path) -> Path:
    """The fleet's inventory with host1 renamed to a name full of escapes."""
    inv = yaml.safe_load(fleet_inventory.read_text())
    hosts = inv["all"]["children"]["fleet"]["hosts"]
    hosts[EVIL_HOST] = hosts.pop("host1")
    del hosts["host3"]
    out = tmp_path / "evil.yml"
    out.write_text(yaml.safe_dump(inv, sort_keys=False))
    return out


def assert_inert(text: str, json_lines: bool = False) -> None:
    """No raw control character, and no line that a name started (or, for JSON
    lines, every line one JSON value)."""
    assert not RAW.search(text), repr(text)
    for line in text.splitlines():
        if json_lines:
            json.loads(line)
        else:
            assert "FORGED" not in line or "evil" in line or "x\\x0a" in line, repr(line)


def test_names_with_escapes_and_newlines_are_inert_in_run_status_and_cancel(
    fleet_inventory: Path,
    fleet_jobtui_dirs: dict[str, Path],
    tmp_path: Path,
    state: Path,
    marker: str,
) -> None:
    inventory = evil_inventory(fleet_inventory, tmp_path)
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        yaml.safe_dump(
            {
                "jobs": [
                    {
                        "name": "long",
                        "hosts": "all",
                        "shell": f"sleep {marker}",
                        "loop": [EVIL_ITEM, {"name": EVIL_DICT_ITEM}],
                        "poll": 0,
                    },
                    {"name": "fails", "hosts": "all", "shell": "echo oops >&2; exit 3", "poll": 1},
                ]
            }
        )
    )
    run = jobtui("run", str(jobs), "-i", str(inventory), "--headless", state=state)
    no_traceback(run)
    assert run.returncode == 1, run.stderr
    assert_inert(run.stderr)
    assert_inert(run.stdout)
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in run.stderr

    run_json = jobtui("run", str(jobs), "-i", str(inventory), "--headless", "--json", state=state)
    assert_inert(run_json.stdout, json_lines=True)
    lines = [json.loads(line) for line in run_json.stdout.splitlines()]
    assert EVIL_HOST in lines[0]["hosts"]
    assert {r["item"] for r in lines[-1]["runs"]} >= {EVIL_ITEM, EVIL_DICT_ITEM}

    # A job names itself (its meta) with escapes.
    plant(
        fleet_jobtui_dirs["host2"],
        "planted-evil-name",
        meta(job="j\n  FORGED\x1b]0;x\x07", batch="b\x9b2J", item="\u202eevil"),
    )
    st = jobtui("status", "-i", str(inventory), state=state)
    no_traceback(st)
    assert_inert(st.stdout)
    assert_inert(st.stderr)
    assert "j\\x0a  FORGED\\x1b]0;x\\x07" in st.stdout
    st_json = jobtui("status", "-i", str(inventory), "--json", state=state)
    assert_inert(st_json.stdout, json_lines=True)
    runs = json.loads(st_json.stdout)["runs"]
    assert {r["host"] for r in runs} == {EVIL_HOST, "host2"}
    assert "j\n  FORGED\x1b]0;x\x07" in {r["job"] for r in runs}

    cancel = jobtui("cancel", "-i", str(inventory), "--jid", *{r["jid"] for r in runs}, state=state)
    no_traceback(cancel)
    assert_inert(cancel.stdout)
    assert_inert(cancel.stderr)
    assert cancel.stdout.count(": cancelled") == 8, cancel.stdout


def fake_clock(tmp_path: Path, offset: int) -> dict[str, str]:
    """An environment whose `date +%s` is `offset` seconds off."""
    real = shutil.which("date")
    assert real
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    (bin_dir / "date").write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = +%s ]; then echo $(( $({real} +%s) + {offset} )); else exec {real} "$@"; fi\n'
    )
    (bin_dir / "date").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_status_says_a_host_clock_is_off(tmp_path: Path, state: Path) -> None:
    ten_years = 3650 * 86400
    env = fake_clock(tmp_path, ten_years)
    jobtui_dir = tmp_path / "jd"
    host_now = int(time.time()) + ten_years
    me = os.getpid()  # alive: the run is running
    plant(
        jobtui_dir, "planted-skewed", meta(job="skewed"), pid=f"{me} {me} {host_now - 90}", rc=None
    )
    inventory = tmp_path / "inv.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "farhost": {"ansible_connection": "local", "jobtui_dir": str(jobtui_dir)}
                    }
                }
            }
        )
    )
    st = jobtui("status", "-i", str(inventory), state=state, env=env)
    no_traceback(st)
    assert "farhost: host clock is off by 10y (ahead of this console's)" in st.stderr
    assert re.search(r" 1m3[0-9]s/", st.stdout), st.stdout  # elapsed in the host's own clock
    st_json = jobtui("status", "-i", str(inventory), "--json", state=state, env=env)
    assert abs(json.loads(st_json.stdout)["clock_skew"]["farhost"] - ten_years) < 60


def status_args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"accept_new_host_keys": False, "forks": 5, "json": True}
    base |= {"force": False, "state_dir": "/nonexistent/jobtui-state"}  # no store there
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Transport]:
    """Every transport the lifecycle commands open in this test."""
    made: list[Transport] = []
    real = fleet.transports_for

    def spy(*a: Any, **kw: Any) -> list[Transport]:
        ts = real(*a, **kw)
        made.extend(ts)
        return ts

    monkeypatch.setattr(lifecycle, "transports_for", spy)
    return made


def test_status_cancel_and_cleanup_close_every_transport_they_open(
    fleet_inventory: Path,
    fleet_jobtui_dirs: dict[str, Path],
    opened: list[Transport],
    capsys: pytest.CaptureFixture[str],
) -> None:
    plant(fleet_jobtui_dirs["host1"], "planted-closing", meta(job="c"))
    hosts = list(load_inventory(str(fleet_inventory)).hosts.values())
    assert lifecycle.status(hosts, status_args()) == 0
    assert lifecycle.act_on("cancel", hosts, status_args(), ["planted-closing"]) == 0
    assert lifecycle.act_on("cleanup", hosts, status_args(finished=True, yes=True), None) == 0
    capsys.readouterr()
    assert len(opened) == 9
    assert all(t.sessions_opened == 1 for t in opened)
    assert [t.host.name for t in opened if t._session is not None] == []


def test_the_watch_source_goes_on_over_garbage_job_files(
    fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path]
) -> None:
    for jid, (m, pid, rc, _) in PLANTED.items():
        plant(fleet_jobtui_dirs["host1"], jid, m, pid, rc)
    plant(fleet_jobtui_dirs["host2"], "planted-good-one", meta(job="good"))
    hosts = list(load_inventory(str(fleet_inventory)).hosts.values())
    poller = fleet.DiscoveryPoller(fleet.transports_for(hosts), interval=0.2)
    events: list[Event] = []

    def seen() -> dict[str | None, RunView]:
        return {e.run.jid: e.run for e in events if isinstance(e, RunChanged)}

    worker = threading.Thread(target=poller.run, args=(events.append,))
    worker.start()
    try:
        assert wait_until(lambda: len(seen()) == len(PLANTED) + 1, 15), events
        time.sleep(0.5)  # a few more cycles
        assert worker.is_alive()
    finally:
        poller.stop()
        worker.join(10)
    runs = seen()
    assert (runs["planted-good-one"].job, runs["planted-good-one"].reason) == ("good", "")
    for jid, (*_, reason) in PLANTED.items():
        assert reason in runs[jid].reason
