"""The product's gRPC API (open_spanner.v1), for its official client: converts to our domain at this edge."""
