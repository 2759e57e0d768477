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
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobtui import (
    batches_cmd,
    become_cmd,
    confirm,
    defaults,
    fetch,
    flow,
    follow_cmd,
    lifecycle,
    logs_cmd,
    notify,
)
from jobtui.batches_cmd import (
    demo_state_dir,
    find_batch,
    state_of,
)
from jobtui.config import ConfigError, Inventory, load_inventory, load_jobs
from jobtui.config.ansiblecfg import find_config, load_configured, read_config
from jobtui.config.jobs import load_job_file
from jobtui.defaults import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from jobtui.fleet import DiscoveryPoller, keyring_for, transports_for
from jobtui.inventory_cmd import (
    connection_text,
    dumps,
    inventory_graph,
    inventory_host,
    inventory_list,
)
from jobtui.model import Host, InvalidJid, check_any_jid
from jobtui.plan import Plan, build_plan, check_secrets, format_plan
from jobtui.runs import Run
from jobtui.store import Store, StoreError, state_dir
from jobtui.text import one_line

if TYPE_CHECKING:
    pass


class UsageError(Exception):
    """Bad arguments: reported with a hint, exit 2."""


NO_RUN = "no run to launch: the job patterns and --limit select no host"
"""`run` refuses a plan of no run, and `check` says so of the same plan (exit 2 both)."""


def new_batch_id() -> str:
    """Sortable and readable: `20261128-224512-3f9a1c`."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def _inventory(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-i",
        "--inventory",
        action="append",
        metavar="INVENTORY",
        help="an Ansible inventory: YAML or INI file, directory, or 'host1,host2,';"
        " may be given several times (default: ANSIBLE_INVENTORY, then ansible.cfg)",
    )
    p.add_argument(
        "-F",
        "--ssh-config",
        metavar="FILE",
        help="OpenSSH client config to read, as ssh -F (default: ~/.ssh/config if it exists)",
    )


def _common(p: argparse.ArgumentParser, *, inventory: bool = False) -> None:
    if inventory:
        _inventory(p)
    p.add_argument(
        "--forks",
        type=int,
        default=defaults.FORKS,
        metavar="N",
        help=f"runs in flight at once (default {defaults.FORKS})",
    )
    p.add_argument("--limit", metavar="PATTERN", help="further limit the hosts (Ansible pattern)")
    p.add_argument("--state-dir", metavar="DIR", help="where jobtui keeps its memory")
    p.add_argument(
        "--accept-new-host-keys",
        action="store_true",
        help="record unknown host keys in known_hosts (a changed key is always refused)",
    )


def _output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--headless", action="store_true", help="no console: progress on stderr")
    p.add_argument("--json", action="store_true", help="with --headless: JSON lines on stdout")
    p.add_argument("--no-bell", action="store_true", help="console: no terminal bell on alerts")


def _fetch(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fetch",
        metavar="DIR",
        help="copy each run's stdout/stderr to DIR/<batch>/<host>/ when it ends, before any"
        " cleanup (every job; wins over the jobs' fetch:)",
    )


def _selection(p: argparse.ArgumentParser, extra: str) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--jid", nargs="+", metavar="JID", help="these runs")
    g.add_argument("--batch", metavar="BATCH", help="every run of a batch (or a prefix of its id)")
    g.add_argument("--job", metavar="NAME", help="every run of a job")
    if extra == "finished":
        g.add_argument("--finished", action="store_true", help="every finished run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobtui",
        description="Launch long-running jobs on many hosts over SSH, detached, and follow them.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="the bundled demo: local connection, no SSH needed")
    _output(demo)
    _fetch(demo)
    _common(demo)

    run = sub.add_parser("run", help="launch the jobs of JOBS on INVENTORY and follow them")
    run.add_argument("jobs", metavar="JOBS.yml")
    _output(run)
    _fetch(run)
    _common(run, inventory=True)
    become_cmd.add_options(run, discover=False)
    flow.add_option(run)
    notify.add_option(run, jobs=True)

    check = sub.add_parser("check", help="validate and print the plan; launch nothing")
    check.add_argument("jobs", metavar="JOBS.yml")
    _common(check, inventory=True)

    attach = sub.add_parser("attach", help="follow a batch again after a restart")
    attach.add_argument(
        "batch", nargs="?", metavar="BATCH", help="a batch id or a prefix (default: the latest)"
    )
    attach.add_argument("--demo", action="store_true", help="a batch of `jobtui demo`")
    _output(attach)
    _common(attach)
    become_cmd.add_options(attach, discover=False)
    notify.add_option(attach, jobs=False)

    watch_p = sub.add_parser("watch", help="read-only console: every job on the hosts, live")
    watch_p.add_argument(
        "--interval",
        type=float,
        default=defaults.WATCH_INTERVAL,
        metavar="S",
        help="seconds between looks",
    )
    watch_p.add_argument("--no-bell", action="store_true", help="no terminal bell on alerts")
    _common(watch_p, inventory=True)
    become_cmd.add_options(watch_p, discover=True)

    status = sub.add_parser("status", help="every job on the inventory's hosts (read-only)")
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    lifecycle.add_narrowing(status)
    _common(status, inventory=True)
    become_cmd.add_options(status, discover=True)

    cancel = sub.add_parser("cancel", help="TERM, grace, KILL to runs' process groups")
    _selection(cancel, "")
    confirm.add_options(cancel, sweep=False)
    _common(cancel, inventory=True)
    become_cmd.add_options(cancel, discover=True)

    cleanup = sub.add_parser("cleanup", help="remove finished runs' job directories")
    _selection(cleanup, "finished")
    cleanup.add_argument("--force", action="store_true", help="cancel running runs first")
    confirm.add_options(cleanup, sweep=True)
    _common(cleanup, inventory=True)
    become_cmd.add_options(cleanup, discover=True)

    logs = logs_cmd.add_parser(sub)
    _common(logs, inventory=True)
    become_cmd.add_options(logs, discover=True)

    batches_cmd.add_parser(sub)

    inv = sub.add_parser("inventory", help="print the resolved inventory, as ansible-inventory")
    shown = inv.add_mutually_exclusive_group(required=True)
    shown.add_argument("--list", action="store_true", help="every group and host, as JSON")
    shown.add_argument("--graph", nargs="?", const="all", metavar="GROUP", help="the group tree")
    shown.add_argument("--host", metavar="NAME", help="one host's variables, as JSON")
    _inventory(inv)
    inv.add_argument("--limit", metavar="PATTERN", help="only these hosts (Ansible pattern)")
    return parser


def load_plan(
    jobs_path: str, inventory: Inventory | str | list[str] | None, limit: str | None
) -> Plan:
    """The plan of `jobs_path` on `inventory`: loaded, or its sources as `-i` gives them
    (None: where Ansible would look)."""
    if isinstance(inventory, str):
        inventory = [inventory]
    if not isinstance(inventory, Inventory):
        inventory, _ = load_routed(inventory, None)
    jobs = load_jobs(jobs_path)
    plan = build_plan(jobs, inventory, limit)
    check_secrets(plan.runs, os.environ)
    return plan


def notify_of(jobs_path: str) -> str | None:
    """The job file's top-level `notify:` (the file was loaded and checked already)."""
    return load_job_file(jobs_path).notify


def routed(
    inventory: Inventory, ssh_config: str | None, ssh_args: str | None = None
) -> tuple[Inventory, tuple[str, ...]]:
    """The inventory with each SSH host's route resolved (ssh_config, Ansible's SSH
    args, jump hosts); its warnings are printed on stderr, and returned for the console."""
    if all(h.connection != "ssh" for h in inventory.hosts.values()):
        return inventory, ()  # and paramiko (ssh_config's parser) is not even imported
    from jobtui.config.route import resolve_routes

    routes = resolve_routes(inventory.hosts.values(), ssh_config=ssh_config, ssh_args=ssh_args)
    for warning in routes.warnings:
        print(f"jobtui: warning: {one_line(warning)}", file=sys.stderr)
    return dataclasses.replace(inventory, hosts=routes.hosts), routes.warnings


def load_routed(
    sources: Sequence[str] | None, ssh_config: str | None
) -> tuple[Inventory, tuple[str, ...]]:
    """The inventory `-i` (or Ansible's defaults) names, its routes resolved; ansible.cfg
    is read once, for both."""
    config = read_config(find_config(os.environ, os.getcwd()), os.environ)
    inventory = load_configured(sources, config=config)
    return routed(inventory, ssh_config, config.ssh_args)


def demo_plan(args: argparse.Namespace) -> Plan:
    """The bundled demo, each simulated host with a job directory of its own."""
    from importlib import resources  # the demo's only: ~10 ms of every start

    root = resources.files("jobtui.demo")
    with (
        resources.as_file(root.joinpath("inventory.yml")) as inv,
        resources.as_file(root.joinpath("jobs.yml")) as jobs,
    ):
        plan = load_plan(str(jobs), load_inventory(str(inv)), args.limit)
    base = demo_state_dir(state_dir(args.state_dir)) / "hosts"
    # Simulated hosts: this machine's own Ansible jobs (~/.ansible_async) are none of theirs.
    hosts = {
        h.name: dataclasses.replace(
            h, jobtui_dir=str(base / h.name), ansible_async_dir=str(base / h.name / "ansible")
        )
        for h in plan.hosts()
    }
    runs = [dataclasses.replace(r, host=hosts[r.host.name]) for r in plan.runs]
    return dataclasses.replace(
        plan, runs=runs, inventory=Inventory.from_hosts(list(hosts.values()))
    )


def start_batch(
    plan: Plan, args: argparse.Namespace, source: dict[str, str], store: Store
) -> tuple[str, list[Run]]:
    """Record a new batch (every run with its jid) before anything is launched, this
    console its one follower from the start."""
    if not plan.runs:
        raise UsageError(NO_RUN)
    batch = new_batch_id()
    store.follow(batch, f"jobtui {args.command}")
    runs = [Run(spec) for spec in plan.runs]
    store.create_batch(batch, runs, source, args.forks)
    return batch, runs


def open_store(args: argparse.Namespace) -> Store:
    """The store the command works in (the demo's own for the demo: `batches_cmd`)."""
    return Store.open(state_of(args))


def watch(hosts: list[Host], args: argparse.Namespace) -> int:
    """The read-only console: built from a poller that can only read."""
    from jobtui.ui.app import make_app  # the core never imports Textual

    keyring = keyring_for(hosts)
    become = become_cmd.for_hosts(hosts, args, become_cmd.recorded(args))
    poller = DiscoveryPoller(
        transports_for(hosts, args.accept_new_host_keys, keyring=keyring, become=become),
        args.interval,
        args.forks,
    )
    make_app(source=poller, title="jobtui watch", read_only=True, bell=not args.no_bell).run()
    return EXIT_OK


def attach(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        batch = find_batch(store, args.batch, args) if args.batch else store.latest_batch()
        if batch is None:
            launch = "jobtui demo" if args.demo else "jobtui run"
            raise UsageError(f"no batch in {store.path}: launch one with {launch}")
        source = store.batch_info(batch)["source"]
        store.follow(batch, "jobtui attach")
        runs = store.load_runs(batch)
        check_secrets([r.spec for r in runs if r.open and not r.launched], os.environ)
        source = {**source, "attached": "true"}
        keyring = keyring_for({r.spec.host.name: r.spec.host for r in runs}.values())
        known: dict[str, str] = {}
        if any(r.spec.become for r in runs):
            known = become_cmd.inventory_passwords(source)
        become = become_cmd.for_runs(runs, args, known=known)
        title = f"jobtui attach {batch}"
        return follow_cmd.follow(
            store, batch, runs, args, source, title, keyring, become=become, notify_cmd=args.notify
        )


def _jids(args: argparse.Namespace) -> list[str] | None:
    if not getattr(args, "jid", None):
        return None
    try:
        return [check_any_jid(j) for j in args.jid]
    except InvalidJid as e:
        raise UsageError(str(e)) from e


def show_inventory(args: argparse.Namespace) -> int:
    """`jobtui inventory`: what the sources resolve to, in ansible-inventory's formats."""
    inventory, _ = load_routed(args.inventory, args.ssh_config)
    if args.graph:
        print(inventory_graph(inventory, args.graph))
    elif args.host:
        print(dumps(inventory_host(inventory, args.host)))
        print(connection_text(inventory.hosts[args.host]), file=sys.stderr)
    else:
        print(
            dumps(
                inventory_list(inventory, {h.name for h in lifecycle.select(inventory, args.limit)})
            )
        )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The `jobtui` command (`argv` None: the program's own arguments). Called as the
    program, a headless run exits as soon as it has said everything (`exit_now`)."""
    code = command(argv)
    if argv is None and follow_cmd.FOLLOWED:
        exit_now(code)
    return code


def exit_now(code: int) -> None:
    """Flush stdout and stderr and end the process, without Python's shutdown: the
    store is closed, the connections and the engine's threads are done, and tearing
    every module down took ~0.1 s of a run's wall time for nothing."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            code = code or EXIT_FAILED
    os._exit(code)


def command(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and do what it asks; the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "forks", 1) < 1:
            raise UsageError("--forks must be at least 1")
        if not 0 < getattr(args, "notify_timeout", 1) <= 3600:  # nan and inf too
            raise UsageError("--notify-timeout must be a number of seconds, above 0, at most 3600")
        if args.command == "check":
            plan = load_plan(args.jobs, load_routed(args.inventory, args.ssh_config)[0], args.limit)
            print(format_plan(plan))
            if not plan.runs:  # what `run` would refuse
                raise UsageError(NO_RUN)
            return EXIT_OK
        if args.command in ("run", "demo"):
            notices: tuple[str, ...] = ()
            command = None
            if args.command == "run":
                inventory, notices = load_routed(args.inventory, args.ssh_config)
                plan = load_plan(args.jobs, inventory, args.limit)
                source = {"jobs": args.jobs, "inventory": " ".join(args.inventory or [])}
                if args.max_fail_percentage is not None:
                    specs = flow.with_max_fail_percentage(plan.runs, args.max_fail_percentage)
                    plan = dataclasses.replace(plan, runs=specs)
                # The command line's wins; `--notify ''` turns the job file's off.
                command = args.notify if args.notify is not None else notify_of(args.jobs)
            else:
                plan, source = demo_plan(args), {"jobs": "demo"}
            if args.fetch:
                plan = fetch.with_dir(plan, args.fetch)
            keyring = keyring_for(plan.hosts())  # before the batch: a Ctrl-C launches nothing
            becomes = [Run(spec) for spec in plan.runs if spec.become is not None]
            become = become_cmd.for_runs(becomes, args)  # -K asks before the batch too
            with open_store(args) as store:
                batch, runs = start_batch(plan, args, source, store)
                if become is not None:  # the batch's jids are its runs' owners
                    become = become_cmd.for_runs(runs, args, password=become.password)
                title = f"jobtui {args.command}"
                return follow_cmd.follow(
                    store, batch, runs, args, source, title, keyring, notices, become, command
                )
        if args.command == "attach":
            return attach(args)
        if args.command == "inventory":
            return show_inventory(args)
        if args.command == "batches":
            return batches_cmd.batches(args)
        if args.command == "logs":  # the store may know the jid: no inventory needed
            return logs_cmd.logs(
                args,
                lambda: lifecycle.select(
                    load_routed(args.inventory, args.ssh_config)[0], args.limit
                ),
            )
        jids = _jids(args)
        inventory, _ = load_routed(args.inventory, args.ssh_config)
        hosts = lifecycle.select(inventory, args.limit)
        if args.command == "status":
            return lifecycle.status(hosts, args)
        if args.command == "watch":
            return watch(hosts, args)
        return lifecycle.act_on(args.command, hosts, args, jids)
    except (
        ConfigError,
        UsageError,
        StoreError,
        become_cmd.NoPassword,
        logs_cmd.BadJid,
        confirm.NotConfirmed,
    ) as e:
        print(f"jobtui: error: {one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # at a passphrase prompt, or loading: nothing launched
        print("jobtui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
