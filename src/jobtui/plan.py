"""The plan: every (job, host, loop item) run, with its command rendered.

Pure logic: no I/O. `jobtui check` prints `format_plan(build_plan(...))`; the engine
launches `Plan.runs`.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobtui.config.errors import ConfigError
from jobtui.config.inventory import Inventory
from jobtui.config.patterns import select_hosts, split_pattern
from jobtui.config.render import render_command, render_plain, render_shell
from jobtui.model import (
    BECOME_METHODS,
    SECRET_VARS,
    USER_RE,
    Become,
    Host,
    JobSpec,
    RunSpec,
    become_of,
)

MAX_RUNS = 1_000_000
"""Runs one plan may hold: hosts x loop items, over all its jobs."""
UNGROUPED = "ungrouped"
"""The display group of a host in no group (Ansible's name for them)."""


@dataclass
class Plan:
    """What a batch will run."""

    runs: list[RunSpec]
    """Job order, then inventory order of hosts, then loop order."""
    jobs: list[JobSpec]
    inventory: Inventory

    def hosts(self) -> list[Host]:
        """The hosts that have at least one run, in inventory order."""
        used = {run.host.name for run in self.runs}
        return [host for name, host in self.inventory.hosts.items() if name in used]


@functools.lru_cache(maxsize=4096)
def display_group(pattern: str, groups: tuple[str, ...]) -> str:
    """The one group the console shows a host under (`RunView.group`): the first
    group the job's host pattern named that holds the host, else its first group.

    A pattern's terms are read in the order written, unions only (what selected the
    host; `&` and `!` terms only narrow): `dbservers:eu-west` puts a host of both under
    `dbservers`; a glob term (`db*`) names the host's groups that it matches. A host
    selected by `all`, by its name or by a regex (`~...`) sits under its first group
    by name (Ansible's `group_names` order), a host in none under `ungrouped`.
    Only the pattern and the host's groups are read, both kept by the store, so a
    console that attaches finds the same groups; watch mode, which knows no job
    pattern, puts each host under its first group.

    Args:
        pattern: the job's `hosts:` (`all` for runs discovered on the hosts).
        groups: the host's `Host.groups` (sorted, ancestors included, without `all`).
    """
    for term in split_pattern(pattern):
        if term[0] in "!&~" or term in ("all", "*"):
            continue
        if term in groups:
            return term
        if set("*?[") & set(term):
            for group in groups:
                if fnmatch.fnmatchcase(group, term):
                    return group
    return groups[0] if groups else UNGROUPED


def template_vars(
    inventory: Inventory,
    host: Host,
    item: Any,
    groups: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """The variables of a template: host vars, then Ansible's magic variables, then item.

    Args:
        groups: `group_vars(inventory)`, built once per plan: rebuilding it for each
            run made a plan quadratic in the number of hosts.
    """
    return {
        # A password is never put in a command (an argv on the host, the store): a
        # template that names one finds it undefined.
        **{k: v for k, v in host.vars.items() if k not in SECRET_VARS},
        "inventory_hostname": host.name,
        "inventory_hostname_short": host.name.split(".", 1)[0],
        "group_names": list(host.groups),
        "groups": group_vars(inventory) if groups is None else groups,
        "item": item,
    }


def group_vars(inventory: Inventory) -> dict[str, tuple[str, ...]]:
    """Ansible's `groups`: members as tuples, so that one template cannot change another's."""
    return {name: tuple(members) for name, members in inventory.groups.items()}


def build_plan(jobs: list[JobSpec], inventory: Inventory, limit: str | None = None) -> Plan:
    """Expand jobs over hosts and loop items.

    Args:
        limit: an extra host pattern intersected with each job's (Ansible's --limit).

    Raises:
        ConfigError: a pattern naming nothing, an undefined variable, a bad template.
    """
    allowed: set[str] | None = None
    if limit is not None:
        allowed = {h.name for h in select_hosts(inventory, limit, context=" in --limit")}
    selected: list[tuple[JobSpec, list[Host]]] = []
    total = 0
    for job in jobs:
        hosts = select_hosts(
            inventory, job.hosts, job.where("hosts"), context=f" of job '{job.name}'"
        )
        if allowed is not None:
            hosts = [host for host in hosts if host.name in allowed]
        items = len(job.loop) if job.loop is not None else 1
        total += len(hosts) * items
        if total > MAX_RUNS:
            raise ConfigError(
                f"job '{job.name}' makes {len(hosts) * items:,} runs ({len(hosts):,} hosts"
                f" x {items:,} loop items): the plan would hold more than {MAX_RUNS:,} runs",
                job.where("hosts"),
                "narrow 'hosts:' (or use --limit), or shorten the loop",
            )
        selected.append((job, hosts))
    groups = group_vars(inventory)
    runs: list[RunSpec] = []
    for job, hosts in selected:
        for host in hosts:
            become = _become(job, host)  # one per host: a loop's runs share it
            loop_items: tuple[Any, ...] = job.loop if job.loop is not None else (None,)
            for index, item in enumerate(loop_items):
                runs.append(_run(job, inventory, host, item, index, groups, become))
    return Plan(runs, list(jobs), inventory)


def _run(
    job: JobSpec,
    inventory: Inventory,
    host: Host,
    item: Any,
    index: int,
    groups: Mapping[str, tuple[str, ...]],
    become: Become | None,
) -> RunSpec:
    variables = template_vars(inventory, host, item, groups)
    where = job.where
    on = f" of job '{job.name}' for host '{host.name}'"
    if job.shell is not None:
        script = render_shell(job.shell, variables, where("shell"), f"'shell'{on}")
    elif job.command is not None:
        script = render_command(job.command, variables, where("command"), f"'command'{on}")
    else:  # load_jobs guarantees one of them; a hand-built JobSpec may not
        raise ConfigError(f"job '{job.name}' has neither shell nor command", job.location)
    env = {
        name: render_plain(value, variables, where("env"), f"env '{name}'{on}")
        for name, value in job.env.items()
    }
    chdir = (
        render_plain(job.chdir, variables, where("chdir"), f"'chdir'{on}") if job.chdir else None
    )
    return RunSpec(job, host, item, index, script, env, chdir, become)


def _become(job: JobSpec, host: Host) -> Become | None:
    """`become_of(job, host)`, checked: the inventory's `ansible_become_user` and
    `ansible_become_method` are only checked here, for the runs that use them."""
    become = become_of(job, host)
    if become is None:
        return None
    if become.method not in BECOME_METHODS:
        method = _source(job.become_method, host, "method", become.method)
        raise ConfigError(
            f"job '{job.name}' becomes with {method},"
            " which is not supported yet (jobtui becomes with sudo)",
            job.where("become_method" if job.become_method else "become"),
            "set 'become_method: sudo' in the job (or ansible_become_method=sudo for the"
            " host) where sudo works there",
        )
    if not USER_RE.fullmatch(become.user):
        user = _source(job.become_user, host, "user", become.user)
        raise ConfigError(
            f"job '{job.name}' becomes {user}, which is not a user name",
            job.where("become_user" if job.become_user else "become"),
            "a user name such as postgres (letters, digits, '_', '.', '-'; not starting"
            " with '-' or a digit)",
        )
    return become


def _source(in_job: str | None, host: Host, what: str, value: str) -> str:
    """Where a become setting came from: the job's own key (`in_job`, its value
    there) as `become_user x`, else the host's `ansible_become_user=x on host 'db1'`."""
    shown = value if value.isprintable() and value.strip() == value else repr(value)
    if in_job:
        return f"become_{what} {shown}"
    return f"ansible_become_{what}={shown} on host '{host.name}'"


def check_secrets(runs: list[RunSpec], environ: Mapping[str, str]) -> None:
    """Every secret a run needs must be in the console's environment before launch."""
    for job in {id(r.job): r.job for r in runs}.values():
        for name, source in job.secret_env.items():
            if source not in environ:
                raise ConfigError(
                    f"env '{name}' of job '{job.name}' comes from ${source},"
                    " which is not set in this environment",
                    job.where("env"),
                    f"export {source}=... before running jobtui (it is never stored)",
                )


def format_plan(plan: Plan, width: int = 60) -> str:
    """A compact table of the runs, for `jobtui check`.

    Args:
        width: commands longer than this are cut with "…".
    """
    users = any(run.become is not None for run in plan.runs)  # no column when none becomes
    header = ("JOB", "HOST", *(("AS",) if users else ()), "ITEM", "TIMEOUT", "COMMAND")
    rows = [header]
    for run in plan.runs:
        script = " ".join(run.script.split())
        if len(script) > width:
            script = script[: width - 1] + "…"
        user = ((run.become.user if run.become else ""),) if users else ()
        rows.append((run.job.name, run.host.name, *user, run.label, f"{run.job.timeout}s", script))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    used = {id(run.job) for run in plan.runs}
    for job in plan.jobs:
        if id(job) not in used:
            lines.append(f"(job '{job.name}': no host selected)")
    lines.append(
        f"{len(plan.runs)} run(s) of {len(plan.jobs)} job(s) on {len(plan.hosts())} host(s)"
    )
    return "\n".join(lines)
