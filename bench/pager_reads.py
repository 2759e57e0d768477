"""What the whole-output pager reads of a large output: bytes from the host, round
trips and wall time to open it at the end, go to the top, page down 100 times, jump
to the middle and search for a line near the end, against reading it whole.

The output is a jobtui run's stdout file (default 50 MB) read through the real
wrapper on a local transport (the same `jt_read` round trip as over SSH, without the
network), so the figures are what the host's shell and the console do.

    .venv/bin/python bench/pager_reads.py [--mb 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from jobtui.model import Host
from jobtui.pages import ChunkStore, Pager
from jobtui.transport.base import Chunk
from jobtui.transport.local import LocalTransport

JID = "benchpager1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50, help="size of the output (MB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobtui-bench-") as tmp:
        root = Path(tmp)
        job = root / "jobtui" / "jobs" / JID
        job.mkdir(parents=True)
        (job / "rc").write_text("0\n")
        lines = args.mb * 1_000_000 // 40
        with (job / "stdout").open("wb") as f:
            for i in range(0, lines, 10_000):
                block = range(i, min(lines, i + 10_000))
                f.write(b"".join(b"%010d a line of the run's output\n" % n for n in block))
        size = (job / "stdout").stat().st_size
        host = Host(
            name="here", address="here", connection="local", jobtui_dir=str(root / "jobtui")
        )
        with LocalTransport(host) as t:
            trips = 0

            def read(offset: int, n: int) -> Chunk | None:
                nonlocal trips
                trips += 1
                return t.read_output(JID, "stdout", offset, n)

            store = ChunkStore(read)
            pager = Pager(store, height=40)
            steps = [
                ("open at the end", lambda: (pager.open(), pager.end())),
                ("to the top", pager.home),
                ("100 pages down", lambda: pager.down(100 * 39)),
                ("to the middle", lambda: pager.goto(size // 2)),
                ("search a line near the end", lambda: pager.search(b"%010d" % (lines - 5))),
            ]
            print(f"output: {size / 1e6:.1f} MB, {lines:,} lines")
            for name, step in steps:
                before, trips0, t0 = store.bytes_read, trips, time.perf_counter()
                step()
                took = time.perf_counter() - t0
                got = store.bytes_read - before
                print(
                    f"{name:28s} {got / 1e3:9.1f} kB read ({got / size:7.3%} of it), "
                    f"{trips - trips0:4d} round trips, {took * 1000:7.1f} ms"
                )
            print(f"{'in memory after all that':28s} {store.cached / 1e3:9.1f} kB")
            t0 = time.perf_counter()
            whole = t.read_output(JID, "stdout", 0, size)
            took = time.perf_counter() - t0
            assert whole is not None
            print(
                f"{'reading it whole, once':28s} {len(whole.data) / 1e3:9.1f} kB read, "
                f"{took * 1000:7.1f} ms"
            )


if __name__ == "__main__":
    main()
