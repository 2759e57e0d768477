"""Faults over real sshd hosts: changed host keys, hosts that drop and come back,
hosts that never answer. Every other host carries on."""

from __future__ import annotations

import contextlib
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobtui.config import load_inventory
from jobtui.engine import Engine
from jobtui.events import Event, HostChanged, RunChanged
from jobtui.model import JobSpec, RunSpec, RunState
from jobtui.transport import make_transport
from tests.helpers import run_jobtui, wait_until
from tests.sshfleet import SshFleet


def run_engine(inventory: Path, script: str, poll: float = 0.3) -> tuple[list[Event], Engine]:
    inv = load_inventory(str(inventory))
    job = JobSpec(name="j", hosts="all", shell=script, poll=poll, timeout=120)
    runs = [RunSpec(job, h, None, 0, script) for h in inv.hosts.values()]
    transports = {r.host.name: make_transport(r.host) for r in runs}
    events: list[Event] = []
    # A host that fails is tried again after 0.2, 0.4, 0.8 ... s (the default starts at 1 s).
    engine = Engine(runs, transports, batch="b", on_event=events.append, backoff=0.2)
    return events, engine


def final_states(events: list[Event]) -> dict[str, RunState]:
    return {e.run.host: e.run.state for e in events if isinstance(e, RunChanged)}


def test_a_changed_host_key_is_refused_with_both_fingerprints_and_nothing_runs_there(
    make_fleet: object, tmp_path: Path
) -> None:
    fleet: SshFleet = make_fleet(2, 20)  # type: ignore[operator]
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    forged_pub = other.with_suffix(".pub").read_text().split()[1]
    h1 = fleet.hosts[0]
    lines = fleet.known_hosts_path.read_text().splitlines()
    lines = [
        f"[{h1.address}]:{h1.port} ssh-ed25519 {forged_pub}"
        if line.startswith(f"[{h1.address}]")
        else line
        for line in lines
    ]
    fleet.known_hosts_path.write_text("\n".join(lines) + "\n")
    marker = tmp_path / "ran"
    _, engine = run_engine(
        fleet.write_inventory(tmp_path / "inv.yml"), f"echo {{}} >> {marker}; hostname"
    )
    result = engine.run()
    states = {v.host: (v.state, v.reason) for v in result.runs}
    assert states[h1.name][0] is RunState.UNREACHABLE
    reason = states[h1.name][1]
    assert "HOST KEY CHANGED" in reason and reason.count("SHA256:") == 2
    assert states[fleet.hosts[1].name][0] is RunState.SUCCEEDED
    assert marker.read_text().count("{}") == 1  # only the good host ran it


def test_a_host_that_drops_mid_run_is_unreachable_then_followed_to_its_real_end(
    make_fleet: object, tmp_path: Path
) -> None:
    fleet: SshFleet = make_fleet(2, 30)  # type: ignore[operator]
    done = tmp_path / "done"
    events, engine = run_engine(
        fleet.write_inventory(tmp_path / "inv.yml"),
        f"sleep 4; echo {{}} >> {done}",
    )
    victim = fleet.hosts[0]
    worker = threading.Thread(target=engine.run)
    worker.start()
    assert wait_until(
        lambda: any(
            isinstance(e, RunChanged)
            and e.run.state is RunState.RUNNING
            and e.run.host == victim.name
            for e in events
        )
    )
    victim.stop()  # sshd and its sessions die; the detached job goes on
    assert wait_until(
        lambda: any(isinstance(e, HostChanged) and not e.reachable for e in events), 30
    )
    assert wait_until(lambda: done.exists() and done.read_text().count("{}") == 2, 30)
    victim.restart()
    worker.join(120)
    assert not worker.is_alive()
    assert final_states(events) == {h.name: RunState.SUCCEEDED for h in fleet.hosts}
    assert any(isinstance(e, RunChanged) and e.run.state is RunState.UNREACHABLE for e in events)
    assert any(isinstance(e, HostChanged) and e.reachable and e.host == victim.name for e in events)


def test_a_host_that_never_answers_is_unreachable_and_holds_back_no_other(
    ssh_fleet: SshFleet, fleet_inventory: Path, black_hole: tuple[str, int], tmp_path: Path
) -> None:
    addr, port = black_hole
    text = fleet_inventory.read_text()
    inv = tmp_path / "inv.yml"
    inv.write_text(
        text
        + textwrap.dedent(
            f"""\
                dead:
                  hosts:
                    silent: {{ansible_host: {addr}, ansible_port: {port}, ansible_ssh_timeout: 1}}
            """
        ).replace("\n    ", "\n    ")
    )
    events, engine = run_engine(inv, "true")
    result = engine.run()
    states = {v.host: v for v in result.runs}
    assert states["silent"].state is RunState.UNREACHABLE
    assert "timed out" in states["silent"].reason or "banner" in states["silent"].reason
    ends = [
        i
        for i, e in enumerate(events)
        if isinstance(e, RunChanged) and e.run.state.finished and e.run.host != "silent"
    ]
    verdict = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, RunChanged)
        and e.run.host == "silent"
        and e.run.state is RunState.UNREACHABLE
    )
    assert len(ends) == 3 and max(ends) < verdict


def test_an_unreachable_host_prints_a_reason_and_never_a_traceback(
    black_hole: tuple[str, int], tmp_path: Path
) -> None:
    addr, port = black_hole
    inv = tmp_path / "inv.yml"
    inv.write_text(
        f"all:\n  hosts:\n    silent: {{ansible_host: {addr}, ansible_port: {port},"
        " ansible_ssh_timeout: 1}\n"
    )
    jobs = tmp_path / "jobs.yml"
    jobs.write_text("jobs:\n  - name: j\n    hosts: all\n    shell: 'true'\n")
    proc = run_jobtui(
        "run",
        str(jobs),
        "-i",
        str(inv),
        "--headless",
        "--state-dir",
        str(tmp_path / "st"),
        timeout=120,
    )
    assert proc.returncode == 1
    assert "silent: unreachable: cannot connect" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A tiny tmpfs, filled up: a host whose disk is full."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
            capture_output=True,
            check=False,
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_on_the_host_is_a_clear_launch_failure(
    ssh_fleet: SshFleet, full_disk: Path, tmp_path: Path
) -> None:
    host = ssh_fleet.hosts[0]
    inv = ssh_fleet.write_inventory(
        tmp_path / "inv.yml", hosts=[host], host_vars={host.name: {"jobtui_dir": str(full_disk)}}
    )
    # First launch sets the host up; then the disk fills, then the next launch.
    _, engine = run_engine(inv, "true")
    assert {v.state for v in engine.run().runs} == {RunState.SUCCEEDED}
    # Fill the disk: ENOSPC ends the loop, and is the point.
    with (full_disk / "filler").open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    _, engine = run_engine(inv, "true")
    run = engine.run().runs[0]
    assert run.state is RunState.FAILED
    assert "launch failed: cannot write the job files" in run.reason
    assert "the disk is full" in run.reason
    assert len(list((full_disk / "jobs").iterdir())) == 1  # the failed one left nothing


def test_huge_binary_and_escape_laden_output_stays_bounded_and_inert(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        textwrap.dedent(
            r"""
            jobs:
              - name: noisy
                hosts: host1
                shell: |
                  head -c 268435456 /dev/zero | tr '\0' x
                  head -c 4096 /dev/urandom
                  printf '\033]0;pwned\007\033[2J\033[31mred\n' >&2
                  exit 1
                poll: 0.5
            """
        )
    )
    proc = run_jobtui(
        "run",
        str(jobs),
        "-i",
        str(fleet_inventory),
        "--headless",
        "--state-dir",
        str(tmp_path / "st"),
        timeout=300,
    )
    assert proc.returncode == 1
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    assert "\\x1b]0;pwned\\x07" in proc.stderr
    status = run_jobtui(
        "status",
        "-i",
        str(fleet_inventory),
        "--json",
        "--limit",
        "host1",
        "--state-dir",
        str(tmp_path / "st"),
        timeout=120,
    )
    assert status.returncode == 0
    assert len(status.stdout) < 64 * 1024  # a 256 MB output, a bounded answer
    assert "\x1b" not in status.stdout  # JSON escapes control characters
