"""The host grid in the console (Pilot): every host has a cell, the worst state wins,
enter on a cell or a group header filters, `g` toggles, watch has it too, and a
change repaints only the cells it changed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.geometry import Region

from jobtui.events import Event, HostChanged, RunChanged
from jobtui.model import RunState
from jobtui.ui.app import ConsoleApp
from jobtui.ui.render import STATE_LOOK
from jobtui.ui.sample import fleet_runs, sample_app, sample_events, settle
from jobtui.ui.widgets.host_grid import INFO_LINES, HostGrid

from .uitools import sync

FLEETS = [((80, 24), 200), ((160, 48), 500)]
"""The sizes the issue asks for, and the hosts that must fit there."""


def grid(app: ConsoleApp) -> HostGrid:
    return app.main.host_grid


def glyph_of(g: HostGrid, host: str) -> str:
    """The glyph the grid draws for a host now (its cell must be on screen)."""
    spot = g.spot_of(host)
    assert spot is not None, host
    line, column = spot
    y = line - g.scroll_offset.y + INFO_LINES
    assert INFO_LINES <= y < g.size.height, "the host is not on screen"
    return g.render_line(y).text[column * g.cell_width]


@pytest.mark.parametrize(("size", "hosts"), FLEETS)
@sync
async def test_every_host_has_a_cell_and_all_fit_without_scrolling(
    size: tuple[int, int], hosts: int
) -> None:
    app = sample_app(sample_events(hosts))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        g = grid(app)
        assert g.display and not app.main.host_summary.display  # many hosts: the grid
        names = {v.host for v in fleet_runs(hosts)}
        assert len(names) == hosts
        assert all(g.spot_of(name) is not None for name in names)
        assert len({g.spot_of(name) for name in names}) == hosts  # one cell each
        assert len(g.lines) + INFO_LINES <= g.size.height
        assert not g.show_vertical_scrollbar
        screen = app.screen.region
        assert screen.contains_region(g.region)


@pytest.mark.parametrize(("size", "hosts"), FLEETS)
@sync
async def test_a_cell_shows_its_hosts_worst_state(size: tuple[int, int], hosts: int) -> None:
    app = sample_app(sample_events(hosts))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        g = grid(app)
        by_host: dict[str, list[RunState]] = {}
        for v in fleet_runs(hosts):
            by_host.setdefault(v.host, []).append(v.state)
        failed = [h for h, states in by_host.items() if RunState.FAILED in states]
        assert failed and all(RunState.SUCCEEDED in by_host[h] for h in failed)
        for host in failed:  # a success and a failure: the failure shows
            assert glyph_of(g, host) == STATE_LOOK[RunState.FAILED].symbol
        down = next(h for h, info in app.board.hosts.items() if info.reachable is False)
        assert glyph_of(g, down) == STATE_LOOK[RunState.UNREACHABLE].symbol
        fine = next(h for h, states in by_host.items() if set(states) == {RunState.SUCCEEDED})
        assert glyph_of(g, fine) == STATE_LOOK[RunState.SUCCEEDED].symbol


@pytest.mark.parametrize(("size", "hosts"), FLEETS)
@sync
async def test_enter_on_a_cell_filters_the_runs_to_its_host(
    size: tuple[int, int], hosts: int
) -> None:
    app = sample_app(sample_events(hosts))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        g = grid(app)
        failed = next(v.host for v in fleet_runs(hosts) if v.state is RunState.FAILED)
        g.focus()
        spot = g.spot_of(failed)
        assert spot is not None
        g.move_cursor(spot)
        await pilot.pause()
        assert failed in g.render_line(0).text  # the info line tells of it
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.filter_box.value == f"host:{failed}"
        shown = app.main.table.shown_keys()
        assert len(shown) == 2 and {k.host for k in shown} == {failed}
        assert g.has_focus  # to move on to the next host
        await pilot.press("enter")  # again: the filter goes
        await pilot.pause()
        assert app.main.filter_box.value == ""


@pytest.mark.parametrize(("size", "hosts"), FLEETS)
@sync
async def test_enter_on_a_group_header_filters_the_runs_to_its_group(
    size: tuple[int, int], hosts: int
) -> None:
    app = sample_app(sample_events(hosts))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        g = grid(app)
        g.focus()
        spot = g.header_of("cache")
        assert spot is not None
        g.move_cursor(spot)
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.filter_box.value == "group:cache"
        cache = [v.key for v in fleet_runs(hosts) if v.group == "cache"]
        assert cache and sorted(app.main.table.shown_keys()) == sorted(cache)


@sync
async def test_arrows_move_over_cells_and_headers() -> None:
    app = sample_app(sample_events(200))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        g = grid(app)
        g.focus()
        assert g.group_at(g.cursor) == "appservers"
        await pilot.press("down")
        assert g.cursor_host() == "app001"
        await pilot.press("right", "right")
        assert g.cursor_host() == "app003"
        await pilot.press("up")
        assert g.group_at(g.cursor) == "appservers"
        await pilot.press("end")
        assert g.cursor_host() == "web080"


@sync
async def test_g_toggles_between_the_grid_and_the_host_list() -> None:
    app = sample_app()  # five hosts: the list first
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        main = app.main
        assert main.host_summary.display and not main.host_grid.display
        await pilot.press("g")
        await pilot.pause()
        assert main.host_grid.display and not main.host_summary.display
        assert main.host_grid.has_focus
        assert all(main.host_grid.spot_of(h) for h in app.board.hosts)
        await pilot.press("g")
        await pilot.pause()
        assert main.host_summary.display and not main.host_grid.display
        assert main.table.has_focus


@sync
async def test_the_list_shows_the_group_summary_and_enter_filters_to_a_group() -> None:
    app = sample_app(sample_events(200))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        await pilot.press("g")  # the list
        await pilot.pause()
        groups = app.main.group_summary
        assert groups.display and groups.row_count == 4
        groups.focus()
        await pilot.pause()
        groups.move_cursor(row=groups.get_row_index("dbservers"))
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.filter_box.value == "group:dbservers"
        assert {k.host[:2] for k in app.main.table.shown_keys()} == {"db"}


@sync
async def test_read_only_watch_has_the_grid_and_its_filters() -> None:
    app = sample_app(sample_events(200), read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        g = grid(app)
        assert g.display and len(g.groups) == 200
        g.focus()
        spot = g.header_of("dbservers")
        assert spot is not None
        g.move_cursor(spot)
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.filter_box.value == "group:dbservers"


@sync
async def test_a_host_with_no_runs_is_a_dim_dot_in_its_own_group() -> None:
    events: list[Event] = [*sample_events(30), HostChanged("idle01", True)]
    app = sample_app(events)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        g = grid(app)
        assert glyph_of(g, "idle01") == "·"
        assert g.groups.groups()[-1] == g.groups.group_of["idle01"]


@sync
async def test_a_change_repaints_only_the_cell_that_changed() -> None:
    app = sample_app(sample_events(500))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        g = grid(app)
        running = next(v for v in fleet_runs(500) if v.state is RunState.RUNNING)
        done = replace(running, state=RunState.RUNNING, progress=99.0)  # progress only
        painted: list[Region] = []
        real = g.refresh

        def spy(*regions: Region, **kwargs: bool) -> HostGrid:
            painted.extend(regions)
            return real(*regions, **kwargs)

        g.refresh = spy  # type: ignore[method-assign]
        app.buffer.push(RunChanged(done, running.state))
        app.flush_events()
        assert painted == []  # progress moved: the grid has nothing to repaint
        failed = replace(running, state=RunState.FAILED, rc=1)
        app.buffer.push(RunChanged(failed, running.state))
        app.flush_events()
        spot = g.spot_of(running.host)
        assert spot is not None
        cells = [r for r in painted if r.height == 1 and r.width == g.cell_width]
        lines = [r for r in painted if r.width == g.size.width]
        assert len(cells) == 1 and cells[0].x == spot[1] * g.cell_width
        assert len(lines) <= 1  # at most the group's header (its counts changed)
        assert len(painted) == len(cells) + len(lines)
        await pilot.pause()
        assert glyph_of(g, running.host) == STATE_LOOK[RunState.FAILED].symbol
