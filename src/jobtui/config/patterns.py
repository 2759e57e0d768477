"""Ansible host patterns: which hosts of an inventory a job (or `--limit`) means.

Supported: `all` / `*`, a group, a host, shell globs (`web*`, `db0[12]*`), regexes
(`~web\\d+`), and combinations separated by `:` or `,`: `a:b` (union), `a:!b`
(exclude), `a:&b` (intersect). As in Ansible, unions are applied first, then
intersections, then exclusions, whatever the order written; a pattern made only
of exclusions starts from `all`. A term that names nothing is an error (Ansible
only warns), since it is almost always a typo; an existing but empty group is fine.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Iterable
from typing import Any

import regex  # type: ignore[import-untyped, unused-ignore]

from jobtui.config.errors import ConfigError, did_you_mean
from jobtui.config.inventory import Inventory
from jobtui.model import Host, Location

_GLOB_CHARS = frozenset("*?[")
_MAX_SUGGESTED = 10_000
MAX_PATTERN_WORK = 20_000_000
"""Glob and regex terms x (hosts + groups) one pattern may compare: each is a match."""
REGEX_BUDGET = 1.0
"""Seconds all `~regex` terms of one pattern may spend matching (regex's timeout)."""


def select_hosts(
    inventory: Inventory, pattern: str, location: Location | None = None, context: str = ""
) -> list[Host]:
    """The hosts `pattern` selects, in inventory order, without duplicates.

    Args:
        context: appended to error messages, e.g. " in job 'backup'".

    Raises:
        ConfigError: an empty pattern, a bad regex, or a term that matches nothing.
    """
    terms = list(dict.fromkeys(split_pattern(pattern)))  # `all:all:...` costs one term
    if not terms:
        raise ConfigError(f"empty host pattern{context}", location, "try 'all' or a group name")
    costly = [
        t
        for t in terms
        if t.lstrip("!&").strip() not in inventory.groups
        and t.lstrip("!&").strip() not in inventory.hosts
        and (t.lstrip("!&").startswith("~") or _GLOB_CHARS & set(t))
    ]
    names = len(inventory.hosts) + len(inventory.groups)
    if len(costly) * names > MAX_PATTERN_WORK:
        raise ConfigError(
            f"host pattern{context} is too costly: {len(costly):,} glob or regex terms"
            f" over {names:,} hosts and groups",
            location,
            "name groups instead of many wildcard terms",
        )
    deadline = time.monotonic() + REGEX_BUDGET
    union = [t for t in terms if t[0] not in "!&"]
    intersect = [t[1:] for t in terms if t[0] == "&"]
    exclude = [t[1:] for t in terms if t[0] == "!"]
    selected: set[str] = set()
    for term in union or ["all"]:
        selected |= _match(inventory, term, location, context, deadline)
    for term in intersect:
        selected &= _match(inventory, term, location, context, deadline)
    for term in exclude:
        selected -= _match(inventory, term, location, context, deadline)
    return [host for name, host in inventory.hosts.items() if name in selected]


def _regex_matches(compiled: Any, names: Iterable[str], deadline: float) -> list[str]:
    """The names `compiled` matches at their start, all within one shared deadline."""
    found = []
    for name in names:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if compiled.match(name, timeout=remaining):
            found.append(name)
    return found


def split_pattern(pattern: str) -> list[str]:
    """Split on `,` or `:`, but not inside `[...]` (glob character classes)."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in pattern:
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        if char in ",:" and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    terms.append("".join(current).strip())
    return [t for t in terms if t and t not in ("!", "&")]


def _match(
    inventory: Inventory, term: str, location: Location | None, context: str, deadline: float
) -> set[str]:
    term = term.strip()
    if term in ("all", "*"):
        return set(inventory.hosts)
    if term in inventory.groups:
        return set(inventory.groups[term])
    if term in inventory.hosts:
        return {term}
    names: set[str] = set()
    matched_any = False
    if term.startswith("~"):
        try:
            re.compile(term[1:])  # re's messages; matching uses regex, which has a timeout
            compiled = regex.compile(term[1:])
            groups = _regex_matches(compiled, inventory.groups, deadline)
            hosts = _regex_matches(compiled, inventory.hosts, deadline)
        except (re.error, regex.error, OverflowError, RecursionError) as e:
            raise ConfigError(
                f"invalid regex in host pattern '{term}'{context}: {e}", location
            ) from None
        except TimeoutError:
            raise ConfigError(
                f"host pattern regex '{term}'{context} takes too long to match"
                f" (over {REGEX_BUDGET:g} s)",
                location,
                "nested repeats such as (a+)+ backtrack without end: simplify the regex",
            ) from None
    elif _GLOB_CHARS & set(term):
        groups = [g for g in inventory.groups if fnmatch.fnmatchcase(g, term)]
        hosts = [h for h in inventory.hosts if fnmatch.fnmatchcase(h, term)]
    else:
        groups, hosts = [], []
    for group in groups:
        matched_any = True
        names.update(inventory.groups[group])
    if hosts:
        matched_any = True
        names.update(hosts)
    if not matched_any:
        # difflib compares the term with every name: over 100,000 hosts that takes seconds.
        suggested = list(inventory.hosts) if len(inventory.hosts) <= _MAX_SUGGESTED else []
        known = sorted(set(inventory.groups) | set(suggested))
        shown = ", ".join(sorted(inventory.groups)[:10])
        raise ConfigError(
            f"host pattern '{term}'{context} matches no host or group",
            location,
            did_you_mean(term, known) or f"groups are: {shown}",
        )
    return names
