"""`jobtui inventory`: what was resolved, in `ansible-inventory`'s output formats.

`--list` is the JSON `ansible-inventory --list` prints (`_meta.hostvars`, each group's
direct `hosts` and `children`, empty groups left out); `--graph` its tree; `--host`
one host's variables. Pure functions from an `Inventory` to text.
"""

from __future__ import annotations

import json
from typing import Any

from jobtui.config.errors import ConfigError, did_you_mean
from jobtui.config.inventory import Inventory

PROFILE = "inventory_legacy"
"""`_meta.profile` as ansible-core 2.19 writes it."""


def inventory_list(inventory: Inventory, only: set[str] | None = None) -> dict[str, Any]:
    """The `ansible-inventory --list` document (of the hosts in `only`, if given)."""
    result: dict[str, Any] = {}
    seen: set[str] = set()
    shown = set(inventory.hosts) if only is None else only

    def add(group: str) -> None:
        entry: dict[str, Any] = {}
        hosts = [h for h in inventory.members.get(group, []) if h in shown]
        if group != "all" and hosts:
            entry["hosts"] = hosts
        kids = inventory.children.get(group, [])
        if kids:
            entry["children"] = list(kids)
        if entry:
            result[group] = entry
        for kid in kids:
            if kid not in seen:
                seen.add(kid)
                add(kid)

    add("all")
    hostvars = {
        name: dict(host.vars)
        for name, host in inventory.hosts.items()
        if host.vars and name in shown
    }
    result["_meta"] = {"hostvars": hostvars, "profile": PROFILE}
    return result


def inventory_graph(inventory: Inventory, group: str = "all") -> str:
    """The `ansible-inventory --graph` tree, from `group` (every host: it ignores --limit)."""
    if group not in inventory.groups:
        raise ConfigError(
            f"no group '{group}' in the inventory",
            hint=did_you_mean(group, set(inventory.groups)) or "--graph takes a group name",
        )
    lines: list[str] = []

    def walk(name: str, depth: int) -> None:
        lines.append(_indent(f"@{name}:", depth))
        for kid in inventory.children.get(name, []):
            walk(kid, depth + 1)
        if name != "all":
            lines.extend(_indent(h, depth + 1) for h in inventory.members.get(name, []))

    walk(group, 0)
    return "\n".join(lines)


def _indent(name: str, depth: int) -> str:
    return "  |" * depth + "--" + name if depth else name


def inventory_host(inventory: Inventory, name: str) -> dict[str, Any]:
    """One host's variables, as `ansible-inventory --host NAME`."""
    if name not in inventory.hosts:
        raise ConfigError(
            f"no host '{name}' in the inventory",
            hint=did_you_mean(name, set(inventory.hosts)) or "see: jobtui inventory --list",
        )
    return dict(inventory.hosts[name].vars)


def dumps(document: Any) -> str:
    """JSON as ansible-inventory prints it: keys sorted, four spaces."""
    return json.dumps(document, sort_keys=True, indent=4, default=str)
