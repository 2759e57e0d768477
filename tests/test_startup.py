"""What a start of the console loads, and how a headless run ends (real subprocesses).

A headless run or a `check` is a few seconds of work: it imports neither Textual (the
console's UI) nor `invoke` (paramiko's, for ssh_config's `Match exec`, never run), nor
Jinja2 for commands with no template in them, and
a headless run ends with its process once it has said everything, with its last line
(the summary) written in full and its exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jobtui.sshlib import paramiko

PROBE = """\
import sys
from jobtui import cli
code = cli.command(sys.argv[1:])
watched = {'textual', 'invoke', 'paramiko', 'jinja2'}
loaded = sorted({m.split('.')[0] for m in sys.modules} & watched)
print('LOADED ' + ' '.join(loaded))
sys.exit(code)
"""

SSH_INVENTORY = """\
all:
  hosts:
    web01: {ansible_host: 192.0.2.1, ansible_user: deploy}
"""

LOCAL_INVENTORY = """\
all:
  hosts:
    box: {ansible_connection: local, jobtui_dir: "%s"}
"""

JOBS = "jobs:\n  - name: hello\n    hosts: all\n    shell: echo hello\n    poll: 0.2\n"


def probe(tmp_path: Path, *args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Run `PROBE` with `args`: the top-level packages of interest it had loaded."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
        timeout=120,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("LOADED")]
    assert lines, proc.stdout + proc.stderr
    return set(lines[-1].split()[1:]), proc


def test_check_on_ssh_hosts_loads_paramiko_without_invoke_textual_or_jinja(tmp_path: Path) -> None:
    """Nor Jinja2: the job's command holds no template (config/render.py)."""
    (tmp_path / "inv.yml").write_text(SSH_INVENTORY)
    (tmp_path / "jobs.yml").write_text(JOBS)
    loaded, proc = probe(tmp_path, "check", "jobs.yml", "-i", "inv.yml")
    assert proc.returncode == 0, proc.stderr
    assert loaded == {"paramiko"}


def test_a_headless_run_loads_no_textual(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text(LOCAL_INVENTORY % (tmp_path / "host"))
    (tmp_path / "jobs.yml").write_text(JOBS)
    argv = ["run", "jobs.yml", "-i", "inv.yml", "--headless", "--json", "--state-dir", "st"]
    loaded, proc = probe(tmp_path, *argv)
    assert proc.returncode == 0, proc.stderr
    assert "textual" not in loaded and "jinja2" not in loaded


def test_a_templated_command_still_loads_jinja(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text(SSH_INVENTORY)
    (tmp_path / "jobs.yml").write_text(JOBS.replace("echo hello", "echo {{ inventory_hostname }}"))
    loaded, proc = probe(tmp_path, "check", "jobs.yml", "-i", "inv.yml")
    assert proc.returncode == 0, proc.stderr
    assert "jinja2" in loaded and "web01" in proc.stdout


def test_invoke_stays_importable_after_paramiko() -> None:
    """The import of `invoke` is held off while paramiko loads, and only then."""
    assert paramiko.SSHClient is not None
    proc = subprocess.run(
        [sys.executable, "-c", "from jobtui.sshlib import paramiko; import invoke; print('ok')"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.strip() == "ok", proc.stderr


def test_a_headless_run_exits_with_its_code_and_its_whole_summary(tmp_path: Path) -> None:
    """The program ends without Python's shutdown (`cli.exit_now`): what it wrote is
    flushed first, through a pipe too, and the exit code is the batch's."""
    (tmp_path / "inv.yml").write_text(LOCAL_INVENTORY % (tmp_path / "host"))
    (tmp_path / "jobs.yml").write_text(
        JOBS + "  - name: fails\n    hosts: all\n    shell: exit 3\n    poll: 0.2\n"
    )
    jobtui = str(Path(sys.executable).parent / "jobtui")
    argv = [jobtui, "run", "jobs.yml", "-i", "inv.yml", "--headless", "--json", "--state-dir", "st"]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["event"] == "summary"
    assert summary["counts"] == {"succeeded": 1, "failed": 1}
