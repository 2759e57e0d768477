"""Real Ansible over the test fleet: ansible-playbook launches `async` + `poll: 0` jobs
on the sshd hosts of tests/sshfleet.py, and `ansible -m async_status` asks about them.

ansible-core is a test-only tool (GPL): run as a subprocess, never imported. Everything
Ansible keeps lives under the harness's `root` (a test's tmp dir): its config, home,
local and remote temp dirs, and each host's `ansible_async_dir`, so a test never
touches the real `~/.ansible_async` and never sees another test's jobs. The same
inventory file is given to jobtui (`-i`).

Layout under `root`::

    inventory.yml           both tools read it (ansible_async_dir per host)
    ansible/                ansible.cfg, HOME, local and remote temp dirs
    async/<host>/           each host's ansible_async_dir
    jobtui/<host>/jobtui    each host's jobtui_dir
    bin/jtsleep-<job>-<token>  links to sleep: the long and timeout jobs' processes
                            carry the path in their argv (tests.helpers.processes_matching)
    gate                    the ok and fail jobs wait for it (`open_gate`)

The async wrappers, their modules and the jobs' shells all name a path under `root`
in their command line (the remote temp dir, the gate, a sleeper), so
`tests.helpers.processes_using(root)` finds every process a playbook left behind;
`kill_leftovers` ends them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import processes_matching, processes_using, wait_until
from tests.sshfleet import FleetHost, SshFleet

BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = BIN / "ansible-playbook"
ANSIBLE = BIN / "ansible"
PLAYBOOK = Path(__file__).parent / "playbooks" / "async_jobs.yml"
JOBS = ("ok", "fail", "long", "timeout")
"""The playbook's jobs, in the order it launches them."""
TIMEOUT_LIMIT = 2
"""`async:` of the timeout job: the wrapper kills it after 2 s (it checks every 1 s)."""
SSH_ARGS = (
    "-F /dev/null -o ControlMaster=no -o IdentitiesOnly=yes -o IdentityAgent=none"
    " -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10"
    " -o KexAlgorithms=curve25519-sha256,curve25519-sha256@libssh.org"
)
"""Ansible's ssh_args: no ControlPersist master left running after a playbook, no
~/.ssh/config, no agent, and the fast key exchange (see sshfleet.ssh_command)."""


def available() -> bool:
    """ansible-core (the test extra) is installed beside this Python."""
    return ANSIBLE_PLAYBOOK.exists() and ANSIBLE.exists()


class AnsibleError(AssertionError):
    """ansible or ansible-playbook failed, or printed something unexpected."""


_TASK = re.compile(r"^TASK \[(?P<task>[^\]\n]*)\]", re.MULTILINE)
_RESULT = re.compile(
    r"^(?:(?P<word>ok|changed|failed|fatal): \[(?P<host>[^\]\n]+)\](?:: [A-Z]+!)? => "
    r"|(?P<adhoc>\S+) \| (?P<outcome>[A-Z]+)!? => )",
    re.MULTILINE,
)


@dataclass(frozen=True)
class TaskResult:
    task: str
    """The task's name ("" for an ad-hoc command)."""
    host: str
    outcome: str
    """As Ansible printed it: `changed`, `ok`, `fatal`, or ad hoc `SUCCESS`, `FAILED`..."""
    result: dict[str, Any]
    """The result, as the callback printed it (`failed` is in `outcome`, not here)."""

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "fatal", "FAILED")


def task_results(stdout: str) -> list[TaskResult]:
    """Each result that Ansible printed as JSON: the `default` callback with `-v`
    (`changed: [host1] => {...}` under `TASK [name]`) or the `minimal` one of ad-hoc
    commands (`host1 | FAILED! => {...}`)."""
    tasks = [(m.start(), m["task"]) for m in _TASK.finditer(stdout)]
    decoder = json.JSONDecoder()
    out = []
    for m in _RESULT.finditer(stdout):
        task = next((name for at, name in reversed(tasks) if at < m.start()), "")
        try:
            result, _ = decoder.raw_decode(stdout, m.end())
        except ValueError:
            continue
        if isinstance(result, dict):
            host, outcome = (m["host"], m["word"]) if m["host"] else (m["adhoc"], m["outcome"])
            out.append(TaskResult(task, host, outcome, result))
    return out


class AnsibleFleet:
    """Ansible's view of some hosts of an `SshFleet`, rooted in a private directory."""

    def __init__(self, fleet: SshFleet, root: Path, hosts: Sequence[FleetHost] | None = None):
        self.fleet = fleet
        self.root = root.resolve()
        self.hosts = list(fleet.hosts if hosts is None else hosts)
        self.token = secrets.token_hex(4)
        self.gate = self.root / "gate"
        self.ok_line = f"ansible-ok-{self.token}"
        self.async_dirs = {h.name: self.root / "async" / h.name for h in self.hosts}
        self.jobtui_dirs = {h.name: self.root / "jobtui" / h.name / "jobtui" for h in self.hosts}
        self.sleepers = {job: self.root / "bin" / f"jtsleep-{job}-{self.token}" for job in JOBS}
        self._ansible_dir = self.root / "ansible"
        self._runs = 0
        self.durations: list[float] = []
        """Seconds each ansible-playbook run took."""
        self.launched: list[str] = []
        """Every jid the playbook runs reported."""
        self._setup()
        self.inventory = self._write_inventory()

    # -- setup ---------------------------------------------------------------------

    def _setup(self) -> None:
        for sub in ("home", "local-tmp", "remote-tmp"):
            (self._ansible_dir / sub).mkdir(parents=True, exist_ok=True)
        (self._ansible_dir / "ansible.cfg").write_text(
            "[defaults]\nretry_files_enabled = False\ninterpreter_python = /usr/bin/python3\n"
            f"[ssh_connection]\nssh_args = {SSH_ARGS}\n"
        )
        sleep = shutil.which("sleep") or "/bin/sleep"
        for link in self.sleepers.values():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(sleep)

    def _write_inventory(self) -> Path:
        known_hosts = self.fleet.known_hosts_path
        return self.fleet.write_inventory(
            self.root / "inventory.yml",
            self.hosts,
            extra_vars={
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_ssh_common_args": (
                    f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
                ),
                "ansible_remote_tmp": str(self._ansible_dir / "remote-tmp"),
            },
            host_vars={
                h.name: {
                    "jobtui_dir": str(self.jobtui_dirs[h.name]),
                    "ansible_async_dir": str(self.async_dirs[h.name]),
                }
                for h in self.hosts
            },
        )

    def env(self, callback: str = "minimal") -> dict[str, str]:
        """The environment of an ansible command: nothing of the real home is read or
        written, no colours, no retry files; results printed as JSON by `callback`."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        d = self._ansible_dir
        return {
            **keep,
            "HOME": str(d / "home"),
            "ANSIBLE_CONFIG": str(d / "ansible.cfg"),
            "ANSIBLE_HOME": str(d / "home" / ".ansible"),
            "ANSIBLE_LOCAL_TEMP": str(d / "local-tmp"),
            "ANSIBLE_REMOTE_TEMP": str(d / "remote-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_STDOUT_CALLBACK": callback,
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "ANSIBLE_SYSTEM_WARNINGS": "False",
        }

    def _run(
        self, argv: list[str], timeout: float, callback: str = "minimal"
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self.env(callback),
            cwd=self.root,
            timeout=timeout,
            check=False,
        )

    # -- what the tests do -------------------------------------------------------------

    def launch(
        self, jobs: Sequence[str] = JOBS, hosts: Sequence[str] | None = None, timeout: float = 120
    ) -> dict[tuple[str, str], str]:
        """Run the playbook: launch `jobs` on `hosts` (default: all of the harness's).

        Returns (job, host) -> Ansible jid, as ansible-playbook reported it.
        """
        unknown = set(jobs) - set(JOBS)
        assert not unknown, f"no such job in {PLAYBOOK.name}: {unknown}"
        names = list(hosts or [h.name for h in self.hosts])
        self._runs += 1
        extra = self.root / f"vars-{self._runs}.json"
        extra.write_text(
            json.dumps(
                {
                    "target": ",".join(names),
                    "launch": list(jobs),
                    "gate": str(self.gate),
                    "ok_line": self.ok_line,
                    "sleepers": {job: str(path) for job, path in self.sleepers.items()},
                    "timeout_limit": TIMEOUT_LIMIT,
                }
            )
        )
        argv = [str(ANSIBLE_PLAYBOOK), "-v", "-i", str(self.inventory), "-e", f"@{extra}"]
        start = time.monotonic()
        proc = self._run([*argv, str(PLAYBOOK)], timeout, "default")
        self.durations.append(time.monotonic() - start)
        jids = {
            (r.task, r.host): str(r.result["ansible_job_id"])
            for r in task_results(proc.stdout)
            if "ansible_job_id" in r.result and not r.failed
        }
        want = {(j, h) for j in jobs for h in names}
        if set(jids) != want or proc.returncode != 0:
            raise AnsibleError(
                f"{shlex.join(argv)} exited {proc.returncode}, launched {sorted(jids)} of "
                f"{sorted(want)}:\n{proc.stdout}\n{proc.stderr}"
            )
        self.launched += jids.values()
        return jids

    def ansible(self, host: str, module: str, args: str, timeout: float = 60) -> TaskResult:
        """`ansible HOST -m MODULE -a ARGS` on the same inventory: the host's result
        (as the `minimal` callback prints it: `host | FAILED! => {...}`)."""
        argv = [str(ANSIBLE), host, "-i", str(self.inventory), "-m", module, "-a", args]
        proc = self._run(argv, timeout)
        results = [r for r in task_results(proc.stdout) if r.host == host]
        if len(results) != 1:
            raise AnsibleError(
                f"{shlex.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return results[0]

    def async_status(self, host: str, jid: str) -> TaskResult:
        """What Ansible's own `async_status` says of `jid` on `host`."""
        return self.ansible(host, "ansible.builtin.async_status", f"jid={jid}")

    def open_gate(self) -> None:
        """Let the ok and fail jobs finish."""
        self.gate.touch()

    def job_file(self, host: str, jid: str) -> Path:
        return self.async_dirs[host] / jid

    def job_result(self, host: str, jid: str) -> dict[str, Any]:
        """The job's file as Ansible left it ({} while it is being written)."""
        try:
            result: dict[str, Any] = json.loads(self.job_file(host, jid).read_text())
        except (OSError, ValueError):
            return {}
        return result

    def wait_finished(self, host: str, jid: str, timeout: float = 30) -> dict[str, Any]:
        """Wait until the job's file holds its result (no `started` key), and return it."""
        wait_until(
            lambda: bool(r := self.job_result(host, jid)) and "started" not in r, timeout, 0.2
        )
        return self.job_result(host, jid)

    def digest(self) -> dict[str, tuple[bytes, int, int]]:
        """Every file of every async dir: content, mode and mtime (ns), by path."""
        out: dict[str, tuple[bytes, int, int]] = {}
        for d in self.async_dirs.values():
            for p in sorted(d.rglob("*")) if d.exists() else ():
                st = p.lstat()
                body = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
                out[str(p)] = (body, st.st_mode, st.st_mtime_ns)
        return out

    def wrappers(self, jid: str) -> list[int]:
        """The async_wrapper processes of `jid` (its watcher and its module runner):
        their argv holds the jid without its `.<pid>`."""
        prefix = jid.rpartition(".")[0]
        return [p for p in processes_matching(f" {prefix} ") if "async_wrapper" in _cmdline(p)]

    def job_processes(self, jid: str) -> list[int]:
        """Every live process of `jid`: the wrapper made itself a session (setsid),
        which its module, the job's shell and that shell's children are all in."""
        sessions = {_session(p) for p in self.wrappers(jid)} - {None}
        return [p for p in processes_using(self.root) if _session(p) in sessions]

    def processes(self) -> list[int]:
        """Live processes that name a path under `root`: the async wrappers, their
        modules, the jobs' shells and sleepers."""
        return processes_using(self.root)

    def kill_leftovers(self, timeout: float = 10) -> list[int]:
        """SIGKILL every process of `processes` (process groups first: a job's group
        is its wrapper's child's); returns what was found. Raises if some survive."""
        found = self.processes()
        mine = os.getpgrp()
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if (group := os.getpgid(pid)) != mine:
                    os.killpg(group, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if not wait_until(lambda: self.processes() == [], timeout):
            raise AnsibleError(f"processes under {self.root} survive SIGKILL: {self.processes()}")
        return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _session(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None
