"""The HTTP/JSON adapter and the labeling page (``knn-al serve --http-port``)."""
