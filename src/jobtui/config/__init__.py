"""Configuration to typed specs: inventories (YAML, INI), job files, host patterns, templates.

Every problem is a `ConfigError` naming the file, line and column.
"""

from __future__ import annotations

from jobtui.config.errors import ConfigError
from jobtui.config.inventory import Inventory, load_inventory
from jobtui.config.jobs import load_jobs
from jobtui.config.patterns import select_hosts
from jobtui.config.render import render_command, render_plain, render_shell
from jobtui.config.sources import load_inventories

__all__ = [
    "ConfigError",
    "Inventory",
    "load_inventories",
    "load_inventory",
    "load_jobs",
    "render_command",
    "render_plain",
    "render_shell",
    "select_hosts",
]
