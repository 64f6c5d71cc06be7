"""Items' media over HTTP: the raw items a project keeps, and image files under the media roots.

An item has media when its project keeps raw items (images, or texts served as plain
text), or when its metadata names an image file by absolute path (``source``, as ``knn-al
embed`` writes for an image folder, or ``path`` / ``image``; by its extension, so that a
text starting with "/" is no path). Such a file is served only if it resolves, symlinks
followed, to a regular file under one of the server's media roots (``--media-root``):
anything else, a missing file as much as one outside, gets the same 404, which tells
nothing of what exists. The file is opened first and checked after, by what was opened
(``/proc/self/fd``): swapping a directory for a symlink between check and open gains nothing.
"""
from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode


__all__ = ["DOT_SEGMENTS", "MEDIA_KEYS", "MediaRoots", "content_type_of_raw", "media_path", "media_url"]

#: Ids no URL path can carry: browsers resolve a path segment "." or ".." (and, by the URL
#: standard, "%2E" or "%2E%2E" as well) as this or the parent directory. Their media URL
#: names the item in the query instead.
DOT_SEGMENTS = (".", "..")
#: Metadata keys that may name an item's file, in the order they are tried.
MEDIA_KEYS = ("source", "path", "image")

#: Leading bytes of the image formats browsers show, and their content types.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
               (b"BM", "image/bmp"))


def _is_image(path: str) -> bool:
    return (mimetypes.guess_type(path)[0] or "").startswith("image/")


def media_path(metadata: Mapping[str, Any]) -> str | None:
    """The absolute path of an image file an item's metadata names, if any."""
    for key in MEDIA_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and os.path.isabs(value) and _is_image(value):
            return value
    return None


def media_url(project: str, item_id: str, metadata: Mapping[str, Any], *, keeps_raw: bool) -> str | None:
    """The URL of an item's media (``keeps_raw``: its project keeps raw items), or None
    when it has none to serve."""
    if not (keeps_raw or media_path(metadata)):
        return None
    base = f"/api/v1/projects/{quote(project, safe='')}"
    if item_id in DOT_SEGMENTS:
        return f"{base}/media?{urlencode({'item': item_id})}"
    return f"{base}/items/{quote(item_id, safe='')}/media"


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

    def open(self, path: str) -> tuple[BinaryIO, str] | None:
        """``path`` opened for reading, with its content type, if it is a regular file
        under a root (symlinks followed); else None."""
        try:
            resolved = Path(path).resolve(strict=True)
            # No symlink left to follow in the last component; O_NONBLOCK: a FIFO must not hang
            # the worker. A directory above may still be swapped: checked by what was opened.
            fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, RuntimeError):  # missing, unreadable, a symlink (swapped in) or a loop
            return None
        try:
            opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
            if any(opened.is_relative_to(root) for root in self.roots) and stat.S_ISREG(os.fstat(fd).st_mode):
                return os.fdopen(fd, "rb"), mimetypes.guess_type(opened.name)[0] or "application/octet-stream"
        except OSError:
            pass
        os.close(fd)
        return None
