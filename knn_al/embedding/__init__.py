"""The batch embedding job (``knn-al embed``): raw items → a dataset directory."""
from knn_al.embedding.inputs import InputError, Item, read_items
from knn_al.embedding.job import EmbedSummary, run_embedding

__all__ = ["EmbedSummary", "InputError", "Item", "read_items", "run_embedding"]
