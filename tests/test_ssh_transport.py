"""An SSH transport reaches a host the way its Endpoint says: its known_hosts files,
`accept_new`, a proxy command (one that works, one that exits at once), a route that
cannot work; and `close()` cuts off a connect hanging in a proxy command or in a jump
host, leaving no process behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobtui.engine import Engine
from jobtui.model import Endpoint, Host, JobSpec, RunSpec, RunState
from jobtui.transport import Transport, TransportError, make_transports
from jobtui.transport.ssh import SshTransport
from tests.helpers import processes_matching
from tests.sshfleet import FleetHost, SshFleet, ssh_command
from tests.test_ssh_jump import DEBUG, direct_tcpip, endpoint


def host_for(h: FleetHost, root: Path, **kw: Any) -> Host:
    return Host(h.name, h.address, h.port, jobtui_dir=str(root / h.name), ssh=endpoint(h, **kw))


def proxy_through(bastion: FleetHost, known_hosts: Path) -> str:
    """`ssh -W %h:%p` through `bastion`, as an operator's ProxyCommand (expanded by
    the resolver, so the test writes the target in later)."""
    argv = ssh_command(bastion, "true")
    argv = argv[: argv.index("--")]  # options, user and address; no command
    argv[argv.index(f"UserKnownHostsFile={bastion.known_hosts_path}")] = (
        f"UserKnownHostsFile={known_hosts}"
    )
    return " ".join([*argv[:1], "-W", "{target}", *argv[1:]])


def closing_in_the_middle(t: Transport) -> tuple[float, str]:
    """Start a round trip that hangs connecting, close after 0.5 s: how long the close
    took, and what the round trip was told."""
    told: list[str] = []

    def round_trip() -> None:
        try:
            t.status([])
        except TransportError as e:
            told.append(str(e))

    worker = threading.Thread(target=round_trip)
    worker.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    t.close()
    took = time.monotonic() - t0
    worker.join(10)
    assert not worker.is_alive()
    return took, told[0]


def test_known_hosts_files_are_read_in_order_and_a_new_key_goes_to_the_first(
    ssh_fleet: SshFleet, tmp_path: Path
) -> None:
    h = ssh_fleet.hosts[0]
    first, second = tmp_path / "first", tmp_path / "second"
    second.write_text(h.known_hosts_line + "\n")
    (host,) = [host_for(h, tmp_path, known_hosts=(str(first), str(second)), user="")]
    with make_transports([host])[0] as t:
        assert t.status([]).runs == {}  # found in the second file, as the local user
    assert not first.exists()
    # Unknown everywhere: refused, then recorded in the first file with accept_new.
    (host,) = [host_for(h, tmp_path, known_hosts=(str(first),))]
    with make_transports([host])[0] as t, pytest.raises(TransportError, match="unknown host key"):
        t.status([])
    (host,) = [host_for(h, tmp_path, known_hosts=(str(first),), accept_new=True)]
    with make_transports([host])[0] as t:
        t.status([])
    assert first.read_text() == h.known_hosts_line + "\n"


def test_a_route_that_cannot_work_is_its_reason_and_is_never_tried(
    black_hole: tuple[str, int], tmp_path: Path
) -> None:
    addr, port = black_hole
    ep = Endpoint(name="a", address=addr, port=port, problem="jump chain loops: a -> b -> a")
    with make_transports([Host("a", addr, port, ssh=ep)])[0] as t:
        t0 = time.monotonic()
        with pytest.raises(TransportError) as caught:
            t.status([])
        assert time.monotonic() - t0 < 0.5
    assert str(caught.value) == "jump chain loops: a -> b -> a"


def test_a_proxy_command_carries_the_connection_and_is_reaped_on_close(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(1, 76)
    (bastion,) = fleet.start(1, 86, sshd_config=DEBUG)
    target = fleet.hosts[0]
    known = tmp_path / "proxy_known_hosts"  # in its command line: it finds the process
    known.write_text(fleet.known_hosts_path.read_text())
    command = proxy_through(bastion, known).format(target=f"{target.address}:{target.port}")
    host = host_for(target, tmp_path, proxy_command=command)
    with make_transports([host])[0] as t:
        assert t.status([]).runs == {}
        assert len(processes_matching(str(known))) == 1
    assert processes_matching(str(known)) == []
    # `ssh -W` names itself as originator port 65535.
    assert direct_tcpip(bastion, r"127\.0\.0\.1 port 65535") == [(target.address, target.port)]


def test_a_proxy_command_that_exits_at_once_is_a_reason_and_the_other_hosts_carry_on(
    ssh_fleet: SshFleet, tmp_path: Path
) -> None:
    good, bad = ssh_fleet.hosts[:2]
    command = "sh -c 'echo first words >&2; echo no route to {} >&2; exit 3'"
    hosts = [host_for(good, tmp_path), host_for(bad, tmp_path, proxy_command=command)]
    job = JobSpec(name="j", hosts="all", shell="true", poll=0.3, timeout=60)
    runs = [RunSpec(job, h, None, 0, "true") for h in hosts]
    transports = make_transports(hosts)
    engine = Engine(runs, {t.host.name: t for t in transports}, batch="b", backoff=0.05)
    try:
        result = {v.host: v for v in engine.run().runs}
    finally:
        for t in transports:
            t.close()
    assert result[good.name].state is RunState.SUCCEEDED
    assert result[bad.name].state is RunState.UNREACHABLE
    assert result[bad.name].reason == f"proxy command `{command}` exited 3: no route to {{}}"


def test_a_proxy_command_that_cannot_run_says_so(ssh_fleet: SshFleet, tmp_path: Path) -> None:
    host = host_for(ssh_fleet.hosts[0], tmp_path, proxy_command="no-such-proxy-jobtui %h")
    with make_transports([host])[0] as t, pytest.raises(TransportError) as caught:
        t.status([])
    reason = str(caught.value)
    assert reason.startswith("proxy command `no-such-proxy-jobtui %h` exited 127: ")
    assert "not found" in reason


def test_close_cuts_off_a_connect_hanging_in_a_proxy_command_and_reaps_it(
    ssh_fleet: SshFleet, tmp_path: Path
) -> None:
    marker = "sleep 61.2345"  # says nothing, forever: a proxy that never connects
    host = host_for(ssh_fleet.hosts[0], tmp_path, proxy_command=marker, connect_timeout=30)
    (t,) = make_transports([host])
    took, told = closing_in_the_middle(t)
    assert took < 3
    assert "proxy command" in told or "cut off" in told
    assert processes_matching(marker) == []


def test_close_cuts_off_a_connect_hanging_in_the_jump_host(
    ssh_fleet: SshFleet, black_hole: tuple[str, int], tmp_path: Path
) -> None:
    addr, port = black_hole
    silent = Endpoint(name="silent", address=addr, port=port, connect_timeout=30)
    host = host_for(ssh_fleet.hosts[0], tmp_path, via=silent, connect_timeout=30)
    (t,) = make_transports([host])
    took, told = closing_in_the_middle(t)
    assert took < 3
    assert "cut off" in told


def test_a_jump_host_reached_by_a_proxy_command_carries_its_targets(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(2, 79)
    (bastion,) = fleet.start(1, 89, sshd_config=DEBUG)
    known = tmp_path / "proxy_known_hosts"
    known.write_text(fleet.known_hosts_path.read_text())
    # The proxy reaches the bastion through the bastion itself: its log shows both.
    to_itself = proxy_through(bastion, known).format(target=f"{bastion.address}:{bastion.port}")
    via = endpoint(bastion, proxy_command=to_itself)
    hosts = [host_for(h, tmp_path, via=via) for h in fleet.hosts[:2]]
    transports = make_transports(hosts)
    try:
        for t in transports:
            t.status([])
        assert len(processes_matching(str(known))) == 1  # one proxy, for the one login
    finally:
        for t in transports:
            t.close()
    assert processes_matching(str(known)) == []
    assert direct_tcpip(bastion, r"127\.0\.0\.1 port 65535") == [(bastion.address, bastion.port)]
    assert sorted(direct_tcpip(bastion)) == sorted((h.address, h.port) for h in fleet.hosts[:2])


def test_a_silent_proxy_command_times_out_with_its_name_and_is_reaped(
    ssh_fleet: SshFleet, tmp_path: Path
) -> None:
    marker = "sleep 62.3456"
    host = host_for(ssh_fleet.hosts[0], tmp_path, proxy_command=marker, connect_timeout=1)
    with make_transports([host])[0] as t, pytest.raises(TransportError) as caught:
        t.status([])
    assert str(caught.value) == f"no SSH handshake through proxy command `{marker}` within 1s"
    assert processes_matching(marker) == []


def test_closing_a_watch_session_on_a_connection_already_gone_does_not_raise(
    ssh_fleet: SshFleet, tmp_path: Path
) -> None:
    """The engine closes its end watchers as it stops (a Ctrl-C): a channel whose
    connection went first made paramiko raise EOFError out of the engine's thread."""
    h = ssh_fleet.hosts[0]
    with make_transports([host_for(h, tmp_path)])[0] as t:
        t.status([])
        watch, _ = t.open_watch()
        assert isinstance(t, SshTransport) and t._client is not None
        # The connection dies under the channel (its socket reached EOF) before
        # paramiko's reader thread has closed the channels.
        t._client.get_transport().packetizer.close()  # type: ignore[union-attr]
        watch.close()
