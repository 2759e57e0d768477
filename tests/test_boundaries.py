"""Architecture rules that a test can hold."""

from __future__ import annotations

import subprocess
import sys


def test_the_core_imports_without_textual() -> None:
    code = (
        "import sys\n"
        "import jobtui.cli, jobtui.engine, jobtui.plan, jobtui.config, jobtui.report\n"
        "import jobtui.transport.ssh, jobtui.transport.local, jobtui.remote.protocol\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_local_hosts_never_import_paramiko() -> None:
    """The demo and local inventories start without paramiko's import (~0.1 s)."""
    code = (
        "import sys\n"
        "from jobtui.cli import routed\n"
        "from jobtui.config import Inventory\n"
        "from jobtui.fleet import keyring_for, transports_for\n"
        "inventory, _ = routed(Inventory.local(), None)\n"
        "transports_for(inventory.hosts.values(), keyring=keyring_for(inventory.hosts.values()))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'paramiko')\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
