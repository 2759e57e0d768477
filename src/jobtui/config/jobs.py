"""Job files: a `jobs:` list of Ansible-like job entries, validated into JobSpecs.

Every error names the file, line and column of the offending key or value. The
templates (shell, command, env values, chdir) are checked for Jinja syntax here;
undefined variables can only be found per host, by the planner.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

from jobtui import defaults
from jobtui.config.errors import ConfigError, describe, did_you_mean
from jobtui.config.progress import check_progress
from jobtui.config.render import check_template
from jobtui.config.yamlsrc import YMap, YSeq, load_yaml, to_plain
from jobtui.model import BECOME_METHODS, USER_RE, CleanupPolicy, JobSpec, Location

JOB_KEYS = (
    "name", "hosts", "shell", "command", "loop", "timeout", "async", "poll", "progress",
    "retries", "retry_delay", "cleanup", "env", "chdir", "become", "become_user",
    "become_method", "per_host", "throttle", "max_fail_percentage", "fetch",
)  # fmt: skip
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_TIMEOUT = 30 * 86400
"""Seconds: a job's time limit is at most 30 days."""
MAX_SECONDS = 86400
"""`poll` and `retry_delay` are at most a day."""
MIN_POLL = 0.1
"""The shortest poll other than 0: shorter is a busy loop over SSH."""
MAX_RETRIES = 1000
MAX_LIMIT = 100_000
"""`per_host` and `throttle` are at most this (more is no limit at all)."""
ANSIBLE_BECOME_METHODS = (
    "su", "doas", "pbrun", "pfexec", "dzdo", "ksu", "runas", "machinectl", "sesu", "enable",
)  # fmt: skip
"""Ansible's other become plugins: known, and refused as not supported yet."""


TOP_KEYS = ("jobs", "notify")


@dataclass(frozen=True)
class JobFile:
    """A job file: its jobs, and what its top level says of the whole batch."""

    jobs: list[JobSpec]
    notify: str | None = None
    """A shell command run on the console's machine for each run that did not succeed,
    then for the summary (`--notify` wins over it)."""


def load_jobs(path: str) -> list[JobSpec]:
    """Load and validate a job file's jobs (`load_job_file` for the rest).

    Raises:
        ConfigError: with the file, line and column of the first problem.
    """
    return load_job_file(path).jobs


def load_job_file(path: str) -> JobFile:
    """Load and validate a job file: its `jobs:` and its top-level `notify:`.

    Raises:
        ConfigError: with the file, line and column of the first problem.
    """
    data = load_yaml(path)
    if not isinstance(data, YMap):
        raise ConfigError(
            "a job file must be a YAML mapping", Location(path, 1, 1), "start it with 'jobs:'"
        )
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(
                f"unknown top-level key '{key}'",
                data.key_loc[key],
                did_you_mean(key, TOP_KEYS)
                or "a job file's top-level keys are jobs (a list) and notify (a command)",
            )
    if "jobs" not in data:
        raise ConfigError("no 'jobs:' list in the job file", data.location)
    entries = data["jobs"]
    if not isinstance(entries, YSeq) or not entries:
        raise ConfigError(
            "'jobs' must be a non-empty list, got "
            + ("an empty list" if isinstance(entries, YSeq) else describe(to_plain(entries))),
            data.value_loc["jobs"],
            "write each job as '- name: ...'",
        )
    specs: list[JobSpec] = []
    seen: dict[str, Location] = {}
    for index, entry in enumerate(entries):
        spec = _job(entry, entries.item_loc[index], index, os.path.dirname(path))
        if spec.name in seen:
            assert isinstance(entry, YMap)
            raise ConfigError(
                f"duplicate job name '{spec.name}'",
                entry.value_loc["name"],
                f"first defined at line {seen[spec.name].line}",
            )
        seen[spec.name] = entry.value_loc["name"]
        specs.append(spec)
    return JobFile(specs, _notify(data))


def _notify(data: YMap) -> str | None:
    """The top-level `notify:`: a shell command (run by /bin/sh on this machine)."""
    if "notify" not in data:
        return None
    value = data["notify"]
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ConfigError(
            f"'notify' must be a shell command, got {describe(to_plain(value))}",
            data.value_loc["notify"],
            "for example notify: 'mail -s \"jobtui $JOBTUI_EVENT\" ops@example.com'"
            " (the event's JSON is on its stdin)",
        )
    return value


class _Job:
    """Reads one job mapping; `label` names it in errors."""

    def __init__(self, node: YMap, label: str) -> None:
        self.node = node
        self.label = label

    def fail(self, key: str, expected: str, hint: str | None = None) -> ConfigError:
        value = to_plain(self.node[key])
        return ConfigError(
            f"'{key}' in {self.label} must be {expected}, got {describe(value)}",
            self.node.value_loc[key],
            hint,
        )

    def text(self, key: str, template: bool = False) -> str | None:
        if key not in self.node:
            return None
        value = self.node[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "a non-empty string")
        if template:
            check_template(value, self.node.value_loc[key], f"'{key}' of {self.label}")
        return value

    def boolean(self, key: str) -> bool | None:
        """A YAML boolean (None when absent): a quoted 'yes' is a string, not a yes."""
        if key not in self.node:
            return None
        value = self.node[key]
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", f"write {key}: true (unquoted)")
        return value

    def integer(self, key: str, default: int, minimum: int, maximum: int, unit: str) -> int:
        value = self.node.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
            expected = "a positive integer" if minimum == 1 else "an integer >= 0"
            raise self.fail(key, f"{expected}, at most {maximum} ({unit})")
        return value

    def seconds(self, key: str, default: float, smallest: float = 0.0) -> float:
        """A number of seconds: finite (.inf would never end a batch), at most a day.

        Args:
            smallest: the least value other than 0 (a poll every 1e-300 s is a busy loop).
        """
        value = self.node.get(key, default)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or not 0 <= value <= MAX_SECONDS
            or 0 < value < smallest
        ):
            span = f"from {smallest:g} to {MAX_SECONDS}" if smallest else f"from 0 to {MAX_SECONDS}"
            zero = "0 (launch and leave) or " if smallest else ""
            raise self.fail(key, f"a number of seconds, {zero}{span} (a day)")
        return float(value)


def _job(entry: Any, location: Location, index: int, base: str) -> JobSpec:
    if not isinstance(entry, YMap):
        raise ConfigError(
            f"job #{index + 1} must be a mapping, got {describe(to_plain(entry))}",
            location,
            "write '- name: ...' with the job's keys below it",
        )
    label = f"job #{index + 1}"
    name = entry.get("name")
    if isinstance(name, int) and not isinstance(name, bool):
        name = str(name)
    if isinstance(name, str) and name.strip() and name.isprintable():
        label = f"job '{name}'"
    job = _Job(entry, label)
    for key in entry:
        if key not in JOB_KEYS:
            raise ConfigError(
                f"unknown key '{key}' in {label}",
                entry.key_loc[key],
                did_you_mean(key, JOB_KEYS) or "see the job keys in the README",
            )
    if "name" not in entry:
        raise ConfigError(f"{label} has no 'name'", entry.location, "every job needs a name")
    if label.startswith("job #"):
        raise job.fail("name", "a non-empty single-line string")
    assert isinstance(name, str)
    hosts = _hosts(job)
    shell = job.text("shell", template=True)
    command = job.text("command", template=True)
    if (shell is None) == (command is None):
        raise ConfigError(
            f"{label} needs exactly one of 'shell' and 'command'",
            entry.key_loc["command"] if shell is not None else entry.location,
            "shell: runs through /bin/sh; command: runs a program without a shell",
        )
    if "timeout" in entry and "async" in entry:
        raise ConfigError(
            f"{label} sets both 'timeout' and 'async'",
            entry.key_loc["async"],
            f"'async' is an alias of 'timeout' (line {entry.key_loc['timeout'].line}); keep one",
        )
    timeout_key = "async" if "async" in entry else "timeout"
    progress = job.text("progress")
    if progress is not None:
        check_progress(progress, entry.value_loc["progress"], label)
    env, secret_env = _env(job)
    poll = job.seconds("poll", defaults.POLL, MIN_POLL)
    return JobSpec(
        name=name,
        hosts=hosts,
        shell=shell,
        command=command,
        loop=_loop(job),
        timeout=job.integer(timeout_key, defaults.TIMEOUT, 1, MAX_TIMEOUT, "30 days"),
        poll=poll,
        progress=progress,
        retries=job.integer("retries", 0, 0, MAX_RETRIES, "relaunches of one run"),
        retry_delay=job.seconds("retry_delay", defaults.RETRY_DELAY),
        cleanup=_cleanup(job),
        env=env,
        secret_env=secret_env,
        chdir=job.text("chdir", template=True),
        become=job.boolean("become"),
        become_user=_become_user(job),
        become_method=_become_method(job),
        per_host=_limit(job, "per_host", "runs of this job at once on one host", poll),
        throttle=_limit(job, "throttle", "runs of this job at once in the batch", poll),
        max_fail_percentage=_percentage(job, "max_fail_percentage"),
        fetch=_fetch(job, base),
        location=entry.location,
        key_locations=dict(entry.value_loc),
    )


def _hosts(job: _Job) -> str:
    """A pattern string; a YAML list of patterns (allowed by Ansible) is joined with ','."""
    if "hosts" not in job.node:
        raise ConfigError(
            f"{job.label} has no 'hosts'", job.node.location, "name a group, a host or 'all'"
        )
    value = job.node["hosts"]
    if isinstance(value, YSeq) and value and all(isinstance(v, str) and v for v in value):
        return ",".join(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise job.fail("hosts", "a host pattern", "for example: dbservers, all, web*:!web03")


def _loop(job: _Job) -> tuple[Any, ...] | None:
    if "loop" not in job.node:
        return None
    items = job.node["loop"]
    if not isinstance(items, YSeq):
        raise job.fail("loop", "a list", "templated loops are not supported: list the items")
    for item, where in zip(items, items.item_loc, strict=True):
        if item is None or isinstance(item, YSeq):
            raise ConfigError(
                f"loop items in {job.label} must be values or mappings, got {describe(item)}",
                where,
            )
    return tuple(to_plain(item) for item in items)


def _limit(job: _Job, key: str, unit: str, poll: float) -> int | None:
    """`per_host` or `throttle`: a positive count; refused with `poll: 0`, whose runs
    are launched and left (their end is never seen, so no limit could hold them)."""
    if key not in job.node:
        return None
    value = job.node[key]
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT:
        raise job.fail(
            key,
            f"a positive integer, at most {MAX_LIMIT} ({unit})",
            f"for example {key}: {1 if key == 'per_host' else 10}; leave it out for no limit",
        )
    if poll == 0:
        raise ConfigError(
            f"'{key}' in {job.label} cannot hold runs launched with 'poll: 0'",
            job.node.key_loc[key],
            "poll: 0 launches and leaves: their end is never seen; set poll: N (seconds)"
            f" to follow them, or remove '{key}'",
        )
    return value


def _percentage(job: _Job, key: str) -> float | None:
    """A share of runs, 0 to 100 (0: stop at the first failure), as Ansible takes it."""
    if key not in job.node:
        return None
    value = job.node[key]
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 <= value <= 100
    ):
        raise job.fail(
            key,
            "a percentage from 0 to 100",
            f"for example {key}: 20 (0 stops at the first failure)",
        )
    return float(value)


def _fetch(job: _Job, base: str) -> str | None:
    """A local directory; `~` is expanded, a relative one is taken from the job file's
    directory (as Ansible takes paths from the playbook's)."""
    value = job.text("fetch")
    if value is None:
        return None
    if "\0" in value or "{" in value:
        raise job.fail("fetch", "a directory path", "fetch is not templated: write a directory")
    return os.path.abspath(os.path.join(base, os.path.expanduser(value)))


def _become_user(job: _Job) -> str | None:
    """A user name as written (not templated: it reaches sudo's argv)."""
    if "become_user" not in job.node:
        return None
    value = job.node["become_user"]
    if isinstance(value, str) and USER_RE.fullmatch(value):
        return value
    hint = (
        "become_user is not templated: write the user's name"
        if isinstance(value, str) and "{" in value
        else "a user name such as postgres (letters, digits, '_', '.', '-'; not starting"
        " with '-' or a digit)"
    )
    raise job.fail("become_user", "a user name", hint)


def _become_method(job: _Job) -> str | None:
    if "become_method" not in job.node:
        return None
    value = job.node["become_method"]
    if isinstance(value, str) and value in BECOME_METHODS:
        return value
    if value in ANSIBLE_BECOME_METHODS:
        raise ConfigError(
            f"become_method '{value}' is not supported yet (jobtui becomes with sudo)",
            job.node.value_loc["become_method"],
            f"remove 'become_method' from {job.label} (sudo is the default) if its hosts have sudo",
        )
    raise job.fail(
        "become_method",
        " or ".join(BECOME_METHODS),
        did_you_mean(value, BECOME_METHODS) if isinstance(value, str) else None,
    )


def _cleanup(job: _Job) -> CleanupPolicy:
    value = job.node.get("cleanup", CleanupPolicy.NEVER.value)
    choices = [policy.value for policy in CleanupPolicy]
    if value not in choices:
        raise job.fail(
            "cleanup",
            "one of " + ", ".join(choices),
            did_you_mean(str(value), choices) if isinstance(value, str) else None,
        )
    return CleanupPolicy(value)


def _env(job: _Job) -> tuple[dict[str, str], dict[str, str]]:
    """The job's environment: plain values, and secrets taken from the console's
    own environment at launch (`NAME: {from_env: VAR}`), never stored or shown."""
    if "env" not in job.node or job.node["env"] is None:
        return {}, {}
    node = job.node["env"]
    if not isinstance(node, YMap):
        raise job.fail("env", "a mapping of NAME: value")
    env: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in node.items():
        if not ENV_NAME_RE.match(name) or name.startswith("JOBTUI_"):
            raise ConfigError(
                f"invalid environment variable name '{name}' in {job.label}",
                node.key_loc[name],
                "JOBTUI_* is reserved for jobtui"
                if name.startswith("JOBTUI_")
                else "use letters, digits and _, not starting with a digit",
            )
        if isinstance(value, YMap) and list(value) == ["from_env"]:
            source = value["from_env"]
            if not isinstance(source, str) or not ENV_NAME_RE.match(source):
                raise ConfigError(
                    f"env '{name}' in {job.label}: 'from_env' must name an environment"
                    f" variable, got {describe(to_plain(source))}",
                    value.value_loc["from_env"],
                )
            secret[name] = source
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"  # shell convention, not Python's True
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            raise ConfigError(
                f"env '{name}' in {job.label} must be a value, got {describe(to_plain(value))}",
                node.value_loc[name],
                "a secret comes from the console's environment: {from_env: VAR}",
            )
        check_template(text, node.value_loc[name], f"env '{name}' of {job.label}")
        env[name] = text
    return env, secret
