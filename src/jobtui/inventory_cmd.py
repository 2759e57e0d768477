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
from jobtui.model import Host, become_password

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


def connection_text(host: Host) -> str:
    """How jobtui will reach `host`, and where each setting came from (for people:
    `jobtui inventory --host` prints it on stderr, its stdout stays ansible-inventory's)."""
    if host.connection == "local":
        text = f"connection of {host.name}: local (no SSH)"
        return text + (f"; become: {_become_text(host)}" if host.become else "")
    ep = host.endpoint
    lines = [f"connection of {host.name}: ssh"]

    def row(label: str, value: str, origin: str = "") -> None:
        lines.append(f"  {label:<12} {value:<40} {origin}".rstrip())

    address_from = ep.origin.get("address", "")
    if address_from == "default":  # no HostName: the name ssh was given, as Ansible gives it
        given = "ansible_host" in host.vars
        address_from = "inventory var ansible_host" if given else "the inventory name"
    row("address", ep.address, address_from)
    row("port", str(ep.port), ep.origin.get("port", ""))
    row("user", ep.user or "(the local user)", ep.origin.get("user", ""))
    row(
        "keys", ", ".join(ep.key_files) or "agent, then ~/.ssh/id_*", ep.origin.get("key_files", "")
    )
    if ep.identities_only:
        row("identities", "only these keys (IdentitiesOnly)", ep.origin.get("identities_only", ""))
    row("known_hosts", ", ".join(ep.known_hosts), ep.origin.get("known_hosts", ""))
    if ep.accept_new:
        row("new keys", "accepted (accept-new)", ep.origin.get("accept_new", ""))
    timeouts = f"{ep.connect_timeout:g}s connect, keepalive {ep.keepalive:g}s"
    row("timeouts", timeouts, ep.origin.get("connect_timeout", ""))
    if ep.proxy_command:
        row("proxy", ep.proxy_command, ep.origin.get("proxy_command", ""))
    chain = ep.chain()
    for i, hop in enumerate(chain):
        behind = chain[i + 1] if i + 1 < len(chain) else ep  # the one reached through it
        where = f"{hop.name} = {hop.user + '@' if hop.user else ''}{hop.address}:{hop.port}"
        if hop.proxy_command:
            where += f" (through: {hop.proxy_command})"
        row("jump host", where, behind.origin.get("via", ""))
    if chain:
        row("route", " -> ".join([*(h.name for h in chain), host.name]))
    if host.become or host.become_user:
        row("become", _become_text(host), "inventory var ansible_become")
    if ep.problem:
        row("problem", ep.problem)
    return "\n".join(lines)


def _become_text(host: Host) -> str:
    """`sudo as root (password from the inventory)`, never the password itself."""
    if not host.become:
        return f"off (runs of jobs with become: true: as {host.become_user})"
    text = f"{host.become_method or 'sudo'} as {host.become_user or 'root'}"
    if become_password(host) is not None:
        text += " (password from the inventory)"
    return text
