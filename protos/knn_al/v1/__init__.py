"""The knn_al.v1 API: the messages and stubs generated from ``active_learning.proto``
(``active_learning_pb2``, ``active_learning_pb2_grpc``), and :mod:`knn_al.v1.codec`, the
hand-written conventions both the server and the client use to put the library's values
into those messages. Not imported here, so that importing the package stays cheap."""

__all__ = ["COMPUTE_MS_KEY"]

#: Trailing metadata in which the server reports a call's time in the library, in ms,
#: so clients can tell the library's time from the transport's.
COMPUTE_MS_KEY = "knn-al-compute-ms"
