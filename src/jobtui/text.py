"""Text for people: labels of runs, durations, time limits, times, and making
untrusted text (job output, names from a host) inert for a terminal.

Pure functions, no I/O: the reporters, the lifecycle commands, the engine's notices
and the console all format with these.
"""

from __future__ import annotations

from datetime import UTC, datetime


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
