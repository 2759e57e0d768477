"""The become shells' logic: sudo's handshake (on a scripted session: pure logic), and
HostTransport's routing through the machine's real sudo, locally (the test runs as
root, so `sudo -n -u jtb-svc` needs no password; no SSH here, see test_become_run.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from jobtui.model import Become, Host, Outcome, RunState, new_jid
from jobtui.remote.parse import LaunchOutcome
from jobtui.remote.protocol import LaunchRequest
from jobtui.transport.base import Session, TransportError
from jobtui.transport.become import (
    BecomeError,
    BecomeSetup,
    HostTransport,
    handshake,
    sudo_command,
)
from jobtui.transport.local import LocalSession, LocalTransport
from tests.becomeusers import SVC, BecomeUsers
from tests.helpers import wait_until
from tests.test_ansible_files import transport as ansible_transport

pytest_plugins = ["tests.fixtures_become"]

TOKEN = "@@jt5e57"


class Scripted(Session):
    """Says what sudo would, in order; records what it is sent."""

    def __init__(self, *said: bytes) -> None:
        self.said = list(said)
        self.sent: list[bytes] = []
        self.closed = False

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def recv(self, timeout: float) -> bytes:
        if not self.said:
            raise TransportError("no answer")
        return self.said.pop(0)

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        self.closed = True


PROMPT = f"{TOKEN}-password:".encode()
READY = f"{TOKEN}-ready\n".encode()


def test_the_password_goes_to_the_prompt_once_and_only_after_it() -> None:
    s = Scripted(b"We trust you have received the usual lecture\n", PROMPT[:5], PROMPT[5:], READY)
    handshake(s, TOKEN, "root", "s3cret")
    assert s.sent == [b"s3cret\n"]


def test_no_password_needed_sends_nothing() -> None:
    s = Scripted(READY)
    handshake(s, TOKEN, "root", "s3cret")
    assert s.sent == []


def test_a_second_prompt_is_a_wrong_password_and_is_not_answered() -> None:
    s = Scripted(PROMPT, b"Sorry, try again.\n" + PROMPT, READY)
    with pytest.raises(BecomeError, match="incorrect password"):
        handshake(s, TOKEN, "root", "wrong")
    assert s.sent == [b"wrong\n"]


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        (b"sudo: a password is required\n", "sudo to root: sudo: a password is required; give"),
        (b"sh: 1: sudo: not found\n", "sudo to root: sudo is not installed on the host"),
        (b"me is not in the sudoers file.\n", "sudo to root refused: me is not in the sudoers"),
        (b"", "sudo to root refused: sudo ended without a word"),
        (PROMPT + b"\nme is not allowed to run sudo\n", "sudo to root refused: me is not allowed"),
        (b"\x1b[31mevil\x07 s3cret\n", "sudo to root refused: \\x1b[31mevil\\x07 ***"),
    ],
)
def test_sudo_ending_says_why_in_its_own_words_sanitised(said: bytes, reason: str) -> None:
    s = Scripted(said, b"")
    with pytest.raises(BecomeError) as e:
        handshake(s, TOKEN, "root", "s3cret")
    assert str(e.value).startswith(reason), str(e.value)
    assert "s3cret" not in str(e.value)
    assert "\x1b" not in str(e.value)  # escaped, not an escape sequence


def test_a_prompt_without_a_password_is_refused_not_waited_on() -> None:
    with pytest.raises(BecomeError):
        handshake(Scripted(PROMPT), TOKEN, "root", None)


def test_silence_is_a_timeout_not_a_refusal() -> None:
    class Silent(Scripted):
        def recv(self, timeout: float) -> bytes:
            raise TransportError(f"no answer within {timeout:.0f}s")

    with pytest.raises(TransportError) as e:
        handshake(Silent(), TOKEN, "root", None, timeout=0.01)
    assert not isinstance(e.value, BecomeError)


def test_the_command_line_holds_no_password_and_quotes_the_user() -> None:
    line = sudo_command("postgres", TOKEN, with_password=True)
    assert "-S -p" in line and " -n " not in line
    assert sudo_command("postgres", TOKEN, with_password=False).count(" -n ") == 1
    assert "-u postgres --" in line


# -- HostTransport through real sudo, locally ------------------------------------------


@pytest.fixture
def svc_host(become_users: BecomeUsers, become_dir: Callable[[str], Path]) -> Host:
    """A local host whose job root (set: the same path for both users) is jtb-svc's."""
    return Host(name="h", address="h", connection="local", jobtui_dir=str(become_dir(SVC)))


def request(script: str, become: Become | None) -> LaunchRequest:
    return LaunchRequest(new_jid(), script, 30, {"job": "t"}, become=become)


def test_requests_go_to_the_shell_of_their_user(svc_host: Host, become_users: BecomeUsers) -> None:
    mine = Host(name="h", address="h", connection="local", jobtui_dir=svc_host.jobtui_dir)
    svc = Become(SVC)
    with HostTransport(LocalTransport(mine), [svc], password=None) as t:
        as_svc = request("id -un", svc)
        as_me = request("true", None)  # root's run in jtb-svc's root: refused there
        got = t.launch([as_me, as_svc])
        assert got[as_svc.jid].outcome is LaunchOutcome.OK
        assert got[as_me.jid].outcome is LaunchOutcome.ERROR
        # Refused before anything was made in jtb-svc's root (no root-owned jobs/).
        assert "not owned by root but by jtb-svc" in got[as_me.jid].message
        job = Path(svc_host.jobtui_dir) / "jobs" / as_svc.jid
        assert job.stat().st_uid == become_users.svc.uid
        assert wait_until(
            lambda: t.status([as_svc.jid]).runs[as_svc.jid].state is RunState.SUCCEEDED, 10
        )
        st = t.status([as_svc.jid])
        assert st.runs[as_svc.jid].user == SVC
        assert (job / "stdout").read_text() == f"{SVC}\n"
        assert t.sessions_opened == 2  # one login shell, one sudo'd shell, for all of it


def test_a_jid_nobody_named_is_found_in_whichever_shell_has_it(svc_host: Host) -> None:
    svc = Become(SVC)
    with HostTransport(LocalTransport(svc_host), [svc], password=None) as t:
        r = request("sleep 30", svc)
        t.launch([r])
    # A new transport (another command): the jid's owner is unknown until asked.
    with HostTransport(LocalTransport(svc_host), [svc], password=None) as t:
        st = t.status([r.jid, "nosuchjid123"])
        assert st.runs[r.jid].user == SVC
        assert st.missing == ["nosuchjid123"]
        assert t.cancel([r.jid], grace=1) == {r.jid: Outcome.OK}
        assert t.cleanup(["nosuchjid123"]) == {"nosuchjid123": Outcome.MISSING}
        assert wait_until(lambda: t.status([r.jid]).runs[r.jid].state.finished, 10)
        assert t.cleanup([r.jid]) == {r.jid: Outcome.OK}
    assert not (Path(svc_host.jobtui_dir) / "jobs" / r.jid).exists()


def test_setup_wraps_only_hosts_whose_runs_become(svc_host: Host) -> None:
    other = Host(name="o", address="o", connection="local", jobtui_dir="/nonexistent")
    setup = BecomeSetup(users={"h": {Become(SVC)}})
    plain = LocalTransport(other)
    assert setup.wrap(plain) is plain
    assert isinstance(setup.wrap(LocalTransport(svc_host)), HostTransport)


def test_a_refusal_sticks_without_asking_sudo_again(svc_host: Host) -> None:
    # jtb-nosudo's sudo is not ours to use locally; a user that does not exist is a
    # refusal from root's sudo too ("unknown user"), which is enough here.
    ghost = Become("jtb-no-such-user")
    with HostTransport(LocalTransport(svc_host), [ghost], password=None) as t:
        first = t.launch([request("true", ghost)])
        assert {r.outcome for r in first.values()} == {LaunchOutcome.ERROR}
        message = next(iter(first.values())).message
        assert "unknown user" in message, message
        opened = t.sessions_opened
        again = t.launch([request("true", ghost)])
        assert next(iter(again.values())).message == message
        assert t.sessions_opened == opened  # no new sudo


def test_the_become_shell_ends_with_the_transport(
    svc_host: Host, become_users: BecomeUsers
) -> None:
    svc = Become(SVC)
    t = HostTransport(LocalTransport(svc_host), [svc], password=None)
    t.status(None)
    session = t.shells[SVC]._session
    assert isinstance(session, LocalSession)
    # sudo (the process the transport started), its monitor and the shell it runs:
    # other tests' jtb-svc processes are not ours to count.
    ours = _descendants(session.proc.pid)
    assert any(_uid(Path(f"/proc/{pid}")) == become_users.svc.uid for pid in ours), ours
    t.close()
    assert wait_until(lambda: not [p for p in ours if Path(f"/proc/{p}").exists()], 10)


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
            except OSError:
                continue
            parents[int(p.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = {pid}
    while True:
        more = {c for c, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more


def _uid(proc: Path) -> int | None:
    try:
        return os.stat(proc).st_uid
    except OSError:
        return None


def test_an_ansible_cancel_never_signals_another_users_look_alike_process(
    tmp_path: Path, become_users: BecomeUsers
) -> None:
    """Another user who read the jid in `ps` starts a process that looks exactly like
    Ansible's module runner (async_wrapper and the jid in its argv, leading its own
    group): root's cancel of the job leaves it alone (its file is root's, so its
    processes are root's)."""
    adir = tmp_path / "async"
    adir.mkdir()
    prefix = "j444444444444"
    (adir / f"{prefix}.1").write_text(
        json.dumps({"started": True, "finished": False, "ansible_job_id": f"{prefix}.1"})
    )
    look_alike = subprocess.Popen(
        ["sh", "-c", "sleep 60; :", "/t/async_wrapper.py", prefix, "60", "/t/AnsiballZ_x.py"],
        user=become_users.svc.uid,
        start_new_session=True,
    )
    try:
        with ansible_transport(tmp_path, adir) as t:
            assert t.cancel([f"{prefix}.1"], grace=1)[f"{prefix}.1"] is Outcome.OK
        time.sleep(0.3)
        assert look_alike.poll() is None, "another user's process was signalled"
    finally:
        look_alike.kill()
        look_alike.wait()
