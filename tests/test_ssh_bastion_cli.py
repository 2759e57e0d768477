"""Bastions through the real CLI: a ProxyJump from ssh_config, a chain of two, one from
`ansible_ssh_common_args`, and a ProxyCommand, over real sshd hosts.

Each is proved to go through the bastion by the bastion's own sshd log (LogLevel
DEBUG1 logs every `direct-tcpip` channel and every login): the targets it was asked
to reach, and one login for all the hosts behind it.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_openssh
from tests.helpers import run_jobtui
from tests.sshfleet import FleetHost, SshFleet, ssh_client_path

DEBUG = ["LogLevel DEBUG1"]


class Site:
    """Two bastions (logging at DEBUG1) and three targets, one fleet, one known_hosts."""

    def __init__(self, fleet: SshFleet) -> None:
        self.fleet = fleet
        self.bastion1, self.bastion2 = fleet.start(2, first_octet=60, sshd_config=DEBUG)
        self.targets = fleet.start(3, first_octet=70)

    def config(self, body: str) -> str:
        """`body`, the targets' aliases t1..t3, the bastions' aliases, and `Host *`."""
        aliases = "".join(
            f"Host {name}\n    HostName {h.address}\n    Port {h.port}\n"
            for name, h in [
                *((f"t{i + 1}", t) for i, t in enumerate(self.targets)),
                ("bastion1", self.bastion1),
                ("bastion2", self.bastion2),
            ]
        )
        return (
            textwrap.dedent(body)
            + aliases
            + textwrap.dedent(
                f"""
                Host *
                    User {self.fleet.user}
                    IdentityFile {self.fleet.user_key_path}
                    IdentitiesOnly yes
                    UserKnownHostsFile {self.fleet.known_hosts_path}
                """
            )
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_openssh()
    fleet = SshFleet(tmp_path_factory.mktemp("bastions"))
    try:
        yield Site(fleet)
    finally:
        fleet.stop_all()


def channels(bastion: FleetHost, since: int) -> list[tuple[str, int]]:
    """The targets of the direct-tcpip channels opened on `bastion` after log offset
    `since`."""
    log = bastion.read_full_log()[since:]
    return [
        (m[1], int(m[2]))
        for m in re.finditer(r"server_request_direct_tcpip: .*?, target (\S+) port (\d+)", log)
    ]


def logins(bastion: FleetHost, since: int) -> int:
    return bastion.read_full_log()[since:].count("Accepted publickey for ")


def run_through(site: Site, tmp_path: Path, config: str, host_vars: dict[str, Any]) -> None:
    """Run `echo` on t1..t3 with this ssh_config; every run must succeed."""
    cfg = tmp_path / "ssh_config"
    cfg.write_text(site.config(config))
    hosts = {
        f"t{i + 1}": {"jobtui_dir": str(tmp_path / f"t{i + 1}"), **host_vars}
        for i in range(len(site.targets))
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        "jobs:\n  - name: hi\n    hosts: all\n    shell: echo hi\n    timeout: 30\n    poll: 0.3\n"
    )
    done = run_jobtui(
        "run", str(jobs), "-i", str(inventory), "-F", str(cfg), "--headless", "--json",
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert {(r["host"], r["state"]) for r in summary["runs"]} == {
        (f"t{i + 1}", "succeeded") for i in range(len(site.targets))
    }


def offsets(site: Site) -> tuple[int, int]:
    return len(site.bastion1.read_full_log()), len(site.bastion2.read_full_log())


def targets_of(site: Site) -> set[tuple[str, int]]:
    return {(t.address, t.port) for t in site.targets}


def test_a_proxyjump_of_ssh_config_goes_through_one_login_on_the_bastion(
    site: Site, tmp_path: Path
) -> None:
    b1, b2 = offsets(site)
    run_through(site, tmp_path, "Host t*\n    ProxyJump bastion1\n", {})
    assert set(channels(site.bastion1, b1)) == targets_of(site)
    assert logins(site.bastion1, b1) == 1  # three hosts, one connection to the bastion
    assert channels(site.bastion2, b2) == []


def test_a_chain_of_two_bastions(site: Site, tmp_path: Path) -> None:
    b1, b2 = offsets(site)
    run_through(site, tmp_path, "Host t*\n    ProxyJump bastion1,bastion2\n", {})
    bastion2 = (site.bastion2.address, site.bastion2.port)
    assert set(channels(site.bastion1, b1)) == {bastion2}  # the first hop reaches the second
    assert logins(site.bastion1, b1) == 1
    assert set(channels(site.bastion2, b2)) == targets_of(site)
    assert logins(site.bastion2, b2) == 1


def test_a_proxyjump_in_ansible_ssh_common_args(site: Site, tmp_path: Path) -> None:
    b1, b2 = offsets(site)
    run_through(site, tmp_path, "", {"ansible_ssh_common_args": "-o ProxyJump=bastion2"})
    assert set(channels(site.bastion2, b2)) == targets_of(site)
    assert logins(site.bastion2, b2) == 1
    assert channels(site.bastion1, b1) == []


def test_a_proxycommand_of_ssh_config(site: Site, tmp_path: Path) -> None:
    ssh = ssh_client_path()
    assert ssh is not None
    fleet, b = site.fleet, site.bastion1
    proxy = (
        f"ProxyCommand {ssh} -F /dev/null -i {fleet.user_key_path} -o IdentitiesOnly=yes"
        f" -o UserKnownHostsFile={fleet.known_hosts_path} -o StrictHostKeyChecking=yes"
        f" -o BatchMode=yes -o LogLevel=ERROR -p {b.port} -l {fleet.user} -W %h:%p {b.address}"
    )
    b1, _ = offsets(site)
    run_through(site, tmp_path, f"Host t*\n    {proxy}\n", {})
    assert set(channels(site.bastion1, b1)) == targets_of(site)
    assert logins(site.bastion1, b1) == 3  # one ssh process per target
