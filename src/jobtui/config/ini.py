"""Ansible INI inventories, read into the same builder as YAML ones.

    top.example.com            # before any section: in `ungrouped`
    [web]
    web[01:20].example.com:2222 tier=1 region="eu west"
    [web:vars]
    ansible_user=ops
    [prod:children]
    web

Values are typed as ansible-core types them: each goes through `ast.literal_eval`,
and what does not parse stays a string (`a=1` is 1, `b=yes` is 'yes', `d=[1,2]` a
list). Host lines are split as a shell would (quotes removed, `#` starts a comment);
`[g:vars]` lines are `key = value`, the whole rest of the line being the value.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from dataclasses import dataclass, field
from typing import Any

from jobtui.config.errors import ConfigError
from jobtui.config.inventory import Builder, GroupEntry, expand_hosts
from jobtui.model import Location

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_BRACKETED_PORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOST_PORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_VALID_HOST = re.compile(r"^[\w\[\]:-]+(?:\.[\w\[\]:-]+)*$")
SECTION_KINDS = ("hosts", "children", "vars")
_PLAIN_LINE = re.compile(r"[^'\"\\#\s]*(?:[ \t]+[^'\"\\#\s]*)*")
"""No quote, escape, comment or odd whitespace: shlex.split would split it as str.split."""
_SMALL_INT = re.compile(r"-?[1-9][0-9]{0,17}|0")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL_NAMES = {"True": True, "False": False, "None": None}


@dataclass
class _Pending:
    """A group named before it is defined (Ansible's pending declaration)."""

    kind: str
    location: Location
    parents: list[str] = field(default_factory=list)


def ini_value(text: str, location: Location) -> Any:
    """An INI value as Ansible types it: a Python literal, else the text itself."""
    # Fast paths, same answers as literal_eval: a large INI file is mostly these.
    if _SMALL_INT.fullmatch(text):
        return int(text)
    if _NAME.fullmatch(text):
        return _LITERAL_NAMES.get(text, text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    except (TypeError, RecursionError, MemoryError) as e:
        raise ConfigError(
            f"value {text[:40]!r} cannot be read ({type(e).__name__})",
            location,
            "quote it to keep it a string",
        ) from None
    return _plain(value)


def _plain(value: Any) -> Any:
    """literal_eval's types reduced to the ones variables hold, as Ansible does."""
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def split_port(pattern: str) -> tuple[str, int | None]:
    """`host:2222` -> ('host', 2222); `[::1]:22` -> ('::1', 22); ranges kept."""
    for regex in (_BRACKETED_PORT, _HOST_PORT):
        match = regex.match(pattern)
        if match and _VALID_HOST.match(match.group(1)):
            return match.group(1), int(match.group(2))
    return pattern, None


def add_ini(builder: Builder, path: str, text: str) -> None:
    """Add the groups, hosts and vars of INI inventory `text` (read from `path`).

    Raises:
        ConfigError: a bad section header, host line or var line, a group used in a
            `[g:children]` or `[g:vars]` and never defined, with file:line:col.
    """
    pending: dict[str, _Pending] = {}
    start = Location(path, 1, 1)
    builder.group("ungrouped", None, start)
    group, kind = builder.groups["ungrouped"], "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = Location(path, number, len(raw) - len(raw.lstrip()) + 1)
        match = _SECTION.match(line)
        if match:
            group, kind = _section(builder, match, pending, where)
        elif line.startswith("[") and (line.endswith("]") or "]" not in line):
            raise ConfigError(
                f"invalid section header {line!r}",
                where,
                "write [group], [group:vars] or [group:children], without spaces"
                if line.endswith("]")
                else "a section header ends with ']'",
            )
        elif kind == "hosts":
            _host_line(builder, group, line, where)
        elif kind == "vars":
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"expected key=value in [{group.name}:vars], got {line!r}", where)
            group.vars[key.strip()] = ini_value(value.strip(), where)
            group.var_loc[key.strip()] = where
        else:
            _child_line(builder, group, line, pending, where)
    for name, decl in pending.items():
        if decl.kind == "vars":
            raise ConfigError(
                f"section [{name}:vars] is for a group defined nowhere",
                decl.location,
                f"add a [{name}] section (it may be empty) or list {name} under [parent:children]",
            )
        raise ConfigError(
            f"section [{decl.parents[-1]}:children] names group '{name}', defined nowhere",
            decl.location,
            f"add a [{name}] section (it may be empty)",
        )


def _section(
    builder: Builder, match: re.Match[str], pending: dict[str, _Pending], where: Location
) -> tuple[GroupEntry, str]:
    name, kind = match.group(1), match.group(2) or "hosts"
    if kind not in SECTION_KINDS:
        raise ConfigError(
            f"section [{name}:{kind}] has an unknown type '{kind}'",
            where,
            "the types are [group], [group:vars] and [group:children]",
        )
    if name not in builder.groups:
        if kind == "vars" and name not in pending:
            pending[name] = _Pending(kind, where)
        builder.group(name, None, where)
    if name in pending and kind != "vars":
        if pending[name].kind == "children":
            _adopt(builder, name, pending)
        elif pending[name].kind == "vars":
            del pending[name]
    return builder.groups[name], kind


def _adopt(builder: Builder, name: str, pending: dict[str, _Pending]) -> None:
    """A group defined at last joins the parents that named it earlier."""
    decl = pending.pop(name)
    for parent in decl.parents:
        builder.link(parent, name, decl.location)
        if parent in pending and pending[parent].kind == "children":
            _adopt(builder, parent, pending)


def _child_line(
    builder: Builder, group: GroupEntry, line: str, pending: dict[str, _Pending], where: Location
) -> None:
    match = _GROUP_NAME.match(line)
    if match is None:
        raise ConfigError(
            f"expected a group name in [{group.name}:children], got {line!r}",
            where,
            "one group name a line, no spaces or ':'",
        )
    child = match.group(1)
    if child in builder.groups:
        builder.link(group.name, child, where)
    elif child in pending:
        pending[child].parents.append(group.name)
    else:
        pending[child] = _Pending("children", where, [group.name])


def _host_line(builder: Builder, group: GroupEntry, line: str, where: Location) -> None:
    try:
        tokens = line.split() if _PLAIN_LINE.fullmatch(line) else shlex.split(line, comments=True)
    except ValueError as e:
        raise ConfigError(f"cannot split host line {line!r}: {e}", where) from None
    pattern, port = split_port(tokens[0])
    if tokens[0].endswith(":") and port is None:
        raise ConfigError(
            f"host '{tokens[0]}' ends with ':'", where, "write a port after it, as host:2222"
        )
    if pattern == "---":
        raise ConfigError(
            "'---' is not a host", where, "this looks like YAML: check the file's indentation"
        )
    host_vars: dict[str, Any] = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep:
            raise ConfigError(
                f"expected key=value after host '{tokens[0]}', got {token!r}",
                where,
                'quote values with spaces: key="a b"',
            )
        host_vars[key] = ini_value(value, where)
    for name in expand_hosts(pattern, where):
        new = name not in builder.hosts
        entry = builder.add_host(group, name, where)
        if new and port:  # as Ansible: a port is taken from the first appearance only
            entry.vars["ansible_port"] = port
            entry.var_loc["ansible_port"] = where
        entry.vars.update(host_vars)
        entry.var_loc.update(dict.fromkeys(host_vars, where))
