"""The knn_al.v1 API: generated messages and stubs, plus the wire conventions the
generated code cannot express."""

#: Trailing metadata in which the server reports a call's time in the library, in ms,
#: so clients can tell the library's time from the transport's.
COMPUTE_MS_KEY = "knn-al-compute-ms"
