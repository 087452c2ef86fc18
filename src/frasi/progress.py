"""Progress bars that follow frasi's log level and the terminal."""

from __future__ import annotations

import logging
import sys


def show_progress_default() -> bool:
    """Progress bars show when stderr is a terminal and frasi's log level lets INFO through."""
    return sys.stderr.isatty() and logging.getLogger("frasi").getEffectiveLevel() <= logging.INFO
