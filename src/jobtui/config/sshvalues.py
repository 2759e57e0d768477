"""How OpenSSH reads a config value: its words (`argv_split`), times, yes/no, ports,
and which keywords jobtui reads. Shared by ssh_config files and `-o` options."""

from __future__ import annotations

import re

from jobtui.config.errors import ConfigError
from jobtui.model import Location

SINGLE = frozenset(
    {
        "hostname",
        "port",
        "user",
        "identityfile",
        "identitiesonly",
        "proxyjump",
        "connecttimeout",
        "serveraliveinterval",
        "stricthostkeychecking",
        "canonicalizehostname",
        "forwardagent",
        "hostkeyalias",
    }
)
"""Keywords jobtui reads that take exactly one value."""
MULTI = frozenset({"userknownhostsfile"})
REST_OF_LINE = frozenset({"proxycommand", "localcommand", "remotecommand"})
"""Keywords whose value is the rest of the line, unsplit (as readconf.c takes them)."""
USED = SINGLE | MULTI | {"proxycommand"}
_TIME = re.compile(r"(?:(\d+)([sSmMhHdDwW]?))")
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_BOOL = {"yes": True, "true": True, "no": False, "false": False}
STRICT_VALUES = frozenset({"yes", "no", "off", "ask", "accept-new", "true", "false"})


def split_args(text: str) -> list[str] | None:
    """Words of a config value as OpenSSH's `argv_split` makes them (quotes, `\\`
    before a quote, a backslash or a space, `#` starting a word ends the line); None
    for unbalanced quotes."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == "#":
            break
        word: list[str] = []
        quote = ""
        while i < n:
            c = text[i]
            if (
                c == "\\"
                and i + 1 < n
                and (text[i + 1] in "'\"\\" or (not quote and text[i + 1] == " "))
            ):
                word.append(text[i + 1])
                i += 2
                continue
            if not quote and c in " \t":
                break
            if not quote and c in "'\"":
                quote = c
            elif quote and c == quote:
                quote = ""
            else:
                word.append(c)
            i += 1
        if quote:
            return None
        words.append("".join(word))
    return words


def parse_time(value: str) -> int | None:
    """Seconds of an OpenSSH time value (`30`, `1m30s`, `2h`), None if malformed."""
    if not value or _TIME.sub("", value) != "":
        return None
    return sum(int(num) * _TIME_UNITS[unit.lower()] for num, unit in _TIME.findall(value))


def parse_bool(value: str) -> bool | None:
    return _BOOL.get(value.lower())


def check_value(key: str, value: str, where: Location) -> None:
    """A ConfigError for a value OpenSSH would refuse in a setting jobtui uses."""
    bad = None
    if key == "port":
        if not (value.isdigit() and 1 <= int(value) <= 65535):
            bad = "a port number (1-65535)"
    elif key in ("connecttimeout", "serveraliveinterval"):
        if parse_time(value) is None and not (key == "connecttimeout" and value == "none"):
            bad = "a time (seconds, or e.g. 1m30s)"
    elif key in ("identitiesonly", "forwardagent"):
        if parse_bool(value) is None and not (
            key == "forwardagent" and value.startswith(("/", "$"))
        ):
            bad = "yes or no"
    elif key == "stricthostkeychecking" and value.lower() not in STRICT_VALUES:
        bad = "yes, no, ask or accept-new"
    if bad:
        raise ConfigError(f"ssh_config {key} must be {bad}, got {value!r}", where)
