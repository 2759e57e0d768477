"""The console's memory: batches and their runs in SQLite (WAL).

The hosts are the source of truth about a job; the store remembers what the
console decided: which runs a batch has, each run's jid (written BEFORE its launch
is sent, so a console killed at any moment can come back and relaunch with the
same jid, which the wrapper refuses to start twice), and the last state seen.
A batch also keeps its hosts' connection settings and its job definitions as they
were at launch (`storecodec`: without passwords), so `jobtui attach` needs nothing
else but a become password.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from jobtui import storelock
from jobtui.events import BatchFinished, Event, RunChanged, RunView
from jobtui.model import RunKey, RunSpec, RunState, become_of
from jobtui.runs import Run
from jobtui.storecodec import host_dict, host_from, job_dict, job_from
from jobtui.storelock import BatchBusy, StoreError

__all__ = ["BatchBusy", "Store", "StoreError", "state_dir"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    source TEXT NOT NULL,
    forks INTEGER NOT NULL,
    hosts TEXT NOT NULL,
    jobs TEXT NOT NULL,
    finished REAL,
    secret TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    batch TEXT NOT NULL REFERENCES batches(id),
    job TEXT NOT NULL,
    host TEXT NOT NULL,
    idx INTEGER NOT NULL,
    item TEXT NOT NULL,
    script TEXT NOT NULL,
    env TEXT NOT NULL,
    chdir TEXT,
    jid TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,
    rc INTEGER,
    started REAL,
    finished REAL,
    progress REAL,
    reason TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL,
    PRIMARY KEY (batch, job, host, idx)
);
CREATE TABLE IF NOT EXISTS attempts (
    batch TEXT NOT NULL,
    job TEXT NOT NULL,
    host TEXT NOT NULL,
    idx INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    jid TEXT NOT NULL,
    state TEXT NOT NULL,
    rc INTEGER,
    PRIMARY KEY (batch, jid)
);
"""


def state_dir(arg: str | None) -> Path:
    """`--state-dir`, else $XDG_STATE_HOME/jobtui, else ~/.local/state/jobtui."""
    if arg:
        return Path(arg).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "jobtui"


@dataclasses.dataclass(frozen=True)
class BatchSummary:
    """One batch as `jobtui batches` lists it."""

    batch: str
    created: float
    finished: float | None
    source: dict[str, str]
    jobs: tuple[str, ...]  # in the job file's order
    hosts: int
    runs: int
    counts: dict[str, int]  # runs by the last state seen, in `RunState` order
    follower: str | None  # who follows it now (pid, host, command, since), or None


@dataclasses.dataclass(frozen=True)
class JidRecord:
    """Where the store knows a jid from (`jobtui logs`)."""

    batch: str
    key: RunKey
    attempt: int
    state: RunState
    """The last state seen of that attempt."""
    sent: bool
    """Its launch was sent (else it was never launched)."""


def _db_error(path: Path, doing: str, e: sqlite3.Error) -> str:
    """What went wrong with the store, and what to do, for people."""
    text = str(e)
    if "full" in text:
        hint = "free some space there"
    elif "malformed" in text or "not a database" in text:
        hint = (
            f"the file is damaged: move it away (mv {path} {path}.broken) and start again;"
            " the jobs on the hosts are not affected (`jobtui status -i INVENTORY` lists them)"
        )
    elif "locked" in text or "readonly" in text:
        hint = "another process holds it, or it cannot be written: check the file and its disk"
    else:
        hint = "check the file and its disk"
    return f"cannot {doing} the state store {path}: {text}; {hint}"


def _found_row(v: RunView, now: float) -> tuple[object, ...]:
    return (v.state.value, v.rc, v.started, v.finished, v.progress, now, v.batch)


class Store:
    """One SQLite file; safe to use from one engine thread plus readers elsewhere."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # The store holds commands and job environments: only for its owner
            # (SQLite gives its -wal and -shm files the database file's mode).
            path.touch(mode=0o600, exist_ok=True)
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=10000")
            self.db.executescript(SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(batches)")}
            if "secret" not in columns:  # a store made before batches had a secret
                self.db.execute("ALTER TABLE batches ADD COLUMN secret TEXT")
        except sqlite3.Error as e:
            raise StoreError(_db_error(path, "open", e)) from e
        except OSError as e:
            raise StoreError(f"cannot open the state store {path}: {e}") from e
        self._lock = threading.Lock()
        self._follow_fd: int | None = None

    @contextlib.contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """SQLite's failures (a full disk, a damaged file) as a StoreError that says
        what to do."""
        try:
            yield
        except sqlite3.Error as e:
            raise StoreError(_db_error(self.path, doing, e)) from e

    @staticmethod
    def path_in(state_dir: Path) -> Path:
        """Where the store of a state directory is."""
        return state_dir / "jobtui.db"

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        return cls(cls.path_in(state_dir))

    def close(self) -> None:
        if self._follow_fd is not None:
            os.close(self._follow_fd)  # the lock goes with it
            self._follow_fd = None
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------

    def create_batch(self, batch: str, runs: list[Run], source: dict[str, str], forks: int) -> None:
        """Record a batch and all its runs (pending, each with its first jid)."""
        hosts = {r.spec.host.name: host_dict(r.spec.host) for r in runs}  # no password
        jobs = {r.spec.job.name: job_dict(r.spec.job) for r in runs}
        now = time.time()
        secret = secrets.token_hex(32)
        with self._guard("write"), self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT INTO batches (id, created, source, forks, hosts, jobs, secret)"
                " VALUES (?,?,?,?,?,?,?)",
                (
                    batch,
                    now,
                    json.dumps(source),
                    forks,
                    json.dumps(hosts),
                    json.dumps(jobs),
                    secret,
                ),
            )
            self.db.executemany(
                "INSERT INTO runs (batch, job, host, idx, item, script, env, chdir, jid, attempt,"
                " state, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        batch,
                        r.spec.job.name,
                        r.spec.host.name,
                        r.spec.index,
                        json.dumps(r.spec.item),
                        r.spec.script,
                        json.dumps(r.spec.env),
                        r.spec.chdir,
                        r.jid,
                        r.view.attempt,
                        r.state.value,
                        now,
                    )
                    for r in runs
                ],
            )

    def before_launch(self, batch: str, runs: Iterable[Run]) -> None:
        """Called before a launch is sent: the jid (maybe a retry's new one) is durable
        first, so a crash between the two can only lead to a relaunch of the same jid."""
        now = time.time()
        with self._guard("write"), self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "UPDATE runs SET jid=?, attempt=?, sent=1, updated=? "
                "WHERE batch=? AND job=? AND host=? AND idx=?",
                [(r.jid, r.view.attempt, now, batch, *r.spec.key) for r in runs],
            )
            self.db.executemany(
                "INSERT OR IGNORE INTO attempts (batch, job, host, idx, attempt, jid, state) "
                "VALUES (?,?,?,?,?,?,?)",
                [(batch, *r.spec.key, r.view.attempt, r.jid, RunState.PENDING.value) for r in runs],
            )

    def record(self, batch: str, v: RunView) -> None:
        now = time.time()
        with self._guard("write"), self._lock, self.db:
            self.db.execute(
                "UPDATE runs SET jid=?, attempt=?, state=?, rc=?, started=?, finished=?, "
                "progress=?, reason=?, updated=? WHERE batch=? AND job=? AND host=? AND idx=?",
                (
                    v.jid,
                    v.attempt,
                    v.state.value,
                    v.rc,
                    v.started,
                    v.finished,
                    v.progress,
                    v.reason,
                    now,
                    batch,
                    *v.key,
                ),
            )
            self.db.execute(
                "UPDATE attempts SET state=?, rc=? WHERE batch=? AND jid=?",
                (v.state.value, v.rc, batch, v.jid),
            )

    def record_found(self, views: Iterable[RunView]) -> None:
        """Remember what was found on the hosts of runs this store knows (their batch,
        key and jid): `cleanup` calls it before it removes their job directories, so a
        console that attaches later knows how they ended instead of finding nothing."""
        now = time.time()
        found = list(views)
        with self._guard("write"), self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "UPDATE runs SET state=?, rc=?, started=?, finished=?, progress=?, updated=?"
                " WHERE batch=? AND job=? AND host=? AND idx=? AND jid=?",
                [(*_found_row(v, now), *v.key, v.jid) for v in found],
            )
            self.db.executemany(
                "UPDATE attempts SET state=?, rc=? WHERE batch=? AND jid=?",
                [(v.state.value, v.rc, v.batch, v.jid) for v in found],
            )

    def finish_batch(self, batch: str) -> None:
        with self._guard("write"), self._lock, self.db:
            self.db.execute("UPDATE batches SET finished=? WHERE id=?", (time.time(), batch))

    def listener(self, batch: str) -> _Listener:
        """An event consumer that keeps this batch's rows up to date."""
        return _Listener(self, batch)

    # -- reading ------------------------------------------------------------------

    def latest_batch(self) -> str | None:
        with self._guard("read"):
            row = self.db.execute("SELECT id FROM batches ORDER BY created DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def batch_secret(self, batch: str) -> bytes:
        """The batch's secret, under which its retries' jids are derived (made now, once,
        for a batch of a store older than secrets)."""
        with self._guard("read"), self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "UPDATE batches SET secret=? WHERE id=? AND secret IS NULL",
                (secrets.token_hex(32), batch),
            )
            row = self.db.execute("SELECT secret FROM batches WHERE id=?", (batch,)).fetchone()
        if row is None:
            raise StoreError(f"no batch {batch!r} in {self.path}")
        return bytes.fromhex(str(row[0]))

    def follow(self, batch: str, command: str) -> None:
        """Become the one console that follows (and may act on) the batch, for as long as
        this store is open (`storelock.follow`).

        Raises:
            BatchBusy: another console follows it; the message says which.
        """
        self._follow_fd = storelock.follow(self.path.parent / "locks", batch, command)

    def follower(self, batch: str) -> str | None:
        """Who follows the batch now, or None (`storelock.follower`)."""
        return storelock.follower(self.path.parent / "locks", batch)

    def batch_ids(self) -> list[str]:
        """Every batch's id, newest first."""
        with self._guard("read"):
            rows = self.db.execute("SELECT id FROM batches ORDER BY created DESC").fetchall()
        return [str(r[0]) for r in rows]

    def summaries(self) -> list[BatchSummary]:
        """Every batch, newest first, with its runs counted by state and its follower."""
        order = {s.value: i for i, s in enumerate(RunState)}
        with self._guard("read"):
            batches = self.db.execute(
                "SELECT id, created, finished, source FROM batches ORDER BY created DESC"
            ).fetchall()
            runs = self.db.execute("SELECT batch, job, host, state FROM runs ORDER BY rowid")
            jobs: dict[str, dict[str, None]] = {}  # a dict keeps the job file's order
            hosts: dict[str, set[str]] = {}
            counts: dict[str, dict[str, int]] = {}
            for batch, job, host, state in runs:
                jobs.setdefault(batch, {})[job] = None
                hosts.setdefault(batch, set()).add(host)
                n = counts.setdefault(batch, {})
                n[state] = n.get(state, 0) + 1
        return [
            BatchSummary(
                batch=b,
                created=created,
                finished=finished,
                source=json.loads(source),
                jobs=tuple(jobs.get(b, ())),
                hosts=len(hosts.get(b, ())),
                runs=sum(counts.get(b, {}).values()),
                counts=dict(sorted(counts.get(b, {}).items(), key=lambda c: order.get(c[0], 99))),
                follower=self.follower(b),
            )
            for b, created, finished, source in batches
        ]

    def batch_info(self, batch: str) -> dict[str, Any]:
        with self._guard("read"):
            row = self.db.execute(
                "SELECT source, forks, hosts, jobs, created, finished FROM batches WHERE id=?",
                (batch,),
            ).fetchone()
        if row is None:
            raise StoreError(f"no batch {batch!r} in {self.path}")
        return {
            "source": json.loads(row[0]),
            "forks": row[1],
            "hosts": json.loads(row[2]),
            "jobs": json.loads(row[3]),
            "created": row[4],
            "finished": row[5],
        }

    def become_users(self) -> dict[str, set[str]]:
        """Host -> the become users its runs ran as, in every batch of this store: where
        `status`, `watch`, `cancel` and `cleanup` look besides the inventory's."""
        found: dict[str, set[str]] = {}
        with self._guard("read"):
            # Only the batches where something became someone (most have nothing).
            batches = self.db.execute(
                "SELECT id, hosts, jobs FROM batches WHERE instr(jobs, '\"become\": true')"
                " OR instr(hosts, '\"become\": true')"
            ).fetchall()
            for batch, hosts_json, jobs_json in batches:
                hosts, jobs = json.loads(hosts_json), json.loads(jobs_json)
                pairs = self.db.execute(
                    "SELECT DISTINCT job, host FROM runs WHERE batch=?", (batch,)
                ).fetchall()
                for job, host in pairs:
                    b = become_of(job_from(jobs[job]), host_from(hosts[host]))
                    if b is not None:
                        found.setdefault(host, set()).add(b.user)
        return found

    def find_jid(self, jid: str) -> JidRecord | None:
        """The run of any batch that has (or had, as an earlier attempt) this jid."""
        with self._guard("read"):
            row = self.db.execute(
                "SELECT batch, job, host, idx, attempt, state, 1 FROM attempts WHERE jid=?"
                " UNION ALL SELECT batch, job, host, idx, attempt, state, sent FROM runs"
                " WHERE jid=? LIMIT 1",
                (jid, jid),
            ).fetchone()
        if row is None:
            return None
        batch, job, host, idx, attempt, state, sent = row
        return JidRecord(batch, RunKey(job, host, idx), attempt, RunState(state), bool(sent))

    def load_runs(self, batch: str) -> list[Run]:
        """The batch's runs as the engine needs them to carry on where it stopped."""
        info = self.batch_info(batch)
        hosts = {n: host_from(d) for n, d in info["hosts"].items()}
        jobs = {n: job_from(d) for n, d in info["jobs"].items()}
        with self._guard("read"):
            rows = self.db.execute(
                # `sent`: this attempt's own launch went out (its jid has an attempt row;
                # the column says so of any attempt).
                "SELECT job, host, idx, item, script, env, chdir, jid, attempt, state,"
                " EXISTS (SELECT 1 FROM attempts a WHERE a.batch=runs.batch AND a.jid=runs.jid),"
                " rc, started, finished, progress, reason FROM runs WHERE batch=?"
                " ORDER BY rowid",
                (batch,),
            ).fetchall()
        runs = []
        for job, host, idx, item, script, env, chdir, jid, attempt, state, sent, *rest in rows:
            spec = RunSpec(
                job=jobs[job],
                host=hosts[host],
                item=json.loads(item),
                index=idx,
                script=script,
                env=json.loads(env),
                chdir=chdir,
                become=become_of(jobs[job], hosts[host]),
            )
            rc, started, finished, progress, reason = rest
            runs.append(
                Run.resume(
                    spec,
                    jid,
                    RunState(state),
                    attempt,
                    rc=rc,
                    started=started,
                    finished=finished,
                    progress=progress,
                    reason=reason,
                    sent=bool(sent),
                )
            )
        return runs


class _Listener:
    def __init__(self, store: Store, batch: str) -> None:
        self.store = store
        self.batch = batch

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, RunChanged):
            self.store.record(self.batch, ev.run)
        elif isinstance(ev, BatchFinished) and not ev.interrupted:
            self.store.finish_batch(self.batch)
