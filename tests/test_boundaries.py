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
