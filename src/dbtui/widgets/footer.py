"""The footer: Textual's, with its keys in the first frame and rebuilt only when the keys it shows change."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from textual.app import ComposeResult
from textual.widgets import Footer


class KeysFooter(Footer):
    """Textual's Footer is empty in the first frame and rebuilds all its keys (removes them and mounts a widget per
    key, each styled anew) every time the screen publishes its bindings: on every focus change, even when the keys
    shown stay the same. That was three rebuilds while the app started (the screen resumed, the list focused, the
    app's first idle), in the time the migration status was on its way. This one shows its keys from the first
    frame and rebuilds only when what it shows changed."""

    _shown: Hashable = None

    def shown_keys(self) -> Hashable:
        """What the keys are made of: each binding shown (key, action, description, group…), whether it is enabled,
        its tooltip and how its key is displayed; the command palette's key; the footer's own options."""
        app = self.app
        bindings = self.screen.active_bindings
        shown: Iterable[str] = (key for key, (_, binding, _, _) in bindings.items() if binding.show)
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in bindings:
            shown = [*shown, app.COMMAND_PALETTE_BINDING]
        keys = tuple(
            (binding, enabled, tooltip, app.get_key_display(binding))
            for _, binding, enabled, tooltip in (bindings[key] for key in shown)
        )
        return keys, self.combine_groups, self.compact

    def compose(self) -> ComposeResult:
        self._bindings_ready = True  # Footer's flag, else set by the first bindings change (after the first frame)
        self._shown = self.shown_keys()
        yield from super().compose()

    async def recompose(self) -> None:
        if self.is_attached and self.shown_keys() == self._shown:
            return  # the same keys: nothing to rebuild
        await super().recompose()
