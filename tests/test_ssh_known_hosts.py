"""known_hosts with many hosts: parsed once per change, not once per connection."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import paramiko
import pytest

from jobtui.config import load_inventory
from jobtui.transport.base import TransportError
from jobtui.transport.ssh import SshTransport
from tests.sshfleet import SshFleet


def test_known_hosts_is_parsed_once_for_every_host_and_again_after_it_changes(
    ssh_fleet: SshFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = tmp_path / "known_hosts"  # a path no other test has connected with
    shutil.copy(ssh_fleet.known_hosts_path, known)
    inv = ssh_fleet.write_inventory(
        tmp_path / "inv.yml",
        extra_vars={"jobtui_known_hosts": str(known)},
        jobtui_root=tmp_path / "jt",
    )
    hosts = list(load_inventory(str(inv)).hosts.values())
    loads: list[str] = []
    load = paramiko.HostKeys.load

    def counting_load(self: paramiko.HostKeys, filename: str) -> None:
        loads.append(filename)
        load(self, filename)

    monkeypatch.setattr(paramiko.HostKeys, "load", counting_load)

    for host in hosts:
        transport = SshTransport(host)
        try:
            assert transport.status([]).runs == {}
        finally:
            transport.close()
    assert loads == [str(known)]

    # The first host's key is replaced in the file: the change is seen, and refused.
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    forged = other.with_suffix(".pub").read_text().split()[1]
    first = ssh_fleet.hosts[0]
    name = f"[{first.address}]:{first.port}"
    known.write_text(
        "".join(
            f"{name} ssh-ed25519 {forged}\n" if line.startswith(name + " ") else line + "\n"
            for line in known.read_text().splitlines()
        )
    )
    transport = SshTransport(hosts[0])
    with pytest.raises(TransportError, match="HOST KEY CHANGED"):
        transport.status([])
    transport.close()
    assert loads == [str(known)] * 2
