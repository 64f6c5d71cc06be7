"""The Python client SDK of the knn-al service: :class:`Client` and the records it returns."""
from knn_al.client.client import Client, ServiceError
from knn_al.client.types import (AccuracyEstimate, Decision, ExportRecord, LabelReceipt, Neighbor, Prediction,
                                 ProjectInfo, ProjectStats, Progress, Sample, SampleBatch, Score)

__all__ = ["AccuracyEstimate", "Client", "Decision", "ExportRecord", "LabelReceipt", "Neighbor", "Prediction",
           "ProjectInfo", "ProjectStats", "Progress", "Sample", "SampleBatch", "Score", "ServiceError"]
