"""SVG snapshots of the console on the fixed sample batch (frozen clock).

Update after an intended change: `pytest tests/test_ui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from jobtui.ui.sample import sample_app, sample_events, sample_problem_events, settle

pytest.importorskip("pytest_textual_snapshot")

SIZES = [(80, 24), (160, 48)]
SnapCompare = Callable[..., bool]


async def settled(pilot: Pilot[int]) -> None:
    await settle(pilot.app, pilot)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(sample_app(), terminal_size=size, run_before=settled)


@pytest.mark.parametrize("size", SIZES)
def test_detail_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    # Trouble first (the sample has failed): db03's 3 unreachable runs, then the failed
    # rotate-logs run on web02.
    keys = ["down"] * 3 + ["enter"]
    assert snap_compare(sample_app(), terminal_size=size, run_before=settled, press=keys)


@pytest.mark.parametrize("size", SIZES)
def test_help_overlay(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    keys = ["question_mark"]
    assert snap_compare(sample_app(), terminal_size=size, run_before=settled, press=keys)


@pytest.mark.parametrize("size", SIZES)
def test_read_only_main_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app = sample_app(read_only=True)
    assert snap_compare(app, terminal_size=size, run_before=settled)


@pytest.mark.parametrize("size", SIZES)
def test_problems_view(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app = sample_app(sample_problem_events())
    assert snap_compare(app, terminal_size=size, run_before=settled, press=["p"])


@pytest.mark.parametrize(("size", "hosts"), [((80, 24), 200), ((160, 48), 500)])
def test_host_grid(snap_compare: SnapCompare, size: tuple[int, int], hosts: int) -> None:
    """The most hosts each size must show at a glance (the grid, by group)."""
    app = sample_app(sample_events(hosts))
    assert snap_compare(app, terminal_size=size, run_before=settled)
