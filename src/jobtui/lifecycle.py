"""`jobtui status`, `cancel` and `cleanup`: one-shot commands over an inventory's hosts.

They work from what the hosts' job directories hold, whatever console launched the
jobs. `status` only reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from jobtui.config import Inventory, select_hosts
from jobtui.events import RunView
from jobtui.fleet import act, discover, transports_for
from jobtui.model import Host, RunState
from jobtui.text import duration, iso, limit, sanitize


def select(inventory: Inventory, limit: str | None) -> list[Host]:
    if limit:
        return select_hosts(inventory, limit, context=" in --limit")
    return list(inventory.hosts.values())


def status_fields(v: RunView) -> dict[str, object]:
    """The summary's fields plus what `status` adds."""
    last = (v.stderr_tail or v.tail).rstrip("\n").rsplit("\n", 1)[-1]
    return {
        **v.summary(),
        "batch": v.batch,
        "elapsed": None if (elapsed := v.elapsed(v.now or time.time())) is None else round(elapsed),
        "timeout": v.timeout,
        "tail": last[-200:],
    }


def status(hosts: list[Host], args: argparse.Namespace) -> int:
    """Print every job found on the hosts. Exit 1 if a host could not be read."""
    found = discover(transports_for(hosts, args.accept_new_host_keys), args.forks)
    if args.json:
        print(
            json.dumps(
                {
                    "runs": [status_fields(v) for v in found.runs],
                    "unreachable": found.unreachable,
                },
                ensure_ascii=False,
            )
        )
    else:
        print(render_status(found.runs))
        for host, reason in found.unreachable.items():
            print(f"{host}: unreachable: {reason}", file=sys.stderr)
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
            progress += f" {v.message}"
        last = (v.stderr_tail or v.tail).rstrip("\n").rsplit("\n", 1)[-1]
        rows.append(
            (
                v.host,
                v.job,
                v.item[:30],
                v.state.value,
                "-" if v.rc is None else str(v.rc),
                progress[:30],
                f"{_duration(v.elapsed(v.now or time.time()))}/{limit(v.timeout)}",
                v.batch,
                v.jid or "-",
                sanitize(last[-60:]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def act_on(
    command: str, hosts: list[Host], args: argparse.Namespace, jids: list[str] | None
) -> int:
    """Cancel or clean up the selected runs. Exit 1 if any could not be done."""
    transports = transports_for(hosts, args.accept_new_host_keys)
    found = discover(transports, args.forks)
    chosen = [v for v in found.runs if _selected(v, args, jids)]
    problems = 0
    for host, reason in found.unreachable.items():
        print(f"{host}: unreachable, not touched: {reason}", file=sys.stderr)
        problems += 1
    if jids:
        missing = set(jids) - {v.jid for v in chosen}
        for jid in sorted(missing):
            print(f"{jid}: not found on these hosts", file=sys.stderr)
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
    if command == "cancel" or args.force:
        targets = running if command == "cleanup" else chosen
        outcomes = act(transports, _by_host(targets), "cancel", args.forks)
        for v in targets:
            outcome = outcomes.get(v.jid or "", "error: no answer")
            print(f"{_label(v)}: {'cancelled' if outcome == 'ok' else outcome}")
            problems += outcome.startswith("error")
    if command == "cleanup":
        outcomes = act(transports, _by_host(chosen), "cleanup", args.forks)
        for v in chosen:
            outcome = outcomes.get(v.jid or "", "error: no answer")
            print(f"{_label(v)}: {'removed' if outcome == 'ok' else outcome}")
            problems += outcome not in ("ok", "missing")
    return 1 if problems else 0


def _selected(v: RunView, args: argparse.Namespace, jids: list[str] | None) -> bool:
    if jids:
        return v.jid in jids
    if getattr(args, "batch", None):
        return v.batch == str(args.batch)
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
    return f"{v.label} {v.jid} ({iso(v.started) or 'not started'})"
