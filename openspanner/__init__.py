"""Open Spanner: a usage-metering server."""
