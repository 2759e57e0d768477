"""Hosts and jobs as the store keeps them (JSON), and back.

A batch keeps its hosts' connection settings and its job definitions as they were at
launch. Passwords never reach the store: a host's `SECRET_VARS` are dropped from its
variables here. A store written before a field existed still loads: a missing key is
the field's default.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jobtui.model import SECRET_VARS, CleanupPolicy, Endpoint, Host, JobSpec


def host_dict(h: Host) -> dict[str, Any]:
    d = dataclasses.asdict(h)
    d["vars"] = {k: v for k, v in d["vars"].items() if k not in SECRET_VARS}
    d["groups"] = list(h.groups)
    return d


def host_from(d: dict[str, Any]) -> Host:
    ssh = d.get("ssh")
    return Host(
        **{
            **d,
            "groups": tuple(d.get("groups", ())),
            "ssh": Endpoint.from_dict(ssh) if ssh else None,
        }
    )


def job_dict(j: JobSpec) -> dict[str, Any]:
    skip = ("location", "key_locations")
    d = {f.name: getattr(j, f.name) for f in dataclasses.fields(j) if f.name not in skip}
    d["cleanup"] = j.cleanup.value
    d["loop"] = list(j.loop) if j.loop is not None else None
    return d


def job_from(d: dict[str, Any]) -> JobSpec:
    loop = tuple(d["loop"]) if d.get("loop") is not None else None
    return JobSpec(**{**d, "cleanup": CleanupPolicy(d["cleanup"]), "loop": loop})
