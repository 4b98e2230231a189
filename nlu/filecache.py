"""Read a data or model file once per process while it is unchanged.

Every NLU engine (the hub builds one per Runtime; tests build hundreds) used to unpickle the intent
model, compile the urgency lexicon and parse the gazetteer again: ~0.6 s each time. The loaded
objects are never mutated, so engines of one process can share them. A file is known by its
resolved path, size and modification time (ns), so an edited or replaced file is read again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_cache: dict[tuple[str, str, int, int], Any] = {}
_lock = threading.Lock()


def load_once(kind: str, path: Path, loader: Callable[[Path], T]) -> T:
    """`loader(path)`, or what it returned before for this version of the file.

    Errors are not cached (a missing file raises from `stat` before the loader runs, as the
    loader itself would); `kind` keeps different readers of one file apart.
    """
    stat = path.stat()
    key = (kind, str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _cache:
            return _cache[key]
    value = loader(path)
    with _lock:
        _cache[key] = value
    return value
