"""An INI inventory with group_vars/ plans with `jobtui check` and runs over real sshd."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.helpers import run_jobtui
from tests.sshfleet import SshFleet


def write_ini_inventory(fleet: SshFleet, dirs: dict[str, Path], root: Path) -> Path:
    """hosts (INI) + group_vars/all.yml (the connection) + group_vars/fleet/ (a var)."""
    lines = [
        f"{h.name} ansible_host={h.address} ansible_port={h.port} jobtui_dir={dirs[h.name]}"
        for h in fleet.hosts
    ]
    inventory = root / "inventory"
    (inventory / "group_vars" / "fleet").mkdir(parents=True)
    (inventory / "hosts").write_text(
        "[fleet]\n" + "\n".join(lines) + "\n\n[fleet:vars]\ngreeting=from-ini\n"
    )
    (inventory / "group_vars" / "all.yml").write_text(
        f"ansible_user: {fleet.user}\n"
        f"ansible_ssh_private_key_file: {fleet.user_key_path}\n"
        f"jobtui_known_hosts: {fleet.known_hosts_path}\n"
    )
    (inventory / "group_vars" / "fleet" / "vars.yml").write_text("greeting: from-group-vars\n")
    return inventory / "hosts"


def test_an_ini_inventory_with_group_vars_plans_and_runs_over_ssh(
    ssh_fleet: SshFleet, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path
) -> None:
    hosts = write_ini_inventory(ssh_fleet, fleet_jobtui_dirs, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        textwrap.dedent(
            f"""
            jobs:
              - name: hello
                hosts: fleet
                shell: echo "{{{{ greeting }}}}" > {out}/{{{{ inventory_hostname }}}}
                timeout: 30
                poll: 0.5
            """
        )
    )
    check = run_jobtui("check", str(jobs), "-i", str(hosts))
    assert check.returncode == 0, check.stderr
    assert all(h.name in check.stdout for h in ssh_fleet.hosts)
    state = tmp_path / "state"
    run = run_jobtui(
        "run", str(jobs), "-i", str(hosts), "--headless", "--json", "--state-dir", str(state)
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.splitlines()[-1])
    assert {(r["host"], r["state"]) for r in summary["runs"]} == {
        (h.name, "succeeded") for h in ssh_fleet.hosts
    }
    for h in ssh_fleet.hosts:
        assert (out / h.name).read_text() == "from-group-vars\n"
