"""scripts/screenshots.py: the read-only screenshot is a real watch console, and the
SVG that the PNGs are drawn from puts DejaVu Sans Mono on Textual's cell grid."""

from __future__ import annotations

import html
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from jobtui.fleet import DiscoveryPoller
from jobtui.model import RunKey, RunState
from jobtui.ui.sample import sample_app, settle
from tests.uitools import sync

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "screenshots.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("jobtui_screenshots", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


shots = load_script()


def drawn_text(svg: str) -> str:
    return html.unescape("".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))).replace(
        "\xa0", " "
    )


@sync
async def test_the_read_only_screenshot_is_what_watch_shows() -> None:
    app = shots.watch_app()
    assert isinstance(app.source, DiscoveryPoller) and app.read_only
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        runs = list(app.board.runs.values())
        text = drawn_text(app.export_screenshot())
    # Discovered on the hosts: keyed by jid, never pending (a run that never launched
    # is on no host), none from db03, which could not be read.
    assert runs and all(v.key == RunKey.discovered(v.jid or "", v.host) for v in runs)
    assert all(v.state is not RunState.PENDING for v in runs)
    assert {v.host for v in runs} == {"db01", "db02", "web01", "web02"}
    assert "connection refused" in text and "READ-ONLY" in text
    assert "batch 2026" not in text and "pending" not in text


@sync
async def test_the_printable_svg_puts_every_glyph_in_its_cell() -> None:
    app = sample_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        svg = app.export_screenshot()
    out = shots.printable(svg, glyph_x=True)
    assert "Fira Code, monospace" not in out and f'font-family: "{shots.FONT}"' in out
    texts = re.findall(
        r'<text class="[\w-]+-r\d+" x="([\d. ]+)" y="[\d.]+"([^>]*)>([^<]*)</text>', out
    )
    assert texts
    for xs, attrs, body in texts:
        chars = html.unescape(body)
        positions = [float(x) for x in xs.split()]
        assert len(positions) == len(chars)
        for x in positions:
            assert x / 12.2 == pytest.approx(round(x / 12.2), abs=1e-3)
        boxes = [c in shots.BOX_CHARS for c in chars]
        # Box and block runs apart from text: larger, unclipped; text stays clipped.
        assert all(boxes) or not any(boxes)
        assert ("clip-path" in attrs) is not all(boxes)
    assert drawn_text(out).replace("\n", " ").split() == drawn_text(svg).replace("\n", " ").split()


def test_a_character_the_font_lacks_is_named_with_what_to_install() -> None:
    svg = (
        "<style>.t-r1 { fill: #fff }</style>"
        '<text class="t-r1" x="0" y="20" textLength="12.2" clip-path="url(#t-line-0)">\u4e00</text>'
    )
    with pytest.raises(shots.Missing, match="fonts-dejavu-core") as e:
        shots.check_font([svg])
    assert "\u4e00" in str(e.value)
