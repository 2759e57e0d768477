"""Ansible inventories resolved: groups, hosts, children, vars and host ranges.

This module holds the YAML format and the one resolver every format feeds
(`Builder`); INI is `ini.py`, files, directories and `-i` lists `sources.py`,
group_vars/host_vars `groupvars.py`, no `-i` `ansiblecfg.py`, scripts and plugins
`delegate.py`, the checked connection vars `connection.py`. The format is Ansible's,
so existing inventories load unchanged, and resolve as `ansible-inventory --list`
resolves them (tests/test_inventory_ansible.py):

    all:
      vars: {ansible_user: ops}
      children:
        dbservers:
          hosts:
            db[01:03].example.com:
          vars: {backup_dir: /backup}

Decisions, where Ansible leaves room:
- Variable precedence follows Ansible's default: `all`'s vars < the other groups'
  vars (parent < child; same depth: by `ansible_group_priority`, then name) <
  group_vars/all < the other groups' group_vars/ files (source by source, in the
  same order) < host vars < host_vars/ files. A later source's vars win.

Where jobtui deliberately differs from Ansible:
- A source that does not parse is an error with file:line:col (Ansible warns
  "Unable to parse ... as an inventory source" and goes on with fewer hosts), and so
  is an empty range such as `web[10:01]` (Ansible silently makes no host).
- `ansible_port`, `ansible_user`, `ansible_connection`, timeouts... are validated:
  a bad one is an error naming the host, not a failure at connect time.
- TOML inventories are refused (with the command that converts them). An
  executable file is run as a script only if it starts with `#!` (Ansible tries any
  executable file as a script first); scripts, plugin configs (`plugin:`) and vault
  files are read through `ansible-inventory --list`, their vars merged per host.
- Only the built-in group_vars/host_vars beside the sources are read: no other vars
  plugins, no playbook-adjacent group_vars, no `hash_behaviour = merge`, and
  ansible.cfg's `inventory_ignore_extensions` is not read (its default is used).
- Limits (hosts, range sizes, memberships) refuse what would not fit in one console.
- Keys other than `hosts`, `children` and `vars` in a group are an error (Ansible
  only warns): a typo such as `host:` would otherwise silently drop hosts.
- Variables are not templated; `ansible_*` values are used as written.
- `Host.groups` is Ansible's `group_names`: sorted, ancestors included, without `all`.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from jobtui.config.connection import make_host
from jobtui.config.errors import ConfigError, describe, did_you_mean
from jobtui.config.yamlsrc import YMap, load_yaml, to_plain
from jobtui.model import Host, Location

GROUP_KEYS = ("hosts", "children", "vars")
_RANGE_RE = re.compile(r"^(.*?)\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::([0-9]+))?\](.*)$")
MAX_RANGE_HOSTS = 100_000
MAX_HOSTS = 100_000
"""Hosts one inventory may define, ranges expanded."""
MAX_MEMBERSHIPS = 5_000_000
"""(host, group) pairs, parents included: what Host.groups and the group lists hold."""
MAX_HOST_NAME = 1000
"""Characters in a host name or range pattern (a DNS name has at most 253)."""


@dataclass
class Inventory:
    """Hosts and groups, resolved: every Host carries its merged vars."""

    hosts: dict[str, Host]
    """By name, in inventory order (first appearance in the file)."""
    groups: dict[str, list[str]]
    """Group name -> host names (descendant groups included), with `all` and `ungrouped`."""
    source: str = "<hosts>"
    children: dict[str, list[str]] = field(default_factory=dict)
    """Group name -> its direct child groups, in Ansible's order (`all` -> top-level)."""
    members: dict[str, list[str]] = field(default_factory=dict)
    """Group name -> the hosts listed in it directly, in the order they were added."""

    @classmethod
    def from_hosts(cls, hosts: Iterable[Host], source: str = "<hosts>") -> Inventory:
        """An inventory of the given hosts, grouped by their `Host.groups`."""
        by_name: dict[str, Host] = {}
        groups: dict[str, list[str]] = {"all": [], "ungrouped": []}
        for host in hosts:
            if host.name in by_name:
                raise ConfigError(f"host '{host.name}' is given twice in {source}")
            by_name[host.name] = host
            groups["all"].append(host.name)
            names = dict.fromkeys(g for g in host.groups if g != "all") or {"ungrouped": None}
            for group in names:  # a host is new here, so it is in none of its groups yet
                groups.setdefault(group, []).append(host.name)
        return cls(by_name, groups, source)

    @classmethod
    def local(cls, name: str = "localhost") -> Inventory:
        """One host reached without SSH (used by the demo)."""
        host = Host(name, name, connection="local", vars={"ansible_connection": "local"})
        return cls.from_hosts([host], source="<local>")


def load_inventory(path: str) -> Inventory:
    """Load an Ansible YAML inventory.

    Raises:
        ConfigError: with the file, line and column of the bad entry.
    """
    builder = Builder(path)
    add_yaml(builder, path, load_yaml(path))
    return builder.finish()


def add_yaml(builder: Builder, path: str, data: Any) -> None:
    """Add the groups and hosts of a parsed YAML inventory to `builder`."""
    if not isinstance(data, YMap):
        raise ConfigError(
            "an inventory must be a YAML mapping of groups",
            Location(path, 1, 1),
            "start with 'all:' and list hosts under 'hosts:'",
        )
    builder.group("all", None, data.location)
    for name, node in data.items():
        # A top-level group is `all`'s child only if no group adopts it, in any source:
        # `Builder.reconcile` decides once every source is read, as Ansible does.
        builder.group(name, node, data.key_loc[name])


@dataclass
class GroupEntry:
    name: str
    location: Location
    hosts: dict[str, None] = field(default_factory=dict)
    """Host names in the order the file gives them (a dict: membership is O(1))."""
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    var_loc: dict[str, Location] = field(default_factory=dict)


@dataclass
class HostEntry:
    vars: dict[str, Any] = field(default_factory=dict)
    var_loc: dict[str, Location] = field(default_factory=dict)


VarsLayer = dict[str, tuple[dict[str, Any], dict[str, Location]]]
"""Entity name -> (vars, where each was set): one source's group_vars/ or host_vars/."""


class Builder:
    """Collects groups and hosts as the file defines them, then resolves them."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.groups: dict[str, GroupEntry] = {}
        self.hosts: dict[str, HostEntry] = {}
        self.parents: dict[str, list[str]] = {}
        self.link_loc: dict[tuple[str, str], Location] = {}
        self.group_vars: dict[
            frozenset[str], tuple[dict[str, Any], dict[str, Location], tuple[str, ...]]
        ] = {}
        self.group_files: list[VarsLayer] = []
        """group_vars/ of each source, in source order (Ansible's vars plugin)."""
        self.host_files: list[VarsLayer] = []

    def group(self, name: str, node: Any, location: Location) -> None:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = GroupEntry(name, location)
            self.parents.setdefault(name, [])
        if node is None:
            return
        if not isinstance(node, YMap):
            raise ConfigError(
                f"group '{name}' must be a mapping with hosts, children or vars",
                location,
                f"got {describe(node)}",
            )
        for key, value in node.items():
            where = node.value_loc[key]
            if key not in GROUP_KEYS:
                raise ConfigError(
                    f"unknown key '{key}' in group '{name}'",
                    node.key_loc[key],
                    did_you_mean(key, GROUP_KEYS) or "expected hosts, children or vars",
                )
            if value is None:
                continue
            if not isinstance(value, YMap):
                raise ConfigError(
                    f"'{key}' of group '{name}' must be a mapping, got {describe(value)}",
                    where,
                    "write each name on its own line, ending with ':'" if key != "vars" else None,
                )
            if key == "hosts":
                for pattern, host_vars in value.items():
                    self.host_entries(group, pattern, host_vars, value.key_loc[pattern], value)
            elif key == "children":
                for child, child_node in value.items():
                    self.group(child, child_node, value.key_loc[child])
                    self.link(name, child, value.key_loc[child])
            else:
                for var, var_value in value.items():
                    group.vars[var] = to_plain(var_value)
                    group.var_loc[var] = value.value_loc[var]

    def host_entries(
        self, group: GroupEntry, pattern: str, node: Any, location: Location, parent: YMap
    ) -> None:
        if node is not None and not isinstance(node, YMap):
            raise ConfigError(
                f"host '{pattern}' must have a mapping of host vars, got {describe(node)}",
                parent.value_loc[pattern],
            )
        for name in expand_hosts(pattern, location):
            entry = self.add_host(group, name, location)
            if node is not None:
                for var, value in node.items():
                    entry.vars[var] = to_plain(value)
                    entry.var_loc[var] = node.value_loc[var]

    def add_host(self, group: GroupEntry, name: str, location: Location) -> HostEntry:
        """Put host `name` in `group`, creating it on its first appearance."""
        entry = self.hosts.get(name)
        if entry is None:
            if len(self.hosts) >= MAX_HOSTS:
                raise ConfigError(
                    f"the inventory defines more than {MAX_HOSTS:,} hosts",
                    location,
                    "jobtui runs one console per fleet of at most that size: split the inventory",
                )
            entry = self.hosts[name] = HostEntry()
        group.hosts[name] = None
        return entry

    def link(self, parent: str, child: str, location: Location) -> None:
        if child == parent:
            raise ConfigError(f"group '{child}' is its own child", location)
        if child == "all":
            raise ConfigError("'all' cannot be the child of another group", location)
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
            self.parents.setdefault(child, []).append(parent)
            self.link_loc[(parent, child)] = location

    def finish(self) -> Inventory:
        self.reconcile()
        self.check_cycles()
        depth = self.depths()
        members: dict[str, set[str]] = {name: set() for name in self.hosts}
        total = 0
        for group in self.groups.values():
            if not group.hosts:
                continue
            ancestors = self.ancestors(group.name)  # once per group, not per host
            total += len(group.hosts) * len(ancestors)
            if total > MAX_MEMBERSHIPS:
                raise ConfigError(
                    f"the inventory has more than {MAX_MEMBERSHIPS:,} host-in-group"
                    f" memberships, parents included (group '{group.name}':"
                    f" {len(group.hosts):,} hosts x {len(ancestors):,} groups with its parents)",
                    group.location,
                    "a host belongs to its groups and all their parents: nest groups less"
                    " deeply, or list fewer hosts in deep groups",
                )
            for host in group.hosts:
                members[host].update(ancestors)
        groups: dict[str, list[str]] = {"all": list(self.hosts), "ungrouped": []}
        hosts: dict[str, Host] = {}
        for name, entry in self.hosts.items():
            names = members[name] - {"all"}
            if names != {"ungrouped"}:  # as Ansible: ungrouped only while in no other group
                names.discard("ungrouped")
            if not names:
                names = {"ungrouped"}
            members[name] = names | {"all"}
            hosts[name] = self.resolve(name, entry, names, depth)
        for name in self.groups:
            groups.setdefault(name, [])
        for host_name, names in members.items():
            for group_name in names - {"all"}:
                groups[group_name].append(host_name)
        direct = {g.name: list(g.hosts) for g in self.groups.values()}
        alone = dict.fromkeys(groups["ungrouped"])  # listed there first, then the others
        direct["ungrouped"] = list(
            {**dict.fromkeys(h for h in direct["ungrouped"] if h in alone), **alone}
        )
        children = {g.name: list(g.children) for g in self.groups.values()}
        return Inventory(hosts, groups, self.path, children, direct)

    def reconcile(self) -> None:
        """As Ansible: `ungrouped` is `all`'s first child, and so is every orphan group."""
        self.group("all", None, Location(self.path, 1, 1))
        self.group("ungrouped", None, Location(self.path, 1, 1))
        tops = self.groups["all"].children
        if "ungrouped" not in tops:
            tops.insert(0, "ungrouped")
            self.parents["ungrouped"].append("all")
        for name, parents in self.parents.items():
            if name != "all" and not parents:
                self.link("all", name, self.groups[name].location)

    def check_cycles(self) -> None:
        done: set[str] = set()
        for start in self.groups:
            if start in done:
                continue
            # Iterative DFS: nesting depth is bounded only by the YAML limits.
            path: list[str] = [start]
            on_path = {start}
            stack = [iter(self.groups[start].children)]
            while stack:
                child = next(stack[-1], None)
                if child is None:
                    stack.pop()
                    done.add(path[-1])
                    on_path.discard(path.pop())
                    continue
                if child in on_path:
                    cycle = [*path[path.index(child) :], child]
                    raise ConfigError(
                        f"group cycle: {' -> '.join(cycle)}",
                        self.link_loc[(path[-1], child)],
                        "a group cannot be its own descendant",
                    )
                if child not in done:
                    path.append(child)
                    on_path.add(child)
                    stack.append(iter(self.groups[child].children))

    def depths(self) -> dict[str, int]:
        """Ansible's group depth: the longest chain of parents up to `all`.

        Iterative: a chain of 30,000 groups would overflow Python's stack.
        """
        memo: dict[str, int] = {}
        for start in self.groups:
            stack = [start]
            while stack:
                name = stack[-1]
                if name in memo:
                    stack.pop()
                    continue
                pending = [p for p in self.parents[name] if p not in memo]
                if pending:  # no cycles (check_cycles ran): this ends
                    stack.extend(pending)
                    continue
                memo[name] = max((memo[p] + 1 for p in self.parents[name]), default=0)
                stack.pop()
        return memo

    def ancestors(self, name: str) -> set[str]:
        seen = {name}
        todo = [name]
        while todo:
            for parent in self.parents[todo.pop()]:
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    def resolve(self, name: str, entry: HostEntry, groups: set[str], depth: dict[str, int]) -> Host:
        key = frozenset(groups)
        if key not in self.group_vars:  # hosts share few sets of groups: merge once per set
            self.group_vars[key] = self.merge_groups(groups, depth)
        group_vars, group_where, names = self.group_vars[key]
        merged = {**group_vars, **entry.vars}
        where = {**group_where, **entry.var_loc}
        for layer in self.host_files:
            if name in layer:
                merged.update(layer[name][0])
                where.update(layer[name][1])
        return make_host(name, merged, where, names, self.path)

    def merge_groups(
        self, groups: set[str], depth: dict[str, int]
    ) -> tuple[dict[str, Any], dict[str, Location], tuple[str, ...]]:
        def order(group: str) -> tuple[int, int, str]:
            prio = (
                self.groups[group].vars.get("ansible_group_priority", 1)
                if group in self.groups
                else 1
            )
            if isinstance(prio, str) and prio.strip().lstrip("-").isdigit():
                prio = int(prio)  # Ansible takes int(value)
            return (depth.get(group, 1), prio if isinstance(prio, int) else 1, group)

        # Ansible's default `precedence`: every group's own vars (all first), then
        # group_vars/all, then the other groups' group_vars/ (source by source), each
        # step in (depth, priority, name) order.
        merged: dict[str, Any] = {}
        where: dict[str, Location] = {}
        ordered = ["all", *sorted(groups - {"all"}, key=order)]
        for group in ordered:
            if group in self.groups:  # a group's priority orders it: it is no variable
                own = self.groups[group].vars
                merged.update({k: v for k, v in own.items() if k != "ansible_group_priority"})
                where.update(self.groups[group].var_loc)
        for step in (ordered[:1], ordered[1:]):
            for layer in self.group_files:
                for group in step:
                    if group in layer:
                        merged.update(layer[group][0])
                        where.update(layer[group][1])
        return merged, where, tuple(sorted(groups))


def expand_hosts(pattern: str, location: Location) -> list[str]:
    """Expand Ansible host ranges: `web[01:03]`, `[a:c]`, `[1:10:2]`, several per name.

    The number of names is computed before any is made, so `h[0:999999]x[0:999999]`
    is refused at once rather than expanded.
    """
    if not pattern.strip():
        raise ConfigError("empty host name", location)
    if len(pattern) > MAX_HOST_NAME:
        raise ConfigError(
            f"host name longer than {MAX_HOST_NAME:,} characters",
            location,
            "a host name is a DNS name or an alias, with ranges like web[01:20]",
        )
    segments, tail = _range_segments(pattern, location)
    total = 1
    for _head, numbers, _text in segments:
        total *= (
            numbers.stop - numbers.start + numbers.step - 1
        ) // numbers.step  # len() overflows
    if total > MAX_RANGE_HOSTS:
        count = f"{total:,}" if total < 10**18 else "more than 10^18"
        raise ConfigError(
            f"host range '{pattern}' expands to {count} hosts, more than {MAX_RANGE_HOSTS:,}",
            location,
            "a range names at most that many hosts: narrow it, or split the fleet"
            " into several inventories",
        )
    names = [""]
    for head, numbers, text in segments:
        names = [name + head + text(n) for name in names for n in numbers]
    return [name + tail for name in names]


def _padded(number: int, width: int) -> str:
    return str(number).zfill(width)


def _range_segments(
    pattern: str, location: Location
) -> tuple[list[tuple[str, range, Callable[[int], str]]], str]:
    """`a[1:3]b[x:z]c` -> [("a", range(1, 4), str), ("b", range(120, 123), chr)], "c"."""
    segments: list[tuple[str, range, Callable[[int], str]]] = []
    rest = pattern
    while True:
        match = _RANGE_RE.match(rest)
        if match is None:
            if "[" in rest or "]" in rest:
                raise ConfigError(
                    f"invalid host range in '{pattern}'",
                    location,
                    "write it as name[01:20] or name[a:f]",
                )
            return segments, rest
        head, beg, end, step_text, rest = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ConfigError(f"host range step must be positive in '{pattern}'", location)
        text: Callable[[int], str]
        if beg.isdigit() and end.isdigit():
            width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
            if width and len(end) != width:
                raise ConfigError(
                    f"host range bounds have different widths in '{pattern}'",
                    location,
                    "pad both bounds the same way, like [01:20]",
                )
            numbers = range(int(beg), int(end) + 1, step)
            text = functools.partial(_padded, width=width) if width else str
        elif (
            len(beg) == 1 == len(end)
            and beg in string.ascii_letters
            and end in string.ascii_letters
        ):
            numbers = range(ord(beg), ord(end) + 1, step)
            text = chr
        else:
            raise ConfigError(
                f"invalid host range in '{pattern}'",
                location,
                "use numbers [1:9] or single letters [a:f]",
            )
        if numbers.start >= numbers.stop:
            raise ConfigError(
                f"empty host range in '{pattern}'", location, "the start is after the end"
            )
        segments.append((head, numbers, text))
