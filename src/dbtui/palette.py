"""The command palette (``ctrl+p``): every app action of the registry (``dbtui.actions``), searchable by name, with
its key in the help text."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

from dbtui.actions import ACTIONS, Action


def palette_help(action: Action) -> str:
    """The help line with the key: the palette reads it as markup, so the brackets are escaped."""
    return escape(f"{action.help}  [{action.shown_keys}]" if action.keys else action.help)


class ActionsProvider(Provider):
    """Offers each action; choosing one runs the same app action as its key."""

    async def discover(self) -> Hits:
        for action in ACTIONS:
            yield DiscoveryHit(action.title, partial(self.app.run_action, action.action), help=palette_help(action))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in ACTIONS:
            score = matcher.match(action.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(action.title),
                    partial(self.app.run_action, action.action),
                    help=palette_help(action),
                )
