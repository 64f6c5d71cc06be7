"""The Python client SDK of the knn-al service."""
from knn_al.client.client import Client, ServiceError
from knn_al.client.types import Neighbor, Prediction, ProjectInfo, Sample, Score

__all__ = ["Client", "ServiceError", "Neighbor", "Prediction", "ProjectInfo", "Sample", "Score"]
