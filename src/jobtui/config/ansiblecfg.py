"""Where the inventory is when `-i` is not given, and ansible.cfg's connection defaults.

As Ansible: `ANSIBLE_INVENTORY` (comma-separated), else `inventory =` in the
`[defaults]` of the first ansible.cfg found (`ANSIBLE_CONFIG`, `./ansible.cfg` unless
the directory is world-writable, `~/.ansible.cfg`, `/etc/ansible/ansible.cfg`; its
relative paths are relative to the file), else `/etc/ansible/hosts` if it exists.
`remote_user` and `private_key_file` (or `ANSIBLE_REMOTE_USER`,
`ANSIBLE_PRIVATE_KEY_FILE`) are the user and key of hosts whose inventory sets none;
`[ssh_connection] ssh_args` (or `ANSIBLE_SSH_ARGS`) the SSH options of every host.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jobtui.config.connection import ansible_boolean
from jobtui.config.errors import ConfigError
from jobtui.config.inventory import Inventory
from jobtui.config.sources import load_inventories

DEFAULT_HOSTS = "/etc/ansible/hosts"


@dataclass(frozen=True)
class AnsibleConfig:
    """What jobtui takes from Ansible's configuration."""

    path: str | None = None
    """The ansible.cfg read, if any."""
    inventory: tuple[str, ...] = ()
    """Its `inventory =` sources, resolved against its directory."""
    remote_user: str | None = None
    private_key_file: str | None = None
    ssh_args: str | None = None
    """`[ssh_connection] ssh_args` (or `ANSIBLE_SSH_ARGS`), as written; None when unset
    (Ansible's default, `-C -o ControlMaster=auto -o ControlPersist=60s`, changes
    nothing jobtui does)."""
    become: bool | None = None
    """`[privilege_escalation] become` (or `ANSIBLE_BECOME`): for hosts whose inventory
    has no `ansible_become`."""
    become_user: str | None = None
    become_method: str | None = None
    become_ask_pass: bool = False
    """`become_ask_pass` (or `ANSIBLE_BECOME_ASK_PASS`): as `-K`."""
    async_dir: str | None = None
    """`[defaults] async_dir` (or `ANSIBLE_ASYNC_DIR`): where Ansible's async jobs are,
    for hosts whose inventory has no `ansible_async_dir`."""


def find_config(env: Mapping[str, str], cwd: str) -> str | None:
    """The ansible.cfg Ansible would read, or None."""
    candidates: list[str] = []
    if "ANSIBLE_CONFIG" in env:
        path = os.path.expanduser(env["ANSIBLE_CONFIG"])
        candidates.append(os.path.join(path, "ansible.cfg") if os.path.isdir(path) else path)
    try:
        if not os.stat(cwd).st_mode & stat.S_IWOTH:  # Ansible ignores a world-writable cwd
            candidates.append(os.path.join(cwd, "ansible.cfg"))
    except OSError:
        pass
    candidates += [os.path.expanduser("~/.ansible.cfg"), "/etc/ansible/ansible.cfg"]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.R_OK):
            return path
    return None


def read_config(path: str | None, env: Mapping[str, str]) -> AnsibleConfig:
    """The inventory and connection defaults of `path` (None: from `env` alone)."""
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                parser.read_file(f)
        except (OSError, UnicodeDecodeError, configparser.Error) as e:
            raise ConfigError(
                f"cannot read {path}: {e}", hint="fix or move the ansible.cfg"
            ) from None
    base = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()

    def setting(key: str, var: str) -> str | None:
        value = env.get(var) or parser.get("defaults", key, fallback=None) or ""
        return value.strip() or None

    listed = parser.get("defaults", "inventory", fallback="") or ""
    inventory = tuple(_resolve(s, base) for s in listed.split(",") if s.strip())
    key = setting("private_key_file", "ANSIBLE_PRIVATE_KEY_FILE")
    ssh_args = env.get("ANSIBLE_SSH_ARGS") or parser.get(
        "ssh_connection", "ssh_args", fallback=None
    )

    def escalation(key: str) -> str | None:
        value = env.get(f"ANSIBLE_{key.upper()}") or parser.get(
            "privilege_escalation", key, fallback=None
        )
        return value.strip() or None if value else None

    def flag(key: str) -> bool | None:
        value = escalation(key)
        if value is None:
            return None
        known = ansible_boolean(value)
        if known is None:
            raise ConfigError(
                f"{key} = {value!r} in [privilege_escalation] of {path or 'the environment'}"
                " is not a boolean",
                hint="write True or False",
            )
        return known

    return AnsibleConfig(
        path=path,
        inventory=inventory,
        remote_user=setting("remote_user", "ANSIBLE_REMOTE_USER"),
        private_key_file=os.path.expanduser(key) if key else None,
        ssh_args=ssh_args.strip() or None if ssh_args else None,
        become=flag("become"),
        become_user=escalation("become_user"),
        become_method=escalation("become_method"),
        become_ask_pass=bool(flag("become_ask_pass")),
        async_dir=setting("async_dir", "ANSIBLE_ASYNC_DIR"),
    )


def _resolve(source: str, base: str) -> str:
    source = os.path.expanduser(source.strip())
    return source if os.path.isabs(source) else os.path.normpath(os.path.join(base, source))


def inventory_sources(
    given: Sequence[str] | None, env: Mapping[str, str], config: AnsibleConfig
) -> list[str]:
    """`-i` as given, else where Ansible would look."""
    if given:
        return list(given)
    if env.get("ANSIBLE_INVENTORY", "").strip():
        listed = env["ANSIBLE_INVENTORY"].split(",")  # a list of paths, as Ansible reads it
        return [os.path.expanduser(s.strip()) for s in listed if s.strip()]
    if config.inventory:
        return list(config.inventory)
    if os.path.exists(DEFAULT_HOSTS):
        return [DEFAULT_HOSTS]
    raise ConfigError(
        "no inventory given",
        hint="pass -i INVENTORY, set ANSIBLE_INVENTORY, or set 'inventory =' in ansible.cfg",
    )


def load_configured(
    given: Sequence[str] | None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    config: AnsibleConfig | None = None,
) -> Inventory:
    """The inventory `jobtui -i ...` means: sources found as Ansible finds them, and the
    user and key of ansible.cfg for hosts whose inventory names none. `config`: the
    ansible.cfg already read (None: found and read here)."""
    env = os.environ if env is None else env
    if config is None:
        config = read_config(find_config(env, cwd or os.getcwd()), env)
    inventory = load_inventories(inventory_sources(given, env, config))
    escalates = (config.become, config.become_user, config.become_method) != (None, None, None)
    if config.async_dir is not None:
        for name, host in inventory.hosts.items():
            if "ansible_async_dir" not in host.vars:
                inventory.hosts[name] = dataclasses.replace(
                    host, ansible_async_dir=config.async_dir
                )
    if config.remote_user is None and config.private_key_file is None and not escalates:
        return inventory
    for name, host in inventory.hosts.items():
        inventory.hosts[name] = dataclasses.replace(
            host,
            user=host.user or config.remote_user,
            key_file=host.key_file or config.private_key_file,
            # The inventory's ansible_become* win over ansible.cfg's, as in Ansible.
            become=host.become if "ansible_become" in host.vars else bool(config.become),
            become_user=host.become_user or config.become_user,
            become_method=host.become_method or config.become_method,
        )
    return inventory
