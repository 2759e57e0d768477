"""What the pager reads through: the wrapper's `jt_read` with the file's size, and
`pages.read_view` on a local transport for a jobtui run and one of Ansible's jobs
(the real wrapper under the login shell, dash and busybox)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jobtui.events import RunView
from jobtui.model import Host, RunKey, RunState
from jobtui.pages import ChunkStore, Pager, read_view
from jobtui.transport.base import parse_chunk
from jobtui.transport.local import LocalTransport

JID = "pagerjob01"
AJID = "j123456789012.4242"


def transport(tmp_path: Path, shell: str | None = None) -> LocalTransport:
    adir = tmp_path / "async"
    adir.mkdir(exist_ok=True)
    t = LocalTransport(
        Host(
            name="here",
            address="here",
            connection="local",
            jobtui_dir=str(tmp_path / "jobtui"),
            ansible_async_dir=str(adir),
        )
    )
    if shell == "busybox":  # its own applets only
        tools = tmp_path / "bb"
        tools.mkdir()
        bb = shutil.which("busybox")
        assert bb
        for name in ("ls", "awk", "head", "tail", "id", "date", "grep", "tr", "stat", "cat"):
            (tools / name).symlink_to(bb)
        t.shell = (bb, "sh", "-s")
        t.env = {"PATH": str(tools), "HOME": str(tmp_path)}
    elif shell is not None:
        t.shell = (shell, "-s")
    return t


def job_dir(tmp_path: Path, stdout: bytes, done: bool) -> Path:
    d = tmp_path / "jobtui" / "jobs" / JID
    d.mkdir(parents=True, exist_ok=True)
    (d / "stdout").write_bytes(stdout)
    if done:
        (d / "rc").write_text("0\n")
    return d


def view(jid: str, ansible: bool = False) -> RunView:
    return RunView(
        key=RunKey("job", "here", 0),
        job="job",
        host="here",
        item="",
        jid=jid,
        state=RunState.RUNNING,
        attempt=1,
        ansible=ansible,
    )


@pytest.mark.parametrize("shell", [None, "dash", "busybox"])
def test_a_read_says_the_stream_s_whole_size_and_whether_the_run_ended(
    tmp_path: Path, shell: str | None
) -> None:
    if shell is not None and shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    data = bytes(range(256)) * 4000  # NUL bytes and all
    job_dir(tmp_path, data, done=False)
    with transport(tmp_path, shell) as t:
        got = read_view(t, view(JID), "stdout", 1000, 300)
        assert got is not None
        assert (got.data, got.done, got.total) == (data[1000:1300], False, len(data))
        assert read_view(t, view(JID), "stdout", len(data), 0) == got.__class__(
            b"", False, len(data)
        )
        (tmp_path / "jobtui" / "jobs" / JID / "rc").write_text("0\n")
        got = read_view(t, view(JID), "stderr", 0, 10)  # no stderr file
        assert got is not None and (got.data, got.done, got.total) == (b"", True, None)
        assert read_view(t, view("nosuchjob1"), "stdout", 0, 10) is None


def test_an_answer_without_a_size_reads_as_before() -> None:
    out = b"\nTOK hello\n1700000000 boot\nTOK read pagerjob01 done\nabc"
    got = parse_chunk(out, "TOK", JID)
    assert got is not None and (got.data, got.done, got.total) == (b"abc", True, None)
    for size in ("x12", "\u00b2", "9" * 30):
        bad = out.replace(b"done", f"done {size}".encode())
        chunk = parse_chunk(bad, "TOK", JID)
        assert chunk is not None and chunk.total is None


def test_the_pager_over_a_real_wrapper_reads_the_end_of_a_large_output_only(
    tmp_path: Path,
) -> None:
    data = b"".join(b"%08d\n" % i for i in range(1_000_000))  # 9 MB
    job_dir(tmp_path, data, done=True)
    with transport(tmp_path) as t:
        store = ChunkStore(lambda offset, size: read_view(t, view(JID), "stdout", offset, size))
        pager = Pager(store, height=30)
        pager.open()
        pager.end()
        assert pager.screen().lines[-1].data == b"00999999"
        assert store.size == len(data) and store.done
        assert store.bytes_read < 200_000


def test_one_of_ansible_s_jobs_reads_its_result_s_output(tmp_path: Path) -> None:
    with transport(tmp_path) as t:
        adir = tmp_path / "async"
        (adir / AJID).write_text(
            json.dumps({"started": 1, "finished": 0, "ansible_job_id": AJID, "pid": 1})
        )
        running = read_view(t, view(AJID, ansible=True), "stdout", 0, 100)
        assert running is not None and (running.data, running.total) == (b"", 0)
        (adir / AJID).write_text(json.dumps({"rc": 0, "stdout": "one\ntwo", "stderr": "warn"}))
        got = read_view(t, view(AJID, ansible=True), "stdout", 4, 100)
        assert got is not None and (got.data, got.done, got.total) == (b"two\n", True, 8)
        err = read_view(t, view(AJID, ansible=True), "stderr", 0, 100)
        assert err is not None and err.data == b"warn\n"
        assert read_view(t, view("j1.1", ansible=True), "stdout", 0, 100) is None
