"""Files a designer edits while the bot runs (catalog.yml, shop.yml): parsed once, and
again only when the file changed, so an edit is seen without a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class ParsedFiles(Generic[T]):
    """Each path's parsed content, kept until the file's mtime or size changes. Checking
    costs one stat (microseconds); reading happens only after an edit."""

    def __init__(self, parse: Callable[[Path], T]) -> None:
        self._parse = parse
        self._kept: dict[Path, tuple[tuple[int, int], T]] = {}

    def get(self, path: Path) -> T:
        """`path`'s content; OSError when it cannot be stat'ed, and what `parse` raises."""
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        kept = self._kept.get(path)
        if kept is not None and kept[0] == version:
            return kept[1]
        content = self._parse(path)
        self._kept[path] = (version, content)
        return content
