"""A fixed, deterministic batch, and a console on it, for screenshots, snapshots
and benchmarks (the tests' own helpers are in tests/uitools.py).

Every time is relative to `SAMPLE_NOW`; pass `clock=lambda: SAMPLE_NOW` to the app
so elapsed times do not move. One run's output holds an escape sequence and Rich
markup, to show they stay inert.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from jobtui.events import BatchStarted, Event, HostChanged, RunChanged, RunView
from jobtui.fleet import view_of
from jobtui.model import LOST_REASON, Host, RemoteStatus, RunKey, RunState
from jobtui.plan import display_group

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from jobtui.ui.app import ConsoleApp
    from jobtui.ui.source import ActionSink

SAMPLE_NOW = 1_795_900_000.0
SAMPLE_BATCH = "20261128-224512-3f9a1c"

_DUMP = "pg_dump {item} > /backup/{item}.sql"


def _run(
    job: str,
    host: str,
    index: int,
    item: str,
    state: RunState,
    *,
    ago: float | None = None,
    took: float | None = None,
    **fields: object,
) -> RunView:
    started = None if ago is None else SAMPLE_NOW - ago
    finished = None if started is None or took is None else started + took
    timeout = int(str(fields.pop("timeout", 3600)))
    return RunView(
        key=RunKey(job, host, index),
        job=job,
        host=host,
        item=item,
        jid=f"J{zlib.crc32(f'{job}/{host}/{index}'.encode()):010d}xYzQ"
        if ago is not None
        else None,
        state=state,
        started=started,
        finished=finished,
        timeout=timeout,
        command=_DUMP.format(item=item) if job == "backup" else f"{job}.sh",
        **fields,  # type: ignore[arg-type]
    )


def sample_runs() -> list[RunView]:
    """Fifteen runs on five hosts, one in each state and a few running."""
    s = RunState
    items = ["users_db", "orders_db", "analytics_db"]
    runs: list[RunView] = []
    progress = {"db01": (100, 100, 64), "db02": (100, 42, None), "db03": (None, None, None)}
    for host, values in progress.items():
        for i, (item, pct) in enumerate(zip(items, values, strict=True)):
            if host == "db03":
                runs.append(
                    _run(
                        "backup", host, i, item, s.UNREACHABLE, ago=300, attempt=1,
                        reason="connection refused (port 22)", progress=12.0,
                    )
                )  # fmt: skip
            elif pct == 100:
                runs.append(
                    _run(
                        "backup", host, i, item, s.SUCCEEDED, ago=900, took=402, rc=0,
                        progress=100.0, message=f"dumped {item}", attempt=1,
                        tail=f"dumped chunk 10 of {item}\nbackup of {item} complete\n",
                    )
                )  # fmt: skip
            elif pct is None:
                runs.append(_run("backup", host, i, item, s.PENDING, attempt=1))
            else:
                runs.append(
                    _run(
                        "backup", host, i, item, s.RUNNING, ago=312, attempt=1,
                        progress=float(pct), message=f"dumping {item} on {host}",
                        tail="".join(f"dumped chunk {n} of {item}\n" for n in range(1, 7)),
                    )
                )  # fmt: skip
    runs += [
        _run(
            "rotate-logs", "web01", 0, "", s.SUCCEEDED, ago=600, took=2, rc=0, attempt=1,
            progress=100.0, tail="rotated 12 files\n", timeout=30, user="root",
        ),
        _run(
            "rotate-logs", "web02", 0, "", s.FAILED, ago=600, took=2, rc=3, attempt=2,
            tail="rotating logs on web02\n\x1b[31m[bold]not markup[/bold]\x1b[0m\n",
            stderr_tail="gzip: /var/log/app.log: No space left on device\n", timeout=30,
            user="root",
        ),
        _run(
            "warm-cache", "web01", 0, "", s.TIMED_OUT, ago=700, took=366, rc=143, attempt=1,
            progress=71.0, message="warmed 1204 pages", timeout=360,
        ),
        _run(
            "reindex", "web02", 0, "search", s.RUNNING, ago=3440, attempt=1, progress=None,
            message="", tail="reindexing search: 1.2M docs\n", timeout=3600,
        ),
        _run("reindex", "web01", 0, "search", s.CANCELLED, ago=800, took=75, rc=143, attempt=1),
        _run("reindex", "db01", 0, "search", s.LOST, ago=5000, attempt=1, timeout=7200,
             reason=LOST_REASON),
    ]  # fmt: skip
    return runs


def sample_failures() -> list[RunView]:
    """A `sync` job on six more hosts for the problems view: five fail with the same
    error, each naming another address (one problem once masked), one with another."""
    runs = [
        _run(
            "sync", f"app{n:02d}", 0, "", RunState.FAILED, ago=400, took=31 + n, rc=12,
            attempt=1, timeout=600, tail="syncing /srv/data\n",
            stderr_tail=f"rsync: connection to 10.0.3.{n * 7} timed out after {30 + n}s\n",
        )
        for n in range(1, 6)
    ]  # fmt: skip
    runs.append(
        _run(
            "sync", "app06", 0, "", RunState.FAILED, ago=400, took=12, rc=11, attempt=1,
            timeout=600, stderr_tail="rsync: write failed on /srv/data/x.db: No space left\n",
        )
    )  # fmt: skip
    return runs


def sample_problem_events() -> list[Event]:
    """The sample batch with `sample_failures` in it (the problems view's screenshot)."""
    events: list[Event] = [BatchStarted(SAMPLE_BATCH, sample_runs() + sample_failures())]
    events += sample_events()[1:]
    events += [HostChanged(f"app{n:02d}", True) for n in range(1, 7)]
    return events


FLEET_ROLES = (("dbservers", "db", 0.2), ("webservers", "web", 0.4), ("appservers", "app", 0.25))
"""The sample fleet's role groups (the rest of the hosts are `cache`): name, host
name prefix, share of the hosts."""
FLEET_PATTERN = "dbservers:webservers:appservers:cache"
"""The host pattern of the sample fleet's job: each host sits under its role."""
FLEET_ITEMS = ("app", "config")


def fleet_hosts(hosts: int) -> list[Host]:
    """`hosts` hosts in four role groups (`FLEET_ROLES`, then `cache`) and, every
    other one, in `eu-west` or `us-east` too (a host in several groups)."""
    out: list[Host] = []
    left = hosts
    for group, prefix, share in (*FLEET_ROLES, ("cache", "cache", 1.0)):
        n = left if group == "cache" else round(hosts * share)
        n = min(n, left)
        left -= n
        for i in range(1, n + 1):
            region = "eu-west" if i % 2 else "us-east"
            out.append(
                Host(f"{prefix}{i:03d}", f"{prefix}{i:03d}", groups=tuple(sorted((group, region))))
            )
    return out


def fleet_trouble(hosts: int) -> dict[int, RunState]:
    """Which hosts of a sample fleet (by position) are in trouble, and how: one
    failed run on the third and the seventh tenth of them, one host unreachable in
    the middle, a timeout, a lost run and a cancelled one."""
    s = RunState
    spots = {
        hosts * 3 // 10: s.FAILED,
        hosts * 7 // 10: s.FAILED,
        hosts // 2: s.UNREACHABLE,
        hosts // 5: s.TIMED_OUT,
        hosts * 9 // 10: s.LOST,
        hosts // 10: s.CANCELLED,
    }
    return spots if hosts >= 10 else {}


def fleet_runs(hosts: int) -> list[RunView]:
    """A job `deploy` with two loop items on `hosts` hosts (`fleet_hosts`): most
    succeeded, some running or pending, the trouble of `fleet_trouble` on its second
    item; each run's group as the plan gives it (`FLEET_PATTERN`)."""
    s = RunState
    trouble = fleet_trouble(hosts)
    runs: list[RunView] = []
    for n, host in enumerate(fleet_hosts(hosts)):
        group = display_group(FLEET_PATTERN, host.groups)
        for index, item in enumerate(FLEET_ITEMS):
            spin = zlib.crc32(f"{host.name}/{item}".encode()) % 100
            state = s.SUCCEEDED if spin < 80 else s.RUNNING if spin < 95 else s.PENDING
            if index == 1 and n in trouble:
                state = trouble[n]
            if index == 0 and trouble.get(n) is s.UNREACHABLE:
                state = s.UNREACHABLE
            ago = None if state in (s.PENDING, s.SKIPPED) else 600.0 + spin
            took = 120.0 + spin if state.finished and ago is not None else None
            rc = {s.SUCCEEDED: 0, s.FAILED: 2, s.TIMED_OUT: 143, s.CANCELLED: 143}.get(state)
            runs.append(
                _run(
                    "deploy", host.name, index, item, state, ago=ago, took=took, rc=rc,
                    attempt=1, group=group, timeout=1800,
                    progress=100.0 if state is s.SUCCEEDED else float(spin) if ago else None,
                    reason="connection refused (port 22)" if state is s.UNREACHABLE else "",
                )
            )  # fmt: skip
    return runs


def fleet_events(hosts: int) -> list[Event]:
    """BatchStarted with a sample fleet's runs (`fleet_runs`), and the hosts'
    reachability (one unreachable: `fleet_trouble`)."""
    runs = fleet_runs(hosts)
    events: list[Event] = [BatchStarted(SAMPLE_BATCH, runs)]
    down = {v.host for v in runs if v.state is RunState.UNREACHABLE}
    for host in dict.fromkeys(v.host for v in runs):
        if host in down:
            events.append(HostChanged(host, False, "connection refused (port 22)"))
        else:
            events.append(HostChanged(host, True))
    return events


def sample_events(hosts: int | None = None) -> list[Event]:
    """BatchStarted with the sample runs, and the hosts' reachability (`hosts`: a
    sample fleet of that many hosts instead, `fleet_events`)."""
    if hosts is not None:
        return fleet_events(hosts)
    events: list[Event] = [BatchStarted(SAMPLE_BATCH, sample_runs())]
    for host in ("db01", "db02", "web01", "web02"):
        events.append(HostChanged(host, True))
    events.append(HostChanged("db03", False, "connection refused (port 22)"))
    return events


def sample_ansible_jobs() -> dict[str, list[RemoteStatus]]:
    """Ansible's own async jobs in the sample hosts' `ansible_async_dir`, as the status
    round trip reads them (a playbook's `async:` + `poll: 0` tasks): a dump that runs,
    one that Ansible timed out, an upgrade that succeeded and a restart that failed."""
    s = RunState

    def job(jid: str, state: RunState, module: str, command: str, **fields: object) -> RemoteStatus:
        ago, took = float(str(fields.pop("ago"))), fields.pop("took", None)
        meta = {"job": module, "command": command, "timeout": fields.pop("timeout", 3600)}
        return RemoteStatus(
            jid=jid, state=state, started=SAMPLE_NOW - ago,
            finished=None if took is None else SAMPLE_NOW - ago + float(str(took)),
            meta=meta, full=True, ansible=True, **fields,  # type: ignore[arg-type]
        )  # fmt: skip

    return {
        "db01": [
            job("j480213977351.31337", s.RUNNING, "shell",
                "/bin/sh -c 'pg_dumpall -U postgres > /backup/all.sql'", ago=1460, pid=31340),
        ],
        "db02": [
            job("j771902334510.2207", s.TIMED_OUT, "command", "vacuumdb --all --analyze",
                ago=2000, took=1800, timeout=1800, stderr_tail="Timeout exceeded\n"),
        ],
        "web01": [
            job("j129944021887.4242", s.SUCCEEDED, "command", "apt-get -y upgrade", ago=1300,
                took=94, rc=0, tail="0 upgraded, 0 newly installed, 0 to remove\n", user="root"),
        ],
        "web02": [
            job("j605118834420.5150", s.FAILED, "command", "systemctl restart app", ago=640,
                took=1, rc=4, stderr_tail="Job for app.service failed.\n", user="root"),
        ],
    }  # fmt: skip


def sample_ansible_events() -> list[Event]:
    """The sample batch's events, then the sample Ansible jobs as the console's
    `AnsibleJobs` source tells them."""
    events = sample_events()
    for host, jobs in sample_ansible_jobs().items():
        for st in jobs:
            view = view_of(Host(host, host), st, SAMPLE_NOW)
            view = RunView(**{**vars(view), "key": RunKey.discovered(st.jid, host)})
            events.append(RunChanged(view, view.state))
    return events


class RecordingSink:
    """The sample console's action sink: it records the requests and never acts
    (the tests read them; screenshots and benchmarks only need it to act on nothing)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, list[RunKey]]] = []
        self.shown: list[list[RunKey]] = []

    def request(self, action: str, keys: Iterable[RunKey]) -> None:
        self.requests.append((action, list(keys)))

    def show_output(self, keys: Iterable[RunKey]) -> None:
        self.shown.append(list(keys))


def sample_app(
    events: list[Event] | None = None,
    *,
    read_only: bool = False,
    sink: ActionSink | None = None,
    ansible: ActionSink | None = None,
    clock: Callable[[], float] = lambda: SAMPLE_NOW,
) -> ConsoleApp:
    """A console on a replayed batch (the sample by default), with a frozen clock
    (`ansible`: the sink of actions on Ansible's jobs among the events)."""
    from jobtui.ui.app import ConsoleApp, OperatorApp
    from jobtui.ui.source import ReplaySource

    source = ReplaySource(sample_events() if events is None else events)
    options = {"batch": SAMPLE_BATCH, "clock": clock, "bell": False}
    if read_only:
        return ConsoleApp(source, title="jobtui watch", **options)  # type: ignore[arg-type]
    return OperatorApp(
        source,
        sink or RecordingSink(),
        ansible=ansible,
        title="jobtui",
        **options,
    )


async def settle(app: ConsoleApp, pilot: Pilot[int]) -> None:
    """Let the replayed events reach the widgets (no sleeping on a clock)."""
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.flush_events()
    await pilot.pause()
