"""The knn-al gRPC service: servicer, auth, error mapping, server assembly and the `serve` command."""
