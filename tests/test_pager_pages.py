"""The pager's pages (jobtui.pages) over an output in memory, its reads counted:
display lines, moves, the end of a large output, search across chunks."""

from __future__ import annotations

import random

import pytest

from jobtui.pages import (
    ChunkStore,
    OutputGone,
    Pager,
    find,
    line_start,
    lines_at,
    next_start,
    prev_start,
)
from jobtui.transport.base import Chunk


class FakeOutput:
    """A stream on a host: `data` (it may grow), read in ranges; counts the reads."""

    def __init__(self, data: bytes, done: bool = True) -> None:
        self.data = data
        self.done = done
        self.reads = 0
        self.gone = False

    def __call__(self, offset: int, size: int) -> Chunk | None:
        if self.gone:
            return None
        self.reads += 1
        return Chunk(self.data[offset : offset + size], self.done, len(self.data))


def numbered(n: int, width: int = 0) -> bytes:
    return b"".join(f"line {i:0{width}d}\n".encode() for i in range(n))


def store_of(data: bytes, **kwargs: int) -> tuple[ChunkStore, FakeOutput]:
    out = FakeOutput(data)
    store = ChunkStore(out, **kwargs)
    store.refresh()
    return store, out


def test_scrolling_a_20_mb_log_to_the_end_reads_a_small_fraction_of_it() -> None:
    data = numbered(1_600_000, 7)  # 20.8 MB
    assert len(data) > 20_000_000
    store, _ = store_of(data)
    pager = Pager(store, height=40)
    pager.open()
    pager.end()
    shown = pager.screen().lines
    assert shown[-1].data == b"line 1599999"
    assert len(shown) == 40
    assert store.bytes_read < 1_000_000
    assert store.bytes_read < len(data) / 100


def test_the_cache_stays_bounded_whatever_is_scrolled_over() -> None:
    store, _ = store_of(numbered(200_000, 6), chunk=4096, cache=8)
    pager = Pager(store, height=30)
    pager.open()
    for _ in range(400):
        pager.down(30)
    assert store.cached <= 8 * 4096
    assert pager.screen().lines[0].data == b"line %06d" % (400 * 30)


def test_display_lines_are_the_same_walked_forward_backward_or_found_from_any_offset() -> None:
    rng = random.Random(7)
    parts = []
    for _ in range(300):
        n = rng.choice([0, 1, 5, 80, 300, 1000, 2500])
        parts.append(bytes(rng.choice(b"abc \t\x1b") for _ in range(n)) + b"\n")
    parts.append(b"x" * 9000)  # a last line without newline, longer than two folds
    data = b"".join(parts)
    store, _ = store_of(data, chunk=1000, cache=4)
    fold = 256
    forward = [0]
    while (after := next_start(store, forward[-1], fold)) is not None:
        forward.append(after)
    backward = [forward[-1]]
    while (before := prev_start(store, backward[-1], fold)) is not None:
        backward.append(before)
    assert backward[::-1] == forward
    for i, start in enumerate(forward):
        end = forward[i + 1] if i + 1 < len(forward) else len(data)
        assert end - start < 2 * fold or data[start:end].endswith(b"\n")
        assert line_start(store, rng.randrange(start, end), fold) == start
    # The lines together are the output, newlines aside.
    joined = b"".join(line.data for line in lines_at(store, 0, len(forward) + 1, fold))
    assert joined == data.replace(b"\n", b"")


def test_a_line_shorter_than_the_fold_is_never_cut() -> None:
    data = b"a" * 100 + b"\n" + b"b" * 1000 + b"\n" + b"c" * 10  # b... crosses 1024
    store, _ = store_of(data, chunk=64)
    lines = lines_at(store, 0, 10, fold=1024)
    assert [len(x.data) for x in lines] == [100, 1000, 10]


def test_a_huge_line_without_newline_is_read_only_around_the_screen() -> None:
    store, _ = store_of(b"z" * 50_000_000 + b"\nlast\n")
    pager = Pager(store, height=10)
    pager.open()
    pager.end()
    assert pager.screen().lines[-1].data == b"last"
    pager.goto(25_000_000)
    assert all(set(x.data) == {ord("z")} for x in pager.screen().lines)
    assert store.bytes_read < 1_000_000


def test_end_home_up_down_and_goto_move_by_display_lines() -> None:
    store, _ = store_of(numbered(1000, 4), chunk=512)
    pager = Pager(store, height=10)
    pager.open()
    assert pager.screen().lines[0].data == b"line 0000"
    pager.down(3)
    assert pager.screen().lines[0].data == b"line 0003"
    pager.up(5)
    assert pager.top == 0
    pager.end()
    assert pager.screen().lines[0].data == b"line 0990"
    assert pager.screen().at_end and pager.following
    pager.down(5)  # never past the end: the screen stays full
    assert pager.screen().lines[0].data == b"line 0990"
    pager.up(1)
    assert not pager.following
    pager.goto(len(b"line 0000\n") * 500 + 3)
    assert pager.screen().lines[0].data == b"line 0500"
    pager.home()
    assert pager.top == 0


def test_search_finds_a_match_that_straddles_two_blocks_forward_and_backward() -> None:
    data = b"." * 1000 + b"NEEDLE" + b"." * 1000
    store, _ = store_of(data)
    for block in (997, 998, 1000, 1003, 1005):  # the block boundary inside the match
        assert find(store, b"NEEDLE", 0, block=block) == 1000
        assert find(store, b"NEEDLE", len(data), forward=False, block=block) == 1000
    assert find(store, b"NEEDLE", 1001) is None
    assert find(store, b"NEEDLE", 1000, forward=False) is None


def test_search_is_case_insensitive_unless_the_pattern_has_a_capital() -> None:
    store, _ = store_of(b"one Error here\nanother error\n")
    assert find(store, b"error", 0) == 4
    assert find(store, b"error", 5) == 23
    assert find(store, b"Error", 5) is None


def test_search_reads_in_bounded_blocks_and_stops_when_cancelled() -> None:
    store, out = store_of(b"x" * 5_000_000)
    reads = out.reads
    assert find(store, b"y", 0, block=100_000) is None
    assert out.reads - reads == 50
    calls = iter(range(100))
    assert find(store, b"y", 0, block=100_000, cancelled=lambda: next(calls) >= 3) is None
    assert out.reads - reads == 53


def test_n_and_shift_n_go_from_match_to_match_round_the_ends() -> None:
    data = numbered(100_000, 5)
    store, _ = store_of(data)
    pager = Pager(store, height=10)
    pager.open()
    assert pager.search(b"e 5000")  # line 50000 to line 50009
    assert pager.screen().lines[0].data == b"line 50000"
    assert pager.match == (data.index(b"line 50000") + 3, 6)
    assert pager.search(b"e 5000")  # on screen: the screen does not move
    assert pager.screen().lines[0].data == b"line 50000"
    assert pager.match == (data.index(b"line 50001") + 3, 6)
    assert pager.search(b"e 5000", forward=False)
    assert pager.match == (data.index(b"line 50000") + 3, 6)
    assert pager.search(b"e 5000", forward=False)  # round the start, to the last one
    assert pager.match == (data.index(b"line 50009") + 3, 6)
    assert pager.message == "search wrapped to the end"
    pager.end()
    assert pager.search(b"e 00000")
    assert pager.screen().lines[0].data == b"line 00000"
    assert pager.message == "search wrapped to the top"
    assert not pager.search(b"no such line")
    assert pager.message == "no match"


def test_a_growing_output_is_followed_at_the_end_and_not_elsewhere() -> None:
    out = FakeOutput(numbered(100, 3), done=False)
    store = ChunkStore(out, chunk=256)
    pager = Pager(store, height=5)
    pager.open()
    pager.end()
    assert pager.screen().lines[-1].data == b"line 099"
    out.data += b"line 100\nline 101\n"
    assert pager.grow()
    assert pager.screen().lines[-1].data == b"line 101"
    pager.home()
    out.data += b"line 102\n"
    assert pager.grow()
    assert pager.screen().lines[0].data == b"line 000"
    assert not pager.grow()
    out.done = True
    pager.grow()
    assert pager.screen().done


def test_a_short_last_chunk_is_read_again_once_the_output_grew() -> None:
    out = FakeOutput(b"abc", done=False)
    store = ChunkStore(out, chunk=8)
    store.refresh()
    assert store.span(0, 8) == b"abc"
    out.data += b"defghij"
    store.refresh()
    assert store.span(0, 10) == b"abcdefghij"


def test_output_gone_from_the_host_is_said() -> None:
    out = FakeOutput(b"abc")
    store = ChunkStore(out)
    out.gone = True
    with pytest.raises(OutputGone):
        store.refresh()
