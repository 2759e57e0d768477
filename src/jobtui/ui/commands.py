"""Command palette providers, from the entries of `ui.keys.ACTIONS` that have a
palette name: view commands for every console, actions for the operator console
only (the read-only app does not register `ActionCommands`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

from jobtui.ui.keys import KeyAction, palette_entries


class _EntriesProvider(Provider):
    entries: tuple[KeyAction, ...] = ()

    def _callback(self, action: str) -> object:
        async def run() -> None:
            await self.app.run_action(action)

        return run

    async def discover(self) -> Hits:
        for entry in self.entries:
            yield DiscoveryHit(
                entry.palette,
                self._callback(entry.palette_action),  # type: ignore[arg-type]
                help=entry.palette_help,
            )

    async def search(self, query: str) -> AsyncIterator[Hit]:
        matcher = self.matcher(query)
        for entry in self.entries:
            score = matcher.match(entry.palette)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(entry.palette),
                    self._callback(entry.palette_action),  # type: ignore[arg-type]
                    help=entry.palette_help,
                )


class ViewCommands(_EntriesProvider):
    """Filter, finished runs, sort, help."""

    entries = palette_entries(operator=False)


class ActionCommands(_EntriesProvider):
    """Cancel, clean up, retry, marks: only in the operator console."""

    entries = palette_entries(operator=True)
