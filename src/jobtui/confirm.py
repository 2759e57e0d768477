"""What `cancel` and `cleanup` ask before they act, and what `--dry-run` prints.

- `cleanup --finished` sweeps every finished run of every host: on a terminal (stdin
  and stderr both ttys) it lists what it found (runs per host, by state) and asks
  "Remove N finished runs' job directories on M hosts? [y/N]"; anything but `y`/`yes`
  removes nothing (exit 1). `--yes` answers for scripts; without a terminal and without
  `--yes` it is refused before any host is contacted (exit 2, with the hint).
- An explicit selection (`--jid`, `--batch`, `--job`) is what the operator chose: it is
  not asked again, as `kill PID` is not.
- `--dry-run` (`cancel` and `cleanup`, every selection) finds the runs, prints what would
  be done to each, and touches nothing: no signal, no file, no store write.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TextIO

from jobtui.events import RunView
from jobtui.text import one_line

SHOWN_HOSTS = 10
"""The question lists at most this many hosts (then how many more)."""


class NotConfirmed(Exception):
    """A sweep that needs an answer, and no terminal to ask on (exit 2)."""


def add_options(p: argparse.ArgumentParser, *, sweep: bool) -> None:
    """`--dry-run`, and `--yes` where a selection asks (`sweep`: cleanup's `--finished`)."""
    p.add_argument("--dry-run", action="store_true", help="print what would be done; touch nothing")
    if sweep:
        p.add_argument("-y", "--yes", action="store_true", help="--finished: remove without asking")


def asks(args: argparse.Namespace) -> bool:
    """This command asks before it acts: a `cleanup --finished` not answered already."""
    return bool(
        getattr(args, "finished", False)
        and not getattr(args, "yes", False)
        and not getattr(args, "dry_run", False)
    )


def check_can_ask(args: argparse.Namespace) -> None:
    """Refuse a sweep that would need an answer nobody can give (before any host is
    contacted).

    Raises:
        NotConfirmed: no terminal, no `--yes`.
    """
    if asks(args) and not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise NotConfirmed(
            "cleanup --finished removes every finished run's job directory and asks first,"
            " but stdin is not a terminal; add --yes to remove them without asking"
            " (or --dry-run to see which)"
        )


def summary(runs: Sequence[RunView]) -> str:
    """The runs per host, by state: `  web01: 3 (2 succeeded, 1 failed)`."""
    by_host: dict[str, Counter[str]] = defaultdict(Counter)
    for v in runs:
        by_host[v.host][v.state.value] += 1
    lines = []
    for host, counts in list(by_host.items())[:SHOWN_HOSTS]:
        states = ", ".join(f"{n} {s}" for s, n in counts.most_common())
        lines.append(f"  {one_line(host)}: {sum(counts.values())} ({states})")
    if len(by_host) > SHOWN_HOSTS:
        lines.append(f"  and {len(by_host) - SHOWN_HOSTS} more hosts")
    return "\n".join(lines)


def confirm(runs: Sequence[RunView], stdin: TextIO | None = None) -> bool:
    """Ask on the terminal whether to remove these finished runs; True for `y`/`yes`."""
    n, hosts = len(runs), len({v.host for v in runs})
    question = (
        f"Remove {n} finished run{'' if n == 1 else 's'}' job directories"
        f" on {hosts} host{'' if hosts == 1 else 's'}? [y/N] "
    )
    print(summary(runs), file=sys.stderr)
    print(question, end="", file=sys.stderr, flush=True)
    try:
        answer = (stdin or sys.stdin).readline()
    except KeyboardInterrupt:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def would(verb: str, names: Sequence[str]) -> None:
    """`<run>: would be cancelled` for each name: `--dry-run`'s report, on stdout."""
    for name in names:
        print(f"{name}: would be {verb} (dry run)")
