"""What is kept from one round trip to the next so as not to be worked out again, and
that keeping it changes nothing a caller sees (local shell: the real wrapper)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jobtui.fleet import discover
from jobtui.model import Host, RunState
from jobtui.remote import parse
from jobtui.transport import Transport
from jobtui.transport.local import LocalTransport

RESULT = {"rc": 3, "stdout": "out\n", "stderr": "", "cmd": "false", "delta": "0:00:01"}


def test_a_finished_ansible_job_reads_the_same_each_time_and_is_decoded_once(
    tmp_path: Path,
) -> None:
    adir = tmp_path / "async"
    adir.mkdir()
    jid = "j123456789012.4242"
    (adir / jid).write_text(json.dumps(RESULT))
    host = Host(
        name="l",
        address="l",
        connection="local",
        jobtui_dir=str(tmp_path / "jt"),
        ansible_async_dir=str(adir),
    )
    parse._file_status.cache_clear()
    with LocalTransport(host) as t:
        first = t.status(None).runs[jid]
        assert first.state is RunState.FAILED and first.rc == 3
        first.meta["job"] = "changed by a caller"
        first.add_problem("a caller's note")
        # The next answers say `same` (the transport holds the file): the status is
        # the cached one, a fresh copy, untouched by what a caller did to the first.
        again = [t.status(None).runs[jid] for _ in range(3)]
    expected = {"job": "command", "command": "false"}
    assert all(a.meta == expected and not a.problem for a in again)
    assert all(a.state is RunState.FAILED and a.rc == 3 and a.tail == "out\n" for a in again)
    assert parse._file_status.cache_info().misses == 1


def test_a_discovery_in_the_callers_pool_finds_what_one_in_its_own_does(tmp_path: Path) -> None:
    adir = tmp_path / "async"
    adir.mkdir()
    (adir / "j123456789012.4242").write_text(json.dumps(RESULT))
    hosts = [
        Host(
            name=f"h{i}",
            address="l",
            connection="local",
            jobtui_dir=str(tmp_path / f"jt{i}"),
            ansible_async_dir=str(adir),
        )
        for i in range(3)
    ]
    ts: list[Transport] = [LocalTransport(h) for h in hosts]
    try:
        own = discover(ts, 2)
        with ThreadPoolExecutor(max_workers=2) as pool:
            kept = [discover(ts, 2, pool) for _ in range(2)]
    finally:
        for t in ts:
            t.close()
    for found in kept:
        assert [(v.host, v.jid, v.state) for v in found.runs] == [
            (v.host, v.jid, v.state) for v in own.runs
        ]
    assert len(own.runs) == 3
