"""knn-al: instant active learning. The layers and where each lives: docs/architecture.md."""

__all__: list[str] = []
