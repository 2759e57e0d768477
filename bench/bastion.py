"""bastion: N hosts behind one jump host, against the same N hosts reached directly.

A loopback fleet of one bastion and N targets (tests/sshfleet.py: real sshd each).
The same batch (`sleep SECONDS` on every target, `--forks N`) runs twice as
``jobtui run JOBS -i INV --headless --json``: once direct, once with every target
behind the bastion (`ansible_ssh_common_args: -o ProxyJump=bastion`, the bastion named
in an ssh_config file, as an Ansible user has it). Each is a fresh console process,
measured with ``os.wait4`` (wall, CPU, peak RSS). The bastion's sshd log (LogLevel
INFO) counts the logins on it: the target is one, however many hosts sit behind it.

    .venv/bin/python bench/bastion.py               # 100 hosts
    .venv/bin/python bench/bastion.py --hosts 20
    .venv/bin/python bench/bastion.py --repeat 3     # medians of 3 (issue 20's table)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from _common import (
    Measured,
    header,
    jobtui_bin,
    loadavg,
    run_measured,
    sshfleet,
    summary_counts,
)

JOBS = """\
jobs:
  - name: behind
    hosts: all
    shell: sleep {seconds}
    timeout: 120
    poll: {poll}
"""

TARGET_OVER = 4.0
"""Issue 20: 100 hosts behind one bastion within 4 s of the job, over one connection."""


def run_once(
    fleet: sshfleet.SshFleet,
    targets: list[sshfleet.FleetHost],
    work: Path,
    name: str,
    extra: dict[str, str],
) -> Measured:
    hosts = {
        t.name: {
            "ansible_host": t.address,
            "ansible_port": t.port,
            "jobtui_dir": str(work / name / t.name),
            **extra,
        }
        for t in targets
    }
    inventory = work / f"inventory-{name}.yml"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "vars": {
                        "ansible_user": fleet.user,
                        "ansible_ssh_private_key_file": str(fleet.user_key_path),
                        "jobtui_known_hosts": str(fleet.known_hosts_path),
                    },
                    "hosts": hosts,
                }
            }
        )
    )
    return run_measured(
        [
            jobtui_bin(),
            "run",
            str(work / "jobs.yml"),
            "-i",
            str(inventory),
            "-F",
            str(work / "ssh_config"),
            "--headless",
            "--json",
            "--forks",
            str(len(targets)),
            "--state-dir",
            str(work / f"state-{name}"),
        ],
        timeout=300,
        fleet=fleet,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=100, help="targets behind the bastion (max 250)")
    ap.add_argument("--seconds", type=int, default=2, help="each job: sleep SECONDS")
    ap.add_argument("--poll", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each route (medians)")
    args = ap.parse_args()
    if not 1 <= args.hosts <= 250:
        ap.error("--hosts must be between 1 and 250")
    header_line = header()
    rows: list[tuple[str, Measured, dict[str, int], int, str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="jobtui-bench-") as tmp,
        sshfleet.SshFleet(Path(tmp) / "fleet") as fleet,
    ):
        work = Path(tmp)
        (bastion,) = fleet.start(1, first_octet=2, sshd_config=["LogLevel INFO"])
        targets = fleet.start(args.hosts, first_octet=3)
        (work / "jobs.yml").write_text(JOBS.format(seconds=args.seconds, poll=args.poll))
        (work / "ssh_config").write_text(
            f"Host bastion\n    HostName {bastion.address}\n    Port {bastion.port}\n"
            f"    User {fleet.user}\n    IdentityFile {fleet.user_key_path}\n"
            f"    IdentitiesOnly yes\n    UserKnownHostsFile {fleet.known_hosts_path}\n"
        )
        for i in range(args.repeat):
            for name, extra in [
                ("direct", {}),
                ("bastion", {"ansible_ssh_common_args": "-o ProxyJump=bastion"}),
            ]:
                load = loadavg()
                before = bastion.read_full_log().count("Accepted publickey for ")
                m = run_once(fleet, targets, work, f"{name}-{i}", extra)
                logins = bastion.read_full_log().count("Accepted publickey for ") - before
                counts = summary_counts(m.stdout)
                if m.returncode != 0 or counts.get("succeeded") != len(targets):
                    print(
                        f"{name}: exited {m.returncode}, {counts}\n{m.stderr[-2000:]}",
                        file=sys.stderr,
                    )
                rows.append((name, m, counts, logins, load))
                print(f"{name}: {m.wall:.2f}s wall, {m.cpu:.2f}s CPU", file=sys.stderr)

    print()
    print(header_line)
    print(f"bastion: {args.hosts} hosts x `sleep {args.seconds}`, poll {args.poll:g}, --forks N")
    print(
        f"{'route':>8} {'ok':>5} {'wall s':>7} {'over s':>7} {'CPU s':>6} {'RSS MB':>7} "
        f"{'host CPU s':>10} {'box busy':>8} {'load':>5} {'bastion logins':>14}"
    )
    for name, m, counts, logins, load in rows:
        print(
            f"{name:>8} {counts.get('succeeded', 0):>5} {m.wall:>7.2f} "
            f"{m.wall - args.seconds:>7.2f} {m.cpu:>6.2f} {m.rss_mb:>7.1f} "
            f"{m.host_cpu:>10.2f} {m.busy:>7.0f}% {load:>5} {logins:>14}"
        )
    walls = {
        name: statistics.median(m.wall for n, m, *_ in rows if n == name)
        for name in ("direct", "bastion")
    }
    logins = max(r[3] for r in rows if r[0] == "bastion")
    over = walls["bastion"] - args.seconds
    met = over < TARGET_OVER and logins == 1
    print(
        f"medians: direct {walls['direct']:.2f}s, through the bastion {walls['bastion']:.2f}s"
        f" ({over:.2f}s over the job, at most {logins} login(s) on the bastion per run;"
        f" target over<{TARGET_OVER:g}s on 1 connection: {'met' if met else 'MISSED'});"
        f" bastion / direct wall {walls['bastion'] / walls['direct']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
