"""ansible-inventory as a test oracle: run it as a subprocess, never import ansible.

ansible-core is GPL: it is a test-only dependency (the `test` extra), used only here,
through its command line, to say what Ansible resolves an inventory to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from jobtui.config.sources import load_inventories
from jobtui.inventory_cmd import dumps, inventory_list

ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"


def available() -> bool:
    return ANSIBLE_INVENTORY.exists()


def ansible_env(tmp: Path) -> dict[str, str]:
    """No ansible.cfg, no ~/.ansible, no warnings: only the sources given count."""
    cfg = tmp / "empty-ansible.cfg"
    cfg.touch()
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return {
        **keep,
        "HOME": str(home),
        "ANSIBLE_CONFIG": str(cfg),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    }


def run_ansible_inventory(
    sources: list[str], tmp: Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`ansible-inventory -i S... --list`, failing when any source does not parse."""
    argv = [str(ANSIBLE_INVENTORY)]
    for source in sources:
        argv += ["-i", source]
    return subprocess.run(
        [*argv, "--list"],
        capture_output=True,
        text=True,
        env=ansible_env(tmp),
        cwd=cwd or tmp,
        timeout=120,
        check=False,
    )


def ansible_list(sources: list[str], tmp: Path, cwd: Path | None = None) -> dict[str, Any]:
    """`ansible-inventory -i S... --list`, parsed."""
    out = run_ansible_inventory(sources, tmp, cwd)
    assert out.returncode == 0, out.stderr
    document: dict[str, Any] = json.loads(out.stdout)
    return document


def jobtui_list(sources: list[str]) -> dict[str, Any]:
    """jobtui's `inventory --list`, through JSON as ansible-inventory prints it."""
    document: dict[str, Any] = json.loads(dumps(inventory_list(load_inventories(sources))))
    return document


def hosts_by_group(document: dict[str, Any]) -> dict[str, set[str]]:
    """Each group's hosts, children followed, from a --list document."""
    memo: dict[str, set[str]] = {}

    def hosts(group: str) -> set[str]:
        if group not in memo:
            entry = document.get(group, {})
            memo[group] = set(entry.get("hosts", []))
            for kid in entry.get("children", []):
                memo[group] |= hosts(kid)
        return memo[group]

    names = {g for g in document if g != "_meta"}
    for entry in list(document.values()):
        names.update(entry.get("children", []) if isinstance(entry, dict) else [])
    return {g: hosts(g) for g in names if g != "all"}
