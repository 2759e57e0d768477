"""Batches as the operator finds them: `jobtui batches`, batch id prefixes, the demo's
own state directory, and the command that attaches a batch again.

- `jobtui batches` lists every batch of a state directory's store, newest first: its
  id, when it started, its jobs, its hosts (how many), its runs counted by the last
  state seen, and which console follows it now (from the follower's lock: pid, host,
  command, since). `--json` prints one object, `{"batches": [...]}`.
- Wherever a batch is taken (`attach`, `status`, `cancel`, `cleanup`), a unique prefix
  of its id will do (`attach 20261201-1734`); an exact id always wins. An ambiguous
  prefix is exit 2 naming the candidates; an unknown one is exit 2 with a hint.
  `attach` resolves against the store; `status`, `cancel` and `cleanup` against the
  batches found on the hosts and those in the store (when a host could not be read,
  an unknown prefix is taken as it is: the batch may be on that host).
- The demo keeps its own state directory, `<state dir>/demo/` (its store, its locks and
  its simulated hosts' job directories), so a plain `jobtui attach` (the latest batch)
  never reopens the demo and `jobtui batches` lists only real work. A demo batch is
  still a batch to play with: `jobtui attach --demo [BATCH]` and `jobtui batches
  --demo` work on the demo's directory, and the recap after `jobtui demo` says so.
  `attach` given a demo batch's id without `--demo` says to add it.

Names are shown inert (`text.one_line`), as everywhere else in the CLI.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from jobtui.defaults import EXIT_OK
from jobtui.store import BatchSummary, Store, StoreError, state_dir
from jobtui.text import iso, json_line, one_line

SHOWN_CANDIDATES = 8
"""An ambiguous prefix's error names at most this many batches."""


class UnknownBatch(StoreError):
    """No batch id starts with the prefix given (exit 2)."""


class AmbiguousBatch(StoreError):
    """Several batch ids start with the prefix given (exit 2)."""


def resolve_batch(prefix: str, ids: Iterable[str], where: str, hint: str) -> str:
    """The one batch id of `ids` that is `prefix` or starts with it.

    Args:
        where: where the ids were looked for, for the error (`in /x/jobtui.db`).
        hint: what to do when none matches.

    Raises:
        UnknownBatch: none matches.
        AmbiguousBatch: several do (the error names them, newest first as given).
    """
    known = list(dict.fromkeys(ids))
    if prefix in known:
        return prefix
    matches = [b for b in known if b.startswith(prefix)] if prefix else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UnknownBatch(f"no batch {prefix!r} {where}; {hint}")
    shown = ", ".join(matches[:SHOWN_CANDIDATES])
    more = len(matches) - SHOWN_CANDIDATES
    raise AmbiguousBatch(
        f"batch {prefix!r} is ambiguous: {len(matches)} batches start with it ({shown}"
        + (f", and {more} more" if more > 0 else "")
        + "); give more of the id"
    )


def base_state_dir(args: argparse.Namespace) -> Path:
    """The state directory the command was given (`--state-dir` or the default)."""
    return state_dir(getattr(args, "state_dir", None))


def is_demo(args: argparse.Namespace) -> bool:
    return args.command == "demo" or bool(getattr(args, "demo", False))


def state_of(args: argparse.Namespace) -> Path:
    """The state directory the command works in: the demo's own for `jobtui demo` and
    for `--demo`, else the given one."""
    base = base_state_dir(args)
    return demo_state_dir(base) if is_demo(args) else base


def demo_state_dir(base: Path) -> Path:
    """The demo's own state directory inside `base`."""
    return base / "demo"


def attach_command(batch: str, args: argparse.Namespace, *, demo: bool | None = None) -> str:
    """The command that follows `batch` again, as the user would type it (`demo`: of
    the demo's directory; default: as `args` is)."""
    words = ["jobtui", "attach"]
    if is_demo(args) if demo is None else demo:
        words.append("--demo")
    if getattr(args, "state_dir", None):
        words += ["--state-dir", args.state_dir]
    return " ".join(shlex.quote(w) for w in [*words, batch])


def status_command(inventories: Sequence[str]) -> str:
    """The command that lists a batch's runs on their hosts, with the inventory
    sources as `-i` gave them (none: where Ansible looks, as `status` does too)."""
    words = ["jobtui", "status"]
    for source in inventories:
        words += ["-i", source]
    return " ".join(shlex.quote(w) for w in words)


def find_batch(store: Store, prefix: str, args: argparse.Namespace) -> str:
    """`attach`'s batch: the one of the store that `prefix` names.

    Raises:
        UnknownBatch: none, with a hint (`--demo` if it is the demo's).
        AmbiguousBatch: several.
    """
    try:
        return resolve_batch(
            prefix, store.batch_ids(), f"in {store.path}", "`jobtui batches` lists them"
        )
    except UnknownBatch as e:
        demo = Store.path_in(demo_state_dir(base_state_dir(args)))
        if is_demo(args) or not demo.exists():
            raise
        with Store(demo) as demo_store:
            if not any(b.startswith(prefix) for b in demo_store.batch_ids()):
                raise
        raise UnknownBatch(
            f"{e}; it is a demo batch: {attach_command(prefix, args, demo=True)}"
        ) from None


def batches(args: argparse.Namespace) -> int:
    """`jobtui batches`: every batch of the store, newest first."""
    path = Store.path_in(state_of(args))
    found: list[BatchSummary] = []
    if path.exists():  # listing creates nothing
        with Store(path) as store:
            found = store.summaries()
    if args.json:
        print(json_line({"batches": [batch_fields(b) for b in found]}))
    elif not found:
        print(f"no batch in {one_line(str(path))}")
    else:
        print(render_batches(found))
    return EXIT_OK


def batch_fields(b: BatchSummary) -> dict[str, object]:
    """A batch as `jobtui batches --json` prints it."""
    return {
        "batch": b.batch,
        "started": iso(b.created),
        "finished": iso(b.finished),
        "source": b.source,
        "jobs": list(b.jobs),
        "hosts": b.hosts,
        "runs": b.runs,
        "counts": b.counts,
        "followed": b.follower is not None,
        "follower": b.follower,
    }


def render_batches(found: list[BatchSummary]) -> str:
    header = ("BATCH", "STARTED", "JOBS", "HOSTS", "RUNS", "FOLLOWED BY")
    rows = [header]
    for b in found:
        rows.append(
            (
                one_line(b.batch),
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b.created)),
                one_line(",".join(b.jobs)) or "-",
                str(b.hosts),
                ", ".join(f"{n} {one_line(s)}" for s, n in b.counts.items()) or "-",
                "-" if b.follower is None else one_line(b.follower),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`jobtui batches`'s arguments."""
    p = sub.add_parser("batches", help="every batch of the state directory, newest first")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--demo", action="store_true", help="the demo's batches")
    p.add_argument("--state-dir", metavar="DIR", help="where jobtui keeps its memory")
