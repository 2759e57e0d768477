"""How SSH reaches each host: the inventory, Ansible's SSH args and ssh_config, as one
`Endpoint` per host (jump hosts included). Pure configuration: no network, no command.

The options are taken in the order Ansible's ssh plugin puts them on `ssh`'s command
line, and the first value of each wins, as in `ssh` (`IdentityFile`s accumulate in
that order): ansible.cfg `ssh_args` (or the host var `ansible_ssh_args`), then the
inventory's `ansible_port` (only when set), key file, user and timeout (only when
set), then `ansible_ssh_common_args`, `ansible_ssh_extra_args`, and last ssh_config.
ssh_config is looked up under the host's address (`ansible_host`), as Ansible runs
`ssh` with it; the resolved address is lowercased, as `ssh` does.

Jump hosts follow OpenSSH's `-J a,b target`: the target is reached via b, b via a
(b's own ProxyJump is overridden by the chain), a as a's own ssh_config says. Each hop
is looked up in the same ssh_config, with a `user@` or `:port` of the spec winning;
Ansible's args apply to the target only (they are not passed to the jump `ssh`). A
chain that comes back to a name on its way is not an error: that host's endpoint
carries a `problem` and the other hosts carry on.

`~` and `%d` are the home of `$HOME` (as jobtui opens every file), where `ssh` uses the
passwd entry; `Match user` is tested by paramiko against the login name of the
environment, not `local_user`.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from jobtui import defaults
from jobtui.config import sshargs, sshconfig
from jobtui.config.errors import ConfigError
from jobtui.config.sshargs import SshArgs
from jobtui.config.sshconfig import Line, SshConfig, parse_time, split_args
from jobtui.config.template import render_plain
from jobtui.model import Endpoint, Host, Location

ARG_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")
MAX_HOPS = 16
NOT_OFF = (
    "jobtui does not switch host key checking off: unknown keys are still refused"
    " (--accept-new-host-keys records them)"
)
NO_ALIAS = "HostKeyAlias is not honoured by jobtui: host keys are checked under the address"
_Hop = tuple[str, str | None, int | None]
"""One hop of a ProxyJump spec: host, user (None: its own), port (None: its own)."""
_TOKEN = re.compile(r"%(.)")
_FILE_TOKENS = frozenset("%CdhikLlnpru")
_PROXY_TOKENS = frozenset("%hnpr")


@dataclass(frozen=True)
class Routes:
    hosts: dict[str, Host]
    """Every input host; the ssh ones (connection "ssh") with `.ssh` set."""
    warnings: tuple[str, ...]
    """Each distinct warning once (an option not understood, host key checking off...)."""


def resolve_routes(
    hosts: Iterable[Host],
    *,
    ssh_config: str | None = None,
    ssh_args: str | None = None,
    local_user: str | None = None,
) -> Routes:
    """Resolve the SSH endpoint of every ssh host.

    Args:
        hosts: the inventory's hosts.
        ssh_config: the file of `--ssh-config`/`-F`; None: `~/.ssh/config` if it exists.
        ssh_args: ansible.cfg's `[ssh_connection] ssh_args` (or `ANSIBLE_SSH_ARGS`).
        local_user: the default login user; None: the current user (by uid).

    Raises:
        ConfigError: a malformed ssh_config line, a bad port, an unreadable file.
    """
    resolver = _Resolver(ssh_config, ssh_args, local_user)
    out: dict[str, Host] = {}
    for host in hosts:
        out[host.name] = _copy(host, ssh=resolver.host(host)) if host.connection == "ssh" else host
    return Routes(out, resolver.warnings())


@dataclass(frozen=True)
class _Given:
    """One setting before ssh_config: a command-line option and where it came from."""

    key: str
    value: str
    origin: str
    text: str


@dataclass
class _Warnings:
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


class _Resolver:
    def __init__(self, ssh_config: str | None, ssh_args: str | None, local_user: str | None):
        self.home = os.path.expanduser("~")
        self.local_user = local_user or pwd.getpwuid(os.geteuid()).pw_name
        self.uid = str(os.geteuid())
        self.thishost = socket.gethostname()
        self.shorthost = self.thishost.split(".")[0]
        self.notes = _Warnings()
        self.configs: dict[str, SshConfig] = {}
        self.default_config: SshConfig | None = None
        if ssh_config is not None:
            self.default_config = self.config(ssh_config)
        elif os.path.isfile(user_config := os.path.join(self.home, ".ssh", "config")):
            self.default_config = self.config(user_config)
        self.parsed: dict[str, SshArgs] = {}
        self.global_args = self.args(ssh_args, "ansible.cfg ssh_args", None) if ssh_args else None
        self.hops: dict[tuple[Any, ...], Endpoint] = {}
        self.templates: dict[tuple[Any, ...], _Template] = {}
        self.given_cache: dict[tuple[int, str], tuple[_Given, ...]] = {}
        self.kinds: dict[tuple[Any, ...], _Kind] = {}
        self.default_known = (
            os.path.join(self.home, ".ssh", "known_hosts"),
            os.path.join(self.home, ".ssh", "known_hosts2"),
        )

    def warnings(self) -> tuple[str, ...]:
        return self.notes.render()

    def config(self, path: str) -> SshConfig:
        found = self.configs.get(path)
        if found is None:
            found = self.configs[path] = sshconfig.load(path, home=self.home)
            self.notes.lines.update(dict.fromkeys(found.warnings))
        return found

    def args(self, text: str, what: str, host: str | None) -> SshArgs:
        """`text` parsed (once per distinct text); for no host, its unknown options noted."""
        parsed = self.parsed.get(text)
        if parsed is None:
            try:
                parsed = self.parsed[text] = sshargs.parse(text)
            except sshargs.BadArgs as e:
                on = f" of host '{host}'" if host else ""
                raise ConfigError(f"cannot read {what}{on}: {e}") from None
        if host is None:
            for shown in parsed.ignored:
                self.notes.lines[f"{what}: {_not_understood(shown)}"] = None
        return parsed

    # -- one inventory host ------------------------------------------------------------

    def host(self, host: Host) -> Endpoint:
        kind = self.kind(host)
        for what, message in kind.notes:
            self.notes.host(what, host.name, message)
        given, config, known = kind.given, kind.config, kind.known
        lines = config.lookup(host.address) if config is not None else {}
        # Hosts alike but for their name share one resolution (100,000 hosts are often
        # a handful of kinds): the key holds all the rest resolve() reads.
        key = (id(config), id(lines), given, known)
        template = self.templates.get(key)
        if template is not None and host.address not in template.names:
            endpoint = template.make(host.address)
        else:
            endpoint = self.resolve(
                host.address,
                given,
                config,
                stack=(host.address,),
                chain=None,
                known=known,
                label=host.name,
            )
            if endpoint.problem is None and _name_free(given, lines):
                self.templates[key] = _Template(endpoint, lines)
        if kind.problem is not None:
            endpoint = replace(endpoint, problem=kind.problem)
        return endpoint

    def kind(self, host: Host) -> _Kind:
        """The options of `host` before ssh_config, the same for every host whose
        connection vars are the same (cached so, unless a var is a template)."""
        try:
            key: tuple[Any, ...] | None = (
                *(host.vars.get(var, _UNSET) for var in _KIND_VARS),
                host.port,
                host.key_file,
                host.user,
                host.connect_timeout,
            )
            hash(key)
        except TypeError:  # a list or a mapping where a string belongs: said below
            key = None
        found = self.kinds.get(key) if key is not None else None
        if found is None:
            found = self._kind(host)
            if key is not None and not found.templated:
                self.kinds[key] = found
        return found

    def _kind(self, host: Host) -> _Kind:
        problems: list[str] = []
        notes: list[tuple[str, str]] = []
        templated = False

        def args_of(var: str) -> SshArgs | None:
            nonlocal templated
            text = host.vars[var]
            if not isinstance(text, str):
                raise ConfigError(f"'{var}' of host '{host.name}' must be a string")
            if "{{" in text or "{%" in text:
                templated = True
                try:
                    text = render_plain(
                        text,
                        {**host.vars, "inventory_hostname": host.name},
                        None,
                        f"{var} of host '{host.name}'",
                    )
                except ConfigError as e:
                    problems.append(f"{var} cannot be templated: {e}")
                    return None
            parsed = self.args(text, var, host.name)
            notes.extend((var, _not_understood(shown)) for shown in parsed.ignored)
            return parsed

        head: list[tuple[str, SshArgs | None]] = []
        if "ansible_ssh_args" in host.vars:
            head.append(("inventory var ansible_ssh_args", args_of("ansible_ssh_args")))
        elif self.global_args is not None:
            head.append(("ansible.cfg ssh_args", self.global_args))
        tail = [(var, args_of(var)) for var in ARG_VARS if var in host.vars]
        given = (
            *(g for origin, parsed in head for g in self.given(parsed, origin)),
            *self.inventory_options(host),
            *(g for origin, parsed in tail for g in self.given(parsed, origin)),
        )
        config = self.default_config
        for _origin, parsed in (*head, *tail):
            if parsed is not None and parsed.config_file is not None:
                config = self.config(os.path.expanduser(parsed.config_file))
        for g in given:
            if g.key == "stricthostkeychecking" and g.value.lower() in ("no", "off", "false"):
                notes.append((g.origin, f"{g.text}: {NOT_OFF}"))
            elif g.key == "forwardagent" and g.value.lower() in ("yes", "true"):
                notes.append((g.origin, f"{g.text}: agent forwarding is not done"))
            elif g.key == "hostkeyalias":
                notes.append((g.origin, f"{g.text}: {NO_ALIAS}"))
        known = host.vars.get("jobtui_known_hosts")
        return _Kind(
            given,
            config,
            str(known) if known is not None else None,
            tuple(notes),
            problems[0] if problems else None,
            templated,
        )

    def given(self, parsed: SshArgs | None, origin: str) -> tuple[_Given, ...]:
        if parsed is None:
            return ()
        key = (id(parsed), origin)  # parsed args live as long as self.parsed
        found = self.given_cache.get(key)
        if found is None:
            found = tuple(_Given(o.key, o.value, origin, o.text) for o in parsed.options)
            self.given_cache[key] = found
        return found

    def inventory_options(self, host: Host) -> list[_Given]:
        """What Ansible adds from the inventory: `-o Port= IdentityFile= User= ConnectTimeout=`."""
        out: list[_Given] = []
        if "ansible_port" in host.vars:
            out.append(_Given("port", str(host.port), "inventory var ansible_port", "ansible_port"))
        if host.key_file:
            var = "ansible_ssh_private_key_file"
            origin = f"inventory var {var}" if var in host.vars else "ansible.cfg private_key_file"
            out.append(_Given("identityfile", os.path.expanduser(host.key_file), origin, var))
        if host.user:
            origin = (
                "inventory var ansible_user"
                if "ansible_user" in host.vars
                else "ansible.cfg remote_user"
            )
            out.append(_Given("user", host.user, origin, "ansible_user"))
        for var in ("ansible_ssh_timeout", "ansible_timeout"):
            if var in host.vars:
                out.append(
                    _Given(
                        "connecttimeout",
                        str(int(host.connect_timeout) or 1),
                        f"inventory var {var}",
                        var,
                    )
                )
                break
        return out

    # -- one hop ---------------------------------------------------------------------------

    def resolve(
        self,
        name: str,
        given: tuple[_Given, ...],
        config: SshConfig | None,
        *,
        stack: tuple[str, ...],
        chain: tuple[_Hop, ...] | None,
        known: str | None,
        label: str,
        jump_where: str = "",
    ) -> Endpoint:
        """The endpoint of `name` with `given` options before ssh_config's.

        `chain`: the jump hosts before it from a ProxyJump spec (which override its own
        ProxyJump/ProxyCommand); None to use its own.
        """
        lines = config.lookup(name) if config is not None else {}
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
        address = name if got is None else _expand(got[0], {"%": "%", "h": name}).lower()
        if got is None:
            address = name.lower()
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
            identities_only = sshconfig.parse_bool(got[0]) is True
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
            seconds = parse_time(got[0])
            if seconds is None and got[0] != "none":
                raise ConfigError(
                    f"ConnectTimeout of host '{label}' must be seconds, got {got[0]!r}"
                )
            if seconds:
                connect_timeout = float(seconds)
        keepalive = float(defaults.KEEPALIVE)
        if (got := take("keepalive", "serveraliveinterval")) is not None:
            seconds = parse_time(got[0])
            if seconds is None:
                raise ConfigError(
                    f"ServerAliveInterval of host '{label}' must be seconds, got {got[0]!r}"
                )
            keepalive = float(seconds)
        agent = first("forwardagent")
        if agent is not None and agent[2] is not None and sshconfig.parse_bool(agent[0]):
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
        spec: _Hop,
        before: tuple[_Hop, ...],
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
            return Endpoint(
                name=name, address=name, problem=f"jump host chain loops: {path} ({where})"
            )
        key = (config.path if config else None, spec, before, known)
        found = self.hops.get(key)
        if found is None:
            given: list[_Given] = []
            if user is not None:
                given.append(_Given("user", user, where, f"{user}@"))
            if port is not None:
                given.append(_Given("port", str(port), where, f":{port}"))
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
        self, given: tuple[_Given, ...], lines: dict[str, tuple[Line, ...]]
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


@dataclass(frozen=True)
class _Kind:
    """What a host's vars make of its options, before ssh_config."""

    given: tuple[_Given, ...]
    config: SshConfig | None
    known: str | None
    """`jobtui_known_hosts`."""
    notes: tuple[tuple[str, str], ...]
    """(what, message) to warn about for each host of this kind."""
    problem: str | None
    templated: bool


_UNSET = object()
_KIND_VARS = (
    "ansible_ssh_args",
    *ARG_VARS,
    "ansible_port",
    "ansible_ssh_private_key_file",
    "ansible_user",
    "ansible_ssh_timeout",
    "ansible_timeout",
    "jobtui_known_hosts",
)


def _not_understood(shown: str) -> str:
    return f"{shown} is not understood by jobtui and is ignored"


class _Template:
    """An endpoint resolved for one host, to stamp out for others alike but for the
    name (built without `__init__`: 100,000 `replace()` calls take a second)."""

    def __init__(self, endpoint: Endpoint, lines: dict[str, tuple[Line, ...]]) -> None:
        self.endpoint = endpoint
        self.fixed_address = "hostname" in lines
        self.names = frozenset(hop.name for hop in endpoint.chain())

    def make(self, name: str) -> Endpoint:
        return _copy(
            self.endpoint,
            name=name,
            address=self.endpoint.address if self.fixed_address else name.lower(),
            origin=dict(self.endpoint.origin),
        )


_T = TypeVar("_T")


def _copy(obj: _T, **changes: Any) -> _T:
    """`dataclasses.replace` without the cost of `__init__` (frozen dataclasses with
    no `__post_init__`, whose fields are all in `__dict__`)."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


def _name_free(given: tuple[_Given, ...], lines: dict[str, tuple[Line, ...]]) -> bool:
    """Nothing but the address depends on the name: no token in a value."""
    keys = ("hostname", "identityfile", "userknownhostsfile", "proxycommand", "hostkeyalias")
    if any("%" in g.value for g in given if g.key in keys):
        return False
    if any(g.key == "hostname" for g in given):
        return False
    return not any("%" in line.value for k in keys for line in lines.get(k, ()))


def _with_via(endpoint: Endpoint, via: Endpoint, origin: dict[str, str]) -> Endpoint:
    return replace(endpoint, via=via, problem=via.problem, origin=origin)


def parse_jump(spec: str) -> list[_Hop] | None:
    """The hops of a ProxyJump spec (`[user@]host[:port]`, `ssh://user@host:port`,
    `a,b`), None if one cannot be read."""
    hops: list[_Hop] = []
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


__all__ = ["Location", "Routes", "parse_jump", "resolve_routes"]
