"""The real POSIX sh wrapper, run by the local /bin/sh (dash on Debian).

These prove the remote protocol itself; the same wrapper over real sshd is
proven in test_e2e_ssh.py.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from jobtui.model import Host, Outcome, RunState, new_jid
from jobtui.remote import parse, protocol
from jobtui.remote.parse import LaunchOutcome
from jobtui.remote.protocol import LaunchRequest
from jobtui.transport.local import LocalTransport
from tests.helpers import processes_matching, wait_state, wait_until


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    return tmp_path / "home with spaces" / "jobtui"


@pytest.fixture
def local(host_dir: Path) -> LocalTransport:
    return LocalTransport(Host(name="l", address="l", connection="local", jobtui_dir=str(host_dir)))


def req(script: str, timeout: int = 30, **kw: object) -> LaunchRequest:
    return LaunchRequest(new_jid(), script, timeout, {"job": "t"}, **kw)  # type: ignore[arg-type]


def test_a_launched_run_succeeds_with_its_output(local: LocalTransport) -> None:
    r = req("echo out; echo err >&2")
    assert local.launch([r])[r.jid].outcome is LaunchOutcome.OK
    assert wait_state(local, r.jid) is RunState.SUCCEEDED
    st = local.status([r.jid]).runs[r.jid]
    assert (st.rc, st.tail, st.stderr_tail) == (0, "out\n", "err\n")


def test_relaunching_the_same_jid_starts_nothing(local: LocalTransport, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    r = req(f"echo x >> '{counter}'")
    assert local.launch([r])[r.jid].outcome is LaunchOutcome.OK
    assert local.launch([r])[r.jid].outcome is LaunchOutcome.EXISTS
    wait_state(local, r.jid)
    assert counter.read_text() == "x\n"


def test_job_dir_is_0700_and_files_0600(local: LocalTransport, host_dir: Path) -> None:
    r = req("echo hi")
    local.launch([r])
    wait_state(local, r.jid)
    d = host_dir / "jobs" / r.jid
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for f in d.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name


def test_timeout_kills_the_whole_process_group(local: LocalTransport, tmp_path: Path) -> None:
    marker = str(3000 + secrets.randbelow(5000))
    started = tmp_path / "started"
    r = req(
        f"(echo a >> {started}; exec sleep {marker}) & "
        f"(trap '' TERM; echo b >> {started}; exec sleep {marker}) & "
        f"echo c >> {started}; sleep {marker}",
        timeout=2,
    )
    local.launch([r])
    assert wait_state(local, r.jid, timeout=60) is RunState.TIMED_OUT
    # All three were running when the limit hit, one of them deaf to TERM...
    assert sorted(started.read_text().split()) == ["a", "b", "c"]
    # ...and none survives: the TERM-ignoring one got KILL after the grace period.
    assert processes_matching(f"sleep {marker}") == []


def test_cancel_terminates_the_run_and_its_children(local: LocalTransport) -> None:
    marker = str(3000 + secrets.randbelow(5000))
    r = req(f"sleep {marker} & sleep {marker}")
    local.launch([r])
    assert wait_until(lambda: len(processes_matching(f"sleep {marker}")) == 2, 5)
    assert local.cancel([r.jid]) == {r.jid: "ok"}
    assert wait_state(local, r.jid) is RunState.CANCELLED
    assert processes_matching(f"sleep {marker}") == []


def test_cleanup_refuses_a_running_run_and_removes_a_finished_one(
    local: LocalTransport, host_dir: Path
) -> None:
    running, done = req("sleep 30"), req("true")
    local.launch([running, done])
    wait_state(local, done.jid)
    assert local.cleanup([running.jid, done.jid]) == {running.jid: "running", done.jid: "ok"}
    assert (host_dir / "jobs" / running.jid).is_dir()
    assert not (host_dir / "jobs" / done.jid).exists()
    local.cancel([running.jid])


def test_killed_supervisor_is_lost(local: LocalTransport) -> None:
    marker = str(3000 + secrets.randbelow(5000))
    r = req(f"sleep {marker}")
    local.launch([r])
    assert wait_until(lambda: local.status([r.jid]).runs[r.jid].pid is not None, 5)
    for pid in processes_matching(r.jid):
        os.kill(pid, 9)  # the supervisor (its argv holds the job dir)
    for pid in processes_matching(f"sleep {marker}"):
        os.kill(pid, 9)
    assert wait_state(local, r.jid) is RunState.LOST


def test_a_job_whose_supervisor_was_killed_is_running_unsupervised_not_lost(
    local: LocalTransport, host_dir: Path
) -> None:
    """Only the supervisor is killed; the job goes on. Calling it `lost` would let a
    retry start the same work a second time while it runs. It stays `running`
    (unsupervised, with the reason), cleanup refuses it, cancel kills and records it."""
    marker = str(3000 + secrets.randbelow(5000))
    limit = str(7000 + secrets.randbelow(1000))
    r = req(f"sleep {marker}", timeout=int(limit))
    local.launch([r])
    assert wait_until(lambda: local.status([r.jid]).runs[r.jid].pid is not None, 5)

    def supervision() -> list[int]:  # the supervisor, its watchdog, the watchdog's sleep
        supervisors = set(processes_matching("supervise-")) & set(processes_matching(r.jid))
        return sorted(supervisors | set(processes_matching(f"sleep {limit}")))

    assert len(supervision()) == 3
    for pid in supervision():
        os.kill(pid, 9)
    assert wait_until(lambda: supervision() == [], 5)
    st = local.status([r.jid]).runs[r.jid]
    assert (st.state, st.unsupervised) == (RunState.RUNNING, True)
    assert "supervisor is gone" in st.reason
    assert processes_matching(f"sleep {marker}") != []
    assert local.cleanup([r.jid]) == {r.jid: "running"}
    assert local.cancel([r.jid]) == {r.jid: "ok"}
    assert wait_until(lambda: processes_matching(f"sleep {marker}") == [], 5)
    st = local.status([r.jid]).runs[r.jid]
    assert (st.state, st.rc) == (RunState.CANCELLED, 143)


def test_a_zombie_supervisor_is_dead_and_a_live_one_alive(
    local: LocalTransport, host_dir: Path
) -> None:
    """Where no init reaps orphans, a dead supervisor stays a zombie that `kill -0`
    calls alive: the run must still show as lost, not running forever."""
    zombie = subprocess.Popen(["true"])  # exits and is not waited for: a zombie
    live = subprocess.Popen(["sleep", "30"])
    try:
        stat = Path(f"/proc/{zombie.pid}/stat")
        assert wait_until(lambda: stat.read_text().rsplit(") ", 1)[1].startswith("Z"), 5)
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        local.status([])  # the job root exists
        jids = {}
        for name, pid in (("zombie", zombie.pid), ("live", live.pid)):
            jid = new_jid()
            d = host_dir / "jobs" / jid
            d.mkdir(parents=True)
            (d / "pid").write_text(f"{pid} {pid} 1764000000 {boot}\n")
            jids[name] = jid
        runs = local.status(list(jids.values())).runs
        assert runs[jids["zombie"]].state is RunState.LOST
        assert runs[jids["live"]].state is RunState.RUNNING
    finally:
        live.kill()
        live.wait()
        zombie.wait()


def test_env_and_chdir_reach_the_job(local: LocalTransport, tmp_path: Path) -> None:
    r = req(
        'printf "%s|%s" "$GREETING" "$(pwd)"', env={"GREETING": "a 'b' $c"}, chdir=str(tmp_path)
    )
    local.launch([r])
    wait_state(local, r.jid)
    assert local.status([r.jid]).runs[r.jid].tail == f"a 'b' $c|{tmp_path}"


def test_status_tail_is_bounded(local: LocalTransport) -> None:
    r = req("head -c 5000000 /dev/zero | tr '\\0' x; echo END")
    local.launch([r])
    wait_state(local, r.jid)
    tail = local.status([r.jid]).runs[r.jid].tail
    assert len(tail) == 4096 and tail.endswith("xEND\n")


def test_status_without_jids_lists_every_run_on_the_host(local: LocalTransport) -> None:
    a, b = req("true"), req("true")
    local.launch([a, b])
    assert set(local.status().runs) == {a.jid, b.jid}


def test_unusable_job_root_is_a_clear_launch_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    t = LocalTransport(
        Host(name="l", address="l", connection="local", jobtui_dir=str(blocker / "jobtui"))
    )
    r = req("true")
    res = t.launch([r])[r.jid]
    assert res.outcome is LaunchOutcome.ERROR
    assert "cannot set up" in res.message and "Not a directory" in res.message


@pytest.mark.parametrize("shell", ["dash", "bash", "busybox"])
def test_wrapper_works_under_nounset_and_a_stripped_environment(
    shell: str, host_dir: Path, tmp_path: Path
) -> None:
    """`sh -u` with no HOME, a hostile IFS and CDPATH: launch and status still work."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed")
    argv = [shell, "sh"] if shell == "busybox" else [shell]
    jid = new_jid()
    tok = protocol.new_token()
    launch = protocol.launch_script(str(host_dir), [req_with(jid, "echo ok")], tok)
    script = protocol.WRAPPER.encode() + b"\n" + launch + protocol.END_CALL.encode()
    env = {"PATH": os.environ["PATH"], "IFS": ":/", "CDPATH": str(tmp_path)}
    proc = subprocess.run(
        [*argv, "-u", "-s"], input=script, capture_output=True, env=env, timeout=30, check=False
    )
    res = parse.parse_launch(proc.stdout, tok, [jid])
    assert res[jid].outcome is LaunchOutcome.OK, proc.stderr
    local = LocalTransport(
        Host(name="l", address="l", connection="local", jobtui_dir=str(host_dir))
    )
    assert wait_state(local, jid) is RunState.SUCCEEDED
    assert local.status([jid]).runs[jid].tail == "ok\n"


def req_with(jid: str, script: str) -> LaunchRequest:
    return LaunchRequest(jid, script, 30, {"job": "t"})


def test_nothing_of_the_supervisor_outlives_a_quick_run(local: LocalTransport) -> None:
    """The watchdog (and its `sleep`) is gone once the run has ended, even for a run
    that ends before the watchdog is fully started."""
    limit = str(7000 + secrets.randbelow(1000))
    # Many: the watchdog may be anywhere in its start when the run ends.
    reqs = [req("true", timeout=int(limit)) for _ in range(40)]
    local.launch(reqs)
    for r in reqs:
        assert wait_state(local, r.jid) is RunState.SUCCEEDED
    assert wait_until(lambda: processes_matching(f"sleep {limit}") == [], 5)
    assert [p for r in reqs for p in processes_matching(r.jid)] == []


COUNTED = ("mkdir", "mv", "setsid", "sh", "sleep", "date", "cat", "tail", "rm", "find")
"""The commands the wrapper and the supervisor start by name."""


def _logging_stand_ins(tmp_path: Path) -> tuple[Path, Path]:
    """A directory of stand-ins for `COUNTED`, each logging its name before it runs
    the real command, and the log they write to."""
    log = tmp_path / "starts.log"
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in COUNTED:
        real = shutil.which(name)
        assert real is not None
        tool = fake / name
        tool.write_text(f"#!/bin/sh\necho {name} >> '{log}'\nexec {real} \"$@\"\n")
        tool.chmod(0o755)
    return fake, log


def test_a_run_costs_its_host_few_process_starts(
    host_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet launches hundreds of runs at once on hosts with work of their own.
    Every command the launch, the supervisor, the polls and the cleanup start by name
    is counted (through logging stand-ins first on PATH): 9 per run (mkdir, mv,
    setsid, sh for the launch; setsid, sh for the job; mv for its pid; sleep for the
    watchdog; mv for its end), one `find` per launch round trip (the job root's
    ownership), one `rm` per cleanup round trip, none per poll. It was 16, then 11
    (the end's time came from `date`), plus a `date` per round trip, two `tail`s per
    full status of a quiet run and an `rm` per run cleaned up."""
    fake, log = _logging_stand_ins(tmp_path)
    local = LocalTransport(
        Host(name="l", address="l", connection="local", jobtui_dir=str(host_dir))
    )
    local.status([])  # the job root exists before counting starts
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    reqs = [req("true", timeout=3600) for _ in range(5)]
    try:
        local.close()  # a new shell, with the stand-ins on its PATH
        local.status([])  # its one `date`
        log.unlink(missing_ok=True)
        local.launch(reqs)
        for r in reqs:
            assert wait_state(local, r.jid) is RunState.SUCCEEDED
        for _ in range(5):
            local.status([r.jid for r in reqs], full={r.jid for r in reqs})
        cleaned = local.cleanup([r.jid for r in reqs])
    finally:
        local.close()
    assert set(cleaned.values()) == {Outcome.OK}
    assert not any((host_dir / "jobs" / r.jid).exists() for r in reqs)
    starts = log.read_text().split()
    assert len(starts) <= 9 * len(reqs) + 2, sorted(starts)
    assert starts.count("rm") == 1 and starts.count("find") == 1, sorted(starts)
    assert "date" not in starts and "tail" not in starts, sorted(starts)


def test_a_poll_starts_no_process_on_the_host(
    local: LocalTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polls of running and finished runs (quiet ones, in full too) start nothing: the
    clock after the shell's first look comes from /proc/uptime, an empty output file
    needs no `tail`."""
    fake, log = _logging_stand_ins(tmp_path)
    running, done = req("sleep 60", timeout=120), req("true")
    local.launch([running, done])
    assert wait_state(local, done.jid) is RunState.SUCCEEDED
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    try:
        local.close()  # a new shell, with the stand-ins on its PATH
        local.status([])  # its one `date`
        log.unlink(missing_ok=True)
        for _ in range(5):
            st = local.status([running.jid, done.jid], full={running.jid, done.jid})
            assert st.runs[running.jid].state is RunState.RUNNING
            assert st.runs[done.jid].state is RunState.SUCCEEDED
        polled = log.read_text().split() if log.exists() else []
        local.cancel([running.jid], grace=1)
    finally:
        local.close()
    assert polled == []
