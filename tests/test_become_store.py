"""become in the store: passwords never reach it, a batch's become comes back with its
runs, and a store written before become existed still loads."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from jobtui.model import SECRET_VARS, Become, Host, JobSpec, RunSpec, become_of
from jobtui.runs import Run
from jobtui.store import Store

PASSWORDS = {var: f"pw-{i}-Hunter2-{var[::-1]}" for i, var in enumerate(sorted(SECRET_VARS))}


def runs(host: Host, job: JobSpec) -> list[Run]:
    return [Run(RunSpec(job, host, None, 0, "id -un", become=become_of(job, host)))]


def test_no_password_var_reaches_any_byte_of_the_store(tmp_path: Path) -> None:
    host = Host("db1", "10.0.0.1", become=True, vars={"pg_port": 5432, **PASSWORDS})
    job = JobSpec(name="dump", hosts="all", shell="id -un")
    state = tmp_path / "state"
    with Store.open(state) as store:
        store.create_batch("b1", runs(host, job), {}, 1)
        for f in (p for p in state.rglob("*") if p.is_file()):  # the -wal file too
            data = f.read_bytes()
            for var, password in PASSWORDS.items():
                assert password.encode() not in data, (f.name, var)
        [loaded] = store.load_runs("b1")
    assert loaded.spec.host.vars == {"pg_port": 5432}
    for f in (p for p in state.rglob("*") if p.is_file()):  # after the checkpoint
        assert not any(pw.encode() in f.read_bytes() for pw in PASSWORDS.values()), f.name
    assert host.vars["ansible_become_password"]  # the host itself keeps it for the CLI


def test_become_comes_back_with_the_runs_of_a_batch(tmp_path: Path) -> None:
    host = Host("db1", "10.0.0.1", become=True, become_user="postgres", become_method="sudo")
    job = JobSpec(name="dump", hosts="all", shell="id -un", become_user="backup")
    other = JobSpec(name="plain", hosts="all", shell="id -un", become=False)
    with Store.open(tmp_path / "state") as store:
        store.create_batch("b1", [*runs(host, job), *runs(host, other)], {}, 1)
        dump, plain = store.load_runs("b1")
    assert dump.spec.become == Become("backup") and dump.view.user == "backup"
    assert plain.spec.become is None and plain.view.user == ""
    h = dump.spec.host
    assert (h.become, h.become_user, h.become_method) == (True, "postgres", "sudo")
    assert (dump.spec.job.become, dump.spec.job.become_user) == (None, "backup")
    assert plain.spec.job.become is False


def test_a_store_written_before_become_still_loads(tmp_path: Path) -> None:
    host = Host("db1", "10.0.0.1")
    job = JobSpec(name="dump", hosts="all", shell="id -un")
    state = tmp_path / "state"
    with Store.open(state) as store:
        store.create_batch("b1", runs(host, job), {}, 1)
    db = sqlite3.connect(Store.path_in(state))
    hosts, jobs = (json.loads(v) for v in db.execute("SELECT hosts, jobs FROM batches").fetchone())
    for d in (*hosts.values(), *jobs.values()):
        for key in ("become", "become_user", "become_method"):
            del d[key]  # what a store of an older jobtui holds
    with db:
        db.execute("UPDATE batches SET hosts=?, jobs=?", (json.dumps(hosts), json.dumps(jobs)))
    db.close()
    with Store.open(state) as store:
        [loaded] = store.load_runs("b1")
    assert loaded.spec.become is None
    assert (loaded.spec.host.become, loaded.spec.job.become) == (False, None)
    assert loaded.spec.host == host and loaded.spec.job == job
