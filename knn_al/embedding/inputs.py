"""Reading the job's input: a folder of images or a JSONL/CSV file of texts.

Structural problems (no such path, a malformed line, a missing ``id``/``text`` column,
duplicate ids, nothing to embed) are reported before any work starts, as ``InputError``.
Problems with single items (an unreadable or corrupt image, an empty text) are not: the
job reports and skips those items.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from knn_al.encoders import Modality
from knn_al.errors import InvalidInputError

TEXT_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


class InputError(InvalidInputError):
    """The job's input cannot be used as a whole; the message says what to fix."""


@dataclass(frozen=True)
class Item:
    """One item to embed. ``source`` is an image file's absolute path or the text itself."""

    id: str
    source: str
    label: str | None


def _label(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _image_items(root: Path) -> list[Item]:
    """Every non-hidden file under ``root``; a file in a sub-folder is labelled with the
    name of its first-level folder (one sub-folder per class). Ids are relative paths."""
    items = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            relative = path.relative_to(root)
            label = relative.parts[0] if len(relative.parts) > 1 else None
            items.append(Item(id=relative.as_posix(), source=str(path.resolve()), label=label))
    return items


def _text_rows(path: Path) -> list[tuple[str, dict]]:
    """(where, row) pairs of a JSONL or CSV file; ``where`` locates the row in messages."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            if TEXT_SUFFIXES[path.suffix.lower()] == "csv":
                reader = csv.DictReader(handle)
                missing = {"id", "text"} - set(reader.fieldnames or ())
                if missing:
                    raise InputError(f"{path}: the CSV header lacks the column(s) {', '.join(sorted(missing))} "
                                     "(expected id,text[,label])")
                return [(f"{path}:{reader.line_num}", row) for row in reader]
            rows = []
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise InputError(f"{path}:{number}: expected a JSON object with id and text")
                rows.append((f"{path}:{number}", row))
            return rows
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc})") from None


def _text_items(path: Path) -> list[Item]:
    items = []
    for where, row in _text_rows(path):
        for key in ("id", "text"):
            if key not in row or (key == "id" and row[key] in (None, "")):
                raise InputError(f"{where}: missing {key!r} (each row needs id, text and optionally label)")
        text = row["text"]
        items.append(Item(id=str(row["id"]), source="" if text is None else text, label=_label(row.get("label"))))
    return items


def read_items(path: str | os.PathLike[str]) -> tuple[Modality, list[Item]]:
    """The modality and items of an input folder of images or JSONL/CSV file of texts.

    Items come in a deterministic order (sorted paths, file order for texts), which is
    what makes shards reproducible and an interrupted job resumable.
    """
    path = Path(path)
    if path.is_dir():
        modality: Modality = "image"
        items = _image_items(path)
    elif path.is_file():
        if path.suffix.lower() not in TEXT_SUFFIXES:
            raise InputError(f"{path}: expected a folder of images or a .jsonl/.csv file of texts")
        modality = "text"
        items = _text_items(path)
    else:
        raise InputError(f"{path}: no such file or directory")
    if not items:
        raise InputError(f"{path}: nothing to embed (no {'image files' if modality == 'image' else 'rows'})")
    seen: set[str] = set()
    repeated = set()
    for item in items:
        if item.id in seen:
            repeated.add(item.id)
        seen.add(item.id)
    duplicates = sorted(repeated)
    if duplicates:
        raise InputError(f"{path}: duplicate ids {duplicates[:5]} ({len(duplicates)} in all); ids must be unique")
    return modality, items


def items_digest(items: list[Item]) -> str:
    """A fingerprint of the input, so a resumed job can tell it is given the same items."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps([item.id, item.source, item.label], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()
