"""Pure renderers, the event buffer and the board: no Textual app, no I/O."""

from __future__ import annotations

import subprocess
import sys

from jobtui.defaults import EXIT_INTERRUPTED
from jobtui.events import BatchFinished, BatchStarted, HostChanged, Notice, RunChanged, RunView
from jobtui.model import RunState
from jobtui.text import duration, limit
from jobtui.ui.board import Board
from jobtui.ui.render import (
    COLUMN,
    cell_pieces,
    counts_text,
    elapsed_text,
    fit,
    output_text,
    progress_pieces,
    progress_text,
    sort_key,
    state_text,
)
from jobtui.ui.source import EventBuffer
from jobtui.ui.widgets.run_lines import table_width
from jobtui.ui.widths import column_widths

NOW = 1_800_000_000.0


def view(
    host: str = "db01",
    job: str = "backup",
    index: int = 0,
    state: RunState = RunState.RUNNING,
    **fields: object,
) -> RunView:
    defaults: dict[str, object] = {"item": "users_db", "jid": "abcdefgh12", "attempt": 1}
    defaults.update(fields)
    return RunView(key=(job, host, index), job=job, host=host, state=state, **defaults)  # type: ignore[arg-type]


def test_render_module_does_not_import_textual() -> None:
    code = (
        "import sys, jobtui.ui.render, jobtui.ui.board, jobtui.ui.source\n"
        "sys.exit(any(m.split('.')[0] == 'textual' for m in sys.modules))\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_duration_is_compact_at_every_scale() -> None:
    assert [duration(s) for s in (0, 45, 72, 3599, 3600 + 5 * 60, 86400 * 3 + 4 * 3600)] == [
        "0s",
        "45s",
        "1m12s",
        "59m59s",
        "1h05m",
        "3d04h",
    ]


def test_limit_drops_zero_parts() -> None:
    assert [limit(s) for s in (30, 60, 90, 3600, 5400, 0)] == [
        "30s",
        "1m",
        "1m30s",
        "1h",
        "1h30m",
        "∞",
    ]


def test_elapsed_runs_to_now_while_running_and_stops_when_finished() -> None:
    running = view(started=NOW - 72, timeout=3600)
    done = view(state=RunState.SUCCEEDED, started=NOW - 500, finished=NOW - 400, timeout=60)
    assert elapsed_text(running, NOW).plain == "1m12s/1h"
    assert elapsed_text(done, NOW).plain == "1m40s/1m"
    assert elapsed_text(view(), NOW).plain == "–/∞"


def test_elapsed_turns_orange_near_the_limit() -> None:
    near = elapsed_text(view(started=NOW - 95, timeout=100), NOW)
    assert any("dark_orange" in str(span.style) for span in near.spans)


def test_elapsed_never_goes_negative_on_clock_skew() -> None:
    assert elapsed_text(view(started=NOW + 30, timeout=60), NOW).plain == "0s/1m"


def test_progress_cell_is_exactly_its_width() -> None:
    for width in (10, 16, 30, 48):
        for v in (
            view(progress=42.0, message="dumping a very long message " * 3),
            view(progress=None, message="waiting"),
            view(progress=100.0),
            view(progress=None, reason="connection refused"),
        ):
            assert progress_text(v, width).cell_len == width


def test_progress_cell_shows_percentage_and_message() -> None:
    text = progress_text(view(progress=42.0, message="dumping"), 40).plain
    assert "42%" in text
    assert "dumping" in text


def test_state_text_has_symbol_label_and_colour() -> None:
    text = state_text(RunState.FAILED)
    assert text.plain == "✘ failed"
    assert "red" in str(text.style)


def test_cell_pieces_cover_every_column_and_mark() -> None:
    widths = column_widths(120, {"host": 4, "job": 6, "item": 8})
    v = view(rc=3, state=RunState.FAILED)
    cells = {c: "".join(p for p, _ in cell_pieces(c, v, NOW, widths, True)) for c in COLUMN}
    assert cells["host"].startswith("●")
    assert cells["rc"] == "3"
    assert cells["state"] == "✘ failed"


def test_the_percentage_takes_the_colour_of_the_bar() -> None:
    pieces = progress_pieces(view(progress=42.0, message="dumping"), 40)
    assert ("  42%", "deep_sky_blue1") in pieces
    assert (" dumping", "grey70") in pieces


def test_fit_pads_or_cuts_to_the_exact_width() -> None:
    pieces = [("ab", "red"), ("cdef", "blue")]
    assert fit(pieces, 8) == [*pieces, ("  ", "")]
    assert fit([("7", "red")], 3, right=True) == [("  ", ""), ("7", "red")]
    assert fit(pieces, 4) == [("ab", "red"), ("cd", "blue")]
    assert fit(pieces, 4, ellipsis=True) == [("ab", "red"), ("c", "blue"), ("…", "blue")]
    assert fit(pieces, 3, ellipsis=True) == [("ab", "red"), ("…", "blue")]


def test_fit_counts_terminal_cells_not_characters() -> None:
    cut = "".join(p for p, _ in fit([("日本語", "")], 5))
    assert cut == "日本 "  # two double-width characters and a space


def test_job_messages_in_the_table_are_inert() -> None:
    v = view(progress=None, message="\x1b[2J[bold]boom[/bold]\tx\ny")
    text = "".join(p for p, _ in progress_pieces(v, 48))
    assert "\x1b" not in text
    assert "\\x1b[2J[bold]boom[/bold] x y" in text


def test_column_widths_fit_an_80_column_table() -> None:
    widths = column_widths(79, {"host": 12, "job": 11, "item": 30})
    assert table_width(widths) <= 79


def test_column_widths_give_the_rest_to_progress_when_wide() -> None:
    narrow = column_widths(79, {"host": 4, "job": 6, "item": 8})
    wide = column_widths(159, {"host": 4, "job": 6, "item": 8})
    assert wide["progress"] > narrow["progress"]
    assert wide["item"] == 8


def test_job_output_is_inert() -> None:
    text = output_text("\x1b[31m[bold]red[/bold]\x1b[0m\n")
    assert text.plain == "\\x1b[31m[bold]red[/bold]\\x1b[0m\n"
    assert not text.spans


def test_state_sort_puts_failures_first() -> None:
    views = [view(index=i, state=s) for i, s in enumerate(RunState)]
    ordered = sorted(views, key=lambda v: sort_key(v, "state"))
    assert ordered[0].state is RunState.FAILED
    assert ordered[-1].state is RunState.SUCCEEDED


def test_counts_text_skips_zeroes() -> None:
    text = counts_text({RunState.RUNNING: 3, RunState.FAILED: 1, RunState.PENDING: 0})
    assert text.plain == "✘1 ▶3"


def test_buffer_keeps_the_latest_view_per_run_and_the_first_previous_state() -> None:
    signals: list[int] = []
    buffer = EventBuffer(lambda: signals.append(1))
    for pct in range(100):
        buffer.push(RunChanged(view(progress=float(pct)), RunState.PENDING))
    buffer.push(Notice("hello"))
    drained = buffer.drain()
    assert len(signals) == 1
    assert len(drained) == 2
    first = drained[0]
    assert isinstance(first, RunChanged)
    assert first.run.progress == 99.0
    assert first.previous is RunState.PENDING
    assert buffer.drain() == []


def test_buffer_keeps_the_order_of_events() -> None:
    buffer = EventBuffer()
    buffer.push(BatchStarted("b", [view()]))
    buffer.push(RunChanged(view(progress=5.0), RunState.RUNNING))
    buffer.push(BatchFinished("b", [view()], {"running": 1}))
    kinds = [type(e).__name__ for e in buffer.drain()]
    assert kinds == ["BatchStarted", "RunChanged", "BatchFinished"]


def test_board_counts_by_host_job_and_total() -> None:
    board = Board()
    board.apply([BatchStarted("b", [view(), view(host="db02"), view(job="rotate", index=0)])])
    changes = board.apply([RunChanged(view(state=RunState.FAILED, rc=1), RunState.RUNNING)])
    assert board.totals[RunState.FAILED] == 1
    assert board.totals[RunState.RUNNING] == 2
    assert board.hosts["db01"].counts[RunState.FAILED] == 1
    assert board.jobs["backup"][RunState.RUNNING] == 1
    assert [v.state for v in changes.alerts] == [RunState.FAILED]


def test_board_reports_every_change_and_moves_counts_only_with_the_state() -> None:
    board = Board()
    board.apply([BatchStarted("b", [view(), view(host="db02")])])
    key = ("backup", "db01", 0)
    moved = board.apply([RunChanged(view(progress=50.0), RunState.RUNNING)])
    assert (moved.runs, moved.hosts, moved.jobs) == ({key}, {"db01"}, {"backup"})
    assert board.totals == {RunState.RUNNING: 2}
    same = board.apply([RunChanged(view(progress=50.0), RunState.RUNNING)])
    assert not same.runs
    # Same progress and message, another field changed: still a change.
    tail = board.apply([RunChanged(view(progress=50.0, tail="more"), RunState.RUNNING)])
    assert tail.runs == {key}
    board.apply([RunChanged(view(state=RunState.SUCCEEDED, rc=0), RunState.RUNNING)])
    assert board.totals == {RunState.RUNNING: 1, RunState.SUCCEEDED: 1}
    assert board.hosts["db01"].counts == {RunState.RUNNING: 0, RunState.SUCCEEDED: 1}
    assert board.jobs["backup"] == {RunState.RUNNING: 1, RunState.SUCCEEDED: 1}


def test_board_tracks_host_reachability() -> None:
    board = Board()
    board.apply([HostChanged("db03", False, "refused")])
    assert board.hosts["db03"].reachable is False
    assert board.hosts["db03"].reason == "refused"


def test_board_exit_code_is_130_while_runs_are_active() -> None:
    board = Board()
    board.apply([BatchStarted("b", [view()])])
    assert board.exit_code() == EXIT_INTERRUPTED
    done = view(state=RunState.SUCCEEDED, rc=0)
    board.apply([RunChanged(done, RunState.RUNNING), BatchFinished("b", [done], {})])
    assert board.exit_code() == 0


def test_board_settles_on_batch_finished_even_with_fire_and_forget_runs() -> None:
    board = Board()
    board.apply([BatchStarted("b", [view()]), BatchFinished("b", [view()], {"running": 1})])
    assert not board.active
    assert board.exit_code() == 0


def test_detail_fields_show_the_eta_of_a_running_run_only() -> None:
    from rich.console import Console

    from jobtui.ui.screens.detail import fields

    def text(v: RunView) -> str:
        console = Console(width=100, record=True)
        console.print(fields(v, NOW))
        return console.export_text()

    assert "~3m20s left" in text(view(progress=40.0, eta=200.0, started=NOW - 100))
    assert "left" not in text(view(state=RunState.SUCCEEDED, progress=100.0, eta=200.0))
