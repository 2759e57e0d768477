"""Read what the wrapper prints: records framed by the round trip's token, and the
per-run files they carry (pid line, rc line, progress line, meta JSON, output tails).

Pure functions, no I/O. Everything here comes from a host, where the job runs as the
same user and can rewrite its own files: this module is the one place that turns
those bytes into typed values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum

from jobtui.model import Progress, RemoteStatus, RunState


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
