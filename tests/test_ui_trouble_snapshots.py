"""SVG snapshots of the console at fleet scale, trouble first (200 hosts x 4 items,
one host down and four runs in trouble, frozen clock).

Update after an intended change: `pytest tests/test_ui_trouble_snapshots.py
--snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from jobtui.ui.fleet_sample import fleet_events
from jobtui.ui.sample import sample_app, settle

pytest.importorskip("pytest_textual_snapshot")

SIZES = [(80, 24), (160, 48)]
SnapCompare = Callable[..., bool]


async def settled(pilot: Pilot[int]) -> None:
    await settle(pilot.app, pilot)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", SIZES)
def test_fleet_trouble_first(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app = sample_app(fleet_events(200, 4, unreachable=[117]))
    assert snap_compare(app, terminal_size=size, run_before=settled)


@pytest.mark.parametrize("size", SIZES)
def test_fleet_after_n_twice_in_the_watch(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app = sample_app(fleet_events(200, 4, unreachable=[117]), read_only=True)
    assert snap_compare(app, terminal_size=size, run_before=settled, press=["n", "n"])
