"""Jump hosts over real sshd hosts: one login on a bastion for every host behind it,
each target a `direct-tcpip` channel over it (the bastion's own sshd log, at
LogLevel DEBUG1, is the proof), chains, a bastion that dies and comes back, a
bastion whose key changed, and nothing left open after close."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from jobtui.engine import Engine
from jobtui.events import Event, RunChanged
from jobtui.fleet import transports_for
from jobtui.model import Endpoint, Host, JobSpec, RunSpec, RunState
from jobtui.remote.parse import HostStatus
from jobtui.transport import Transport, TransportError, make_transports
from jobtui.transport.jumps import JumpPool
from jobtui.transport.keys import KeyRing
from jobtui.transport.ssh import Dialer, SshTransport
from tests.helpers import wait_until
from tests.sshfleet import FleetHost, SshFleet

DEBUG = ["LogLevel DEBUG1"]
"""sshd then logs each channel a client opens, and each login."""


def direct_tcpip(
    bastion: FleetHost, originator: str = r"127\.0\.0\.1 port 0"
) -> list[tuple[str, int]]:
    """The targets of the `direct-tcpip` channels opened on `bastion` (its sshd log),
    by default those jobtui opens (it names itself 127.0.0.1 port 0)."""
    return [
        (m[1], int(m[2]))
        for m in re.finditer(
            rf"server_request_direct_tcpip: originator {originator}, target (\S+) port (\d+)",
            bastion.read_full_log(),
        )
    ]


def logins(bastion: FleetHost) -> int:
    return bastion.read_full_log().count("Accepted publickey for ")


def endpoint(h: FleetHost, via: Endpoint | None = None, **kw: Any) -> Endpoint:
    """How to reach fleet host `h` (its key only, its fleet's known_hosts)."""
    fields: dict[str, Any] = {
        "name": h.name,
        "address": h.address,
        "port": h.port,
        "user": h.user,
        "key_files": (str(h.user_key_path),),
        "identities_only": True,
        "known_hosts": (str(h.known_hosts_path),),
        "connect_timeout": 5.0,
        "via": via,
    }
    return Endpoint(**{**fields, **kw})


def behind(targets: list[FleetHost], via: Endpoint, root: Path) -> list[Host]:
    return [
        Host(
            t.name,
            t.address,
            t.port,
            jobtui_dir=str(root / t.name / "jobtui"),
            ssh=endpoint(t, via),
        )
        for t in targets
    ]


def in_parallel(transports: list[Transport], fn: Callable[[Transport], object]) -> list[object]:
    """`fn` for every transport at once; a TransportError is the answer, not raised."""

    def one(t: Transport) -> object:
        try:
            return fn(t)
        except TransportError as e:
            return e

    with ThreadPoolExecutor(len(transports)) as pool:
        return list(pool.map(one, transports))


def pool_of(transports: list[Transport]) -> JumpPool:
    first = transports[0]
    assert isinstance(first, SshTransport)
    return first.jumps


def test_hosts_behind_a_bastion_are_channels_of_one_login_on_it(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(5, 70)
    (bastion,) = fleet.start(1, 80, sshd_config=DEBUG)
    targets = fleet.hosts[:5]
    transports = make_transports(behind(targets, endpoint(bastion), tmp_path))
    try:
        answers = in_parallel(transports, lambda t: t.status([]))
        assert not [a for a in answers if isinstance(a, TransportError)]
        assert sorted(direct_tcpip(bastion)) == sorted((t.address, t.port) for t in targets)
        assert logins(bastion) == 1
        assert pool_of(transports).connected() == [endpoint(bastion)]
        assert bastion.connection_processes()  # what is gone after close
    finally:
        for t in transports:
            t.close()
    # The last transport closed: so is the bastion connection.
    assert pool_of(transports).connected() == []
    assert wait_until(lambda: bastion.connection_processes() == set(), 5)


def test_a_chain_of_two_bastions_nests_the_channels(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(2, 71)
    outer, inner = fleet.start(2, 81, sshd_config=DEBUG)
    targets = fleet.hosts[:2]
    chain = endpoint(inner, via=endpoint(outer))
    transports = make_transports(behind(targets, chain, tmp_path))
    try:
        answers = in_parallel(transports, lambda t: t.status([]))
        assert not [a for a in answers if isinstance(a, TransportError)]
        # The outer bastion carries only the inner one; the inner one, the targets.
        assert direct_tcpip(outer) == [(inner.address, inner.port)]
        assert sorted(direct_tcpip(inner)) == sorted((t.address, t.port) for t in targets)
        assert (logins(outer), logins(inner)) == (1, 1)
    finally:
        for t in transports:
            t.close()
    assert pool_of(transports).connected() == []


def test_a_bastion_killed_mid_run_makes_its_hosts_unreachable_then_they_are_followed_back(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(2, 72)
    (bastion,) = fleet.start(1, 82)
    done = tmp_path / "done"
    script = f"sleep 4; echo {{}} >> {done}"
    job = JobSpec(name="j", hosts="all", shell=script, poll=0.3, timeout=120)
    hosts = behind(fleet.hosts[:2], endpoint(bastion), tmp_path)
    runs = [RunSpec(job, h, None, 0, script) for h in hosts]
    transports = make_transports(hosts, jump_backoff=0.2)
    events: list[Event] = []
    engine = Engine(
        runs,
        {t.host.name: t for t in transports},
        batch="b",
        on_event=events.append,
        backoff=0.2,
    )

    def runs_with(pred: Callable[[RunChanged], bool]) -> set[str]:
        return {e.run.host for e in events if isinstance(e, RunChanged) and pred(e)}

    worker = threading.Thread(target=engine.run)
    worker.start()
    try:
        names = {h.name for h in hosts}
        assert wait_until(lambda: runs_with(lambda e: e.run.state is RunState.RUNNING) == names)
        bastion.stop()
        assert wait_until(
            lambda: (
                runs_with(
                    lambda e: (
                        e.run.state is RunState.UNREACHABLE
                        and f"jump host {bastion.name}" in e.run.reason
                    )
                )
                == names
            ),
            30,
        )
        assert wait_until(lambda: done.exists() and done.read_text().count("{}") == 2, 30)
        bastion.restart()
        worker.join(120)
        assert not worker.is_alive()
    finally:
        engine.stop()
        worker.join(30)
        for t in transports:
            t.close()
    finals = {e.run.host: e.run.state for e in events if isinstance(e, RunChanged)}
    assert finals == {name: RunState.SUCCEEDED for name in names}
    assert pool_of(transports).connected() == []


def test_a_down_bastion_fails_its_hosts_at_once_with_its_reason_during_its_backoff(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(2, 73)
    (bastion,) = fleet.start(1, 83)
    bastion.stop()
    transports = make_transports(
        behind(fleet.hosts[:2], endpoint(bastion), tmp_path), jump_backoff=60
    )
    first = in_parallel(transports, lambda t: t.status([]))
    assert {str(e) for e in first} == {
        f"jump host {bastion.name}: cannot connect to {bastion.address}:{bastion.port}: "
        "Connection refused"
    }
    bastion.restart()  # back, but its backoff has not ended: not tried before then
    t0 = time.monotonic()
    again = in_parallel(transports, lambda t: t.status([]))
    assert time.monotonic() - t0 < 1
    assert {str(e) for e in again} == {str(e) for e in first}
    assert logins(bastion) == 0
    for t in transports:
        t.close()


def test_a_changed_bastion_host_key_is_refused_and_nothing_runs_behind_it(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(1, 74)
    (bastion,) = fleet.start(1, 84)
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    forged = other.with_suffix(".pub").read_text().split()[1]
    known = tmp_path / "known_hosts"
    name = f"[{bastion.address}]:{bastion.port}"
    known.write_text(
        "".join(
            f"{name} ssh-ed25519 {forged}\n" if line.startswith(name + " ") else line + "\n"
            for line in fleet.known_hosts_path.read_text().splitlines()
        )
    )
    via = endpoint(bastion, known_hosts=(str(known),), accept_new=True)  # never for a change
    transports = make_transports(behind(fleet.hosts[:1], via, tmp_path))
    with transports[0] as t, pytest.raises(TransportError) as caught:
        t.status([])
    reason = str(caught.value)
    assert reason.startswith(f"jump host {bastion.name}: HOST KEY CHANGED for {name}: ")
    assert reason.count("SHA256:") == 2 and f"ssh-keygen -R '{name}' -f {known}" in reason
    assert logins(bastion) == 0 and direct_tcpip(bastion) == []


def test_a_target_the_bastion_cannot_reach_is_named_with_the_bastion(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(1, 75)
    (bastion,) = fleet.start(1, 85)
    gone = fleet.hosts[0]
    gone.stop()
    (host,) = behind([gone], endpoint(bastion), tmp_path)
    with make_transports([host])[0] as t, pytest.raises(TransportError) as caught:
        t.status([])
    assert str(caught.value) == (
        f"cannot connect to {gone.address}:{gone.port} through jump host {bastion.name}: "
        "Connect failed"
    )


def test_a_target_that_drops_and_comes_back_keeps_its_bastion_connection(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(1, 77)
    (bastion,) = fleet.start(1, 87, sshd_config=DEBUG)
    target = fleet.hosts[0]
    (t,) = make_transports(behind([target], endpoint(bastion), tmp_path))
    with t:
        t.status([])
        target.stop()
        for _ in range(2):  # the shell's end, then the bastion cannot reach it
            with pytest.raises(TransportError):
                t.status([])
        target.restart()
        t.status([])
        assert t.sessions_opened == 2
        assert logins(bastion) == 1
    assert pool_of([t]).connected() == []


def test_transports_for_shares_one_keyring_and_one_pool_closed_with_the_last(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(3, 78)
    (bastion,) = fleet.start(1, 88, sshd_config=DEBUG)
    ring = KeyRing()
    transports = transports_for(behind(fleet.hosts[:3], endpoint(bastion), tmp_path), keyring=ring)
    pools = {id(pool_of([t])) for t in transports}
    assert len(pools) == 1
    dial = pool_of(transports).dial
    assert isinstance(dial, Dialer) and dial.keyring is ring
    with ExitStack() as stack:  # as the one-shot commands hold them
        for t in transports:
            stack.enter_context(t)
        assert all(
            isinstance(a, HostStatus) for a in in_parallel(transports, lambda t: t.status([]))
        )
        assert logins(bastion) == 1
    assert pool_of(transports).connected() == []
    assert wait_until(lambda: bastion.connection_processes() == set(), 5)
