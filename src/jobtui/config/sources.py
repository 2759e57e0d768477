"""Inventory sources as Ansible takes them: files, directories, `h1,h2,` lists.

`load_inventories(["hosts", "prod/", "extra.yml"])` reads every source into one
builder, in order (a later source's vars win), then the `group_vars/` and
`host_vars/` beside each source, and resolves them once: one precedence code for
every format (`inventory.Builder`).

A file is YAML when its name has no extension or `.yml`, `.yaml`, `.json` and its
content is a YAML mapping; otherwise it is INI (as Ansible's yaml and ini plugins
decide). A directory's entries are read in name order, skipping what Ansible skips.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from jobtui.config.delegate import add_through_ansible
from jobtui.config.errors import ConfigError
from jobtui.config.groupvars import vars_layer
from jobtui.config.ini import add_ini, split_port
from jobtui.config.inventory import Builder, Inventory, add_yaml
from jobtui.config.yamlsrc import YMap, parse_yaml, read_text
from jobtui.model import Location

YAML_EXTENSIONS = ("", ".yml", ".yaml", ".json")
IGNORED_EXTENSIONS = (
    *(".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst"),
    *(".orig", ".cfg", ".retry"),
)
"""Ansible's `inventory_ignore_extensions` default: skipped in an inventory directory."""
IGNORED_NAMES = re.compile(r"^\.|^host_vars$|^group_vars$|^vars_plugins$")


def is_host_list(source: str) -> bool:
    """`web1,web2` or `web1,`: Ansible's host_list (a comma, and no such path)."""
    return "," in source and not os.path.exists(source)


def load_inventories(sources: Sequence[str]) -> Inventory:
    """Load and merge the inventory sources, as `ansible-inventory -i S1 -i S2` would.

    Raises:
        ConfigError: a source that does not exist or cannot be read, with file:line:col.
    """
    if not sources:
        raise ConfigError("no inventory given", hint="pass -i INVENTORY")
    builder = Builder(sources[0] if len(sources) == 1 else ", ".join(sources))
    builder.group("all", None, Location(sources[0], 1, 1))
    builder.group("ungrouped", None, Location(sources[0], 1, 1))
    for source in sources:
        if is_host_list(source):
            _add_host_list(builder, source)
        elif os.path.isdir(source):
            _add_directory(builder, source)
        elif os.path.exists(source):
            add_file(builder, source)
        else:
            raise ConfigError(
                f"inventory source {source!r} does not exist",
                hint="give a file, a directory or a list of hosts ending with ',' (web1,)",
            )
    for source in sources:
        if is_host_list(source):
            continue
        base = source if os.path.isdir(source) else os.path.dirname(source) or "."
        builder.group_files.append(vars_layer(os.path.join(base, "group_vars"), builder.groups))
        builder.host_files.append(vars_layer(os.path.join(base, "host_vars"), builder.hosts))
    return builder.finish()


def _add_host_list(builder: Builder, source: str) -> None:
    where = Location("<-i host list>", 1, 1)
    ungrouped = builder.groups["ungrouped"]
    for item in source.split(","):
        name, port = split_port(item.strip())
        if not name:
            continue
        new = name not in builder.hosts
        entry = builder.add_host(ungrouped, name, where)
        if new and port:
            entry.vars["ansible_port"] = port
            entry.var_loc["ansible_port"] = where


def _add_directory(builder: Builder, directory: str) -> None:
    for entry in sorted(os.listdir(directory)):
        if IGNORED_NAMES.search(entry) or entry.endswith(IGNORED_EXTENSIONS):
            continue
        path = os.path.join(directory, entry)
        if os.path.isdir(path):
            _add_directory(builder, path)
        else:
            add_file(builder, path)


def add_file(builder: Builder, path: str) -> None:
    """Add one inventory file, YAML or INI as its content says."""
    ext = os.path.splitext(path)[1]
    if ext == ".toml":
        raise ConfigError(
            f"{path}: TOML inventories are not supported",
            hint="convert it to YAML or INI (ansible-inventory -i FILE --list -y)",
        )
    text = read_text(path)
    if text.startswith("#!") and os.access(path, os.X_OK):
        add_through_ansible(builder, path, "an executable inventory script")
        return
    if text.startswith("$ANSIBLE_VAULT"):
        add_through_ansible(builder, path, "vault-encrypted")
        return
    if ext in YAML_EXTENSIONS and text.strip():
        try:
            data = parse_yaml(text, path)
        except ConfigError as yaml_error:
            if ext:  # a .yml that is not YAML: INI if it parses as INI, else the YAML error
                try:
                    add_ini(builder, path, text)
                except ConfigError:
                    raise yaml_error from None
                return
        else:
            if isinstance(data, YMap) and "plugin" in data:
                add_through_ansible(builder, path, "an inventory plugin config")
                return
            if isinstance(data, YMap):
                add_yaml(builder, path, data)
                return
    add_ini(builder, path, text)
