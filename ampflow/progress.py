"""Progress of long CLI runs (`ampflow simulate --stations`, `ampflow chaos`), drawn by rich.

On a terminal: a live bar, with the run's messages printed above it. Elsewhere (a pipe, a CI
log) rich draws no live bar and writes no escape codes: every message stays one plain line, and
the bar is printed once, as it stands when the run ends.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


def console(*, stderr: bool = False) -> Console:
    """Plain lines: no markup, highlighting or emoji codes read from the text, never wrapped."""
    return Console(stderr=stderr, soft_wrap=True, markup=False, highlight=False, emoji=False)


def progress_bar(console: Console, *fields: str) -> Progress:
    """Description, bar, then `fields` (format strings over `task`), then the elapsed time."""
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        *(TextColumn(text, markup=False) for text in fields),
        TimeElapsedColumn(),
        console=console,
    )
