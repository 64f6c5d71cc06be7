"""How the embedding job cuts its items into shards and batches: shared by the job and
its engines (the ray engine imports this, not the job that calls it)."""
from __future__ import annotations

from dataclasses import dataclass

from knn_al.embedding.inputs import Item

__all__ = ["Plan"]


@dataclass(frozen=True)
class Plan:
    """How the items are cut: shard ``k`` holds ``items[k*shard_size:(k+1)*shard_size]``."""

    items: list[Item]
    shard_size: int
    batch_size: int

    @property
    def shard_count(self) -> int:
        return -(-len(self.items) // self.shard_size)

    def shard(self, index: int) -> list[Item]:
        return self.items[index * self.shard_size:(index + 1) * self.shard_size]

    def batches(self, index: int) -> list[list[Item]]:
        shard = self.shard(index)
        return [shard[i:i + self.batch_size] for i in range(0, len(shard), self.batch_size)]
