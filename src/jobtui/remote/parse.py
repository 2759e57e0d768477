"""Read what the wrapper prints: records framed by the round trip's token, and the
per-run files they carry (pid line, rc line, progress line, meta JSON, output tails).

Pure functions, no I/O. Everything here comes from a host, where the job runs as the
same user and can rewrite its own files: this module is the one place that turns
those bytes into typed values.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from jobtui.model import InvalidJid, Progress, RemoteStatus, RunState, check_jid, is_ansible_jid
from jobtui.remote import ansible
from jobtui.remote.hostjson import Unreadable, json_object

TIME_MAX = 2**33
"""Times from a host (epoch seconds) are within 0..2^33 (the year 2242), or unreadable."""
RC_MIN, RC_MAX = -(2**31), 2**31 - 1
"""An exit status is 0..255; what the wrapper writes fits a 32-bit int, the rest is garbage."""
PID_MAX = 2**31 - 1
COUNT_MAX = 2**31 - 1
"""Loop indexes, time limits and attempts: what a 32-bit int holds (the store's columns)."""
MAX_META = 4 << 20
"""A meta line longer than this is not one jobtui wrote."""
MAX_MESSAGE = 1000
SKEW_LIMIT = 300.0
"""A host clock further off than this (seconds) from the console's is said to be off."""

_STRINGS = {"batch": 1024, "job": 4096, "host": 4096, "item": 1 << 16, "command": 2 << 20}
"""Meta keys read as strings, with their longest length (generous: an item's label may
be a whole dict, a command a whole script; a bound, not a style rule)."""
_COUNTS = {"index": 0, "timeout": 0, "attempt": 1}
"""Meta keys read as integers, with their smallest value (the largest is COUNT_MAX)."""
_TIMES = ("launched", "started", "finished")
"""Meta keys read as times. Every other key (`progress_re` above all: a host's regex is
never evaluated, a planted `(a+)+$` would hang the reader) is dropped."""


_DIGITS = re.compile(r"-?[0-9]+")


def _integer(name: str, text: str, lo: int, hi: int) -> int:
    """An ASCII decimal integer within lo..hi (`²`, `١` and 5,000 digits are not)."""
    if not _DIGITS.fullmatch(text):
        raise Unreadable(f"{name} is not an integer")
    if len(text.lstrip("-")) > 20:
        raise Unreadable(f"{name} is out of range")
    value = int(text)
    if not lo <= value <= hi:
        raise Unreadable(f"{name} is out of range")
    return value


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
    """The round trip's greeting. A clock that is no time (`inf`, 400 digits) is a
    greeting nobody can read: every elapsed time would be garbage."""
    for r in records:
        if r.kind == "hello":
            parts = r.body.decode("ascii", "replace").split()
            try:
                now = _integer("now", parts[0], 0, TIME_MAX)
            except (IndexError, Unreadable) as e:
                raise ProtocolError(f"unreadable greeting from host: {r.body[:80]!r}") from e
            return Hello(float(now), parts[1][:64] if len(parts) > 1 else "")
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
            msg = r.body.decode("utf-8", "replace").strip()[:MAX_MESSAGE]
            results[r.args[0]] = LaunchResult(r.args[0], outcome, msg)
    for jid in jids:
        if jid not in results:
            reason = "no answer from the wrapper"
            if install_error is not None:
                reason = install_error.body.decode("utf-8", "replace").strip()[:MAX_MESSAGE]
            results[jid] = LaunchResult(jid, LaunchOutcome.ERROR, reason)
    return results


_NUMBER = r"([0-9]{1,15}(?:\.[0-9]{1,6})?)(?![0-9.])"
_NUM = re.compile(rf"^\s*{_NUMBER}\s*%?\s*(?:/\s*{_NUMBER})?\s*(.*)$")
"""ASCII digits, bounded: a 400-digit `percent` is a message, not a number."""


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
    return Progress(_percent(percent), message)


def _percent(value: float | None) -> float | None:
    """Within 0..100, or None for what is no number (`nan`, `inf`)."""
    if value is None or not math.isfinite(value):
        return None
    return max(0.0, min(100.0, value))


class LastMatch(Protocol):
    """A job's `progress:` regex, applied with bounded work (`config.progress`)."""

    def search_last(self, tail: str) -> Any:
        """The last match in the output's last lines (with `group`, `groups` and
        `groupdict`), or None."""


def progress_from_output(pattern: LastMatch, tail: str) -> Progress:
    """Apply a job's `progress:` regex to its latest output: the last match counts.

    Group 1 (or the whole match) is the percentage; named group `msg`, if any, the message.
    The regex must be the console's own (the job file's), never one a host sent.
    """
    last = pattern.search_last(tail)
    if last is None:
        return Progress()
    raw = last.group(1) if last.groups() else last.group(0)
    try:
        percent = _percent(float(raw))
    except (TypeError, ValueError):
        percent = None
    msg = last.groupdict().get("msg") or ""
    return Progress(percent, msg.strip()[:200])


def run_progress(st: RemoteStatus, pattern: LastMatch | None) -> Progress:
    """What the job wrote to $JOBTUI_PROGRESS, else its `progress:` regex over the output.

    `pattern` comes from the console's job file: a host's meta never carries one here.
    """
    if st.progress.percent is None and pattern is not None:
        p = progress_from_output(pattern, st.tail)
        return Progress(p.percent, p.message or st.progress.message)
    return st.progress


def decode_output(data: bytes) -> str:
    """Decode an output tail: invalid UTF-8 becomes U+FFFD; a cut first character too."""
    return data.decode("utf-8", "replace")


_ENDINGS = {"exited": None, "timed_out": RunState.TIMED_OUT, "cancelled": RunState.CANCELLED}


def _state_from_rc(text: str) -> tuple[RunState, int, int | None]:
    """The rc line: `RC FINISHED HOW`, as the supervisor (or a cancel) writes it.

    Raises:
        Unreadable: a field is not what the wrapper writes.
    """
    parts = text.split()
    if len(parts) > 3:
        raise Unreadable("more fields than an exit status has")
    if len(parts) == 2 and parts[1] in _ENDINGS:
        parts = [parts[0], "", parts[1]]  # `date` failed on the host: no finish time
    rc = _integer("rc", parts[0], RC_MIN, RC_MAX)
    finished = _integer("finished", parts[1], 0, TIME_MAX) if parts[1:2] not in ([], [""]) else None
    how = parts[2] if len(parts) > 2 else "exited"
    if how not in _ENDINGS:
        raise Unreadable(f"unknown ending {how[:20]!r}")
    state = _ENDINGS[how] or (RunState.SUCCEEDED if rc == 0 else RunState.FAILED)
    return state, rc, finished


def _pid_line(text: str) -> tuple[int, int | None]:
    """The pid line: `JOBPID SUPERVISORPID STARTED BOOTID`; returns the pid and start.

    Raises:
        Unreadable: a field is not what the supervisor writes.
    """
    parts = text.split()
    if len(parts) > 4:
        raise Unreadable("more fields than a pid line has")
    pid = _integer("pid", parts[0], 1, PID_MAX)
    if len(parts) > 1:
        _integer("supervisor pid", parts[1], 1, PID_MAX)
    started = _integer("started", parts[2], 0, TIME_MAX) if len(parts) > 2 else None
    return pid, started


def read_meta(body: bytes) -> dict[str, Any]:
    """A run's meta JSON, validated: the known keys, typed and bounded; no other key.

    A key that is absent or null is left out.

    Raises:
        Unreadable: the meta is not a JSON object, or a key holds the wrong type or an
            out-of-range value: the whole meta is then unreadable.
    """
    raw = json_object(body, MAX_META)
    meta: dict[str, Any] = {}
    for key, longest in _STRINGS.items():
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Unreadable(f"{key} is not a string")
        if len(value) > longest:
            raise Unreadable(f"{key} is too long")
        meta[key] = value
    for key, lo in _COUNTS.items():
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise Unreadable(f"{key} is not an integer")
        if not lo <= value <= COUNT_MAX:
            raise Unreadable(f"{key} is out of range")
        meta[key] = value
    for key in _TIMES:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Unreadable(f"{key} is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise Unreadable(f"{key} is not a finite number")
        if not 0 <= value <= TIME_MAX:
            raise Unreadable(f"{key} is out of range")
        meta[key] = float(value)
    return meta


@dataclass
class HostStatus:
    """One status round trip: the host's clock and every run it reported."""

    hello: Hello
    runs: dict[str, RemoteStatus]
    missing: list[str]
    """Jids asked for whose job dir does not exist (cleaned up, or never launched)."""
    skew: float = 0.0
    """The host's clock minus the console's (seconds, whole-second precision): times
    from the host are in its clock; compare them with `hello.now`, not the local one."""

    ansible_files: dict[str, bytes] = field(default_factory=dict)
    """Ansible jid -> its job file's content, as read (`jobtui logs` takes the
    finished result's whole stdout from it)."""
    ansible_heads: dict[str, tuple[tuple[int, int] | None, bytes]] = field(default_factory=dict)
    """Ansible jid -> ((mtime, size) as the host's `stat` said, or None), content."""

    @property
    def clock_off(self) -> bool:
        return clock_is_off(self.skew)


def clock_is_off(skew: float) -> bool:
    """A skew worth telling the operator about (beyond `SKEW_LIMIT`)."""
    return abs(skew) > SKEW_LIMIT


_UNITS = (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def skew_text(skew: float) -> str:
    """`host clock is off by 10y (ahead of this console's)`: in the largest unit, rounded
    (a skew measured over a round trip is a little short of the true one)."""
    size = abs(skew)
    amount, unit = next(((round(size / n), u) for u, n in _UNITS if size >= n), (0, "s"))
    side = "ahead of" if skew > 0 else "behind"
    return f"host clock is off by {amount}{unit} ({side} this console's)"


def parse_status(
    out: bytes,
    token: str,
    local_now: float | None = None,
    known: Mapping[str, tuple[int, int, bytes]] | None = None,
) -> HostStatus:
    """Read a status answer: per run, a `run JID ALIVE` record whose body holds its
    pid line, rc line and progress line; in full mode, `file meta` and `tail` records
    follow it.

    A run whose files hold garbage is reported with its `problem` (and what could
    still be read); it never makes the answer, or another run, unreadable.

    Args:
        local_now: the console's clock when the answer came (default: now), for `skew`.
        known: Ansible jid -> (mtime, size, content) of finished job files read
            before: the host answers `same` for those.
    """
    records = split_records(out, token)
    hello = parse_hello(records)
    local = time.time() if local_now is None else local_now
    runs: dict[str, RemoteStatus] = {}
    missing: list[str] = []
    cur: RemoteStatus | None = None
    files: dict[str, bytes] = {}
    for r in records:
        if r.kind in ("ajob", "aproc"):
            cur = None
            _ansible_record(r, runs, missing, files, known or {})
        elif r.kind == "run" and len(r.args) == 2:
            jid, flag = r.args
            cur = None
            try:
                check_jid(jid)
            except InvalidJid:
                continue  # not from the wrapper, which checks every jid it names
            if flag == "missing":
                missing.append(jid)
                continue
            cur = runs[jid] = _run_status(jid, flag, r.body)
        elif cur is None:
            continue
        elif r.kind == "file" and r.args and r.args[0] == "meta":
            cur.full = True
            try:
                cur.meta = read_meta(r.body)
            except Unreadable as e:
                cur.meta = {}
                cur.add_problem(f"unreadable metadata: {e}")
        elif r.kind == "tail" and r.args:
            text = decode_output(r.body)
            if r.args[0] == "stdout":
                cur.tail = text
            else:
                cur.stderr_tail = text
    heads: dict[str, tuple[tuple[int, int] | None, bytes]] = {}
    if files:
        _ansible_jobs(records, runs, files, heads)
    return HostStatus(hello, runs, missing, hello.now - local, files, heads)


def _ansible_record(
    r: Record,
    runs: dict[str, RemoteStatus],
    missing: list[str],
    files: dict[str, bytes],
    known: Mapping[str, tuple[int, int, bytes]],
) -> None:
    """`ajob NAME file|bad|missing`: a job file of Ansible's async dir (its content,
    read in `_ansible_jobs` once the processes' facts are known)."""
    if r.kind != "ajob" or len(r.args) != 2 or not is_ansible_jid(r.args[0]):
        return
    jid, kind = r.args
    if kind == "missing":
        missing.append(jid)
    elif kind == "file":
        files[jid] = r.body[:-1] if r.body.endswith(b"\n") else r.body
    elif kind == "same" and jid in known:
        mtime, size, content = known[jid]
        files[jid] = f"{mtime} {size}\n".encode() + content
    else:
        why = r.body.decode("utf-8", "replace").strip()[:MAX_MESSAGE] or "unreadable"
        st = runs[jid] = RemoteStatus(jid=jid, state=RunState.LOST, ansible=True, full=True)
        st.meta = {"job": "ansible"}
        st.add_problem(f"unreadable: {why}")


def _ansible_jobs(
    records: list[Record],
    runs: dict[str, RemoteStatus],
    files: dict[str, bytes],
    heads: dict[str, tuple[tuple[int, int] | None, bytes]],
) -> None:
    procs = next((r.body for r in records if r.kind == "aproc"), b"")
    wrappers = ansible.parse_procs(procs) if procs else {}
    for jid, body in list(files.items()):
        head, _, content = body.partition(b"\n")
        files[jid] = content
        text = head.decode("ascii", "replace")
        if jid.rpartition(".")[0] in wrappers or len(content) > FILE_STATUS_MAX:
            runs[jid] = ansible.job_status(jid, text, content, wrappers)
        else:  # no process of its own: what the file says, read once
            known = _file_status(jid, text, content)
            runs[jid] = dataclasses.replace(known, meta=dict(known.meta))
        heads[jid] = (_mtime_size(text), content)


FILE_STATUS_MAX = 32 * 1024
"""Job files up to this size have their status kept (at most 4096 of them: 128 MB at
worst, a few MB for the usual results of some KB)."""


@functools.lru_cache(maxsize=4096)
def _file_status(jid: str, head: str, content: bytes) -> RemoteStatus:
    """An Ansible job file's status when no process of the job is left: a pure function
    of the file, which a finished job never rewrites, so the same file (the host
    answers `same` for those the console holds) is decoded once, not every round trip
    (at 10 finished Ansible jobs per host, most of a discovery's CPU). Callers get a
    copy."""
    return ansible.job_status(jid, head, content, {})


def _mtime_size(head: str) -> tuple[int, int] | None:
    parts = head.split()
    if len(parts) != 2 or not all(re.fullmatch(r"[0-9]{1,12}", p) for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def _run_status(jid: str, alive: str, body: bytes) -> RemoteStatus:
    """ALIVE: `yes` (its supervisor runs), `no`, or `orphan` (the supervisor is gone,
    the job is not)."""
    pidline, rcline, progress = ([*body.decode("utf-8", "replace").split("\n", 3), "", ""])[:3]
    st = RemoteStatus(jid=jid, state=RunState.RUNNING)
    if pidline.strip():
        try:
            st.pid, started = _pid_line(pidline)
            st.started = None if started is None else float(started)
        except Unreadable as e:
            st.add_problem(f"unreadable pid line: {e}")
    if rcline.strip():
        try:
            st.state, st.rc, finished = _state_from_rc(rcline)
            st.finished = None if finished is None else float(finished)
        except Unreadable as e:
            # It ended (the rc file is there), nobody can say how.
            st.add_problem(f"unreadable exit status: {e}")
            st.state = RunState.LOST
    elif st.problem:
        # No rc and a pid line that says nothing: whether it runs cannot be known.
        st.state = RunState.LOST
    elif alive == "orphan":
        st.unsupervised = True
    elif alive != "yes" and st.pid is not None:
        # No rc and a dead supervisor: lost. (No pid yet: it is being started.)
        st.state = RunState.LOST
    if progress.strip():
        st.progress = parse_progress_line(progress)
    return st
