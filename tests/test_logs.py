"""`jobtui logs` over real sshd hosts: a whole output byte for byte in bounded memory,
`-f` to the run's end and its exit code, runs found through the store (no inventory),
a terminal shown inert, and the bad inputs (malformed, unknown, unreachable)."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobtui.logs_cmd import Sink
from tests.sshfleet import SshFleet

JOBTUI = [sys.executable, "-m", "jobtui"]
BIG = 20_000_000
"""Bytes of the big output."""
RSS_LIMIT_KB = 100 * 1024
"""What `logs` may take at its peak, whatever the output's size (ru_maxrss: KiB)."""
GROWTH_LIMIT_KB = 15 * 1024
"""How much more a 20 MB output may take than a 1-byte one: far less than the output."""


def jobtui(*args: str, state: Path, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*JOBTUI, *args, "--state-dir", str(state)], capture_output=True, timeout=timeout
    )


def write_jobs(path: Path, body: str) -> str:
    path.write_text(textwrap.dedent(body))
    return str(path)


def launch(jobs: str, inventory: Path, state: Path) -> dict[str, Any]:
    """Run the batch headless to its end (or its launch, `poll: 0`): its JSON summary."""
    proc = jobtui(
        "run", jobs, "-i", str(inventory), "--headless", "--json", state=state, timeout=300
    )
    assert proc.returncode in (0, 1), proc.stderr
    return dict(json.loads(proc.stdout.splitlines()[-1]))


def jids(summary: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["host"], r["item"]): r["jid"] for r in summary["runs"]}


LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
os.write(int(os.environ["RSS_FD"]), str(usage.ru_maxrss).encode())
sys.exit(os.waitstatus_to_exitcode(status))
"""
"""Runs a command and writes its peak RSS. A process started straight from the test
would report the test worker's own peak: `subprocess` starts it with vfork, and Linux
keeps the high-water mark of the memory a process had before its `exec`; a worker that
ran many tests is hundreds of MB. Forked from this small launcher, it starts afresh."""


def peak_rss_kb(argv: list[str], out: Path) -> tuple[int, int]:
    """Run `argv` with stdout to `out`; its exit code and its own peak RSS (KiB)."""
    r, w = os.pipe()
    env = dict(os.environ, RSS_FD=str(w))
    with out.open("wb") as f, out.with_suffix(".stderr").open("wb") as err:
        proc = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *argv], stdout=f, stderr=err, pass_fds=(w,), env=env
        )
    os.close(w)
    with os.fdopen(r) as peak:
        return proc.returncode, int(peak.read())


def test_a_20_mb_stdout_comes_back_byte_for_byte_in_bounded_memory(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: big
            hosts: host1
            shell: "head -c {BIG} /dev/urandom > big.bin; cat big.bin"
            chdir: "{tmp_path}"
            poll: 0.2
          - name: small
            hosts: host1
            shell: "printf x"
            poll: 0.2
        """,
    )
    runs = {r["job"]: r["jid"] for r in launch(jobs, fleet_inventory, state)["runs"]}
    # No -i: the store knows the jid, and its host.
    base = [*JOBTUI, "logs", "--state-dir", str(state)]
    code, small_rss = peak_rss_kb([*base, runs["small"]], tmp_path / "small.out")
    assert code == 0, (tmp_path / "small.stderr").read_text()
    assert (tmp_path / "small.out").read_bytes() == b"x"
    code, big_rss = peak_rss_kb([*base, runs["big"]], tmp_path / "big.out")
    assert code == 0, (tmp_path / "big.stderr").read_text()
    assert (tmp_path / "big.out").read_bytes() == (tmp_path / "big.bin").read_bytes()
    assert big_rss < RSS_LIMIT_KB, f"peak RSS {big_rss} KiB"
    assert big_rss - small_rss < GROWTH_LIMIT_KB, f"{small_rss} KiB, then {big_rss} KiB"
    # A reader that stops early (`| head`) ends it quietly.
    line = " ".join(shlex.quote(w) for w in [*base, runs["big"]])
    head = subprocess.run(
        ["sh", "-c", f"{line} | head -c 100 | wc -c"], capture_output=True, timeout=120
    )
    assert (head.stdout.strip(), head.stderr) == (b"100", b"")


def follow_job(tmp_path: Path, rc: int) -> str:
    """A job that prints a line every 0.3 s, waits for `gate` (so `-f` is seen
    following it while it runs), prints three more, and exits `rc`."""
    gate = tmp_path / "gate"
    return write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: ticker
            hosts: host2
            shell: >-
              for i in 1 2 3; do echo "line $i"; sleep 0.3; done;
              n=0; while [ ! -e {gate} ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done;
              for i in 4 5 6; do echo "line $i"; sleep 0.3; done; exit {rc}
            poll: 0
            timeout: 300
        """,
    )


def read_line(fd: int, timeout: float) -> bytes:
    """What the pipe gives until a first whole line (b"" if none within `timeout`)."""
    got = b""
    while b"\n" not in got:
        ready, _, _ = select.select([fd], [], [], timeout)
        data = os.read(fd, 65536) if ready else b""
        if not data:
            break
        got += data
    return got


@pytest.mark.parametrize(("rc", "code"), [(0, 0), (3, 1)])
def test_follow_gets_every_line_of_a_running_run_and_exits_as_it_ended(
    fleet_inventory: Path, tmp_path: Path, rc: int, code: int
) -> None:
    state = tmp_path / "state"
    jobs = follow_job(tmp_path, rc)
    summary = launch(jobs, fleet_inventory, state)  # poll: 0: launched, left running
    jid = summary["runs"][0]["jid"]
    proc = subprocess.Popen(
        [*JOBTUI, "logs", jid, "-f", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = read_line(proc.stdout.fileno(), 60)  # printed while the run waits at its gate
    finally:
        (tmp_path / "gate").touch()
    rest, err = proc.communicate(timeout=120)
    assert first + rest == b"".join(b"line %d\n" % i for i in range(1, 7))
    assert proc.returncode == code, err
    if code:
        assert f"{jid}: failed".encode() in err


def test_follow_of_a_run_already_ended_says_how_it_ended(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        """
        jobs:
          - name: ok
            hosts: host1
            shell: echo fine
            poll: 0.2
          - name: bad
            hosts: host1
            shell: echo oops; exit 4
            poll: 0.2
        """,
    )
    runs = {r["job"]: r["jid"] for r in launch(jobs, fleet_inventory, state)["runs"]}
    ok = jobtui("logs", runs["ok"], "-f", state=state)
    assert (ok.returncode, ok.stdout) == (0, b"fine\n")
    bad = jobtui("logs", runs["bad"], "-f", state=state)
    assert (bad.returncode, bad.stdout) == (1, b"oops\n")
    plain = jobtui("logs", runs["bad"], state=state)  # without -f: printed, exit 0
    assert (plain.returncode, plain.stdout) == (0, b"oops\n")
    # Another console's run (not in this store): found on the inventory's hosts.
    other, inv = tmp_path / "other-state", str(fleet_inventory)
    found = jobtui("logs", runs["bad"], "-f", "-i", inv, state=other)
    assert (found.returncode, found.stdout) == (1, b"oops\n")
    found = jobtui("logs", runs["ok"], "-f", "-i", inv, state=other)
    assert (found.returncode, found.stdout) == (0, b"fine\n")


HOSTILE = b"title\x1b]0;pwned\x07 \x1b[31mred\x1b[0m caf\xc3\xa9 \xff end\n"


def test_a_terminal_is_shown_the_output_inert_and_a_pipe_gets_its_raw_bytes(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    (tmp_path / "hostile.bin").write_bytes(HOSTILE)
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: hostile
            hosts: host1
            shell: cat {tmp_path / "hostile.bin"}
            poll: 0.2
        """,
    )
    jid = launch(jobs, fleet_inventory, state)["runs"][0]["jid"]
    piped = jobtui("logs", jid, state=state)
    assert piped.stdout == HOSTILE

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*JOBTUI, "logs", jid, "--state-dir", str(state)], stdout=slave, stderr=subprocess.PIPE
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the other side closed
            break
        if not data:
            break
        shown += data
    os.close(master)
    assert proc.wait(60) == 0
    text = shown.decode("utf-8")
    assert "\x1b" not in text and "\x07" not in text
    assert "title\\x1b]0;pwned\\x07 \\x1b[31mred\\x1b[0m café \\xff end" in text


def test_bad_input_is_refused_clearly(fleet_inventory: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        """
        jobs:
          - name: quick
            hosts: host1
            shell: echo hi
            poll: 0.2
            cleanup: always
        """,
    )
    jid = launch(jobs, fleet_inventory, state)["runs"][0]["jid"]

    malformed = jobtui("logs", "../../etc/passwd", state=state)
    assert malformed.returncode == 2 and b"jid" in malformed.stderr
    assert b"Traceback" not in malformed.stderr

    unknown = jobtui("logs", "A" * 22, "-i", str(fleet_inventory), state=state)
    assert unknown.returncode == 1 and b"not found on these hosts" in unknown.stderr
    no_inventory = jobtui("logs", "A" * 22, state=tmp_path / "empty-state")
    assert no_inventory.returncode == 1 and b"not in the store" in no_inventory.stderr

    # Cleaned up (`cleanup: always`) and never fetched: gone, and said so.
    gone = jobtui("logs", jid, state=state)
    assert gone.returncode == 1 and b"no longer on host1" in gone.stderr


def test_a_run_whose_host_is_down_is_refused_or_read_from_its_fetched_copy(
    make_fleet: Callable[..., SshFleet], tmp_path: Path
) -> None:
    fleet = make_fleet(1, 90)
    inventory = fleet.write_inventory(tmp_path / "inv.yml", jobtui_root=tmp_path / "hosts")
    state = tmp_path / "state"
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        """
        jobs:
          - name: kept
            hosts: all
            shell: echo kept output
            poll: 0.2
            fetch: ./copies
          - name: plain
            hosts: all
            shell: echo plain output
            poll: 0.2
        """,
    )
    runs = {r["job"]: r["jid"] for r in launch(jobs, inventory, state)["runs"]}
    fleet.hosts[0].stop()
    plain = jobtui("logs", runs["plain"], state=state)
    assert plain.returncode == 1 and b"unreachable" in plain.stderr
    kept = jobtui("logs", runs["kept"], state=state)
    assert (kept.returncode, kept.stdout) == (0, b"kept output\n"), kept.stderr
    assert b"unreachable" in kept.stderr and b"from the fetched copy" in kept.stderr


@pytest.mark.parametrize(
    "chunks", [[b"caf\xc3", b"\xa9 \x1b[1m"], [b"caf", b"\xc3", b"\xa9 \x1b[1m"]]
)
def test_an_inert_sink_keeps_a_character_split_across_chunks_whole(chunks: list[bytes]) -> None:
    out = io.BytesIO()
    sink = Sink(out, inert=True)
    for c in chunks:
        sink.write(c)
    sink.close()
    assert out.getvalue().decode() == "café \\x1b[1m"


def test_an_inert_sink_shows_a_last_incomplete_character_when_it_is_closed() -> None:
    out = io.BytesIO()
    sink = Sink(out, inert=True)
    sink.write(b"end \xc3")
    sink.close()
    assert out.getvalue() == b"end \\xc3"


def test_a_raw_sink_writes_the_bytes_unchanged() -> None:
    out = io.BytesIO()
    sink = Sink(out)
    sink.write(HOSTILE)
    sink.close()
    assert out.getvalue() == HOSTILE
