"""The `jobtui` command: parses arguments, loads config, hands over to the engine.

Exit codes (the design's): 0 every run succeeded; 1 any run failed, timed out, was
cancelled, lost or unreachable; 2 bad usage or configuration (nothing launched);
130 interrupted (the jobs go on on their hosts).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

from jobtui.config import ConfigError, Inventory, load_inventory, load_jobs
from jobtui.engine import Engine
from jobtui.events import BatchFinished, Event
from jobtui.plan import Plan, build_plan, format_plan
from jobtui.report import HumanReporter, JsonReporter, exit_code
from jobtui.transport import make_transport

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad arguments: reported with a hint, exit 2."""


def state_dir(arg: str | None) -> Path:
    """`--state-dir`, else $XDG_STATE_HOME/jobtui, else ~/.local/state/jobtui."""
    if arg:
        return Path(arg).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "jobtui"


def new_batch_id() -> str:
    """Sortable and readable: `20261128-224512-3f9a1c`."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--forks", type=int, default=50, metavar="N", help="runs in flight at once (default 50)"
    )
    p.add_argument("--limit", metavar="PATTERN", help="further limit the hosts (Ansible pattern)")
    p.add_argument("--state-dir", metavar="DIR", help="where jobtui keeps its memory")
    p.add_argument(
        "--accept-new-host-keys",
        action="store_true",
        help="record unknown host keys in known_hosts (a changed key is always refused)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobtui",
        description="Launch long-running jobs on many hosts over SSH, detached, and follow them.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="the bundled demo: local connection, no SSH needed")
    demo.add_argument("--headless", action="store_true", help="no console: progress on stderr")
    demo.add_argument("--json", action="store_true", help="with --headless: JSON lines on stdout")
    _common(demo)

    run = sub.add_parser("run", help="launch the jobs of JOBS on INVENTORY and follow them")
    run.add_argument("jobs", metavar="JOBS.yml")
    run.add_argument("-i", "--inventory", required=True, metavar="INVENTORY.yml")
    run.add_argument("--headless", action="store_true", help="no console: progress on stderr")
    run.add_argument("--json", action="store_true", help="with --headless: JSON lines on stdout")
    _common(run)

    check = sub.add_parser("check", help="validate and print the plan; launch nothing")
    check.add_argument("jobs", metavar="JOBS.yml")
    check.add_argument("-i", "--inventory", required=True, metavar="INVENTORY.yml")
    _common(check)
    return parser


def load_plan(jobs_path: str, inventory_path: str, limit: str | None) -> Plan:
    inventory = load_inventory(inventory_path)
    jobs = load_jobs(jobs_path)
    return build_plan(jobs, inventory, limit)


def demo_plan(args: argparse.Namespace) -> Plan:
    """The bundled demo, each simulated host with a job directory of its own."""
    root = resources.files("jobtui.demo")
    with (
        resources.as_file(root.joinpath("inventory.yml")) as inv,
        resources.as_file(root.joinpath("jobs.yml")) as jobs,
    ):
        plan = load_plan(str(jobs), str(inv), args.limit)
    base = state_dir(args.state_dir) / "demo-hosts"
    hosts = {h.name: dataclasses.replace(h, jobtui_dir=str(base / h.name)) for h in plan.hosts()}
    runs = [dataclasses.replace(r, host=hosts[r.host.name]) for r in plan.runs]
    return dataclasses.replace(
        plan, runs=runs, inventory=Inventory.from_hosts(list(hosts.values()))
    )


def follow(plan: Plan, args: argparse.Namespace, source: dict[str, str]) -> int:
    """Launch the plan's runs and follow them to the end, headless."""
    if not plan.runs:
        raise UsageError("no run to launch: the job patterns and --limit select no host")
    batch = new_batch_id()
    if args.forks < 1:
        raise UsageError("--forks must be at least 1")
    on_event: Callable[[Event], None]
    if getattr(args, "json", False):
        on_event = JsonReporter(batch_fields=source)
    else:
        on_event = HumanReporter()
    transports = {
        h.name: make_transport(h, accept_new_host_keys=args.accept_new_host_keys)
        for h in plan.hosts()
    }
    engine = Engine(plan.runs, transports, batch=batch, forks=args.forks, on_event=on_event)
    result: list[BatchFinished] = []
    worker = threading.Thread(target=lambda: result.append(engine.run()), name="jobtui-engine")
    worker.start()
    interrupted = False
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        interrupted = True
        print(
            f"\njobtui: interrupted; the jobs of batch {batch} go on on their hosts",
            file=sys.stderr,
        )
        engine.stop()
        worker.join()
    finally:
        for t in transports.values():
            t.close()
    if interrupted or not result:
        return EXIT_INTERRUPTED
    return exit_code(result[0].runs)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check":
            plan = load_plan(args.jobs, args.inventory, args.limit)
            print(format_plan(plan))
            return EXIT_OK
        if args.command == "run":
            plan = load_plan(args.jobs, args.inventory, args.limit)
            return follow(plan, args, {"jobs": args.jobs, "inventory": args.inventory})
        if args.command == "demo":
            return follow(demo_plan(args), args, {"jobs": "demo"})
    except ConfigError as e:
        print(f"jobtui: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as e:
        print(f"jobtui: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    raise AssertionError(f"unhandled command {args.command}")
