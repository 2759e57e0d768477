"""Sources only Ansible can read, read through `ansible-inventory --list`.

Executable inventory scripts, inventory plugin configs (a YAML mapping with a
`plugin:` key: aws_ec2, constructed...) and vault-encrypted files need Ansible
itself: jobtui runs `ansible-inventory -i SOURCE --list` when it is on PATH, and
reads the JSON it prints (each host's variables already merged) into the builder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from jobtui.config.errors import ConfigError
from jobtui.config.inventory import Builder
from jobtui.model import Location

TIMEOUT = 300.0
"""Seconds ansible-inventory may take (a cloud plugin queries an API)."""


def add_through_ansible(builder: Builder, path: str, why: str) -> None:
    """Add what `ansible-inventory -i path --list` resolves `path` to.

    Raises:
        ConfigError: ansible-inventory is not on PATH, fails, or prints no inventory.
    """
    program = shutil.which("ansible-inventory")
    if program is None:
        raise ConfigError(
            f"{path} is {why}: only Ansible can read it",
            Location(path, 1, 1),
            "install ansible-core (ansible-inventory on PATH), or convert it:"
            " ansible-inventory -i SOURCE --list -y > hosts.yml",
        )
    try:
        done = subprocess.run(
            [program, "-i", path, "--list"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"ansible-inventory could not read {path}: {e}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConfigError(
            f"ansible-inventory failed on {path} (exit {done.returncode}): {last}",
            Location(path, 1, 1),
        )
    try:
        document = json.loads(done.stdout)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ConfigError(f"ansible-inventory printed no JSON inventory for {path}")
    _add_document(builder, path, document)


def _add_document(builder: Builder, path: str, document: dict[str, Any]) -> None:
    where = Location(path, 1, 1)
    meta = document.get("_meta", {})
    hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else {}
    for name, entry in document.items():
        if name == "_meta" or not isinstance(entry, dict):
            continue
        builder.group(name, None, where)
        for host in entry.get("hosts", []):
            host_entry = builder.add_host(builder.groups[name], str(host), where)
            values = hostvars.get(host, {})
            if isinstance(values, dict):
                host_entry.vars.update(values)
                host_entry.var_loc.update(dict.fromkeys(values, where))
        for child in entry.get("children", []):
            builder.group(str(child), None, where)
            if name != "all":  # all's children are reconciled as for any source
                builder.link(name, str(child), where)
