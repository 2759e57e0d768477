"""How long a 100,000-host range takes to load, plan and check (prints the figures).

    .venv/bin/python bench/inventory_load.py [--hosts N]

Writes `h[00000:N-1]` and a one-job file to a temporary directory, then times
`load_inventory`, `build_plan` + `format_plan`, and a real `jobtui check` process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jobtui.config.inventory import load_inventory
from jobtui.config.jobs import load_jobs
from jobtui.plan import build_plan, format_plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000)
    args = parser.parse_args()
    width = len(str(args.hosts - 1))
    with tempfile.TemporaryDirectory() as tmp:
        inventory_path = Path(tmp) / "inv.yml"
        jobs_path = Path(tmp) / "jobs.yml"
        inventory_path.write_text(
            f"all:\n  hosts:\n    h[{'0' * width}:{args.hosts - 1:0{width}d}]:\n"
            "      ansible_connection: local\n"
        )
        jobs_path.write_text(
            "jobs:\n  - name: j\n    hosts: all\n    shell: echo {{ inventory_hostname }}\n"
        )
        start = time.monotonic()
        inventory = load_inventory(str(inventory_path))
        loaded = time.monotonic()
        format_plan(build_plan(load_jobs(str(jobs_path)), inventory))
        planned = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "jobtui", "check", str(jobs_path), "-i", str(inventory_path)],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        checked = time.monotonic()
    print(f"hosts: {len(inventory.hosts)}")
    print(f"load_inventory: {loaded - start:.2f} s")
    print(f"build_plan + format_plan: {planned - loaded:.2f} s")
    print(f"jobtui check (process): {checked - planned:.2f} s")


if __name__ == "__main__":
    main()
