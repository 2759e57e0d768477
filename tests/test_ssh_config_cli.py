"""ssh_config and Ansible's SSH args through the real CLI, against real sshd hosts.

The inventories here name no address, port, user or key of their own where ssh_config
is meant to supply them: a host reached at all was reached through ssh_config. Which
host answered is read from the job's own `$SSH_CONNECTION` (server address and port).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import run_jobtui
from tests.sshfleet import SshFleet


def write_jobs(path: Path) -> Path:
    path.write_text(
        textwrap.dedent(
            """
            jobs:
              - name: where
                hosts: all
                shell: echo "$SSH_CONNECTION"
                timeout: 30
                poll: 0.3
            """
        )
    )
    return path


def write_inventory(path: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


def fleet_defaults(fleet: SshFleet) -> str:
    """The `Host *` block every config here ends with: the fleet's user, key, known_hosts."""
    return textwrap.dedent(
        f"""
        Host *
            User {fleet.user}
            IdentityFile {fleet.user_key_path}
            IdentitiesOnly yes
            UserKnownHostsFile {fleet.known_hosts_path}
        """
    )


def answered_by(summary: dict[str, Any], dirs: dict[str, Path]) -> dict[str, str]:
    """host -> "address port" of the sshd that ran its job (from $SSH_CONNECTION)."""
    where = {}
    for run in summary["runs"]:
        assert run["state"] == "succeeded", run
        out = (dirs[run["host"]] / "jobs" / run["jid"] / "stdout").read_text().split()
        where[run["host"]] = f"{out[2]} {out[3]}"
    return where


def run_headless(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    jobs = write_jobs(tmp_path / "jobs.yml")
    state = tmp_path / "state"
    done = run_jobtui("run", str(jobs), *args, "--headless", "--json", "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def test_ssh_config_aliases_reach_their_hosts_and_inventory_vars_win(
    ssh_fleet: SshFleet, tmp_path: Path
) -> None:
    h1, h2, h3 = ssh_fleet.hosts[:3]
    config = tmp_path / "ssh_config"
    config.write_text(
        textwrap.dedent(
            f"""
            Host alpha
                HostName {h1.address}
                Port {h1.port}
            Host beta
                HostName {h2.address}
                Port {h2.port}
            Host gamma
                # the wrong port for h3: the inventory's ansible_port must win
                HostName {h3.address}
                Port {h1.port}
            """
        )
        + fleet_defaults(ssh_fleet)
    )
    dirs = {n: tmp_path / n for n in ("alpha", "beta", "gamma")}
    inventory = write_inventory(
        tmp_path / "inventory.yml",
        {
            "alpha": {"jobtui_dir": str(dirs["alpha"])},
            "beta": {"jobtui_dir": str(dirs["beta"])},
            "gamma": {"jobtui_dir": str(dirs["gamma"]), "ansible_port": h3.port},
        },
    )
    summary, _ = run_headless(tmp_path, "-i", str(inventory), "-F", str(config))
    assert answered_by(summary, dirs) == {
        "alpha": f"{h1.address} {h1.port}",
        "beta": f"{h2.address} {h2.port}",
        "gamma": f"{h3.address} {h3.port}",
    }


def test_without_ssh_config_an_alias_is_unreachable(ssh_fleet: SshFleet, tmp_path: Path) -> None:
    """The control: the same alias with an empty ssh_config reaches nothing."""
    inventory = write_inventory(
        tmp_path / "inventory.yml",
        {"alpha": {"jobtui_dir": str(tmp_path / "alpha"), "ansible_ssh_timeout": 2}},
    )
    empty = tmp_path / "empty_config"
    empty.write_text("")
    jobs = write_jobs(tmp_path / "jobs.yml")
    done = run_jobtui(
        "run",
        str(jobs),
        "-i",
        str(inventory),
        "-F",
        str(empty),
        "--headless",
        "--json",
        "--state-dir",
        str(tmp_path / "state"),
    )
    assert done.returncode == 1
    (run,) = json.loads(done.stdout.splitlines()[-1])["runs"]
    assert run["state"] == "unreachable"


def test_inventory_host_shows_the_connection_and_where_it_came_from(
    ssh_fleet: SshFleet, tmp_path: Path
) -> None:
    h1 = ssh_fleet.hosts[0]
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host alpha\n    HostName {h1.address}\n    Port {h1.port}\n    ProxyJump jump1\n"
        + fleet_defaults(ssh_fleet)
    )
    inventory = write_inventory(tmp_path / "inventory.yml", {"alpha": {"ansible_user": "deploy"}})
    shown = run_jobtui("inventory", "-i", str(inventory), "-F", str(config), "--host", "alpha")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"ansible_user": "deploy"}  # ansible-inventory's stdout
    lines = {line.split()[0]: line for line in shown.stderr.splitlines()[1:] if line.strip()}
    assert h1.address in lines["address"] and f"{config}:2" in lines["address"]
    assert str(h1.port) in lines["port"] and f"{config}:3" in lines["port"]
    assert "deploy" in lines["user"] and "ansible_user" in lines["user"]
    assert "jump1" in lines["jump"] and f"{config}:4" in lines["jump"]
    assert str(ssh_fleet.user_key_path) in lines["keys"]
    assert "jump1" in lines["route"]


def test_an_ssh_arg_jobtui_does_not_understand_is_named_once_per_batch(
    ssh_fleet: SshFleet, tmp_path: Path
) -> None:
    dirs = {h.name: tmp_path / h.name for h in ssh_fleet.hosts}
    inventory = ssh_fleet.write_inventory(
        tmp_path / "inventory.yml",
        extra_vars={"ansible_ssh_common_args": "-o ForwardX11=yes -C"},
        host_vars={n: {"jobtui_dir": str(d)} for n, d in dirs.items()},
    )
    summary, stderr = run_headless(tmp_path, "-i", str(inventory), "-F", "/dev/null")
    assert {r["state"] for r in summary["runs"]} == {"succeeded"}
    warned = [line for line in stderr.splitlines() if "ForwardX11" in line]
    assert len(warned) == 1, stderr
    assert "-C" not in warned[0].split("ForwardX11")[1]  # a harmless option is not named


def test_a_malformed_ssh_config_line_is_an_error_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host alpha\n    HostName\n")
    inventory = write_inventory(tmp_path / "inventory.yml", {"alpha": {}})
    done = run_jobtui(
        "check", str(write_jobs(tmp_path / "jobs.yml")), "-i", str(inventory), "-F", str(config)
    )
    assert done.returncode == 2
    assert f"{config}:2" in done.stderr and "Traceback" not in done.stderr


def test_a_jump_chain_that_loops_makes_its_host_unreachable_the_others_carry_on(
    ssh_fleet: SshFleet, tmp_path: Path
) -> None:
    h1 = ssh_fleet.hosts[0]
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host alpha\n    HostName {h1.address}\n    Port {h1.port}\n"
        "Host loop1\n    ProxyJump loop2\nHost loop2\n    ProxyJump loop1\n"
        + fleet_defaults(ssh_fleet)
    )
    dirs = {n: tmp_path / n for n in ("alpha", "loop1")}
    inventory = write_inventory(
        tmp_path / "inventory.yml", {n: {"jobtui_dir": str(d)} for n, d in dirs.items()}
    )
    jobs = write_jobs(tmp_path / "jobs.yml")
    done = run_jobtui(
        "run", str(jobs), "-i", str(inventory), "-F", str(config), "--headless", "--json",
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    runs = {r["host"]: r for r in json.loads(done.stdout.splitlines()[-1])["runs"]}
    assert runs["alpha"]["state"] == "succeeded"
    assert runs["loop1"]["state"] == "unreachable"
    assert "loops" in runs["loop1"]["reason"] and f"{config}:" in runs["loop1"]["reason"]
