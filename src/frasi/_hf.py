"""Keeping transformers and sentence-transformers quiet: frasi reports what matters itself."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def muted(name: str) -> Iterator[None]:
    """Let only errors through the named logger while the block runs."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def quiet_loading() -> Iterator[list[str]]:
    """Silence transformers and sentence-transformers while a model loads or saves.

    Yields a list that collects transformers' warnings (its load report among them), so
    the caller can turn a report of missing weights into an error instead of hiding it.
    """
    from transformers.utils import logging as hf_logging

    captured: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record.getMessage())

    hf_root = logging.getLogger("transformers")
    hf_handlers, hf_propagate = hf_root.handlers[:], hf_root.propagate
    was_enabled = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    hf_root.handlers[:] = [_Collect(logging.WARNING)]
    hf_root.propagate = False
    try:
        with muted("sentence_transformers"):  # its notes on default prompts are frasi's business
            yield captured
    finally:
        hf_root.handlers[:] = hf_handlers
        hf_root.propagate = hf_propagate
        hf_logging.set_verbosity(level)
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def quiet_tokenizer() -> Iterator[None]:
    """Counting tokens of long texts must not warn about sequence length. Only transformers' tokenizers
    warn: without transformers loaded (a runtime backend's tokenizer), there is nothing to quiet."""
    if "transformers" not in sys.modules:
        yield
        return
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
