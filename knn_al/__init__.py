"""knn-al: instant active learning. The layers and where each lives: docs/architecture.md."""

__all__ = ["__version__"]

#: The package's version (pyproject reads it from here: one place to change).
__version__ = "0.2.0"
