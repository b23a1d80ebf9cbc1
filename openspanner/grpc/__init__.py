"""Our gRPC API's edge: servicers, interceptors, reflection; protobuf <-> domain happens here."""
