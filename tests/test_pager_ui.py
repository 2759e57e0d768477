"""The whole-output pager (`o` in a run's detail) in the console, over a replayed
batch whose outputs are in memory: the end of a large log, search, the streams,
escape, the untrusted bytes made inert; and a snapshot of it."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.scrollbar import ScrollTo

from jobtui.model import RunKey
from jobtui.pages import line_start
from jobtui.transport.base import Chunk
from jobtui.ui.app import ConsoleApp
from jobtui.ui.sample import sample_app, settle
from jobtui.ui.screens.detail import DetailScreen
from jobtui.ui.screens.help import HelpScreen
from jobtui.ui.screens.pager import OutputView, PagerScreen
from jobtui.ui.source import ReplaySource
from tests.uitools import put_cursor, sync

RUN = RunKey("backup", "db01", 2)  # running
SIZES = [(80, 24), (120, 40)]


def numbered(n: int) -> bytes:
    return b"".join(f"line {i:07d} of the log\n".encode() for i in range(n))


class Counted(ReplaySource):
    """The sample's source, its pager reads counted."""

    bytes_read = 0

    def read_output(self, *args: Any) -> Chunk | None:
        got = super().read_output(*args)
        self.bytes_read += len(got.data) if got else 0
        return got


def app_with(stdout: bytes, stderr: bytes = b"", read_only: bool = False) -> ConsoleApp:
    app = sample_app(read_only=read_only)
    assert isinstance(app.source, ReplaySource)
    source = Counted(app.source.events, {(RUN, "stdout"): stdout, (RUN, "stderr"): stderr})
    app.source = source
    return app


async def open_pager(app: ConsoleApp, pilot: Pilot[int]) -> PagerScreen:
    await settle(app, pilot)
    put_cursor(app, RUN)
    await pilot.press("enter")
    assert isinstance(app.screen, DetailScreen)
    await pilot.press("o")
    assert isinstance(app.screen, PagerScreen)
    await idle(app.screen, pilot)
    return app.screen


async def idle(screen: PagerScreen, pilot: Pilot[int]) -> None:
    """Until the pager has applied every move asked for."""
    await pilot.pause()
    while screen._busy or screen._ops:
        await screen.app.workers.wait_for_complete()
        await pilot.pause()


def shown(screen: PagerScreen) -> list[str]:
    view = screen.output
    height = view.scrollable_content_region.height
    return [view.render_line(y).text.rstrip() for y in range(height)]


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_the_pager_scrolls_to_the_end_of_a_large_log_without_loading_it_whole(
    size: tuple[int, int],
) -> None:
    data = numbered(800_000)  # 20 MB
    app = app_with(data)
    async with app.run_test(size=size) as pilot:
        screen = await open_pager(app, pilot)
        assert shown(screen)[-1] == "line 0799999 of the log"  # it opens at the end
        await pilot.press("home")
        await idle(screen, pilot)
        assert shown(screen)[0] == "line 0000000 of the log"
        await pilot.press("G")
        await idle(screen, pilot)
        assert shown(screen)[-1] == "line 0799999 of the log"
        assert screen.output.scroll_y == screen.output.max_scroll_y  # the thumb at the bottom
        source = app.source
        assert isinstance(source, Counted)
        assert source.bytes_read < 1_000_000 < len(data)


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_slash_finds_a_line_in_the_middle_and_n_the_next_match(
    size: tuple[int, int],
) -> None:
    app = app_with(numbered(200_000))
    async with app.run_test(size=size) as pilot:
        screen = await open_pager(app, pilot)
        await pilot.press("slash", *"0100000 of", "enter")
        await idle(screen, pilot)
        assert shown(screen)[0] == "line 0100000 of the log"
        assert screen.page is not None and screen.page.match is not None
        await pilot.press("slash", *"7 of", "enter")  # 0100007, then 0100017
        await idle(screen, pilot)
        await pilot.press("n")
        await idle(screen, pilot)
        page = screen.page
        assert page is not None and page.match is not None
        assert page.match[0] == len(numbered(100_017)) + 11
        await pilot.press("N")
        await idle(screen, pilot)
        assert screen.page.match[0] == len(numbered(100_007)) + 11


@sync
async def test_the_match_is_highlighted() -> None:
    app = app_with(numbered(1000))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_pager(app, pilot)
        await pilot.press("g", "slash", *"0000005", "enter")
        await idle(screen, pilot)
        view: OutputView = screen.output
        line = next(view.render_line(y) for y in range(10) if "0000005" in view.render_line(y).text)
        styled = [seg for seg in line if seg.style and seg.style.bgcolor is not None]
        assert any("0000005" in seg.text for seg in styled)


@sync
async def test_e_toggles_stdout_and_stderr_and_escape_closes() -> None:
    app = app_with(b"out line\n", b"err line\n")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_pager(app, pilot)
        assert shown(screen)[0] == "out line"
        await pilot.press("e")
        await idle(screen, pilot)
        assert shown(screen)[0] == "err line"
        assert screen.stream == "stderr"
        await pilot.press("e")
        await idle(screen, pilot)
        assert shown(screen)[0] == "out line"
        await pilot.press("escape")
        assert isinstance(app.screen, DetailScreen)


@sync
async def test_escape_in_the_search_box_closes_only_the_box() -> None:
    app = app_with(b"quiet\n")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_pager(app, pilot)
        await pilot.press("slash", "q", "escape")  # q is typed, not a key of the pager
        assert app.screen is screen
        assert not screen.search_box.has_class("-open")
        await pilot.press("q")
        assert isinstance(app.screen, DetailScreen)


@sync
async def test_escapes_and_control_bytes_from_the_host_are_shown_inert() -> None:
    app = app_with("red \x1b[31mRED\x1b[0m bell\x07 cr\r tab\tend bidi\u202e".encode() + b"\xff\n")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_pager(app, pilot)
        line = shown(screen)[0]
        assert "\x1b" not in line and "\x07" not in line and "\r" not in line
        assert "\\x1b[31mRED\\x1b[0m" in line and "\\x07" in line and "\\x0d" in line
        assert "\t" not in line and line.index("end bidi") % 8 == 0  # tabs expanded
        assert "\ufffd" in line  # bytes that are not UTF-8
        assert "\u202e" not in line and "\\u202e" in line


@sync
async def test_a_growing_output_is_followed_at_the_end() -> None:
    data = bytearray(numbered(100))
    app = app_with(b"")
    async with app.run_test(size=(80, 24)) as pilot:
        source = app.source
        assert isinstance(source, Counted)
        source.outputs[(RUN, "stdout")] = bytes(data)
        screen = await open_pager(app, pilot)
        assert shown(screen)[-1] == "line 0000099 of the log"
        source.outputs[(RUN, "stdout")] = bytes(data) + b"one more line\n"
        screen._poll()  # the timer's look (not waited for on a clock)
        await idle(screen, pilot)
        assert shown(screen)[-1] == "one more line"


@sync
async def test_the_read_only_console_has_the_pager_too() -> None:
    app = app_with(numbered(10), read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_pager(app, pilot)
        assert shown(screen)[9] == "line 0000009 of the log"


@sync
async def test_the_scrollbar_dragged_halfway_shows_the_middle() -> None:
    data = numbered(100_000)
    app = app_with(data)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_pager(app, pilot)
        view = screen.output
        view.post_message(ScrollTo(y=view.max_scroll_y // 2, animate=False))  # a drag
        await idle(screen, pilot)
        assert screen.page is not None
        top = screen.page.top
        assert abs(top - len(data) // 2) < len(data) // 50
        assert shown(screen)[0].startswith("line 00")
        assert top == line_start(screen._pagers["stdout"].store, top)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_of_the_pager(snap_compare: Any, size: tuple[int, int]) -> None:
    app = app_with(numbered(5000) + b"\x1b[31mthe last line\x1b[0m\n")

    async def opened(pilot: Pilot[int]) -> None:
        screen = await open_pager(app, pilot)
        await pilot.press("slash", *"0004990", "enter")
        await idle(screen, pilot)

    assert snap_compare(app, terminal_size=size, run_before=opened)


@sync
async def test_the_help_overlay_lists_the_pager_s_keys() -> None:
    app = app_with(b"x\n")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pager(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {d: k for _, keys in app.screen.sections for k, d in keys}
        assert listed["Search"] == "/"
        assert listed["Next"] == "n" and listed["Previous"] == "N"
        assert listed["Other stream"] == "e"
        assert "g" in listed["Top"] and "G" in listed["End"]


@sync
async def test_an_output_gone_from_its_host_is_said_and_not_asked_for_again() -> None:
    app = app_with(b"")
    async with app.run_test(size=(80, 24)) as pilot:
        source = app.source
        assert isinstance(source, Counted)
        source.outputs.clear()  # cleaned up
        screen = await open_pager(app, pilot)
        assert "no longer on its host" in str(screen.status.render())
        assert screen.status.has_class("-error")
        screen._poll()
        assert not screen._busy and not screen._ops
