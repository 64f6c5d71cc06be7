"""The knn-al gRPC service: a thin adapter over :mod:`knn_al.projects` (servicer, request
conversion, uploads, request ids, auth, error mapping, server assembly). ``knn-al serve``
(:mod:`knn_al.cli.serve`) runs it."""

__all__: list[str] = []
