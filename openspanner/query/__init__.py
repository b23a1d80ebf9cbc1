"""The read path's core: the one service both APIs ask for usage, events, breakdowns.

It speaks domain types only (plans and rows of openspanner/domain, records of
openspanner/storage); the gRPC servicer (grpc/query.py) and the REST routes
(http/) convert requests into plans and rows into their answers.
"""
