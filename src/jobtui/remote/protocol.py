"""Build the scripts sent to a host's `sh -s`, and parse what they print.

Pure functions, no I/O: a transport carries the bytes. Each round trip sends calls
of the wrapper's functions (`wrapper.sh`) with every argument shell-quoted, and
reads back records framed by a random token chosen for that round trip.

A transport keeps one shell per host (`sh -s` on a long-lived SSH channel), sends
`WRAPPER` once when it opens it, then one request per round trip; no new SSH
session and no new remote shell per poll.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import shlex
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from typing import Any

from jobtui import defaults
from jobtui.model import Progress, RemoteStatus, RunState, check_jid


def _read(name: str) -> str:
    return resources.files("jobtui.remote").joinpath(name).read_text(encoding="utf-8")


WRAPPER = _read("wrapper.sh")
SUPERVISOR = _read("supervise.sh")
SUPERVISOR_NAME = "supervise-" + hashlib.sha256(SUPERVISOR.encode()).hexdigest()[:12] + ".sh"
"""Content-addressed, so a newer jobtui never changes the script under a running job."""

q = shlex.quote


def new_token() -> str:
    return "@@jt" + secrets.token_hex(12)


def _prelude(jobtui_dir: str, token: str) -> str:
    """Every request's start. The wrapper's functions were defined once per session
    (`WRAPPER`, sent by the transport when it opens its shell)."""
    return f"JT_TOK={q(token)}\njt_root {q(jobtui_dir)}\njt_hello\n"


def end_marker(token: str) -> bytes:
    """The last record of every answer: the transport reads up to it."""
    return f"\n{token} end\n".encode()


END_CALL = "jt_rec end\n"


def batched(script: bytes) -> bytes:
    """A request whose answer is printed in one write, not one per record: a status
    of many runs then crosses SSH in a few large packets instead of many small ones
    (paramiko's cost is per packet). The capture costs one fork, no exec."""
    return b"JT_ANS=$(\n" + script + END_CALL.encode() + b")\nprintf '%s\\n' \"$JT_ANS\"\n"


@dataclass(frozen=True)
class LaunchRequest:
    """One run to start on a host."""

    jid: str
    script: str
    """The command line (`sh -c` syntax)."""
    timeout: int
    meta: dict[str, Any]
    """Written to the job dir as JSON: batch, job, item, host, command, ..."""
    env: dict[str, str] = field(default_factory=dict)
    chdir: str | None = None
    grace: int = defaults.GRACE
    """Seconds between TERM and KILL when its time limit is reached."""

    def cmd_file(self) -> str:
        """The file the supervisor runs: environment, directory, then the command."""
        lines = [f"export {k}={q(v)}" for k, v in self.env.items()]
        if self.chdir:
            lines.append(f"cd -- {q(self.chdir)} || exit 127")
        lines.append(self.script)
        return "\n".join(lines)


def launch_script(jobtui_dir: str, requests: list[LaunchRequest], token: str) -> bytes:
    """All of a host's launches in one script (one round trip)."""
    calls = []
    for r in requests:
        meta = json.dumps(r.meta, sort_keys=True, ensure_ascii=True)
        args = [check_jid(r.jid), str(int(r.timeout)), str(int(r.grace)), meta, r.cmd_file()]
        calls.append("jt_launch " + " ".join(q(a) for a in args))
    body = "\n".join(calls)
    text = (
        _prelude(jobtui_dir, token)
        + f"JT_SUP={q(SUPERVISOR)}\n"
        + f"jt_install {q(SUPERVISOR_NAME)} && {{\n{body}\n}}\n"
    )
    return text.encode()


def status_script(
    jobtui_dir: str,
    jids: list[str] | None,
    token: str,
    tail_bytes: int = defaults.TAIL_BYTES,
    full: frozenset[str] | set[str] = frozenset(),
) -> bytes:
    """Status of the given runs (all runs on the host, in full, when `jids` is None).

    Runs in `full` also bring their metadata and output tails back (so do finished
    runs); the others cost no process start on the host. Reads only.
    """
    if jids is not None and not jids:
        return _prelude(jobtui_dir, token).encode()
    args = _status_args(tuple(jids or ()), frozenset(full))
    return (_prelude(jobtui_dir, token) + f"jt_status {int(tail_bytes)} {args}\n").encode()


@functools.lru_cache(maxsize=1024)
def _status_args(jids: tuple[str, ...], full: frozenset[str]) -> str:
    """A host is asked about the same runs cycle after cycle: checked and quoted once."""
    return " ".join(q(("+" if j in full else "") + check_jid(j)) for j in jids)


def watch_script(jobtui_dir: str, token: str) -> bytes:
    """Start the end watcher; it answers `ended` records until the channel closes."""
    return f"JT_TOK={q(token)}\njt_root {q(jobtui_dir)}\njt_watch\n".encode()


def cancel_script(
    jobtui_dir: str, jids: list[str], token: str, grace: int = defaults.GRACE
) -> bytes:
    args = " ".join(q(check_jid(j)) for j in jids)
    return (_prelude(jobtui_dir, token) + f"jt_cancel {int(grace)} {args}\n").encode()


def cleanup_script(jobtui_dir: str, jids: list[str], token: str) -> bytes:
    args = " ".join(q(check_jid(j)) for j in jids)
    return (_prelude(jobtui_dir, token) + f"jt_cleanup {args}\n").encode()


@dataclass
class Record:
    kind: str
    args: list[str]
    body: bytes


class ProtocolError(Exception):
    """The host answered something the console cannot read."""


def split_records(out: bytes, token: str) -> list[Record]:
    """Split a round trip's output into records.

    A record is `\\n<token> KIND ARGS\\n` followed by a body that runs up to the
    next record. Output before the first record (a noisy login script) is ignored.
    """
    sep = b"\n" + token.encode() + b" "
    records = []
    for chunk in out.split(sep)[1:]:
        head, _, body = chunk.partition(b"\n")
        words = head.decode("utf-8", "replace").split()
        if words:
            records.append(Record(words[0], words[1:], body))
    return records


@dataclass
class Hello:
    """The host's clock and boot id at the time of the round trip."""

    now: float
    boot_id: str


def parse_hello(records: list[Record]) -> Hello:
    for r in records:
        if r.kind == "hello":
            parts = r.body.decode("ascii", "replace").split()
            try:
                return Hello(float(parts[0]), parts[1] if len(parts) > 1 else "")
            except (IndexError, ValueError) as e:
                raise ProtocolError(f"unreadable greeting from host: {r.body[:80]!r}") from e
    raise ProtocolError("the host did not run the jobtui wrapper (no greeting); is /bin/sh there?")


class LaunchOutcome(Enum):
    OK = "ok"
    EXISTS = "exists"
    """The job dir was already there: the run was launched before, not started again."""
    ERROR = "error"


@dataclass
class LaunchResult:
    jid: str
    outcome: LaunchOutcome
    message: str = ""


def parse_launch(out: bytes, token: str, jids: list[str]) -> dict[str, LaunchResult]:
    """What happened to each requested launch. A jid with no answer is an error."""
    records = split_records(out, token)
    parse_hello(records)
    install_error = next((r for r in records if r.kind == "install"), None)
    results: dict[str, LaunchResult] = {}
    for r in records:
        if r.kind == "launch" and len(r.args) == 2 and r.args[0] in jids:
            try:
                outcome = LaunchOutcome(r.args[1])
            except ValueError:
                outcome = LaunchOutcome.ERROR
            msg = r.body.decode("utf-8", "replace").strip()
            results[r.args[0]] = LaunchResult(r.args[0], outcome, msg)
    for jid in jids:
        if jid not in results:
            reason = "no answer from the wrapper"
            if install_error is not None:
                reason = install_error.body.decode("utf-8", "replace").strip()
            results[jid] = LaunchResult(jid, LaunchOutcome.ERROR, reason)
    return results


_NUM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*(?:/\s*(\d+(?:\.\d+)?))?\s*(.*)$")


def parse_progress_line(text: str) -> Progress:
    """Read what a job wrote to $JOBTUI_PROGRESS: `NN`, `NN message` or `done/total`.

    The last non-empty line counts, so a job may append or overwrite.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return Progress()
    m = _NUM.match(lines[-1])
    if not m:
        return Progress(None, lines[-1].strip()[:200])
    value, total, message = float(m.group(1)), m.group(2), m.group(3).strip()[:200]
    if total is not None:
        t = float(total)
        percent = 100.0 * value / t if t > 0 else None
        if not message:
            message = f"{m.group(1)}/{total}"
    else:
        percent = value
    if percent is not None:
        percent = max(0.0, min(100.0, percent))
    return Progress(percent, message)


def progress_from_output(pattern: re.Pattern[str], tail: str) -> Progress:
    """Apply a job's `progress:` regex to its latest output: the last match counts.

    Group 1 (or the whole match) is the percentage; named group `msg`, if any, the message.
    """
    last = None
    for line in tail.splitlines()[-50:]:
        for m in pattern.finditer(line):
            last = m
    if last is None:
        return Progress()
    raw = last.group(1) if last.groups() else last.group(0)
    try:
        percent: float | None = max(0.0, min(100.0, float(raw)))
    except (TypeError, ValueError):
        percent = None
    msg = last.groupdict().get("msg") or ""
    return Progress(percent, msg.strip()[:200])


def run_progress(st: RemoteStatus, regex: str | None) -> Progress:
    """What the job wrote to $JOBTUI_PROGRESS, else its `progress:` regex over the output."""
    if st.progress.percent is None and regex:
        p = progress_from_output(re.compile(regex), st.tail)
        return Progress(p.percent, p.message or st.progress.message)
    return st.progress


def decode_output(data: bytes) -> str:
    """Decode an output tail: invalid UTF-8 becomes U+FFFD; a cut first character too."""
    return data.decode("utf-8", "replace")


def _state_from_rc(text: str) -> tuple[RunState, int | None, float | None]:
    parts = text.split()
    rc = int(parts[0]) if parts and parts[0].lstrip("-").isdigit() else None
    finished = float(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    how = parts[2] if len(parts) > 2 else "exited"
    if how == "timed_out":
        return RunState.TIMED_OUT, rc, finished
    if how == "cancelled":
        return RunState.CANCELLED, rc, finished
    return (RunState.SUCCEEDED if rc == 0 else RunState.FAILED), rc, finished


@dataclass
class HostStatus:
    """One status round trip: the host's clock and every run it reported."""

    hello: Hello
    runs: dict[str, RemoteStatus]
    missing: list[str]
    """Jids asked for whose job dir does not exist (cleaned up, or never launched)."""


def parse_status(out: bytes, token: str) -> HostStatus:
    """Read a status answer: per run, a `run JID ALIVE` record whose body holds its
    pid line, rc line and progress line; in full mode, `file meta` and `tail` records
    follow it."""
    records = split_records(out, token)
    hello = parse_hello(records)
    runs: dict[str, RemoteStatus] = {}
    missing: list[str] = []
    cur: RemoteStatus | None = None
    for r in records:
        if r.kind == "run" and len(r.args) == 2:
            jid, flag = r.args
            if flag == "missing":
                missing.append(jid)
                cur = None
                continue
            cur = runs[jid] = _run_status(jid, flag, r.body)
        elif cur is None:
            continue
        elif r.kind == "file" and r.args and r.args[0] == "meta":
            cur.full = True
            try:
                meta = json.loads(r.body.decode("utf-8", "replace"))
                cur.meta = meta if isinstance(meta, dict) else {}
            except ValueError:
                cur.meta = {}
        elif r.kind == "tail" and r.args:
            text = decode_output(r.body)
            if r.args[0] == "stdout":
                cur.tail = text
            else:
                cur.stderr_tail = text
    return HostStatus(hello, runs, missing)


def _run_status(jid: str, alive: str, body: bytes) -> RemoteStatus:
    """ALIVE: `yes` (its supervisor runs), `no`, or `orphan` (the supervisor is gone,
    the job is not)."""
    pidline, rcline, progress = ([*body.decode("utf-8", "replace").split("\n", 3), "", ""])[:3]
    st = RemoteStatus(jid=jid, state=RunState.RUNNING)
    parts = pidline.split()
    if parts and parts[0].isdigit():
        st.pid = int(parts[0])
    if len(parts) > 2 and parts[2].isdigit():
        st.started = float(parts[2])
    if rcline.strip():
        st.state, st.rc, st.finished = _state_from_rc(rcline)
    elif alive == "orphan":
        st.unsupervised = True
    elif alive != "yes" and st.pid is not None:
        # No rc and a dead supervisor: lost. (No pid yet: it is being started.)
        st.state = RunState.LOST
    if progress.strip():
        st.progress = parse_progress_line(progress)
    return st
