"""`jobtui status`, `cancel` and `cleanup`: one-shot commands over an inventory's hosts.

They work from what the hosts' job directories hold, whatever console launched the
jobs. `status` only reads. Every transport they open is closed when they return.
Names from config or a host are printed inert (`text.one_line`).

`--batch` takes a unique prefix of a batch id, resolved against the batches found on
the hosts and those of the local store (`batches_cmd.resolve_batch`). `status` is
narrowed as the others are, and the narrowings add up: `--batch`, `--job`, `--state`
(several, or a comma list: `--state failed,timed_out`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from jobtui import become_cmd, confirm
from jobtui.batches_cmd import UnknownBatch, resolve_batch, status_command
from jobtui.config import Inventory, select_hosts
from jobtui.config.errors import did_you_mean
from jobtui.events import RunView
from jobtui.fleet import Discovery, act, discover, keyring_for, transports_for
from jobtui.model import Host, RunState
from jobtui.remote.parse import clock_is_off, skew_text
from jobtui.store import Store, state_dir
from jobtui.text import duration, iso, json_line, limit, one_line, sanitize
from jobtui.transport import Transport


def select(inventory: Inventory, limit: str | None) -> list[Host]:
    if limit:
        return select_hosts(inventory, limit, context=" in --limit")
    return list(inventory.hosts.values())


def states(text: str) -> list[RunState]:
    """`--state`'s value: a state name, or several separated by commas.

    Raises:
        argparse.ArgumentTypeError: an unknown name (with a did-you-mean).
    """
    names = [s.value for s in RunState]
    out = []
    for word in text.split(","):
        name = word.strip()
        if name not in names:
            hint = did_you_mean(name, names) or f"one of {', '.join(names)}"
            raise argparse.ArgumentTypeError(f"unknown state {one_line(name)!r}; {hint}")
        out.append(RunState(name))
    return out


def add_narrowing(p: argparse.ArgumentParser) -> None:
    """`status`'s narrowings (they add up)."""
    p.add_argument("--batch", metavar="BATCH", help="only this batch (or a prefix of its id)")
    p.add_argument("--job", metavar="NAME", help="only this job's runs")
    p.add_argument(
        "--state",
        type=states,
        action="extend",
        metavar="STATE",
        help="only runs in this state; several allowed (--state failed,timed_out)",
    )


def status_fields(v: RunView) -> dict[str, object]:
    """The summary's fields plus what `status` adds."""
    return {
        **v.summary(),
        "batch": v.batch,
        "elapsed": None if (elapsed := v.elapsed(time.time())) is None else round(elapsed),
        "timeout": v.timeout,
        "tail": v.last_line,
        "ansible": v.ansible,
        "command": v.command,
    }


@contextmanager
def _transports(hosts: list[Host], args: argparse.Namespace) -> Iterator[list[Transport]]:
    """The hosts' transports, every one closed on the way out (an error included)."""
    with ExitStack() as stack:
        keyring = keyring_for(hosts)
        become = become_cmd.for_hosts(hosts, args, become_cmd.recorded(args))
        ts = transports_for(hosts, args.accept_new_host_keys, keyring=keyring, become=become)
        yield [stack.enter_context(t) for t in ts]


def clock_skews(runs: list[RunView], local_now: float) -> dict[str, float]:
    """Host -> how far its clock is off from ours, for hosts beyond `SKEW_LIMIT`.

    Each run carries its host's clock at the round trip (`now`); `local_now` is ours
    just after the round trips, so the estimate is within their duration.
    """
    skews: dict[str, float] = {}
    for v in runs:
        if v.now is not None and clock_is_off(v.now - local_now):
            skews.setdefault(v.host, v.now - local_now)
    return skews


def status(hosts: list[Host], args: argparse.Namespace) -> int:
    """Print every job found on the hosts. Exit 1 if a host could not be read.

    A host whose clock is off is named (its times, elapsed ones included, are in its
    own clock: they are right, its dates are not ours).
    """
    with _transports(hosts, args) as transports:
        found = discover(transports, args.forks)
    batch, job = _batch(found, args), getattr(args, "job", None)
    wanted = set(getattr(args, "state", None) or ())
    runs = [
        v
        for v in found.runs
        if (batch is None or v.batch == batch)
        and (not job or v.job == job)
        and (not wanted or v.state in wanted)
    ]
    skews = clock_skews(runs, time.time())
    if args.json:
        print(
            json_line(
                {
                    "runs": [status_fields(v) for v in runs],
                    "unreachable": found.unreachable,
                    "clock_skew": {h: round(s) for h, s in skews.items()},
                }
            )
        )
    else:
        narrowed = bool(batch or job or wanted)
        print(render_status(runs) if runs or not narrowed else "no matching run on these hosts")
        for v in runs:
            if v.reason:
                # Not a column: most runs have none, and a reason is long.
                print(
                    f"{one_line(v.label)} {v.jid}: {v.state.value}: {one_line(v.reason)}",
                    file=sys.stderr,
                )
        for host, skew in skews.items():
            print(
                f"{one_line(host)}: {skew_text(skew)}: its times are in its own clock",
                file=sys.stderr,
            )
        for host, reason in found.unreachable.items():
            print(f"{one_line(host)}: unreachable: {one_line(reason)}", file=sys.stderr)
    return 1 if found.unreachable else 0


def render_status(runs: list[RunView]) -> str:
    if not runs:
        return "no job found on these hosts"
    header = (
        "HOST",
        "JOB",
        "ITEM",
        "STATE",
        "RC",
        "PROGRESS",
        "ELAPSED",
        "BATCH",
        "JID",
        "LAST LINE",
    )
    rows = [header]
    for v in runs:
        progress = "-" if v.progress is None else f"{v.progress:.0f}%"
        if v.message:
            progress += f" {one_line(v.message)}"
        last = (v.stderr_tail or v.tail).rstrip("\n").rsplit("\n", 1)[-1]
        # Who a become run runs as (`web01 as root`); one of Ansible's own async jobs
        # by what it runs (`ansible: pg_dump ...`), its module when that is unknown.
        host = f"{v.host} as {v.user}" if v.user else v.host
        what = v.command or ("" if v.job == "ansible" else v.job)  # "ansible": unknown
        job = (f"ansible: {what}" if what else "ansible") if v.ansible else v.job
        rows.append(
            (
                one_line(host),
                one_line(job[:40] + "…" if len(job) > 41 else job),
                one_line(v.item[:30]),
                v.state.value,
                "-" if v.rc is None else str(v.rc),
                progress[:30],
                _duration(v.elapsed(time.time()))
                + ("" if v.ansible and not v.timeout else f"/{limit(v.timeout)}"),
                one_line(v.batch),
                one_line(v.jid or "-"),
                one_line(sanitize(last[-60:])),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def act_on(
    command: str, hosts: list[Host], args: argparse.Namespace, jids: list[str] | None
) -> int:
    """Cancel or clean up the selected runs. Exit 1 if any could not be done, or the
    operator said no (`confirm`: what asks, and `--dry-run`)."""
    confirm.check_can_ask(args)
    with _transports(hosts, args) as transports:
        return _act_on(command, transports, args, jids)


def _act_on(
    command: str, transports: list[Transport], args: argparse.Namespace, jids: list[str] | None
) -> int:
    found = discover(transports, args.forks)
    batch = _batch(found, args)
    chosen = [v for v in found.runs if _selected(v, batch, args, jids)]
    problems = 0
    for host, reason in found.unreachable.items():
        print(f"{one_line(host)}: unreachable, not touched: {one_line(reason)}", file=sys.stderr)
        problems += 1
    if jids:
        missing = set(jids) - {v.jid for v in chosen}
        for jid in sorted(missing):
            print(f"{one_line(jid)}: not found on these hosts", file=sys.stderr)
            problems += 1
    if not chosen:
        print("no matching run", file=sys.stderr)
        return 1
    running = [v for v in chosen if v.state is RunState.RUNNING]
    if command == "cleanup" and running and not args.force:
        for v in running:
            print(f"{_label(v)}: running, refused (cancel it first, or --force)", file=sys.stderr)
        problems += len(running)
        chosen = [v for v in chosen if v.state is not RunState.RUNNING]
    if getattr(args, "dry_run", False):
        if command == "cancel" or args.force:
            confirm.would(
                "cancelled", [_label(v) for v in (chosen if command == "cancel" else running)]
            )
        if command == "cleanup":
            confirm.would("removed", [_label(v) for v in chosen])
        return 1 if problems else 0
    if confirm.asks(args) and chosen and not confirm.confirm(chosen):
        print("nothing removed", file=sys.stderr)
        return 1
    if command == "cancel" or args.force:
        targets = running if command == "cleanup" else chosen
        outcomes = act(transports, _by_host(targets), "cancel", args.forks)
        for v in targets:
            outcome = outcomes.get(v.jid or "", "error: no answer")
            print(f"{_label(v)}: {'cancelled' if outcome == 'ok' else one_line(outcome)}")
            problems += outcome.startswith("error")
    if command == "cleanup":
        _remember(chosen, args)
        outcomes = act(transports, _by_host(chosen), "cleanup", args.forks)
        for v in chosen:
            outcome = outcomes.get(v.jid or "", "error: no answer")
            print(f"{_label(v)}: {'removed' if outcome == 'ok' else one_line(outcome)}")
            problems += outcome not in ("ok", "missing")
    return 1 if problems else 0


def _remember(views: list[RunView], args: argparse.Namespace) -> None:
    """A cleanup removes all a host knows of these runs: the local store, if there is
    one, keeps how they ended (a console attaching later must not take a run it never
    saw end for lost, let alone launch it again)."""
    path = Store.path_in(state_dir(args.state_dir))
    if path.exists():
        with Store(path) as store:
            store.record_found(v for v in views if v.state.finished and v.batch)


def _batch(found: Discovery, args: argparse.Namespace) -> str | None:
    """The batch `--batch` names, resolved among those found and those of the store.

    Raises:
        UnknownBatch: none matches and every host was read (exit 2, nothing done).
        AmbiguousBatch: several match.
    """
    prefix = getattr(args, "batch", None)
    if not prefix:
        return None
    ids = [v.batch for v in found.runs if v.batch]
    path = Store.path_in(state_dir(args.state_dir))
    if path.exists():
        with Store(path) as store:
            ids += store.batch_ids()
    try:
        return resolve_batch(
            prefix,
            ids,
            "on these hosts or in the local store",
            "`jobtui batches` lists this machine's batches,"
            f" `{one_line(status_command(args.inventory or []))}` every run on the hosts",
        )
    except UnknownBatch:
        if found.unreachable:  # it may be on a host that could not be read
            return str(prefix)
        raise


def _selected(
    v: RunView, batch: str | None, args: argparse.Namespace, jids: list[str] | None
) -> bool:
    if jids:
        return v.jid in jids
    if batch:
        return v.batch == batch
    if getattr(args, "job", None):
        return v.job == str(args.job)
    return bool(getattr(args, "finished", False)) and v.state.finished


def _by_host(runs: list[RunView]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in runs:
        if v.jid:
            out.setdefault(v.host, []).append(v.jid)
    return out


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else duration(seconds)


def _label(v: RunView) -> str:
    return f"{one_line(v.label)} {one_line(v.jid or '-')} ({iso(v.started) or 'not started'})"
