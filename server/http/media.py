"""Items' media over HTTP: the raw items a project keeps, and image files under the media roots.

An item has media when its project keeps raw items (images, or texts served as plain
text), or when its metadata names an
absolute file path (``source``, as ``knn-al embed`` writes for an image folder, or
``path`` / ``image``). Such a file is served only if it resolves, symlinks followed, to a
file under one of the server's media roots (``--media-root``): anything else, a missing
file as much as one outside, gets the same 404, which tells nothing of what exists.
"""
from __future__ import annotations

import mimetypes
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote


__all__ = ["MEDIA_KEYS", "MediaRoots", "content_type_of_raw", "media_path", "media_url"]

#: Metadata keys that may name an item's file, in the order they are tried.
MEDIA_KEYS = ("source", "path", "image")

#: Leading bytes of the image formats browsers show, and their content types.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
               (b"BM", "image/bmp"))


def media_path(metadata: Mapping[str, Any]) -> str | None:
    """The absolute file path an item's metadata names, if any."""
    for key in MEDIA_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and os.path.isabs(value):
            return value
    return None


def media_url(project: str, item_id: str, metadata: Mapping[str, Any], *, keeps_raw: bool) -> str | None:
    """The URL of an item's media (``keeps_raw``: its project keeps raw items), or None
    when it has none to serve."""
    if not (keeps_raw or media_path(metadata)):
        return None
    return f"/api/v1/projects/{quote(project, safe='')}/items/{quote(item_id, safe='')}/media"


def content_type_of_raw(content: bytes, kind: str) -> str:
    """The content type of a kept raw item: texts are plain UTF-8 text, images by their first bytes."""
    if kind == "text":
        return "text/plain; charset=utf-8"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES if content.startswith(magic)), "application/octet-stream")


class MediaRoots:
    """The directories whose files may be served (resolved once, at start-up)."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = tuple(Path(root).resolve() for root in roots)

    def confined(self, path: str) -> Path | None:
        """``path`` resolved (symlinks followed) if it is a file under a root; else None."""
        try:
            resolved = Path(path).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
            return None
        if any(resolved.is_relative_to(root) for root in self.roots) and resolved.is_file():
            return resolved
        return None

    @staticmethod
    def content_type(path: Path) -> str:
        return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
