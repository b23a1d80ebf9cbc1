"""HTTP/JSON transcoding of the annotated gRPC API (README: HTTP/JSON)."""
