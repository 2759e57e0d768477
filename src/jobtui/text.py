"""Text for people: labels of runs, durations, time limits, times, and making
untrusted text (job output, names from a host) inert for a terminal.

Pure functions, no I/O: the reporters, the lifecycle commands, the engine's notices
and the console all format with these.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def label(host: str, job: str, item: str) -> str:
    """`host job[item]`: a run as messages name it."""
    return f"{host} {job}[{item}]" if item else f"{host} {job}"


def duration(seconds: float) -> str:
    """Compact elapsed time: `45s`, `1m12s`, `2h05m`, `3d04h`."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def limit(seconds: int) -> str:
    """A time limit without its zero parts: `30s`, `1m`, `1m30s`, `1h`, `1h30m`."""
    if seconds <= 0:
        return "∞"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (`2026-11-28T22:45:12Z`), None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sanitize(text: str) -> str:
    """Make untrusted text inert for a terminal: control characters (escape sequences
    included) become visible `\\xNN`, except newline and tab."""
    out = []
    for ch in text:
        o = ord(ch)
        if ch in "\n\t" or (o >= 0x20 and o != 0x7F and not 0x80 <= o < 0xA0):
            out.append(ch)
        else:
            out.append(f"\\x{o:02x}")
    return "".join(out)


_ONE_LINE = {
    ord(c): f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
    for c in "\n\t\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069"
}
"""What `sanitize` keeps but a name must not hold: line breaks and tabs (a name is one
line: a newline in it would start a forged one), and the bidi controls that reorder
what follows them on screen."""
_JSON_INERT = {
    **{c: f"\\u{c:04x}" for c in range(0x7F, 0xA0)},
    **{c: f"\\u{c:04x}" for c in _ONE_LINE if c >= 0x100},
}
"""What `json.dumps(ensure_ascii=False)` writes raw (it escapes C0 only): DEL, C1
controls (U+009B is CSI to some terminals), bidi controls, line separators."""


def one_line(text: str) -> str:
    """A name from config or a host, inert for a terminal and on one line: control
    characters, line breaks, tabs and bidi controls become visible `\\xNN`/`\\uNNNN`."""
    return sanitize(text).translate(_ONE_LINE)


def json_line(obj: Any) -> str:
    """`obj` as one line of JSON in which no character reaches a terminal raw: the
    same value (an escaped character is the same string to a JSON reader)."""
    return json.dumps(obj, ensure_ascii=False).translate(_JSON_INERT)
