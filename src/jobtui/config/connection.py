"""A host's connection settings, from its merged variables, checked once at load.

The variables jobtui connects with (`ansible_host`, `ansible_port`, `ansible_user`,
`ansible_ssh_private_key_file`, `ansible_connection`, timeouts, `jobtui_dir`,
`ansible_become`) are validated here, so a bad one is an error naming the host and
where it was set. `ansible_become_user` and `ansible_become_method` are only taken
here: the planner checks them for the runs that become (a host that jobtui never runs
a become job on may say `su`). Passwords (`ansible_become_password`...) stay in
`Host.vars` alone, where the CLI reads them.
"""

from __future__ import annotations

import contextlib
from typing import Any

from jobtui import defaults
from jobtui.config.errors import ConfigError, describe, did_you_mean
from jobtui.model import ANSIBLE_ASYNC_DIR, Host, Location

CONNECTIONS = {"ssh": "ssh", "local": "local", "smart": "ssh", "paramiko": "ssh"}
TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})
FALSE = frozenset({"n", "no", "off", "0", "false", "f"})
"""The strings Ansible's `boolean()` takes (any case): INI values such as `yes` stay
strings, so `ansible_become=yes` in an INI inventory must read as true."""


def ansible_boolean(value: Any) -> bool | None:
    """A variable as Ansible's `boolean()` reads it; None if it is no boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in TRUE else False if text in FALSE else None
    return None


def make_host(
    name: str,
    merged: dict[str, Any],
    where: dict[str, Location],
    groups: tuple[str, ...],
    path: str,
) -> Host:
    """Build a Host from its merged vars, validating the ones jobtui uses."""

    def text(var: str, default: str | None) -> str | None:
        value = merged.get(var, default)
        if value is None or (isinstance(value, str) and value.strip()):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool) and var == "ansible_host":
            return str(value)
        raise ConfigError(
            f"'{var}' of host '{name}' must be a non-empty string, got {describe(value)}",
            where.get(var, Location(path, 1, 1)),
        )

    port = merged.get("ansible_port", 22)
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ConfigError(
            f"'ansible_port' of host '{name}' must be a port number (1-65535),"
            f" got {describe(port)}",
            where.get("ansible_port"),
        )
    timeout = merged.get(
        "ansible_ssh_timeout", merged.get("ansible_timeout", defaults.CONNECT_TIMEOUT)
    )
    if isinstance(timeout, str):
        with contextlib.suppress(ValueError):
            timeout = float(timeout)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 600:
        var = "ansible_ssh_timeout" if "ansible_ssh_timeout" in merged else "ansible_timeout"
        raise ConfigError(
            f"'{var}' of host '{name}' must be a number of seconds (0-600],"
            f" got {describe(timeout)}",
            where.get(var),
        )
    connection = merged.get("ansible_connection", "ssh")
    if connection not in CONNECTIONS:
        raise ConfigError(
            f"'ansible_connection' of host '{name}' must be ssh or local,"
            f" got {describe(connection)}",
            where.get("ansible_connection"),
            did_you_mean(str(connection), list(CONNECTIONS)) or "jobtui connects with ssh or local",
        )
    become = ansible_boolean(merged.get("ansible_become", False))
    if become is None:
        raise ConfigError(
            f"'ansible_become' of host '{name}' must be a boolean,"
            f" got {describe(merged['ansible_become'])}",
            where.get("ansible_become"),
            "write ansible_become=true or false (yes/no, on/off, 1/0 work too)",
        )
    return Host(
        name=name,
        address=text("ansible_host", name) or name,
        port=port,
        user=text("ansible_user", None),
        key_file=text("ansible_ssh_private_key_file", None),
        connection=CONNECTIONS[connection],
        jobtui_dir=text("jobtui_dir", defaults.JOBTUI_DIR) or defaults.JOBTUI_DIR,
        connect_timeout=float(timeout),
        vars=merged,
        groups=groups,
        become=become,
        become_user=text("ansible_become_user", None),
        become_method=text("ansible_become_method", None),
        ansible_async_dir=text("ansible_async_dir", ANSIBLE_ASYNC_DIR) or ANSIBLE_ASYNC_DIR,
    )
