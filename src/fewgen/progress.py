"""When progress bars show: only on a terminal, so a redirected log gets no carriage-return updates."""

from __future__ import annotations


def bar_disabled(progress: bool) -> bool | None:
    """tqdm's ``disable``: True when ``--no-progress``; else None, which tqdm reads as "off unless its stream
    (standard error) is a terminal"."""
    return True if not progress else None
