"""The Python client SDK of the knn-al service: :class:`Client`, :class:`AsyncClient` (the
same methods as coroutines) and the records they return."""
from knn_al.client.aio import AsyncClient
from knn_al.client.client import Client, ServiceError
from knn_al.client.types import (AccuracyEstimate, AddResult, Decision, DuplicateGroup, ExportRecord, ItemPage,
                                 ItemRecord, LabelEvent, LabelReceipt, Neighbor, Prediction, ProjectInfo, ProjectStats,
                                 Progress, Sample, SampleBatch, Score, SearchHit, Suspicion)

__all__ = ["AccuracyEstimate", "AddResult", "AsyncClient", "Client", "Decision", "DuplicateGroup", "ExportRecord", "ItemPage",
           "ItemRecord", "LabelEvent", "LabelReceipt", "Neighbor", "Prediction", "ProjectInfo", "ProjectStats",
           "Progress", "Sample", "SampleBatch", "Score", "SearchHit", "ServiceError", "Suspicion"]
