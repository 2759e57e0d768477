"""Ansible's own async jobs, read and acted on by the real wrapper (local transport):
job files in Ansible's own format (hand-made, and written by real `ansible -B -P 0`
runs), real async_wrapper processes in /proc, and the parsing of what comes back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobtui.cli import main
from jobtui.config.ansiblecfg import load_configured
from jobtui.model import Host, Outcome, RemoteStatus, RunState
from jobtui.remote import ansible, protocol
from jobtui.remote.parse import HostStatus, parse_status
from jobtui.transport.local import LocalTransport
from tests.helpers import wait_until

BIN = Path(sys.executable).parent
ANSIBLE = BIN / "ansible"
JID = "j123456789012.4242"


@pytest.fixture
def adir(tmp_path: Path) -> Path:
    d = tmp_path / "async dir"
    d.mkdir()
    return d


def transport(tmp_path: Path, adir: Path, shell: tuple[str, ...] | None = None) -> LocalTransport:
    t = LocalTransport(
        Host(
            name="here",
            address="here",
            connection="local",
            jobtui_dir=str(tmp_path / "jobtui"),
            ansible_async_dir=str(adir),
        )
    )
    if shell is not None:
        t.shell = shell
    return t


def status(tmp_path: Path, adir: Path) -> HostStatus:
    with transport(tmp_path, adir) as t:
        return t.status(None)


def ansible_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_HOME": str(tmp_path / "ahome"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ahome" / "tmp"),
        "ANSIBLE_REMOTE_TMP": str(tmp_path / "ahome" / "rtmp"),
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    }


def remote_tmp(tmp_path: Path) -> Path:
    return tmp_path / "ahome" / "rtmp"


def launch(tmp_path: Path, adir: Path, cmd: str, limit: int = 60, module: str = "shell") -> str:
    """A real Ansible async job (`-B limit -P 0`); returns its jid."""
    out = subprocess.run(
        [
            str(ANSIBLE),
            "localhost",
            "-m",
            module,
            "-a",
            cmd,
            "-B",
            str(limit),
            "-P",
            "0",
            "-e",
            # ANSIBLE_REMOTE_TMP alone is not what localhost's implicit local
            # connection reads: without the var, its dirs went to the real ~/.ansible.
            json.dumps(
                {"ansible_async_dir": str(adir), "ansible_remote_tmp": str(remote_tmp(tmp_path))}
            ),
        ],
        capture_output=True,
        text=True,
        env=ansible_env(tmp_path),
        timeout=120,
        check=False,
    )
    m = re.search(r'"ansible_job_id": "([^"]+)"', out.stdout)
    assert m, out.stdout + out.stderr
    return m.group(1)


def async_status(tmp_path: Path, adir: Path, jid: str) -> tuple[bool, dict[str, object]]:
    """Whether Ansible says the task failed, and what async_status returned."""
    out = subprocess.run(
        [
            str(ANSIBLE),
            "localhost",
            "-m",
            "async_status",
            "-a",
            f"jid={jid}",
            "-e",
            # ANSIBLE_REMOTE_TMP alone is not what localhost's implicit local
            # connection reads: without the var, its dirs went to the real ~/.ansible.
            json.dumps(
                {"ansible_async_dir": str(adir), "ansible_remote_tmp": str(remote_tmp(tmp_path))}
            ),
            "-o",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(tmp_path),
        timeout=120,
        check=False,
    )
    head, _, body = out.stdout.partition("{")
    return "FAILED" in head, dict(json.loads("{" + body))


def wait_state(tmp_path: Path, adir: Path, jid: str, state: RunState, timeout: float = 60) -> None:
    assert wait_until(lambda: _state(tmp_path, adir, jid) is state, timeout, 0.3), _state(
        tmp_path, adir, jid
    )


def _state(tmp_path: Path, adir: Path, jid: str) -> RunState | None:
    st = status(tmp_path, adir).runs.get(jid)
    return None if st is None else st.state


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


# --- what a host sends, parsed (no I/O) ---------------------------------------------

TOK = "@@jt0123456789abcdef01234567"


def answer(*records: tuple[str, bytes]) -> bytes:
    out = f"\n{TOK} hello\n1700000000 boot\n".encode()
    for head, body in records:
        out += f"\n{TOK} {head}\n".encode() + body
    return out


def job_file(name: str, content: bytes, mtime: int = 1700000000) -> tuple[str, bytes]:
    return (f"ajob {name} file", f"{mtime} {len(content)}\n".encode() + content + b"\n")


def parsed(*records: tuple[str, bytes]) -> dict[str, RemoteStatus]:
    return parse_status(answer(*records), TOK, 1700000000.0).runs


def procs(*entries: tuple[int, list[str], int, int]) -> tuple[str, bytes]:
    """An `aproc` record: (pid, argv, ppid, pgid) each."""
    parts = []
    for pid, argv, ppid, pgid in entries:
        parts += [f"/proc/{pid}/cmdline:{a}".encode() for a in argv]
        parts.append(f"/proc/{pid}/stat:{pid} (x y) S {ppid} {pgid} 1 0\n".encode())
    return ("aproc", b"\x01".join(parts) + b"\x01\n")


WRAP = ["/usr/bin/python3", "/t/ansible-tmp-1/async_wrapper.py", "j123456789012", "600"]
WRAP += ["/t/ansible-tmp-1/AnsiballZ_command.py", "_"]
RUNNING = b'{"started": true, "finished": false, "ansible_job_id": "j123456789012.4242"}'


def test_a_running_job_has_its_command_its_limit_and_the_group_leader_as_pid() -> None:
    st = parsed(
        job_file(JID, RUNNING),
        procs(
            (500, WRAP, 1, 499),
            (501, WRAP, 500, 501),
            (502, ["/usr/bin/python3", "/t/AnsiballZ_command.py"], 501, 501),
            (503, ["/bin/sh", "-c", "sleep 30; echo hi"], 502, 501),
        ),
    )[JID]
    assert (st.state, st.ansible, st.pid, st.started) == (RunState.RUNNING, True, 501, 1.7e9)
    assert st.meta == {"job": "shell", "command": "/bin/sh -c 'sleep 30; echo hi'", "timeout": 600}


def test_a_running_file_with_no_wrapper_process_left_is_lost() -> None:
    other = [*WRAP[:2], "j999999999999", *WRAP[3:]]
    st = parsed(job_file(JID, RUNNING), procs((600, other, 1, 600)))[JID]
    assert st.state is RunState.LOST
    assert parsed(job_file(JID, RUNNING))[JID].state is RunState.LOST


def test_older_ansible_running_file_reads_as_running() -> None:
    old = b'{"started": 1, "finished": 0, "ansible_job_id": "123456789012.4242"}'
    name = "123456789012.4242"
    st = parsed(job_file(name, old), procs((7, [*WRAP[:2], "123456789012", *WRAP[3:]], 1, 7)))
    assert st[name].state is RunState.RUNNING


@pytest.mark.parametrize(
    ("content", "state", "rc"),
    [
        (
            b'{"rc": 0, "stdout": "out", "stderr": "", "cmd": "echo out", "delta": "0:00:02.5"}',
            "succeeded",
            0,
        ),
        (
            b'{"rc": 4, "failed": true, "msg": "non-zero return code", "cmd": ["false"]}',
            "failed",
            4,
        ),
        (b'{"msg": "Timeout exceeded", "failed": true, "child_pid": 77}', "timed_out", None),
        (
            b'{"failed": true, "finished": 1, "msg": "cancelled by jobtui", "rc": 143}',
            "cancelled",
            143,
        ),
        (b'{"ping": "pong"}', "succeeded", None),
        (b'{"failed": true, "msg": "No package matching foo"}', "failed", None),
    ],
)
def test_a_finished_result_reads_as_its_state(content: bytes, state: str, rc: int | None) -> None:
    st = parsed(job_file(JID, content))[JID]
    assert (st.state.value, st.rc, st.problem) == (state, rc, "")


def test_a_result_gives_times_output_tails_and_command() -> None:
    big = "x" * 10000 + "END"
    content = json.dumps(
        {"rc": 0, "stdout": big, "stderr": "e\udcff", "cmd": "make", "delta": "0:01:40.0"}
    ).encode()
    st = parsed(job_file(JID, content, mtime=1700000100))[JID]
    assert (st.started, st.finished) == (1700000000.0, 1700000100.0)
    assert st.tail.endswith("END") and len(st.tail.encode()) <= 4096
    assert st.meta["command"] == "make" and st.stderr_tail.startswith("e")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"rc": 0, "stdout": "trunc', "not JSON"),
        (b"not json at all", "not JSON"),
        (b'{"rc": "0"}', "rc is not an integer"),
        (b'{"rc": 1e400}', "rc is not an integer"),
        (b'{"rc": 99999999999999999999}', "rc is out of range"),
        (b'{"rc": ' + b"9" * 5000 + b"}", "not JSON"),
        (b"[" * 100000 + b"]" * 100000, "not JSON"),
        (b'["a list"]', "not a JSON object"),
        (b'{"rc": 0, "stdout": {"nested": ["junk"]}}', "stdout is not a string"),
        (b'{"failed": "yes"}', "failed is not a boolean"),
    ],
)
def test_bad_input_is_one_unreadable_job_with_the_reason(content: bytes, why: str) -> None:
    good = b'{"rc": 0, "stdout": "fine"}'
    runs = parsed(job_file(JID, content), job_file("j1.1", good))
    assert runs[JID].state is RunState.LOST and why in runs[JID].problem
    assert (runs["j1.1"].state, runs["j1.1"].tail) == (RunState.SUCCEEDED, "fine")


def test_a_bad_record_from_the_host_is_unreadable_and_a_bad_name_ignored() -> None:
    runs = parsed(
        ("ajob j2.2 bad", b"a symbolic link (not followed)\n"),
        ("ajob ../etc.1 file", b"1 1\n{}\n"),
        ("ajob j3.3 missing", b""),
    )
    assert list(runs) == ["j2.2"] and "symbolic link" in runs["j2.2"].problem


def test_garbage_process_facts_never_raise() -> None:
    junk = ("aproc", b"\x01/proc/x/stat:1\x01/proc/1/stat:)))\x01:::\x01/proc/2/cmdline:\xff\n")
    assert parsed(job_file(JID, RUNNING), junk)[JID].state is RunState.LOST


def test_output_of_gives_a_finished_result_s_whole_stream() -> None:
    content = json.dumps({"rc": 0, "stdout": "a" * 100000, "stderr": "b"}).encode()
    assert ansible.output_of(content, "stdout") == "a" * 100000
    assert ansible.output_of(content, "stderr") == "b"
    assert ansible.output_of(RUNNING, "stdout") is None


def test_a_status_of_only_jobtui_jids_sends_nothing_for_ansible() -> None:
    script = protocol.status_script("~/.jobtui", ["abcdefgh1"], TOK, async_dir="~/.x")
    assert b"jt_astatus" not in script and b"jt_status" in script
    script = protocol.status_script("~/.jobtui", [JID], TOK, async_dir="~/.x")
    assert b"jt_astatus" in script and b"jt_status " not in script


# --- the wrapper on real files --------------------------------------------------------


def test_a_host_without_an_async_dir_answers_no_ansible_record(tmp_path: Path) -> None:
    with transport(tmp_path, tmp_path / "none") as t:
        tok = protocol.new_token()
        script = protocol.status_script(
            str(tmp_path / "j"), None, tok, async_dir=str(tmp_path / "none")
        )
        out = t.run(script, tok)
    assert b"ajob" not in out and b"aproc" not in out


def test_the_wrapper_reports_files_as_ansible_leaves_them(tmp_path: Path, adir: Path) -> None:
    (adir / "j1.1").write_text('{"rc": 0, "stdout": "ok", "cmd": "true"}')
    (adir / "j2.2").write_text('{"started": true, "finished": false, "ansible_job_id": "j2.2"}')
    (adir / "j3.3.tmp").write_text('{"rc": 0')
    (adir / "notajob").write_text("{}")
    (adir / "j4.4").symlink_to("/etc/passwd")
    os.mkfifo(adir / "j5.5")
    (adir / "j6.6").write_bytes(b"{" + b" " * (1 << 20) + b"}")
    (adir / "j7.7").write_text('{"rc": "oops"}')
    runs = status(tmp_path, adir).runs
    assert sorted(runs) == ["j1.1", "j2.2", "j4.4", "j5.5", "j6.6", "j7.7"]
    assert runs["j1.1"].state is RunState.SUCCEEDED and runs["j1.1"].tail == "ok"
    assert runs["j2.2"].state is RunState.LOST  # no wrapper process for it
    assert "symbolic link" in runs["j4.4"].problem
    assert "not a regular file" in runs["j5.5"].problem
    assert "too large" in runs["j6.6"].problem
    assert "rc is not an integer" in runs["j7.7"].problem
    assert all(r.ansible for r in runs.values())


@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_status_works_under_dash_and_busybox_with_its_own_tools(
    shell: str, tmp_path: Path, adir: Path
) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed")
    env = None
    argv: tuple[str, ...] = (shell, "-s")
    if shell == "busybox":
        tools = tmp_path / "bb"
        tools.mkdir()
        bb = shutil.which("busybox")
        assert bb
        for name in ("grep", "tr", "stat", "head", "tail", "find", "id", "sleep", "date", "mv"):
            (tools / name).symlink_to(bb)
        (tools / "rm").symlink_to(bb)
        env = {"PATH": str(tools), "HOME": str(tmp_path)}
        argv = (bb, "sh", "-s")
    (adir / "j1.1").write_text('{"rc": 3, "failed": true, "stdout": "x"}')
    jid = launch(tmp_path, adir, "sleep 30", module="command")
    t = transport(tmp_path, adir, argv)
    t.env = env
    with t:
        runs = t.status(None).runs
        assert (runs["j1.1"].state, runs["j1.1"].rc) == (RunState.FAILED, 3)
        assert runs[jid].state is RunState.RUNNING
        # The module starts its command a moment after the wrapper.
        assert wait_until(lambda: t.status([jid]).runs[jid].meta["command"] == "sleep 30")
        assert t.cancel([jid], grace=1)[jid] is Outcome.OK
        assert t.status([jid]).runs[jid].state is RunState.CANCELLED


def test_status_writes_nothing_and_signals_nothing(tmp_path: Path, adir: Path) -> None:
    jid = launch(tmp_path, adir, "sleep 30")
    (adir / "j1.1").write_text('{"rc": 0}')
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in adir.iterdir()}
    for _ in range(3):
        assert status(tmp_path, adir).runs[jid].state is RunState.RUNNING
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in adir.iterdir()}
    assert before == after
    with transport(tmp_path, adir) as t:
        t.cancel([jid], grace=1)


def test_real_jobs_succeed_fail_and_time_out(tmp_path: Path, adir: Path) -> None:
    ok = launch(tmp_path, adir, "echo out; echo err >&2")
    bad = launch(tmp_path, adir, "exit 4")
    slow = launch(tmp_path, adir, "sleep 60", limit=2)
    wait_state(tmp_path, adir, ok, RunState.SUCCEEDED)
    wait_state(tmp_path, adir, bad, RunState.FAILED)
    wait_state(tmp_path, adir, slow, RunState.TIMED_OUT, timeout=30)
    runs = status(tmp_path, adir).runs
    assert (runs[ok].tail, runs[ok].stderr_tail, runs[ok].meta["job"]) == ("out", "err", "shell")
    assert runs[bad].rc == 4 and runs[bad].meta["command"] == "exit 4"
    assert runs[ok].started is not None and runs[ok].finished is not None


def test_cancel_ends_the_group_and_its_children_and_async_status_says_failed(
    tmp_path: Path, adir: Path
) -> None:
    marker = tmp_path / "pids"
    jid = launch(tmp_path, adir, f"sleep 300 & echo $! >> '{marker}'; trap '' TERM; sleep 301", 600)
    st = status(tmp_path, adir).runs[jid]
    assert st.state is RunState.RUNNING and st.meta["timeout"] == 600 and st.pid
    assert wait_until(lambda: marker.exists() and marker.read_text().strip() != "")
    child = int(marker.read_text().split()[0])
    leader = st.pid
    # The module's temporary dir, which Ansible's watcher would remove at the end.
    (module_tmp,) = remote_tmp(tmp_path).glob("ansible-tmp-*")
    with transport(tmp_path, adir) as t:
        assert t.cancel([jid], grace=1)[jid] is Outcome.OK
    assert not module_tmp.exists(), "the cancel left Ansible's temporary dir behind"
    with transport(tmp_path, adir) as t:
        assert t.cancel([jid], grace=1)[jid] is Outcome.FINISHED  # the file is left alone now
    assert wait_until(lambda: not alive(child) and not alive(leader), 10)
    st = status(tmp_path, adir).runs[jid]
    assert (st.state, st.rc, st.started is not None) == (RunState.CANCELLED, 143, True)
    failed, result = async_status(tmp_path, adir, jid)
    assert (failed, result["finished"], result["msg"]) == (True, True, "cancelled by jobtui")
    assert not list(adir.glob("*.tmp"))


def test_cancel_never_touches_a_finished_job_s_file(tmp_path: Path, adir: Path) -> None:
    f = adir / JID
    f.write_text('{"rc": 0, "stdout": "done"}')
    before = (f.read_bytes(), f.stat().st_mtime_ns)
    with transport(tmp_path, adir) as t:
        assert t.cancel([JID], grace=1) == {JID: Outcome.FINISHED}
    assert (f.read_bytes(), f.stat().st_mtime_ns) == before


def test_cancel_never_signals_a_group_no_wrapper_of_the_jid_leads(
    tmp_path: Path, adir: Path
) -> None:
    """A process that only names the jid (not an async_wrapper's argv) is no target, nor
    is a wrapper-looking process that leads no group of its own."""
    prefix = "j555555555555"
    (adir / f"{prefix}.1").write_text(
        json.dumps({"started": True, "finished": False, "ansible_job_id": f"{prefix}.1"})
    )
    decoy = subprocess.Popen(  # in our own process group: it leads no group
        ["sh", "-c", "sleep 60; :", "/t/async_wrapper.py", prefix],
    )
    bystander = subprocess.Popen(["sh", "-c", "sleep 60; :", prefix], start_new_session=True)
    try:
        with transport(tmp_path, adir) as t:
            assert t.cancel([f"{prefix}.1"], grace=1)[f"{prefix}.1"] is Outcome.OK
        time.sleep(0.3)
        assert bystander.poll() is None and decoy.poll() is None
    finally:
        for p in (decoy, bystander):
            p.send_signal(signal.SIGKILL)
            p.wait()


def test_cleanup_refuses_a_running_job_and_removes_finished_ones(
    tmp_path: Path, adir: Path
) -> None:
    jid = launch(tmp_path, adir, "sleep 60")
    (adir / "j1.1").write_text('{"rc": 0}')
    (adir / "j2.2").symlink_to("/etc/passwd")
    with transport(tmp_path, adir) as t:
        got = t.cleanup([jid, "j1.1", "j2.2", "j3.3"])
        assert got == {
            jid: Outcome.RUNNING,
            "j1.1": Outcome.OK,
            "j2.2": Outcome.OK,
            "j3.3": Outcome.MISSING,
        }
        t.cancel([jid], grace=1)
        assert t.cleanup([jid]) == {jid: Outcome.OK}
    assert not list(adir.iterdir()) and Path("/etc/passwd").exists()


# --- the CLI --------------------------------------------------------------------------


def inventory(tmp_path: Path, adir: Path) -> Path:
    inv = tmp_path / "inv.yml"
    inv.write_text(
        "all:\n  hosts:\n    here:\n      ansible_connection: local\n"
        f"      jobtui_dir: '{tmp_path / 'jobtui'}'\n      ansible_async_dir: '{adir}'\n"
    )
    return inv


def test_cli_status_cancel_cleanup_and_logs_of_ansible_jobs(
    tmp_path: Path, adir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = str(inventory(tmp_path, adir))
    state = ["--state-dir", str(tmp_path / "state")]
    done = launch(tmp_path, adir, "printf 'line1\\nline2'")
    slow = launch(tmp_path, adir, "sleep 120", 300)
    wait_state(tmp_path, adir, done, RunState.SUCCEEDED)
    capsys.readouterr()
    assert main(["status", "-i", inv, "--json", *state]) == 0
    runs = {r["jid"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert runs[done]["ansible"] and runs[done]["state"] == "succeeded"
    assert runs[slow]["state"] == "running" and runs[slow]["timeout"] == 300
    assert main(["logs", "-i", inv, done, *state]) == 0
    assert capsys.readouterr().out == "line1\nline2\n"
    assert main(["logs", "-i", inv, slow, *state]) == 1
    assert main(["cleanup", "-i", inv, "--jid", slow, *state]) == 1
    assert "running, refused" in capsys.readouterr().err
    assert main(["cleanup", "-i", inv, "--jid", slow, "--force", *state]) == 0
    assert not (adir / slow).exists()
    assert main(["logs", "-i", inv, "j9.9", *state]) == 1
    assert "not found on these hosts" in capsys.readouterr().err
    assert main(["logs", "-i", inv, "j9", *state]) == 2
    assert main(["cancel", "-i", inv, "--jid", "j1.2.3", *state]) == 2


def test_cli_logs_streams_a_jobtui_run_s_whole_output_byte_for_byte(
    tmp_path: Path, adir: Path
) -> None:
    inv = inventory(tmp_path, adir)
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        "jobs:\n  - name: big\n    hosts: all\n"
        '    shell: "head -c 3000000 /dev/urandom > out.bin; cat out.bin; echo e >&2"\n'
        f"    chdir: '{tmp_path}'\n"
    )
    state = str(tmp_path / "state")
    r = subprocess.run(
        [
            str(BIN / "jobtui"),
            "run",
            str(jobs),
            "-i",
            str(inv),
            "--headless",
            "--json",
            "--state-dir",
            state,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    jid = summary["runs"][0]["jid"]
    base = [str(BIN / "jobtui"), "logs", "-i", str(inv), jid, "--state-dir", state]
    out = subprocess.run(base, capture_output=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (tmp_path / "out.bin").read_bytes()
    err = subprocess.run([*base, "--stderr"], capture_output=True, timeout=60, check=False)
    assert err.stdout == b"e\n"


def test_the_async_dir_comes_from_the_host_then_ansible_cfg_then_the_default(
    tmp_path: Path,
) -> None:
    inv = tmp_path / "inv.ini"
    inv.write_text("a ansible_async_dir=/srv/async\nb\n")
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\nasync_dir = ~/custom_async\n")
    hosts = load_configured([str(inv)], env={"ANSIBLE_CONFIG": str(cfg)}, cwd=str(tmp_path)).hosts
    assert (hosts["a"].ansible_async_dir, hosts["b"].ansible_async_dir) == (
        "/srv/async",
        "~/custom_async",
    )
    env = {"ANSIBLE_CONFIG": str(cfg), "ANSIBLE_ASYNC_DIR": "/env/async"}
    assert load_configured([str(inv)], env=env).hosts["b"].ansible_async_dir == "/env/async"
    none = load_configured([str(inv)], env={"ANSIBLE_CONFIG": str(tmp_path / "no.cfg")})
    assert none.hosts["b"].ansible_async_dir == "~/.ansible_async"


def test_a_finished_file_is_read_once_per_shell_and_again_if_it_changes(
    tmp_path: Path, adir: Path
) -> None:
    f = adir / JID
    f.write_text('{"rc": 0, "stdout": "first"}')
    with transport(tmp_path, adir) as t:
        sent: list[bytes] = []
        real = t.run

        def spy(script: bytes, token: str, timeout: float = 60.0) -> bytes:
            out = real(script, token, timeout)
            sent.append(out)
            return out

        t.run = spy  # type: ignore[method-assign]
        assert t.status(None).runs[JID].tail == "first"
        assert t.status(None).runs[JID].tail == "first"
        assert b"first" in sent[0] and b"first" not in sent[1] and b" same" in sent[1]
        f.write_text('{"rc": 1, "stdout": "second!"}')
        st = t.status(None)
        assert (st.runs[JID].tail, st.runs[JID].rc) == ("second!", 1)
        assert st.ansible_files[JID] == f.read_bytes()
        f.unlink()
        assert JID not in t.status(None).runs
