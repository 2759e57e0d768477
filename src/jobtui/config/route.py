"""How SSH reaches each host: the inventory, Ansible's SSH args and ssh_config, as one
`Endpoint` per host (jump hosts included). Pure configuration: no network, no command.

The options are taken in the order Ansible's ssh plugin puts them on `ssh`'s command
line, and the first value of each wins, as in `ssh` (`IdentityFile`s accumulate in
that order): ansible.cfg `ssh_args` (or the host var `ansible_ssh_args`), then the
inventory's `ansible_port` (only when set), key file, user and timeout (only when
set), then `ansible_ssh_common_args`, `ansible_ssh_extra_args`, and last ssh_config.
ssh_config is looked up under the host's address (`ansible_host`), as Ansible runs
`ssh` with it; the resolved address is lowercased, as `ssh` does.

Each name then becomes an `Endpoint` in `hops.py` (ssh_config, tokens, jump hosts).
Ansible's args apply to the target only: ssh does not pass them to a jump `ssh`.
Hosts whose connection vars are the same (a group's) share one parse of their args
and, when nothing depends on the name, one resolution, stamped out per name.

`~` and `%d` are the home of `$HOME` (as jobtui opens every file), where `ssh` uses the
passwd entry; `Match user` is tested by paramiko against the login name of the
environment, not `local_user`.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from jobtui.config import sshargs, sshconfig
from jobtui.config.errors import ConfigError
from jobtui.config.hops import NO_ALIAS, NOT_OFF, Given, Hops, Warnings, lookup, parse_jump
from jobtui.config.render import render_plain
from jobtui.config.sshargs import SshArgs
from jobtui.config.sshconfig import Line, SshConfig
from jobtui.model import Endpoint, Host

ARG_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")


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


class _Resolver:
    def __init__(self, ssh_config: str | None, ssh_args: str | None, local_user: str | None):
        self.home = os.path.expanduser("~")
        self.local_user = local_user or pwd.getpwuid(os.geteuid()).pw_name
        self.notes = Warnings()
        self.configs: dict[str, SshConfig] = {}
        self.default_config: SshConfig | None = None
        if ssh_config is not None:
            self.default_config = self.config(ssh_config)
        elif os.path.isfile(user_config := os.path.join(self.home, ".ssh", "config")):
            self.default_config = self.config(user_config)
        self.parsed: dict[str, SshArgs] = {}
        self.global_args = self.args(ssh_args, "ansible.cfg ssh_args", None) if ssh_args else None
        self.templates: dict[tuple[Any, ...], _Template] = {}
        self.given_cache: dict[tuple[int, str], tuple[Given, ...]] = {}
        self.kinds: dict[tuple[Any, ...], _Kind] = {}
        self.way = Hops(self.home, self.local_user, self.notes)

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
        config, known = kind.config, kind.known
        given = kind.given
        if kind.port_at is not None:  # its own ansible_port, where Ansible puts it
            i = kind.port_at
            given = (
                *given[:i],
                Given("port", str(host.port), _PORT_ORIGIN, "ansible_port"),
                *given[i:],
            )
        if config is None:
            lines: dict[str, tuple[Line, ...]] = {}
        elif kind.hostname is None or "%" not in kind.hostname:
            lines = config.lookup(host.address, kind.user, kind.hostname)
        else:
            lines = lookup(config, host.address, given)
        # Hosts alike but for their name share one resolution (100,000 hosts are often
        # a handful of kinds): the key holds all the rest resolve() reads.
        # An ansible_port that wins (no port before it) is stamped per host too.
        key = (id(config), id(lines), kind.given, kind.port_at is not None, known)
        template = self.templates.get(key)
        if template is not None and host.address not in template.names:
            endpoint = template.make(host.address, host.port if kind.port_wins else None)
        else:
            endpoint = self.way.resolve(
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
        get = host.vars.get
        key = (
            *[get(var, _UNSET) for var in _KIND_VARS],
            "ansible_port" in host.vars,
            host.key_file,
            host.user,
            host.connect_timeout,
        )
        cacheable = True
        try:
            found = self.kinds.get(key)
        except TypeError:  # a list or a mapping where a string belongs: said below
            found, cacheable = None, False
        if found is None:
            found = self._kind(host)
            if cacheable and not found.templated:
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
        before = tuple(g for origin, parsed in head for g in self.given(parsed, origin))
        port_at = len(before) if "ansible_port" in host.vars else None
        given = (
            *before,
            *self.inventory_options(host),  # without ansible_port: host() adds it
            *(g for origin, parsed in tail for g in self.given(parsed, origin)),
        )
        # ssh drops an `-i` file it cannot stat, with a warning (not `-o IdentityFile`).
        missing = [
            g
            for g in given
            if g.key == "identityfile"
            and g.text.startswith("-i")
            and not os.path.exists(self.way.path(g.value))
        ]
        for g in missing:
            notes.append((g.origin, f"{g.text}: no such file, not used (as ssh does)"))
        given = tuple(g for g in given if g not in missing)
        config = self.default_config
        for origin, parsed in (*head, *tail):
            if parsed is not None and parsed.config_file is not None:
                try:
                    config = self.config(os.path.expanduser(parsed.config_file))
                except ConfigError as e:
                    where = f"-F of {origin} of host '{host.name}'"
                    raise ConfigError(f"{e.message} ({where})", e.location, e.hint) from None
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
            next((g.value for g in given if g.key == "user"), None),
            next((g.value for g in given if g.key == "hostname"), None),
            port_at,
            port_at is not None and all(g.key != "port" for g in given[:port_at]),
        )

    def given(self, parsed: SshArgs | None, origin: str) -> tuple[Given, ...]:
        if parsed is None:
            return ()
        key = (id(parsed), origin)  # parsed args live as long as self.parsed
        found = self.given_cache.get(key)
        if found is None:
            found = tuple(Given(o.key, o.value, origin, o.text) for o in parsed.options)
            self.given_cache[key] = found
        return found

    def inventory_options(self, host: Host) -> list[Given]:
        """What Ansible adds from the inventory: `-o IdentityFile= User= ConnectTimeout=`
        (and `Port=` before them, added per host)."""
        out: list[Given] = []
        if host.key_file:
            var = "ansible_ssh_private_key_file"
            origin = f"inventory var {var}" if var in host.vars else "ansible.cfg private_key_file"
            out.append(Given("identityfile", os.path.expanduser(host.key_file), origin, var))
        if host.user:
            origin = (
                "inventory var ansible_user"
                if "ansible_user" in host.vars
                else "ansible.cfg remote_user"
            )
            out.append(Given("user", host.user, origin, "ansible_user"))
        for var in ("ansible_ssh_timeout", "ansible_timeout"):
            if var in host.vars:
                out.append(
                    Given(
                        "connecttimeout",
                        str(host.connect_timeout),
                        f"inventory var {var}",
                        var,
                    )
                )
                break
        return out

    # -- one hop ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """What a host's vars make of its options, before ssh_config."""

    given: tuple[Given, ...]
    config: SshConfig | None
    known: str | None
    """`jobtui_known_hosts`."""
    notes: tuple[tuple[str, str], ...]
    """(what, message) to warn about for each host of this kind."""
    problem: str | None
    templated: bool
    user: str | None
    """The User given, as a `Match user` sees it."""
    hostname: str | None
    """The HostName given (tokens unexpanded), as a `Match host` sees it."""
    port_at: int | None
    """Where in `given` the host's own ansible_port goes (None: not set)."""
    port_wins: bool
    """No port comes before it."""


_UNSET = object()
_PORT_ORIGIN = "inventory var ansible_port"
_KIND_VARS = (
    "ansible_ssh_args",
    *ARG_VARS,
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

    def make(self, name: str, port: int | None) -> Endpoint:
        return _copy(
            self.endpoint,
            name=name,
            address=self.endpoint.address if self.fixed_address else name.lower(),
            port=self.endpoint.port if port is None else port,
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


def _name_free(given: tuple[Given, ...], lines: dict[str, tuple[Line, ...]]) -> bool:
    """Nothing but the address depends on the name: no token in a value."""
    keys = ("hostname", "identityfile", "userknownhostsfile", "proxycommand", "hostkeyalias")
    if any("%" in g.value for g in given if g.key in keys):
        return False
    if any(g.key == "hostname" for g in given):
        return False
    return not any("%" in line.value for k in keys for line in lines.get(k, ()))


__all__ = ["Routes", "parse_jump", "resolve_routes"]
