"""`group_vars/` and `host_vars/` beside an inventory, found as Ansible finds them.

For an entity `NAME` the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` that
exists is read; a directory `NAME/` is read whole, its files (and subdirectories) in
name order, hidden files, backups (`~`) and other extensions skipped. Empty files are
ignored; a file that is not a mapping is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from jobtui.config.errors import ConfigError, describe
from jobtui.config.inventory import VarsLayer
from jobtui.config.yamlsrc import YMap, parse_yaml, read_text, to_plain
from jobtui.model import Location

VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")


def vars_layer(directory: str, names: Iterable[str]) -> VarsLayer:
    """The vars that `directory` (a group_vars/ or host_vars/) gives each of `names`."""
    try:
        entries = set(os.listdir(directory))
    except FileNotFoundError:
        return {}
    except NotADirectoryError:
        return {}  # Ansible warns and skips a group_vars that is a file
    except OSError as e:
        raise ConfigError(f"cannot read {directory}: {e.strerror or e}") from None
    layer: VarsLayer = {}
    for name in names:
        if name.startswith(os.sep):
            continue
        for ext in VARS_EXTENSIONS:
            if name + ext in entries:
                path = os.path.join(directory, name + ext)
                files = _dir_files(path) if os.path.isdir(path) else [path]
                found = _load_all(files)
                if found[0]:
                    layer[name] = found
                break
    return layer


def _dir_files(path: str) -> list[str]:
    found: list[str] = []
    for entry in sorted(os.listdir(path)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        full = os.path.join(path, entry)
        ext = os.path.splitext(entry)[1]
        if os.path.isdir(full) and not ext:
            found.extend(_dir_files(full))
        elif os.path.isfile(full) and ext in VARS_EXTENSIONS:
            found.append(full)
    return found


def _load_all(files: list[str]) -> tuple[dict[str, Any], dict[str, Location]]:
    merged: dict[str, Any] = {}
    where: dict[str, Location] = {}
    for path in files:
        text = read_text(path)
        if not text.strip():
            continue
        if text.startswith("$ANSIBLE_VAULT"):
            raise ConfigError(
                f"{path} is vault-encrypted: jobtui does not decrypt vault files",
                Location(path, 1, 1),
                "keep these vars out of jobtui's inventory, or decrypt them (ansible-vault view)",
            )
        try:
            data = parse_yaml(text, path)
        except ConfigError as e:
            if e.message == "the file is empty":  # only comments: Ansible ignores it too
                continue
            raise
        if not isinstance(data, YMap):
            raise ConfigError(
                f"a vars file must be a mapping of variables, got {describe(to_plain(data))}",
                Location(path, 1, 1),
                "write one 'name: value' a line",
            )
        for key, value in data.items():
            merged[key] = to_plain(value)
            where[key] = data.value_loc[key]
    return merged, where
