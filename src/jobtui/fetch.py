"""`fetch:` (and `--fetch DIR`): each run's stdout and stderr copied to this machine
when the run ends, before any cleanup of its job directory.

Where a copy goes is derived from the batch, never recorded elsewhere:

    DIR/<batch>/<host>/<job>[-<item>][@<attempt>].out|.err

- `<host>`, `<job>` and `<item>` (the loop item's label, as the console shows it) are
  made safe by `safe_name`: letters, digits, `.`, `_` and `-` stay, anything else (`/`,
  control characters, spaces, `~`, `@`) becomes `_`, as does a leading `.` or `-` and
  every `..`; each part is cut to `NAME_BYTES` bytes of UTF-8.
- Two runs whose safe names collide (items `a/b` and `a_b`; a job `a-b` and a job `a`
  with item `b`; names that differ in case only) get `~2`, `~3`... in the batch's run
  order (`Layout`): the same names from the same runs, for the engine that writes the
  copies and for `jobtui logs` that reads them (from the store's runs, in the same
  order). `~` and `@` never appear in a safe name, so neither suffix can meet a name.
- Attempt 1 has no `@`; a retry's attempt N is `@N`: a retry never overwrites its
  earlier attempts' copies.

A copy is streamed in `CHUNK`-byte round trips (`Transport.read_output`) into a
hidden temp file beside it (its name starts with `.`, so never a copy's name), then
renamed: a copy that exists is whole. Directories are made 0700 and files 0600 (an
output may hold what the job printed of its secrets; its job directory on the host is
0700 too). It runs in the engine's worker thread, in the host's round trip, before the
run's cleanup, and only a copy that succeeded lets that cleanup go: a copy that fails
(the directory cannot be written, the host dropped) is a warning naming the run, the
directory and the reason, and the run's job directory stays on its host.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jobtui.events import Notice
from jobtui.model import NoticeLevel, RunKey, RunSpec

if TYPE_CHECKING:
    from jobtui.plan import Plan
    from jobtui.runs import Run
    from jobtui.transport.base import Transport

CHUNK = 1 << 20
"""Bytes per round trip (as `jobtui logs`)."""
NAME_BYTES = 80
"""A safe name's longest, in UTF-8 bytes: a job's and an item's together, with the
suffixes and the temp file's, stay well under a file name's 255."""
STREAMS = (("stdout", ".out"), ("stderr", ".err"))
"""Each output stream and the suffix of its copy."""

_DOTS = re.compile(r"\.{2,}")


def safe_name(text: str) -> str:
    """`text` as one file name: no `/`, no `..`, no control or blank character, no
    leading `-` or `.`, never empty, at most `NAME_BYTES` bytes."""
    out = "".join(ch if (ch.isalnum() and ch.isprintable()) or ch in "._-" else "_" for ch in text)
    out = _DOTS.sub(lambda m: "_" * len(m.group()), out)
    if out[:1] in ("", ".", "-"):
        out = "_" + out[1:]
    data = out.encode("utf-8")
    if len(data) > NAME_BYTES:
        out = data[:NAME_BYTES].decode("utf-8", "ignore")
    return out


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name~N` for the smallest N from 2 that is free (case ignored: a
    copy may land on a file system that ignores it)."""
    found, n = name, 1
    while found.casefold() in taken:
        n += 1
        found = f"{name}~{n}"
    taken.add(found.casefold())
    return found


class Layout:
    """The copies' names for a batch's runs, given in the batch's order."""

    def __init__(self, specs: Iterable[RunSpec]) -> None:
        hosts_taken: set[str] = set()
        self._hosts: dict[str, str] = {}
        taken: dict[str, set[str]] = {}
        self._stems: dict[RunKey, str] = {}
        for s in specs:
            if s.host.name not in self._hosts:
                self._hosts[s.host.name] = _unique(safe_name(s.host.name), hosts_taken)
            stem = safe_name(s.job.name) + (f"-{safe_name(s.label)}" if s.label else "")
            self._stems[s.key] = _unique(stem, taken.setdefault(s.host.name, set()))

    def paths(self, directory: str, batch: str, key: RunKey, attempt: int) -> tuple[Path, Path]:
        """Where an attempt's stdout and stderr copies go."""
        base = Path(directory) / safe_name(batch) / self._hosts[key.host]
        name = self._stems[key] + (f"@{attempt}" if attempt > 1 else "")
        out, err = (base / f"{name}{suffix}" for _, suffix in STREAMS)
        return out, err


@dataclass(frozen=True)
class Want:
    """One ended run's copy, for the worker thread."""

    jid: str
    label: str
    """The run as messages name it (`host job[item]`)."""
    directory: str
    """The fetch directory, as the job (or `--fetch`) gives it."""
    out: Path
    err: Path
    cleanup: bool
    """Its cleanup is due: sent after the copy, if the copy succeeded."""


class Fetcher:
    """The fetches of a batch: which ended runs want a copy, and where it goes.

    The engine asks `want` after each transition of a run; a run is fetched once per
    attempt. A run whose copy was asked for is `held`: its cleanup is the copy's to
    send (and never sent if the copy failed).
    """

    def __init__(self, batch: str, specs: Iterable[RunSpec]) -> None:
        self.batch = batch
        self._specs = [s for s in specs]
        self._layout: Layout | None = None
        self._asked: set[str] = set()

    def want(self, r: Run) -> Want | None:
        """The copy this run wants now (once per attempt), or None."""
        directory = r.spec.job.fetch
        if directory is None or not r.state.finished or not r.launched or r.jid in self._asked:
            return None
        self._asked.add(r.jid)
        if self._layout is None:  # only for a batch that fetches something
            self._layout = Layout(self._specs)
        out, err = self._layout.paths(directory, self.batch, r.spec.key, r.view.attempt)
        return Want(r.jid, r.view.label, directory, out, err, r.wants_cleanup())

    def held(self, jid: str) -> bool:
        """Its copy was asked for: its cleanup is not the engine's to queue."""
        return jid in self._asked


def copy(t: Transport, want: Want, chunk: int = CHUNK) -> str:
    """Copy the run's stdout and stderr; "" once both are in place, else the reason.

    Raises:
        TransportError: the host failed meanwhile (no partial copy is left).
    """
    for stream, suffix in STREAMS:
        dest = want.out if suffix == ".out" else want.err
        try:
            _mkdirs(dest.parent)
            tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            return _why(e)
        try:
            with os.fdopen(fd, "wb") as f:
                offset = 0
                while True:
                    got = t.read_output(want.jid, stream, offset, chunk)
                    if got is None:
                        return "its job directory is gone from the host"
                    f.write(got.data)
                    offset += len(got.data)
                    if len(got.data) < chunk:
                        break
            os.replace(tmp, dest)
        except OSError as e:
            return _why(e)
        finally:
            if tmp.exists():
                tmp.unlink()
    return ""


def _mkdirs(path: Path) -> None:
    """Make `path` and its missing parents, 0700 (a parent that exists is left as is)."""
    if path.is_dir():
        return
    if path.exists() or path.is_symlink():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(path))
    _mkdirs(path.parent)
    path.mkdir(mode=0o700, exist_ok=True)


def _why(e: OSError) -> str:
    where = f" ({e.filename})" if e.filename else ""
    return f"{e.strerror or e}{where}"


def failures(wants: Iterable[Want], done: dict[str, str], error: str) -> list[Notice]:
    """The warnings of a round trip's copies: each one that failed (`done[jid]` its
    reason), or never finished because the round trip failed (`error`)."""
    notices = []
    for w in wants:
        why = done.get(w.jid, error or "not done")
        if why:
            held = "; its cleanup is held back: its output stays on the host" if w.cleanup else ""
            notices.append(
                Notice(
                    f"fetch of {w.label} ({w.jid}) to {w.directory} failed: {why}{held}",
                    NoticeLevel.WARNING,
                )
            )
    return notices


def with_dir(plan: Plan, directory: str) -> Plan:
    """Every job of the plan fetched to `directory` (`--fetch DIR`: it wins over each
    job's `fetch:`), made absolute from the current directory."""
    path = os.path.abspath(os.path.expanduser(directory))
    jobs = {j.name: dataclasses.replace(j, fetch=path) for j in plan.jobs}
    for r in plan.runs:
        jobs.setdefault(r.job.name, dataclasses.replace(r.job, fetch=path))
    runs = [dataclasses.replace(r, job=jobs[r.job.name]) for r in plan.runs]
    return dataclasses.replace(plan, runs=runs, jobs=[jobs[j.name] for j in plan.jobs])


def copy_paths(
    specs: Iterable[RunSpec], batch: str, key: RunKey, attempt: int
) -> tuple[Path, Path] | None:
    """Where `jobtui logs` finds a run's copies (None: its job fetches nothing).
    `specs`: the batch's runs in its order, as the store keeps them."""
    specs = list(specs)
    spec = next((s for s in specs if s.key == key), None)
    if spec is None or spec.job.fetch is None:
        return None
    return Layout(specs).paths(spec.job.fetch, batch, key, attempt)
