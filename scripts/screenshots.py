"""Render the console's screens from the deterministic sample batch into screenshots/.

    .venv/bin/python scripts/screenshots.py

Writes SVGs (Textual's own export) and, when a converter is available (`cairosvg`
from PyPI, or `rsvg-convert` from Debian's librsvg2-bin), PNGs next to them.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

from jobtui.ui.app import ConsoleApp
from jobtui.ui.sample import sample_app, settle

OUT = Path(__file__).resolve().parent.parent / "screenshots"


async def shoot(app: ConsoleApp, name: str, size: tuple[int, int], keys: list[str]) -> Path:
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        path = OUT / f"{name}-{size[0]}x{size[1]}.svg"
        app.save_screenshot(filename=path.name, path=str(OUT))
    return path


def to_png(svg: Path) -> Path | None:
    png = svg.with_suffix(".png")
    try:
        import cairosvg  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        converter = shutil.which("rsvg-convert")
        if converter is None:
            return None
        subprocess.run([converter, "-o", str(png), str(svg)], check=True)
        return png
    cairosvg.svg2png(url=str(svg), write_to=str(png))
    return png


async def main() -> int:
    OUT.mkdir(exist_ok=True)
    shots: list[Path] = []
    for size in ((80, 24), (160, 48)):
        shots.append(await shoot(sample_app(), "main", size, []))
        shots.append(await shoot(sample_app(), "marked", size, ["space", "space", "down"]))
        shots.append(await shoot(sample_app(), "detail", size, [*["down"] * 14, "enter"]))
        shots.append(await shoot(sample_app(), "help", size, ["question_mark"]))
        shots.append(await shoot(sample_app(), "confirm", size, ["down", "down", "c"]))
        shots.append(await shoot(sample_app(read_only=True), "read-only", size, []))
    converted = 0
    for svg in shots:
        if to_png(svg) is not None:
            converted += 1
    print(f"{len(shots)} screenshots in {OUT} ({converted} converted to PNG)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
