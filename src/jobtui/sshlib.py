"""paramiko, imported without `invoke`: every module of jobtui's imports it from here.

paramiko imports `invoke` (and with it `unittest.mock` and `asyncio`: ~60 ms of every
start of the console) only to run ssh_config's `Match exec` commands, which jobtui
never runs (`config/sshconfig.py` refuses those blocks). The import is held off while
paramiko loads, and only then: `invoke` stays importable by anyone else afterwards.
"""

from __future__ import annotations

import sys

if "paramiko" not in sys.modules and "invoke" not in sys.modules:
    sys.modules["invoke"] = None  # type: ignore[assignment]  # `import invoke` fails
    try:
        import paramiko
    finally:
        if "invoke" in sys.modules and sys.modules["invoke"] is None:
            del sys.modules["invoke"]

import paramiko as paramiko

__all__ = ["paramiko"]
