"""What every reader of a host's files shares: the error of a value that is not what
its writer (jobtui's wrapper, Ansible) writes, and a bounded JSON object reader."""

from __future__ import annotations

import json
from typing import Any


class Unreadable(ValueError):
    """One value from a host is not what its writer writes; `str()` says why, for people."""


def json_object(body: bytes, limit: int, not_json: str = "not JSON") -> dict[str, Any]:
    """A JSON object from a host, at most `limit` bytes.

    Raises:
        Unreadable: too large, not JSON (`not_json`: a truncated file, `[[[[...`
            nested deeper than the decoder's stack, a number of thousands of digits),
            or not an object.
    """
    if len(body) > limit:
        raise Unreadable("too large")
    try:
        raw = json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as e:
        raise Unreadable(not_json) from e
    if not isinstance(raw, dict):
        raise Unreadable("not a JSON object")
    return raw
