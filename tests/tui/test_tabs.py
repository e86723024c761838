"""Fast bursts of tab changes (mouse, keys, palette) end with the last chosen tab shown and the app idle.

A click is delivered the way the terminal driver delivers it (posted to the app, no waiting in between), so two
clicks are in flight at once: that is what left the tabs flipping on their own with a core at 100 %.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

from textual import events
from textual.message import Message
from textual.pilot import Pilot, _get_mouse_message_arguments
from textual.widgets import TabbedContent
from textual.widgets._tabs import Tab

from dbtui.actions import TABS
from dbtui.app import MAIN_LISTS, DbtuiApp

from .conftest import make_app, wait_for

PANES = list(TABS)
LIST_IDS = {selector.strip().lstrip("#") for selector in MAIN_LISTS.split(",")}
QUIET = 0.2  # seconds without a single message: the app is idle
SETTLE = 10  # seconds a burst may take to be handled (a few hundred ms here) before the app counts as looping


def every_pair_once(items: list[str]) -> list[str]:
    """A walk through ``items`` that steps from every item to every other exactly once (Hierholzer on the complete
    directed graph): one burst that holds every ordered pair."""
    unused = {a: [b for b in items if b != a] for a in items}
    stack, walk = [items[0]], []
    while stack:
        if unused[stack[-1]]:
            stack.append(unused[stack[-1]].pop())
        else:
            walk.append(stack.pop())
    return walk[::-1]


class Recorder:
    """Every message the app's widgets process (``run_test(message_hook=...)``)."""

    def __init__(self) -> None:
        self.seen: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.seen.append(message)

    def tab_activations(self) -> int:
        return sum(isinstance(m, TabbedContent.TabActivated) for m in self.seen)


def shown(app: DbtuiApp, pane: str) -> bool:
    """``pane`` is the active tab and its list has the keys."""
    focused = app.focused
    return (
        app.query_one(TabbedContent).active == pane
        and focused is not None
        and focused.id in LIST_IDS
        and app.query_one(f"#{pane}") in focused.ancestors
    )


async def settled(pilot: Pilot, app: DbtuiApp, recorder: Recorder, pane: str) -> None:
    """The bursts are over: for QUIET seconds nothing at all happens (no TabActivated, no focus change, no refresh:
    the heartbeat is off in these tests), and ``pane``, chosen last, is shown with its list focused. A tab loop never
    goes quiet; it keeps flipping until the app ends."""
    deadline = time.monotonic() + SETTLE
    while True:  # not pilot.pause(): that waits for an idle app, which a looping one never is
        before = len(recorder.seen)
        await asyncio.sleep(QUIET)
        busy = recorder.seen[before:]
        if not busy:
            break
        assert time.monotonic() < deadline, f"still busy: {[type(m).__name__ for m in busy][:20]}"
    assert shown(app, pane), f"{app.query_one(TabbedContent).active} shown, {app.focused} focused; {pane} chosen last"


def click_tab(app: DbtuiApp, pane: str) -> None:
    """A click on the tab bar as the terminal driver delivers it (Pilot.click would wait for an idle app after)."""
    tab = app.screen.query_one(f"#--content-tab-{pane}")
    arguments = _get_mouse_message_arguments(tab, (1, 0), button=1)
    for event in (events.MouseDown, events.MouseUp):  # the app makes a Click of them
        app.post_message(event(**arguments))


def press_at_once(app: DbtuiApp, *keys: str) -> None:
    for key in keys:
        app.post_message(events.Key(key, key))


async def test_mouse_bursts_every_pair(tui_project: Path, empty_database: str) -> None:
    recorder = Recorder()
    app = make_app(tui_project, empty_database, heartbeat=3600)
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.database_ok, what="database")
        for first, second in itertools.permutations(PANES, 2):
            start = len(recorder.seen)
            click_tab(app, first)
            click_tab(app, second)  # both in flight at once
            chosen = second

            def last_chosen(start: int = start, second: str = second) -> bool:
                nonlocal chosen
                # Clicks on two widgets posted at the very same moment may reach them in either order (a hand is
                # never that fast): the tab chosen last is the one whose click the tab bar took last.
                clicked = [m.tab.id for m in recorder.seen[start:] if isinstance(m, Tab.Clicked)]
                chosen = clicked[-1].removeprefix("--content-tab-") if len(set(clicked)) == 2 else second
                return len(set(clicked)) == 2 and shown(app, chosen)

            await wait_for(pilot, last_chosen, what=f"{first} then {second}")
        await settled(pilot, app, recorder, chosen)
        assert recorder.tab_activations() < 200  # a loop posts them without end


async def test_key_bursts_every_pair(tui_project: Path, empty_database: str) -> None:
    walk = every_pair_once(PANES)
    assert len(walk) == len(PANES) * (len(PANES) - 1) + 1
    recorder = Recorder()
    app = make_app(tui_project, empty_database, heartbeat=3600)
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.database_ok, what="database")
        press_at_once(app, *(str(PANES.index(pane) + 1) for pane in walk))
        await settled(pilot, app, recorder, walk[-1])


async def test_palette_go_to_tabs(tui_project: Path, empty_database: str) -> None:
    recorder = Recorder()
    app = make_app(tui_project, empty_database, heartbeat=3600)
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.database_ok, what="database")
        for pane in ("locks", "migrations", "schema"):
            await pilot.press("ctrl+p", *f"to {pane[:3]}", "enter")
        await settled(pilot, app, recorder, "schema")
