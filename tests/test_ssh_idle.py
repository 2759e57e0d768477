"""A logged-in connection's reader thread looks for work once a second, not ten times
(paramiko's 0.1 s socket timeout), and still ends with the connection (real sshd)."""

from __future__ import annotations

from pathlib import Path

from jobtui.model import Host
from jobtui.transport.ssh import IDLE_WAKE, SshTransport
from tests.sshfleet import SshFleet
from tests.test_ssh_transport import host_for


def test_a_logged_in_connection_wakes_once_a_second_and_closes_at_once(
    ssh_fleet: SshFleet, tmp_path: Path
) -> None:
    host: Host = host_for(ssh_fleet.hosts[0], tmp_path)
    t = SshTransport(host)
    try:
        t.status([])
        client = t._client
        assert client is not None
        transport = client.get_transport()
        assert transport is not None
        assert transport.sock.gettimeout() == IDLE_WAKE == 1.0
        t.status([])  # round trips are not slowed: data wakes the reader, not the timeout
    finally:
        t.close()
    assert not transport.is_active()
