"""The sshd test fleet works with the real OpenSSH client and with paramiko."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest
import yaml

from tests.sshfleet import FleetHost, SshFleet, ssh_exec

TIMEOUT = 10.0


def server_key(host: FleetHost) -> paramiko.PKey:
    """The host key ``host`` presents, read with a bare paramiko Transport."""
    with socket.create_connection((host.address, host.port), timeout=TIMEOUT) as sock:
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=TIMEOUT)
            return transport.get_remote_server_key()
        finally:
            transport.close()


def connect(fleet: SshFleet, host: FleetHost) -> paramiko.SSHClient:
    """A paramiko client logged in with the fleet's user key, host key checked strictly."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(fleet.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host.address,
        port=host.port,
        username=fleet.user,
        key_filename=str(fleet.user_key_path),
        look_for_keys=False,
        allow_agent=False,
        timeout=TIMEOUT,
        banner_timeout=TIMEOUT,
        auth_timeout=TIMEOUT,
    )
    return client


def run(client: paramiko.SSHClient, command: str) -> tuple[int, str]:
    """Run ``command`` over an open paramiko connection: (exit status, stdout)."""
    _, stdout, _ = client.exec_command(command, timeout=TIMEOUT)
    out = stdout.read().decode()
    return stdout.channel.recv_exit_status(), out


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def read_pid(path: Path) -> int:
    """Wait for a pid file written by a remote command and return the pid."""
    assert wait_until(lambda: path.exists() and path.read_text().strip() != "")
    return int(path.read_text())


def test_each_host_presents_its_own_host_key(ssh_fleet: SshFleet) -> None:
    hosts = ssh_fleet.hosts
    assert len(hosts) == 3
    assert len({h.address for h in hosts}) == 3
    keys = [server_key(h) for h in hosts]
    for host, key in zip(hosts, keys, strict=True):
        assert key.get_name() == "ssh-ed25519"
        assert f"{key.get_name()} {key.get_base64()}" == host.host_key_pub
    assert len({k.get_base64() for k in keys}) == len(hosts)


def test_known_hosts_lists_every_host(ssh_fleet: SshFleet) -> None:
    lines = ssh_fleet.known_hosts_path.read_text().splitlines()
    assert lines == [f"[{h.address}]:{h.port} {h.host_key_pub}" for h in ssh_fleet.hosts]
    known = paramiko.HostKeys(str(ssh_fleet.known_hosts_path))
    for host in ssh_fleet.hosts:
        entry = known.lookup(f"[{host.address}]:{host.port}")
        assert entry is not None
        assert entry["ssh-ed25519"].get_base64() == host.host_key_pub.split()[1]


def test_openssh_client_logs_in_with_user_key(ssh_fleet: SshFleet) -> None:
    for host in ssh_fleet.hosts:
        assert ssh_exec(host, "echo hello") == (0, "hello\n")
    assert ssh_exec(ssh_fleet.hosts[0], "exit 3") == (3, "")
    rc, out = ssh_exec(ssh_fleet.hosts[0], "id -un")
    assert (rc, out.strip()) == (0, ssh_fleet.user)


def test_paramiko_logs_in_with_user_key(ssh_fleet: SshFleet) -> None:
    for host in ssh_fleet.hosts:
        client = connect(ssh_fleet, host)
        try:
            assert run(client, "echo hello") == (0, "hello\n")
        finally:
            client.close()


def test_wrong_host_key_is_refused(ssh_fleet: SshFleet, tmp_path: Path) -> None:
    """Host keys really differ: host1's key recorded for host2 is a mismatch."""
    host1, host2 = ssh_fleet.hosts[:2]
    bogus = tmp_path / "known_hosts"
    bogus.write_text(f"[{host2.address}]:{host2.port} {host1.host_key_pub}\n")
    client = paramiko.SSHClient()
    client.load_host_keys(str(bogus))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect(
            host2.address,
            port=host2.port,
            username=ssh_fleet.user,
            key_filename=str(ssh_fleet.user_key_path),
            look_for_keys=False,
            allow_agent=False,
            timeout=TIMEOUT,
        )
    client.close()


def test_inventory_describes_the_fleet(ssh_fleet: SshFleet, tmp_path: Path) -> None:
    path = ssh_fleet.write_inventory(tmp_path / "inv.yml", extra_vars={"jobtui_x": 1})
    data = yaml.safe_load(path.read_text())
    all_vars = data["all"]["vars"]
    assert all_vars["ansible_user"] == ssh_fleet.user
    assert all_vars["ansible_ssh_private_key_file"] == str(ssh_fleet.user_key_path)
    assert all_vars["jobtui_known_hosts"] == str(ssh_fleet.known_hosts_path)
    assert all_vars["jobtui_x"] == 1
    hosts = data["all"]["children"]["fleet"]["hosts"]
    assert list(hosts) == ["host1", "host2", "host3"]
    for host in ssh_fleet.hosts:
        assert hosts[host.name] == {
            "ansible_host": host.address,
            "ansible_port": host.port,
            "jobtui_dir": str(host.jobtui_dir),
        }
    assert len({h["jobtui_dir"] for h in hosts.values()}) == 3


def test_fleet_inventory_gives_each_test_its_own_job_dirs(
    fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path
) -> None:
    hosts = yaml.safe_load(fleet_inventory.read_text())["all"]["children"]["fleet"]["hosts"]
    assert {name: Path(h["jobtui_dir"]) for name, h in hosts.items()} == fleet_jobtui_dirs
    for path in fleet_jobtui_dirs.values():
        assert path.is_relative_to(tmp_path.resolve())


def test_stop_refuses_connections_and_restart_keeps_port_and_key(
    make_fleet: Callable[..., SshFleet],
) -> None:
    fleet = make_fleet(1, first_octet=40)
    (host,) = fleet.hosts
    port, key = host.port, server_key(host).get_base64()
    client = connect(fleet, host)
    assert run(client, "echo hello") == (0, "hello\n")

    host.stop()
    assert not host.is_running()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host.address, host.port), timeout=TIMEOUT).close()
    rc, _ = ssh_exec(host, "echo hello")
    assert rc == 255
    # The open connection was cut too: its sshd processes are gone.
    transport = client.get_transport()
    assert transport is not None
    assert wait_until(lambda: not transport.is_active())
    with pytest.raises((paramiko.SSHException, OSError, EOFError)):
        run(client, "echo hello")
    client.close()

    host.restart()
    assert host.is_running()
    assert host.port == port
    assert server_key(host).get_base64() == key
    assert ssh_exec(host, "echo hello") == (0, "hello\n")
    host.stop()
    host.stop()  # idempotent


def test_detached_job_survives_stop_but_session_does_not(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(1, first_octet=41)
    (host,) = fleet.hosts
    detached_pid_file = tmp_path / "detached.pid"
    rc, _ = ssh_exec(
        host,
        f"setsid sh -c 'echo $$ > {detached_pid_file}; exec sleep 30' </dev/null >/dev/null 2>&1 &",
    )
    assert rc == 0
    detached = read_pid(detached_pid_file)

    # A command still running in an SSH session when the host goes down.
    client = connect(fleet, host)
    session_pid_file = tmp_path / "session.pid"
    client.exec_command(f"echo $$ > {session_pid_file}; exec sleep 60")
    in_session = read_pid(session_pid_file)
    try:
        assert alive(detached) and alive(in_session)
        host.stop()
        assert wait_until(lambda: not alive(in_session)), "session process survived stop()"
        assert alive(detached), "setsid-detached job was killed by stop()"
        assert os.getsid(detached) == detached
    finally:
        client.close()
        for pid in (detached, in_session):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
