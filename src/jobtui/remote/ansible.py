"""Read Ansible's own async jobs from what `ansible.sh` prints: each job file's
content (`ajob` records) and the async_wrapper processes' facts (`aproc`).

Pure functions, no I/O. ansible-core's `async_wrapper` writes one file per job in the
async dir, named by its jid: `{"started": true, "finished": false, "ansible_job_id":
J}` while it runs (older Ansible: `1`/`0`), then the module's result (no `started`
key: `rc`, `stdout`, `stderr`, `cmd`, `delta`, `failed`, `msg`...), or on its time
limit `{"msg": "Timeout exceeded", "failed": true, "child_pid": N}`. A cancel by
jobtui writes `{"failed": true, "finished": 1, "msg": "cancelled by jobtui", "rc":
143, "ansible_job_id": J, ...}`. Its watcher and module runner (the leader of the
job's process group) carry the jid without its `.<pid>` in their argv, with the time
limit and the module's path after it.

Every value comes from a file the job's user can write: each is typed and bounded
here, and one bad file is one unreadable job (`problem`), never more.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from jobtui import defaults
from jobtui.model import RemoteStatus, RunState, is_ansible_jid
from jobtui.remote.hostjson import Unreadable, json_object

MAX_FILE = 1 << 20
"""A job file larger than this (bytes) is not read: unreadable, too large."""
CANCEL_MSG = "cancelled by jobtui"
TIMEOUT_MSG = "Timeout exceeded"
RC_MIN, RC_MAX = -(2**31), 2**31 - 1
TIME_MAX = 2**33
LIMIT_MAX = 2**31 - 1
MAX_TEXT = 1000
"""`msg`, the module's name: longer is cut."""
MAX_COMMAND = 64 * 1024
MAX_ARGS = 4096
"""A process's argv longer than this many arguments is not a wrapper's."""


@dataclass
class Proc:
    """One process's facts from /proc: its argv, parent and process group."""

    pid: int
    args: list[str] = field(default_factory=list)
    ppid: int | None = None
    pgid: int | None = None


@dataclass
class Wrapper:
    """What the async_wrapper processes of one jid say (keyed by the jid's prefix)."""

    pids: list[int] = field(default_factory=list)
    leader: int | None = None
    """The module runner: the leader of the job's process group."""
    limit: int | None = None
    module: str = ""
    command: str = ""


def parse_procs(body: bytes) -> dict[str, Wrapper]:
    """The `aproc` record: `PATH:VALUE` entries separated by \\x01 (a /proc/PID/cmdline
    gives one entry per argument, a /proc/PID/stat one entry). Returns, per jid prefix,
    its wrapper processes, time limit, module and command."""
    procs: dict[int, Proc] = {}
    for entry in body.split(b"\x01"):
        path, sep, value = entry.lstrip(b"\n").partition(b":")
        m = re.fullmatch(rb"/proc/([0-9]{1,10})/(cmdline|stat)", path)
        if not sep or m is None:
            continue
        pid = int(m.group(1))
        p = procs.setdefault(pid, Proc(pid))
        if m.group(2) == b"stat":
            # `PID (COMM) STATE PPID PGRP ...`: COMM may hold spaces and parentheses.
            fields = value.rpartition(b")")[2].split()
            if len(fields) >= 3 and fields[1].isdigit() and fields[2].isdigit():
                p.ppid, p.pgid = int(fields[1][:10]), int(fields[2][:10])
        elif len(p.args) < MAX_ARGS:
            p.args.append(value.decode("utf-8", "replace"))
    children: dict[int, list[Proc]] = {}
    for p in procs.values():
        if p.ppid is not None:
            children.setdefault(p.ppid, []).append(p)
    found: dict[str, Wrapper] = {}
    for p in procs.values():
        at = next((i for i, a in enumerate(p.args) if "async_wrapper" in a), None)
        if at is None or at + 1 >= len(p.args):
            continue
        prefix = p.args[at + 1]
        if not re.fullmatch(r"j?[0-9]{1,15}", prefix):
            continue
        w = found.setdefault(prefix, Wrapper())
        w.pids.append(p.pid)
        if p.pgid != p.pid:
            continue  # the watcher; the module runner leads the job's group
        w.leader = p.pid
        rest = p.args[at + 2 : at + 4]
        if rest and re.fullmatch(r"[0-9]{1,10}", rest[0]):
            w.limit = min(int(rest[0]), LIMIT_MAX)
        if len(rest) > 1:
            w.module = module_name(rest[1])
        w.command = _command_of(p, children) or w.module
    return found


def module_name(path: str) -> str:
    """`.../AnsiballZ_command.py` -> `command`."""
    name = os.path.basename(path)
    name = name.removeprefix("AnsiballZ_")
    return name.removesuffix(".py")[:MAX_TEXT]


def _command_of(runner: Proc, children: dict[int, list[Proc]]) -> str:
    """The command an operator knows: the module's child (`/bin/sh -c ...`, `sleep
    30`), the module runner's grandchild. Empty when it has none."""
    for module in children.get(runner.pid, []):
        for cmd in children.get(module.pid, []):
            if cmd.args:
                return shlex.join(cmd.args)[:MAX_COMMAND]
    return ""


def _time(text: str) -> float | None:
    if not re.fullmatch(r"[0-9]{1,11}", text):
        return None
    value = int(text)
    return float(value) if value <= TIME_MAX else None


_DELTA = re.compile(r"(?:([0-9]{1,6}) days?, )?([0-9]{1,2}):([0-9]{2}):([0-9]{2}(?:\.[0-9]{1,6})?)")
"""Python's timedelta as the command module prints it: `0:00:30.014919`, `2 days, 1:00:00`."""


def _epoch(value: Any, default: float | None) -> float | None:
    """A time jobtui wrote (epoch seconds), else `default`."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= TIME_MAX:
        return float(value)
    return default


def _delta(value: Any) -> float | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    m = _DELTA.fullmatch(value)
    if m is None:
        return None
    days, h, mi, s = m.groups()
    return int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(s)


def _text(result: dict[str, Any], key: str, longest: int | None = None) -> str:
    """A string value (absent or null: ""), else Unreadable."""
    value = result.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Unreadable(f"{key} is not a string")
    return value if longest is None else value[:longest]


def load_result(content: bytes) -> dict[str, Any]:
    """A job file's JSON object.

    Raises:
        Unreadable: too large, not JSON (truncated, nested too deep, a number of
            thousands of digits), or not an object.
    """
    return json_object(content, MAX_FILE, "not JSON (truncated?)")


def says_running(result: dict[str, Any]) -> bool:
    """As async_status reads it: a file with `started` is not finished unless
    `finished` says so."""
    return "started" in result and not result.get("finished")


def _rc(result: dict[str, Any]) -> int | None:
    value = result.get("rc")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise Unreadable("rc is not an integer")
    if not RC_MIN <= value <= RC_MAX:
        raise Unreadable("rc is out of range")
    return value


def _failed(result: dict[str, Any]) -> bool:
    value = result.get("failed", False)
    if not isinstance(value, bool | int) or (isinstance(value, int) and value not in (0, 1)):
        raise Unreadable("failed is not a boolean")
    return bool(value)


def _result_command(result: dict[str, Any]) -> str:
    cmd = result.get("cmd")
    if isinstance(cmd, str):
        return cmd[:MAX_COMMAND]
    if isinstance(cmd, list) and all(isinstance(a, str) for a in cmd[:MAX_ARGS]):
        return shlex.join(cmd[:MAX_ARGS])[:MAX_COMMAND]
    if cmd is not None:
        raise Unreadable("cmd is not a string")
    return ""


def _result_module(result: dict[str, Any]) -> str:
    """shell or command, from the result's own `invocation`, else ""."""
    inv = result.get("invocation")
    args = inv.get("module_args") if isinstance(inv, dict) else None
    if (isinstance(args, dict) and "_raw_params" in args) or "cmd" in result:
        uses_shell = isinstance(args, dict) and args.get("_uses_shell") is True
        return "shell" if uses_shell else "command"
    return ""


def tail(text: str, size: int = defaults.TAIL_BYTES) -> str:
    """The last `size` bytes of `text` (UTF-8), as jobtui's own tails are."""
    data = text.encode("utf-8", "replace")
    return text if len(data) <= size else data[-size:].decode("utf-8", "replace")


def job_status(
    jid: str,
    head: str,
    content: bytes,
    wrappers: dict[str, Wrapper],
    tail_bytes: int = defaults.TAIL_BYTES,
) -> RemoteStatus:
    """One job file (`MTIME SIZE` line, then its content) as a RemoteStatus.

    Args:
        wrappers: the `aproc` record's facts (empty when none was sent: no job ran).
    """
    st = RemoteStatus(jid=jid, state=RunState.LOST, ansible=True, full=True)
    st.meta = {"job": "ansible"}
    parts = head.split()
    mtime = _time(parts[0]) if parts else None
    try:
        result = load_result(content)
        _fill(st, result, mtime, wrappers.get(jid.rpartition(".")[0]), tail_bytes)
    except Unreadable as e:
        st.state = RunState.LOST
        st.add_problem(f"unreadable: {e}")
    return st


def _fill(
    st: RemoteStatus,
    result: dict[str, Any],
    mtime: float | None,
    wrapper: Wrapper | None,
    tail_bytes: int,
) -> None:
    if wrapper is not None:
        st.meta["job"] = wrapper.module or "ansible"
        if wrapper.command:
            st.meta["command"] = wrapper.command
        if wrapper.limit is not None:
            st.meta["timeout"] = wrapper.limit
        if wrapper.module == "command" and wrapper.command.startswith("/bin/sh -c "):
            st.meta["job"] = "shell"
    if says_running(result):
        st.started = mtime  # written once, as the job started
        if wrapper is not None and wrapper.pids:
            st.state = RunState.RUNNING
            st.pid = wrapper.leader or min(wrapper.pids)
        else:
            st.state = RunState.LOST
        return
    rc = _rc(result)
    failed = _failed(result)
    msg = _text(result, "msg", MAX_TEXT)
    stdout, stderr = _text(result, "stdout"), _text(result, "stderr")
    command = _result_command(result)
    module = _result_module(result)
    st.finished = mtime
    delta = _delta(result.get("delta"))
    if mtime is not None and delta is not None:
        st.started = max(0.0, mtime - delta)
    if msg == CANCEL_MSG:
        st.finished = _epoch(result.get("jobtui_cancelled"), st.finished)
        st.started = _epoch(result.get("jobtui_started"), st.started)
    st.rc = rc
    if msg == CANCEL_MSG and failed:
        st.state = RunState.CANCELLED
    elif msg == TIMEOUT_MSG and failed and rc is None:
        st.state = RunState.TIMED_OUT
    elif failed or (rc is not None and rc != 0):
        st.state = RunState.FAILED
        if not stderr and msg and msg != "non-zero return code":
            stderr = msg  # a module's failure has no stderr: its msg says why
    else:
        st.state = RunState.SUCCEEDED
    if command:
        st.meta["command"] = command
    if module:
        st.meta["job"] = module
    st.tail = tail(stdout, tail_bytes)
    st.stderr_tail = tail(stderr, tail_bytes)


def output_of(content: bytes, stream: str) -> str | None:
    """A finished job file's whole `stdout` or `stderr` (None: not finished, or
    unreadable)."""
    try:
        result = load_result(content)
        if says_running(result):
            return None
        return _text(result, stream)
    except Unreadable:
        return None


def valid_name(name: str) -> bool:
    return is_ansible_jid(name)
