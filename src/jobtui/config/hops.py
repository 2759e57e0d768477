"""One name to an `Endpoint`: its options given before ssh_config, then ssh_config,
then its jump hosts, the way OpenSSH resolves them (`ssh -G` is the reference of the
tests).

Token expansion is OpenSSH 9.2's: `IdentityFile` and `UserKnownHostsFile` take `%% %C
%d %h %i %k %L %l %n %p %r %u`, `ProxyCommand` takes `%% %h %n %p %r`, `HostName`
takes `%% %h`; `%C` hashes `%l%h%p%r`. The address is lowercased, as `ssh` does.
ProxyJump and ProxyCommand: the first obtained wins (`ProxyCommand none` stops a later
ProxyJump, `ProxyJump none` does not stop a later ProxyCommand, as ssh).

Jump hosts follow OpenSSH's `-J a,b target`: the target is reached via b, b via a
(b's own ProxyJump is overridden by the chain), a as a's own ssh_config says. Each hop
is looked up in the same ssh_config, with a `user@` or `:port` of the spec winning (a
target's `jobtui_known_hosts` holds its hops' keys too: tests keep all keys there). A
chain that comes back to a name on its way (ssh would spawn itself without end, or
refuse "jumphost loop") is the endpoint's `problem`, not an error.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from dataclasses import dataclass, field, replace
from typing import Any

from jobtui import defaults
from jobtui.config.errors import ConfigError
from jobtui.config.sshconfig import Line, SshConfig
from jobtui.config.sshvalues import parse_bool, parse_time, split_args
from jobtui.model import Endpoint

MAX_HOPS = 16
NOT_OFF = (
    "jobtui does not switch host key checking off: unknown keys are still refused"
    " (--accept-new-host-keys records them)"
)
NO_ALIAS = "HostKeyAlias is not honoured by jobtui: host keys are checked under the address"
Hop = tuple[str, str | None, int | None]
"""One hop of a ProxyJump spec: host, user (None: its own), port (None: its own)."""
_TOKEN = re.compile(r"%(.)")
_FILE_TOKENS = frozenset("%CdhikLlnpru")
_PROXY_TOKENS = frozenset("%hnpr")


@dataclass(frozen=True)
class Given:
    """One setting before ssh_config: a command-line option and where it came from."""

    key: str
    value: str
    origin: str
    text: str


@dataclass
class Warnings:
    """What to tell the operator once: ordered, each text once."""

    lines: dict[str, None] = field(default_factory=dict)
    by_hosts: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(what, message) -> hosts, so one message for many hosts is said once."""

    def host(self, what: str, host: str, message: str) -> None:
        self.by_hosts.setdefault((what, message), []).append(host)

    def render(self) -> tuple[str, ...]:
        out = dict(self.lines)
        for (what, message), names in self.by_hosts.items():
            unique = list(dict.fromkeys(names))
            if len(unique) == 1:
                out[f"{what} of {unique[0]}: {message}"] = None
            else:
                shown = ", ".join(unique[:3]) + (", ..." if len(unique) > 3 else "")
                out[f"{what} of {len(unique)} hosts ({shown}): {message}"] = None
        return tuple(out)


class Hops:
    """Resolves names to endpoints; jump hosts are cached, so equal hops are one."""

    def __init__(self, home: str, local_user: str, notes: Warnings) -> None:
        self.home = home
        self.local_user = local_user
        self.notes = notes
        self.uid = str(os.geteuid())
        self.thishost = socket.gethostname()
        self.shorthost = self.thishost.split(".")[0]
        self.hops: dict[tuple[Any, ...], Endpoint] = {}
        self.default_known = (
            os.path.join(home, ".ssh", "known_hosts"),
            os.path.join(home, ".ssh", "known_hosts2"),
        )

    def resolve(
        self,
        name: str,
        given: tuple[Given, ...],
        config: SshConfig | None,
        *,
        stack: tuple[str, ...],
        chain: tuple[Hop, ...] | None,
        known: str | None,
        label: str,
        jump_where: str = "",
    ) -> Endpoint:
        """The endpoint of `name` with `given` options before ssh_config's.

        `chain`: the jump hosts before it from a ProxyJump spec (which override its own
        ProxyJump/ProxyCommand); None to use its own.
        """
        lines = lookup(config, name, given)
        origin: dict[str, str] = {}

        def first(key: str) -> tuple[str, str, Line | None] | None:
            for g in given:
                if g.key == key:
                    return g.value, g.origin, None
            found = lines.get(key)
            if found:
                return found[0].value, f"ssh_config {found[0].where}", found[0]
            return None

        def take(fld: str, key: str) -> tuple[str, Line | None] | None:
            got = first(key)
            if got is None:
                origin[fld] = "default"
                return None
            origin[fld] = got[1]
            return got[0], got[2]

        got = take("address", "hostname")
        address = (name if got is None else _expand(got[0], {"%": "%", "h": name})).lower()
        port = 22
        if (got := take("port", "port")) is not None:
            if not (got[0].isdigit() and 1 <= int(got[0]) <= 65535):
                raise ConfigError(
                    f"port of host '{label}' must be a port number (1-65535), got {got[0]!r}"
                    f" ({origin['port']})"
                )
            port = int(got[0])
        user = self.local_user if (got := take("user", "user")) is None else got[0]
        alias = first("hostkeyalias")
        if alias is not None and alias[2] is not None:
            self.notes.lines[f"ssh_config {alias[2].where}: {NO_ALIAS}"] = None
        tokens = {
            "%": "%",
            "h": address,
            "p": str(port),
            "r": user,
            "n": name,
            "u": self.local_user,
            "d": self.home,
            "i": self.uid,
            "L": self.shorthost,
            "l": self.thishost,
            "k": alias[0] if alias else name,
        }
        # %C as OpenSSH 9.2 hashes it: %l%h%p%r.
        tokens["C"] = hashlib.sha1(f"{self.thishost}{address}{port}{user}".encode()).hexdigest()
        key_files: list[str] = []
        raw_seen: set[str] = set()
        key_origins: list[str] = []
        for g in given:
            if g.key == "identityfile" and g.value not in raw_seen:
                raw_seen.add(g.value)
                key_files.append(g.value)
                key_origins.append(g.origin)
        for line in lines.get("identityfile", ()):
            if line.value not in raw_seen:
                raw_seen.add(line.value)
                key_files.append(line.value)
                key_origins.append(f"ssh_config {line.where}")
        files = tuple(self.path(_expand(v, tokens, _FILE_TOKENS)) for v in key_files)
        origin["key_files"] = ", ".join(dict.fromkeys(key_origins)) or "default"
        identities_only = False
        if (got := take("identities_only", "identitiesonly")) is not None:
            identities_only = parse_bool(got[0]) is True
        if known is not None:
            known_hosts: tuple[str, ...] = (self.path(known),)
            origin["known_hosts"] = "inventory var jobtui_known_hosts"
        elif (got := take("known_hosts", "userknownhostsfile")) is not None:
            words = split_args(got[0]) or []
            known_hosts = tuple(self.path(_expand(w, tokens, _FILE_TOKENS)) for w in words)
        else:
            known_hosts = self.default_known
        accept_new = False
        if (got := take("accept_new", "stricthostkeychecking")) is not None:
            value = got[0].lower()
            accept_new = value == "accept-new"
            if value in ("no", "off", "false") and got[1] is not None:
                line = got[1]
                self.notes.lines[
                    f"ssh_config {line.where} ({line.block or 'top level'}):"
                    f" StrictHostKeyChecking {got[0]}: {NOT_OFF}"
                ] = None
        connect_timeout = defaults.CONNECT_TIMEOUT
        if (got := take("connect_timeout", "connecttimeout")) is not None:
            seconds = _seconds(got[0])
            if seconds is None and got[0] != "none":
                raise ConfigError(
                    f"ConnectTimeout of host '{label}' must be seconds, got {got[0]!r}"
                    f" ({origin['connect_timeout']})"
                )
            if seconds:  # 0 and none: no limit of ssh's own, so jobtui's default
                connect_timeout = seconds
        keepalive = float(defaults.KEEPALIVE)
        if (got := take("keepalive", "serveraliveinterval")) is not None:
            seconds = _seconds(got[0])
            if seconds is None:
                raise ConfigError(
                    f"ServerAliveInterval of host '{label}' must be seconds, got {got[0]!r}"
                    f" ({origin['keepalive']})"
                )
            keepalive = seconds
        agent = first("forwardagent")
        if agent is not None and agent[2] is not None and parse_bool(agent[0]):
            self.notes.lines[f"ssh_config {agent[2].where}: ForwardAgent is not done by jobtui"] = (
                None
            )
        endpoint = Endpoint(
            name=name,
            address=address,
            port=port,
            user=user,
            key_files=files,
            identities_only=identities_only,
            known_hosts=known_hosts,
            accept_new=accept_new,
            connect_timeout=connect_timeout,
            keepalive=keepalive,
            origin=origin,
        )
        if chain is not None:
            if not chain:
                origin["via"] = "default"
                return endpoint
            *before, last = chain
            origin["via"] = jump_where
            via = self.hop(last, tuple(before), config, stack, known, jump_where)
            return _with_via(endpoint, via, origin)
        jump, command = self.proxy(given, lines)
        if command is not None:
            value, where = command
            origin["proxy_command"] = where
            return replace(endpoint, proxy_command=_expand(value, tokens, _PROXY_TOKENS))
        if jump is None:
            origin["via"] = "default"
            return endpoint
        spec, where = jump
        hops = parse_jump(spec)
        if hops is None:
            return replace(endpoint, problem=f"cannot read ProxyJump {spec!r} ({where})")
        origin["via"] = where
        *before, last = hops
        via = self.hop(last, tuple(before), config, stack, known, where)
        return _with_via(endpoint, via, origin)

    def hop(
        self,
        spec: Hop,
        before: tuple[Hop, ...],
        config: SshConfig | None,
        stack: tuple[str, ...],
        known: str | None,
        where: str,
    ) -> Endpoint:
        """A jump host of a ProxyJump spec (`before` it in the spec: the hops it is
        reached through, else its own ssh_config decides)."""
        name, user, port = spec
        if name in stack or len(stack) > MAX_HOPS:
            path = " -> ".join((*stack, name))
            what = "loops" if name in stack else f"is longer than {MAX_HOPS} hops"
            return Endpoint(
                name=name, address=name, problem=f"jump host chain {what}: {path} ({where})"
            )
        key = (config.path if config else None, spec, before, known)
        found = self.hops.get(key)
        if found is None:
            given: list[Given] = []
            if user is not None:
                given.append(Given("user", user, where, f"{user}@"))
            if port is not None:
                given.append(Given("port", str(port), where, f":{port}"))
            found = self.resolve(
                name,
                tuple(given),
                config,
                stack=(*stack, name),
                chain=before if before else None,
                known=known,
                label=name,
                jump_where=where,
            )
            self.hops[key] = found
        # A hop found before, from another host, may lead back to this one's way.
        names = [found.name, *(h.name for h in reversed(found.chain()))]
        for i, hop_name in enumerate(names):
            if found.problem is None and hop_name in stack:
                path = " -> ".join((*stack, *names[: i + 1]))
                return replace(found, problem=f"jump host chain loops: {path} ({where})")
        return found

    def proxy(
        self, given: tuple[Given, ...], lines: dict[str, tuple[Line, ...]]
    ) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
        """ProxyJump and ProxyCommand as OpenSSH takes them: the first obtained wins;
        `ProxyCommand none` stops a later ProxyJump, `ProxyJump none` does not stop a
        later ProxyCommand."""
        candidates = [
            (g.key, g.value, g.origin) for g in given if g.key in ("proxyjump", "proxycommand")
        ]
        in_config = [lines[k][0] for k in ("proxyjump", "proxycommand") if k in lines]
        candidates += [
            (line.keyword, line.value, f"ssh_config {line.where}")
            for line in sorted(in_config, key=lambda line: line.index)
        ]
        jump: tuple[str, str] | None = None
        command: tuple[str, str] | None = None
        for key, value, where in candidates:
            if key == "proxyjump" and jump is None and command is None:
                jump = (value, where)
            elif (
                key == "proxycommand"
                and command is None
                and (jump is None or jump[0].lower() == "none")
            ):
                command = (value, where)
        if jump is not None and jump[0].lower() == "none":
            jump = None
        if command is not None and command[0].lower() == "none":
            command = None
        return jump, command

    def path(self, value: str) -> str:
        if value == "~" or value.startswith("~/"):
            return self.home + value[1:]
        return os.path.expanduser(value)


def _with_via(endpoint: Endpoint, via: Endpoint, origin: dict[str, str]) -> Endpoint:
    return replace(endpoint, via=via, problem=via.problem, origin=origin)


def parse_jump(spec: str) -> list[Hop] | None:
    """The hops of a ProxyJump spec (`[user@]host[:port]`, `ssh://user@host:port`,
    `a,b`), None if one cannot be read."""
    hops: list[Hop] = []
    for part in spec.split(","):
        part = part.strip()
        part = part.removeprefix("ssh://").rstrip("/") if part.startswith("ssh://") else part
        user: str | None = None
        if "@" in part:
            user, _, part = part.rpartition("@")
            if not user:
                return None
        port: int | None = None
        if part.startswith("["):
            host, sep, tail = part[1:].partition("]")
            if not sep or (tail and not tail.startswith(":")):
                return None
            part_port = tail[1:] if tail else None
        else:
            host, sep, part_port = part.partition(":")
            part_port = part_port if sep else None
        if part_port is not None:
            if not (part_port.isdigit() and 1 <= int(part_port) <= 65535):
                return None
            port = int(part_port)
        if not host or any(c in host for c in " \t'\"@/"):
            return None
        hops.append((host, user, port))
    return hops or None


def lookup(
    config: SshConfig | None, name: str, given: tuple[Given, ...]
) -> dict[str, tuple[Line, ...]]:
    """The ssh_config lines of `name`, as its Match blocks see the `given` options."""
    if config is None:
        return {}
    user = next((g.value for g in given if g.key == "user"), None)
    hostname = next((g.value for g in given if g.key == "hostname"), None)
    if hostname is not None:
        hostname = _expand(hostname, {"%": "%", "h": name})
    return config.lookup(name, user, hostname)


def _seconds(value: str) -> float | None:
    """An OpenSSH time (`30`, `1m30s`), or the inventory's seconds (`2.5`)."""
    seconds = parse_time(value)
    if seconds is not None:
        return float(seconds)
    if re.fullmatch(r"\d+\.\d+", value):
        return float(value)
    return None


def _expand(value: str, tokens: dict[str, str], allowed: frozenset[str] | None = None) -> str:
    """`%x` tokens as OpenSSH's percent_expand (an unknown one is left as written)."""
    if "%" not in value:
        return value

    def one(match: re.Match[str]) -> str:
        char = match.group(1)
        if allowed is not None and char not in allowed:
            return match.group(0)
        return tokens.get(char, match.group(0))

    return _TOKEN.sub(one, value)
