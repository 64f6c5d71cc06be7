"""A Label Studio project's tasks as the items of its knn-al pool.

Tasks join the pool with their content: a text from the task's data, an image fetched from
where the task points (Label Studio's uploads and local-files storage, with its token: see
:meth:`~knn_al.label_studio.rest.LabelStudioApi.download`) and embedded by the knn-al
server. A task that cannot join (no such data field, an image that cannot be fetched or
decoded) is left out with a problem saying why, so one broken task does not keep the rest
of a project from the pool. The sync also removes the items of tasks deleted from Label
Studio while the bridge was not listening, so the pool mirrors the project.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from knn_al.client import Client, ServiceError
from knn_al.client.types import ItemRecord
from knn_al.errors import KnnAlError
from knn_al.label_studio.config import LabelingConfig
from knn_al.label_studio.mapping import item_id, item_metadata
from knn_al.label_studio.rest import LabelStudioApi

__all__ = ["BATCH", "TaskPool", "known", "listed"]

#: Tasks added per AddItems call, by kind: bounds the images the bridge holds at once (64
#: photos of a few MB) while keeping calls few.
BATCH = {"text": 1000, "image": 64}
_PAGE = 1000
_LOG = logging.getLogger(__name__)


def listed(client: Client, name: str, state: str | None = None) -> Iterator[ItemRecord]:
    """Every item of project ``name`` (in ``state``, when given), page by page."""
    token = ""
    while True:
        page = client.list_items(name, state=state, page_size=_PAGE, page_token=token)
        yield from page.items
        token = page.next_page_token
        if not token:
            return


def known(client: Client, name: str, ids: Sequence[str]) -> list[ItemRecord]:
    """The items of ``ids`` project ``name`` holds, in order (one call when it holds them all)."""
    try:
        return client.items(name, ids) if ids else []
    except ServiceError as exc:
        if exc.code.name != "NOT_FOUND":
            raise
    found = []
    for item in ids:
        try:
            found += client.items(name, [item])
        except ServiceError as exc:
            if exc.code.name != "NOT_FOUND":
                raise
    return found


@dataclass(frozen=True)
class TaskPool:
    """The pool of knn-al project ``name`` serving a Label Studio project with labeling
    config ``config``; ``api`` (None before Label Studio's first /setup) fetches images."""

    client: Client
    name: str
    config: LabelingConfig
    api: LabelStudioApi | None

    def known(self, ids: Sequence[str]) -> list[ItemRecord]:
        return known(self.client, self.name, ids)

    def add(self, tasks: Iterable[Mapping[str, Any]]) -> list[str]:
        """Add the tasks the pool does not hold yet, a :data:`BATCH` at a time; returns the
        problems of those left out (a task the pool holds keeps its item and metadata)."""
        problems: list[str] = []
        batch: list[Mapping[str, Any]] = []
        for task in tasks:
            batch.append(task)
            if len(batch) == BATCH[self.config.kind]:
                problems += self._add_new(batch)
                batch = []
        return problems + (self._add_new(batch) if batch else [])

    def sync(self, tasks: Iterable[Mapping[str, Any]], *, skip: Set[int] = frozenset()) -> list[str]:
        """Make the pool hold exactly ``tasks`` (every task of the project, ``skip`` aside:
        tasks known deleted): add those it lacks, remove the items of tasks no longer
        listed. Returns the problems of tasks left out.

        Removal destroys a label, so it is careful: only after the whole listing was read
        (a listing cut short raises first), and only for tasks Label Studio answers 404
        for when asked one by one (a task deleted while the listing paged moves the others
        across page bounds, and one of them could be missed)."""
        listed_ids: set[str] = set()

        def seen() -> Iterator[Mapping[str, Any]]:
            for task in tasks:
                number = task.get("id")
                if isinstance(number, int):
                    listed_ids.add(item_id(number))
                if number not in skip:
                    yield task

        problems = self.add(seen())
        unlisted = [r for r in listed(self.client, self.name) if r.id not in listed_ids]
        gone = [r.id for r in unlisted if self.api is not None and not self.api.task_exists(int(r.metadata["ls_task"]))]
        if gone:
            self.client.remove_items(self.name, gone)
            _LOG.info("knn-al project %s: removed %d items of tasks deleted from Label Studio", self.name, len(gone))
        return problems

    def remove(self, tasks: Sequence[int]) -> int:
        """Remove the items of deleted tasks (a tombstone: the label log keeps their history);
        returns how many the pool held."""
        held = [r.id for r in self.known([item_id(t) for t in tasks])]
        if held:
            self.client.remove_items(self.name, held)
        return len(held)

    def _add_new(self, tasks: Sequence[Mapping[str, Any]]) -> list[str]:
        held = {r.id for r in self.known([item_id(t["id"]) for t in tasks if _numbered(t)])}
        problems, metadata = [], []
        for task in tasks:
            try:
                entry = item_metadata(task, self.config)
            except KnnAlError as exc:
                problems.append(str(exc))
                continue
            if item_id(entry["ls_task"]) not in held:
                metadata.append(entry)
        if self.config.kind == "text":
            contents: list[Any] = [m["text"] for m in metadata]
        else:
            contents, metadata = self._images(metadata, problems)
        if metadata:
            problems += self._submit(metadata, contents)
        return problems

    def _images(self, metadata: list[dict[str, Any]], problems: list[str]) -> tuple[list[Any], list[dict[str, Any]]]:
        """The image files of ``metadata``'s tasks, with the metadata of those fetched."""
        if self.api is None:
            problems.extend(f"task {m['ls_task']}: its image is fetched from Label Studio with the token of its "
                            "/setup (or --label-studio-url and --label-studio-token-file), and the bridge has none yet"
                            for m in metadata)
            return [], []
        contents, fetched = [], []
        for entry in metadata:
            try:
                contents.append(self.api.download(entry["image"]))
            except KnnAlError as exc:
                problems.append(f"task {entry['ls_task']}: {exc}")
                continue
            fetched.append(entry)
        return contents, fetched

    def _submit(self, metadata: list[dict[str, Any]], contents: list[Any]) -> list[str]:
        """Add the items at once; when the server refuses the batch (an image it cannot
        decode), one by one, leaving out those refused."""
        texts, images = (contents, None) if self.config.kind == "text" else (None, contents)
        try:
            self.client.add_items(self.name, [item_id(m["ls_task"]) for m in metadata], metadata=metadata,
                                  texts=texts, images=images, on_conflict="skip")
            return []
        except ServiceError as exc:
            if exc.code.name != "INVALID_ARGUMENT":
                raise
            if len(metadata) == 1:
                return [f"task {metadata[0]['ls_task']}: {exc.message}"]
        return [problem for entry, content in zip(metadata, contents) for problem in self._submit([entry], [content])]


def _numbered(task: Mapping[str, Any]) -> bool:
    number = task.get("id")
    return isinstance(number, int) and not isinstance(number, bool) and number >= 0
