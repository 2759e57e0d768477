"""Command palette providers: view commands for every console, actions for the
operator console only (the read-only app does not register `ActionCommands`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

Entry = tuple[str, str, str]
"""Palette name, help text, action (run with `app.run_action`)."""

VIEW_ENTRIES: tuple[Entry, ...] = (
    ("Filter runs", "focus the filter box", "screen.filter"),
    ("Toggle finished runs", "show or hide the runs that have ended", "screen.toggle_finished"),
    ("Sort runs: next order", "host, job, state, elapsed, progress", "screen.cycle_sort"),
    ("Show keys", "the help overlay", "help"),
)

ACTION_ENTRIES: tuple[Entry, ...] = (
    ("Cancel runs", "the marked runs, or the one under the cursor (asks first)", "cancel"),
    ("Clean up runs", "remove the job directories of finished runs (asks first)", "cleanup"),
    ("Retry runs", "launch the marked runs, or the one under the cursor, again", "retry"),
    ("Mark all shown runs", "mark every run that matches the filter", "mark_all"),
    ("Clear marks", "unmark every run", "clear_marks"),
)


class _EntriesProvider(Provider):
    entries: tuple[Entry, ...] = ()

    def _callback(self, action: str) -> object:
        async def run() -> None:
            await self.app.run_action(action)

        return run

    async def discover(self) -> Hits:
        for name, help_text, action in self.entries:
            yield DiscoveryHit(name, self._callback(action), help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> AsyncIterator[Hit]:
        matcher = self.matcher(query)
        for name, help_text, action in self.entries:
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    self._callback(action),  # type: ignore[arg-type]
                    help=help_text,
                )


class ViewCommands(_EntriesProvider):
    """Filter, finished runs, sort, help."""

    entries = VIEW_ENTRIES


class ActionCommands(_EntriesProvider):
    """Cancel, clean up, retry, marks: only in the operator console."""

    entries = ACTION_ENTRIES
