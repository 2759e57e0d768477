"""Render the console's screens from the deterministic sample batch into screenshots/.

    .venv/bin/pip install -e '.[screenshots]'
    .venv/bin/python scripts/screenshots.py

Writes SVGs (Textual's own export) and PNGs next to them. The PNGs are drawn by
`cairosvg` (the `screenshots` extra; it needs Debian's libcairo2) or, without it, by
`rsvg-convert` (Debian's librsvg2-bin), in DejaVu Sans Mono, found through
fontconfig. What to install when something is missing, in one command (both are on
most Debian machines already; the script says which one it lacks):

    apt-get install libcairo2 fonts-dejavu-core

Why the PNGs overlapped: Textual's SVG asks for "Fira Code, monospace", fetched with
@font-face from the web (a browser does that), and sizes every span with `textLength`.
cairosvg does neither: it loads no @font-face, reads only the first family of the list
and asks fontconfig for "Fira Code", which is not installed, so fontconfig gave its
default sans-serif font, the proportional DejaVu Sans; and it ignores `textLength`.
Every wide glyph pushed its span past its cells ("3f9a1c15 runs", `100%` over the
message, `^ppalette`), and box glyphs of another size broke the borders. So the PNGs
are drawn from a copy of each SVG (`printable`) that names DejaVu Sans Mono and puts
every glyph in its cell of Textual's grid itself; box-drawing and block runs are
drawn a little larger, so that borders and bars join across cells and lines. Before
drawing, `check_font` asks fontconfig (as cairo and librsvg do) which font it will
really use for each weight and slant in the screens, and stops, saying what to
install, if that is not DejaVu Sans Mono or lacks a character the screens show.

The read-only screenshot is a real `jobtui watch` console: `make_app(read_only=True)`
on a `DiscoveryPoller`, as `jobtui watch` builds it, that polls sample hosts once.
The hosts answer the status round trip with what the wrapper's files would say about
the sample batch's runs, so the console shows what watch shows: runs discovered on
the hosts (none pending: a run that never launched is on no host) and the unreachable
host with no runs of its own.

The Ansible screenshot is the operator console as `make_app` builds it for `jobtui
run`, with Ansible's own async jobs beside the batch's runs: the batch's events, merged
with an `AnsibleJobs` source that reads the sample hosts once; their status round trip
also reports the jobs of a playbook's `async:` + `poll: 0` tasks (`sample_ansible_jobs`).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from jobtui.events import RunView
from jobtui.fleet import DiscoveryPoller
from jobtui.model import Host, Progress, RemoteStatus, RunState
from jobtui.remote.parse import Hello, HostStatus
from jobtui.transport.base import Session, Transport, TransportError
from jobtui.ui.ansible_jobs import AnsibleJobs
from jobtui.ui.app import ConsoleApp, OperatorApp, make_app
from jobtui.ui.fleet_sample import fleet_events
from jobtui.ui.sample import (
    SAMPLE_BATCH,
    SAMPLE_NOW,
    RecordingSink,
    sample_ansible_jobs,
    sample_app,
    sample_events,
    sample_problem_events,
    sample_runs,
    settle,
)
from jobtui.ui.source import MergedSource, ReplaySource

OUT = Path(__file__).resolve().parent.parent / "screenshots"

FONT = "DejaVu Sans Mono"
INSTALL_FONT = "apt-get install fonts-dejavu-core"
INSTALL_CAIRO = "apt-get install libcairo2"
# DejaVu Sans Mono's metrics, in font units per em (2048): every glyph advances 1233;
# the box-drawing and block glyphs (│ █ ▀ ▄) reach from 1921 above the baseline to
# 512 below it.
UNITS_PER_EM = 2048
ADVANCE = 1233
BOX_ASCENT = 1921
BOX_HEIGHT = BOX_ASCENT + 512
# How far (px) a box or block glyph reaches into the next cell and the next line: two
# glyphs that only touch leave an antialiased seam between them, a whole pixel of
# overlap leaves none.
OVERLAP = 1.05

# The sample jobs not from the sample batch: watch finds every batch on the hosts.
EARLIER_BATCH = "20261128-220004-8be41d"


# The read-only console, as `jobtui watch` builds it -------------------------------


class SampleHost(Transport):
    """A host that answers the status round trip from fixed data (or is down)."""

    def __init__(self, host: Host, runs: list[RemoteStatus], down: str = "") -> None:
        super().__init__(host)
        self.runs = runs
        self.down = down
        self.answered: Callable[[], None] = lambda: None

    def _open(self) -> Session:
        raise TransportError("a sample host has no shell")

    def status(
        self, jids: list[str] | None = None, full: frozenset[str] | set[str] = frozenset()
    ) -> HostStatus:
        self.answered()
        if self.down:
            raise TransportError(self.down)
        runs = {r.jid: r for r in self.runs if jids is None or r.jid in jids}
        return HostStatus(Hello(SAMPLE_NOW, "sample-boot"), runs, [])


def remote_status(v: RunView) -> RemoteStatus:
    """What the wrapper's files on the host say about a launched sample run."""
    assert v.jid is not None
    batch = SAMPLE_BATCH if v.job == "backup" else EARLIER_BATCH
    meta = {
        "job": v.job,
        "index": v.key.item_index,
        "item": v.item,
        "timeout": v.timeout,
        "attempt": v.attempt,
        "command": v.command,
        "batch": batch,
    }
    return RemoteStatus(
        jid=v.jid,
        state=v.state,
        rc=v.rc,
        started=v.started,
        finished=v.finished,
        progress=Progress(v.progress, v.message),
        tail=v.tail,
        stderr_tail=v.stderr_tail,
        meta=meta,
        full=True,
        user=v.user,
    )


def sample_hosts() -> list[SampleHost]:
    """The sample batch's hosts, as watch reaches them: db03 refuses the connection
    (so none of its runs can be read), the others report their launched runs."""
    runs = sample_runs()
    hosts: list[SampleHost] = []
    for name in dict.fromkeys(v.host for v in runs):
        down = next(
            (v.reason for v in runs if v.host == name and v.state is RunState.UNREACHABLE), ""
        )
        found = [] if down else [remote_status(v) for v in runs if v.host == name and v.jid]
        hosts.append(SampleHost(Host(name, name), found, down))
    return hosts


def watch_app() -> ConsoleApp:
    """`jobtui watch`'s console (cli.watch) on the sample hosts, with a frozen clock.
    The poller stops after its first poll, so that `settle` can wait for it."""
    hosts = sample_hosts()
    transports: list[Transport] = list(hosts)
    poller = DiscoveryPoller(transports, interval=0)
    for h in hosts:
        h.answered = poller.stop
    return make_app(
        source=poller, title="jobtui watch", read_only=True, clock=lambda: SAMPLE_NOW, bell=False
    )


def ansible_app() -> ConsoleApp:
    """The operator console with Ansible's jobs (`make_app`'s merge of the engine's
    events and an `AnsibleJobs` over the batch's hosts), on the sample batch and the
    sample hosts (their async dirs hold `sample_ansible_jobs`), with a frozen clock.
    The Ansible source is the one the console waits for: it stops after its first read."""
    theirs = sample_ansible_jobs()
    hosts = [
        SampleHost(h.host, [*h.runs, *theirs.get(h.host.name, [])], h.down) for h in sample_hosts()
    ]
    jobs = AnsibleJobs(hosts, interval=0)
    for h in hosts:
        h.answered = jobs.stop
    return OperatorApp(
        MergedSource(jobs, ReplaySource(sample_events())),
        RecordingSink(),
        ansible=jobs,
        batch=SAMPLE_BATCH,
        title="jobtui",
        clock=lambda: SAMPLE_NOW,
        bell=False,
    )


async def shoot(app: ConsoleApp, name: str, size: tuple[int, int], keys: list[str]) -> Path:
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        path = OUT / f"{name}-{size[0]}x{size[1]}.svg"
        app.save_screenshot(filename=path.name, path=str(OUT))
    return path


# SVG to PNG ----------------------------------------------------------------------


class Missing(Exception):
    """Something the PNGs need is not on this machine; `str()` says what to install."""


# Rich's terminal text: class, x, y, the clip to its line, the text.
_SPAN = re.compile(
    r'<text class="([\w-]+-r\d+)" x="([\d.]+)" y="([\d.]+)" textLength="[\d.]+" '
    r'(clip-path="[^"]+")>([^<]*)</text>'
)
BOXES = "\u2500-\u259f"  # box drawing and block elements
BOX_CHARS = {chr(c) for c in range(0x2500, 0x25A0)}
_TEXT = re.compile(r'<text class="([\w-]+)"[^>]*>([^<]*)</text>')
_RULE = re.compile(r"\.([\w-]+) \{([^}]*)\}")


def styled_text(svg: str) -> dict[tuple[bool, bool], set[str]]:
    """The characters of the terminal's text, by (bold, italic)."""
    styles = {name: body for name, body in _RULE.findall(svg)}
    chars: dict[tuple[bool, bool], set[str]] = {}
    for cls, text in _TEXT.findall(svg):
        if cls.endswith("-title"):
            continue
        body = styles.get(cls, "")
        style = ("font-weight: bold" in body, "font-style: italic" in body)
        # Rich ends each line with a newline segment: only what is drawn counts.
        drawn = {c for c in html.unescape(text) if c.isprintable() and c != "\xa0"}
        chars.setdefault(style, set()).update(drawn)
    return chars


def check_font(svgs: Iterable[str]) -> None:
    """Ask fontconfig, as cairo and librsvg do, which font it gives for FONT in each
    weight and slant the screens use; fail unless it is FONT with every character."""
    need: dict[tuple[bool, bool], set[str]] = {}
    for svg in svgs:
        for style, chars in styled_text(svg).items():
            need.setdefault(style, set()).update(chars)
    name = ctypes.util.find_library("fontconfig")
    if name is None:
        raise Missing(f"fontconfig is missing: {INSTALL_FONT}")
    fc = ctypes.CDLL(name)
    fc.FcNameParse.restype = ctypes.c_void_p
    fc.FcNameParse.argtypes = [ctypes.c_char_p]
    fc.FcConfigSubstitute.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    fc.FcDefaultSubstitute.argtypes = [ctypes.c_void_p]
    fc.FcFontMatch.restype = ctypes.c_void_p
    fc.FcFontMatch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    fc.FcPatternGetString.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)
    ]  # fmt: skip
    fc.FcPatternGetCharSet.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)
    ]  # fmt: skip
    fc.FcCharSetHasChar.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    fc.FcPatternDestroy.argtypes = [ctypes.c_void_p]
    problems = []
    for (bold, italic), chars in sorted(need.items()):
        spec = FONT + (":bold" if bold else "") + (":italic" if italic else "")
        pattern = fc.FcNameParse(spec.encode())
        fc.FcConfigSubstitute(None, pattern, 0)  # FcMatchPattern
        fc.FcDefaultSubstitute(pattern)
        result = ctypes.c_int()
        match = fc.FcFontMatch(None, pattern, ctypes.byref(result))
        fc.FcPatternDestroy(pattern)
        if not match:
            problems.append(f"{spec}: no font at all")
            continue
        family, path, charset = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_void_p()
        fc.FcPatternGetString(match, b"family", 0, ctypes.byref(family))
        fc.FcPatternGetString(match, b"file", 0, ctypes.byref(path))
        fc.FcPatternGetCharSet(match, b"charset", 0, ctypes.byref(charset))
        got = (family.value or b"?").decode()
        where = (path.value or b"?").decode()
        if got != FONT:
            problems.append(f"{spec}: fontconfig gives {got} ({where}) instead")
        else:
            lacking = sorted(c for c in chars if not fc.FcCharSetHasChar(charset, ord(c)))
            if lacking:
                problems.append(f"{spec} ({where}) lacks {''.join(lacking)!r}")
        fc.FcPatternDestroy(match)
    if problems:
        raise Missing(f"the PNGs need the font {FONT}: {INSTALL_FONT}\n  " + "\n  ".join(problems))


def printable(svg: str, *, glyph_x: bool) -> str:
    """The SVG as cairosvg and librsvg draw it right: in FONT, every glyph in its cell
    of Textual's grid (neither takes the grid from textLength). Text at the size whose
    advance is a cell; box and block runs a little larger, so that they cover their
    whole cells and overlap the next ones by OVERLAP, moved down onto their line (their
    ink reaches further above the baseline than below), and not clipped to it.

    `glyph_x`: place each glyph with its own x (cairosvg, whose cairo rounds advances
    to whole pixels: a 60-character span drifted 12 px off the grid); else by letter
    spacing (librsvg, which ignores a list of x but spaces letters exactly).
    """
    rule = re.search(r"font-family: Fira Code, monospace;\s*font-size: ([\d.]+)px;", svg)
    if rule is None:
        raise RuntimeError("Textual's SVG changed: no terminal font rule to replace")
    char_height = float(rule.group(1))  # Rich's baseline: a line's top + char_height - 1.5
    line = float(re.search(r"line-height: ([\d.]+)px", svg).group(1))  # type: ignore[union-attr]
    one = re.search(r'textLength="([\d.]+)"[^>]*>(?:[^<&]|&#\d+;)</text>', svg)
    cell = float(one.group(1)) if one else line / 2
    text_size = cell * UNITS_PER_EM / ADVANCE
    box_size = (line + OVERLAP) * UNITS_PER_EM / BOX_HEIGHT
    # The block glyphs' ink reaches 20 units past their advance on either side: so
    # large a size overlaps the next cell by at least as much as the next line.
    assert box_size * (ADVANCE + 40) / UNITS_PER_EM - cell >= OVERLAP
    box_spacing = 0.0 if glyph_x else cell - box_size * ADVANCE / UNITS_PER_EM
    box_style = f'style="font-size: {box_size:.3f}px; letter-spacing: {box_spacing:.3f}px"'
    down = BOX_ASCENT * box_size / UNITS_PER_EM - (char_height - 1.5)
    svg = (
        svg[: rule.start()]
        + (f'font-family: "{FONT}"; font-size: {text_size:.3f}px; letter-spacing: 0px;')
        + svg[rule.end() :]
    )
    svg = svg.replace("font-family: arial;", 'font-family: "DejaVu Sans";')

    def split(m: re.Match[str]) -> str:
        cls, x, y, clip, text = m.groups()
        out, at = [], float(x)
        for run in re.findall(f"[{BOXES}]+|[^{BOXES}]+", html.unescape(text)):
            n = len(run)
            xs = " ".join(f"{at + i * cell:.2f}" for i in range(n)) if glyph_x else f"{at:.2f}"
            if run[0] in BOX_CHARS:
                attrs = f'y="{float(y) + down:.3f}" {box_style}'
            else:
                attrs = f'y="{y}" {clip}'
            body = html.escape(run, quote=False).replace(" ", "&#160;")
            # librsvg strips leading and trailing no-break spaces too, but for this.
            space = 'xml:space="preserve"'
            out.append(f'<text class="{cls}" x="{xs}" {attrs} {space}>{body}</text>')
            at += cell * n
        return "".join(out)

    return _SPAN.sub(split, svg)


Convert = Callable[[Path, Path], None]


def converter() -> tuple[Convert, bool]:
    """cairosvg, else rsvg-convert, and whether it places glyphs by a list of x;
    Missing says what to install."""
    try:
        import cairosvg  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        pass
    except OSError as e:  # cairocffi is there, the cairo library is not
        raise Missing(f"cairosvg cannot load cairo ({e}): {INSTALL_CAIRO}") from e
    else:
        return lambda svg, png: cairosvg.svg2png(url=str(svg), write_to=str(png)), True
    rsvg = shutil.which("rsvg-convert")
    if rsvg is None:
        raise Missing(
            "no SVG to PNG converter: .venv/bin/pip install -e '.[screenshots]' "
            f"(and {INSTALL_CAIRO}), or apt-get install librsvg2-bin"
        )

    def run_rsvg(svg: Path, png: Path) -> None:
        subprocess.run([rsvg, "-o", str(png), str(svg)], check=True)

    return run_rsvg, False


def to_pngs(svgs: list[Path], convert: Convert, glyph_x: bool) -> None:
    texts = {svg: svg.read_text() for svg in svgs}
    check_font(texts.values())
    with tempfile.TemporaryDirectory() as tmp:
        for svg, text in texts.items():
            copy = Path(tmp) / svg.name
            copy.write_text(printable(text, glyph_x=glyph_x))
            convert(copy, svg.with_suffix(".png"))


async def main() -> int:
    OUT.mkdir(exist_ok=True)
    shots: list[Path] = []
    for size in ((80, 24), (160, 48)):
        shots.append(await shoot(sample_app(), "main", size, []))
        shots.append(await shoot(sample_app(), "marked", size, ["space", "space", "down"]))
        # Trouble first: db03's 3 unreachable runs, then the failed rotate-logs on web02.
        shots.append(await shoot(sample_app(), "detail", size, [*["down"] * 3, "enter"]))
        shots.append(await shoot(sample_app(), "help", size, ["question_mark"]))
        shots.append(await shoot(sample_app(), "confirm", size, ["down", "down", "c"]))
        shots.append(await shoot(watch_app(), "read-only", size, []))
        shots.append(await shoot(ansible_app(), "ansible", size, []))
        # The failed Ansible job on web02 (systemctl restart app, rc 4).
        shots.append(await shoot(ansible_app(), "ansible-detail", size, [*["down"] * 3, "enter"]))
        # The problems view of the sample with `sync` failing on six more hosts.
        shots.append(await shoot(sample_app(sample_problem_events()), "problems", size, ["p"]))
        # The host grid: 200 hosts at 80x24, 500 at 160x48 (the most that must fit).
        fleet = sample_events(200 if size == (80, 24) else 500)
        shots.append(await shoot(sample_app(fleet), "grid", size, []))
        # 500 hosts x 4 items, trouble first: one host down, four runs in trouble.
        fleet = sample_app(fleet_events(500, 4, unreachable=[287]))
        shots.append(await shoot(fleet, "fleet-trouble", size, []))
    try:
        to_pngs(shots, *converter())
    except Missing as e:
        print(f"{len(shots)} SVGs in {OUT}, but no PNG: {e}", file=sys.stderr)
        return 1
    print(f"{len(shots)} screenshots in {OUT}, as SVG and PNG ({FONT})")
    return 0


if __name__ == "__main__":
    if os.environ.get("PYTHONHASHSEED") != "0":
        # In watch, runs of one host and job tie in the table's order (their item index
        # is 0), and ties follow set order, which the hash seed changes: fix it.
        os.execve(
            sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"}
        )
    sys.exit(asyncio.run(main()))
