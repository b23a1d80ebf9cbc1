# Open Spanner server image. Built by docker-compose.yml; runs against the
# ClickHouse server named by OPENSPANNER_CLICKHOUSE_URL, or the embedded
# engine in /data when that is unset.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY openspanner ./openspanner
# The server extra: storage (the embedded engine too), the REST API, metrics.
RUN pip install --no-cache-dir '.[server]' \
    && useradd --system --uid 10001 openspanner \
    && mkdir /data && chown openspanner /data

USER openspanner
ENV OPENSPANNER_DATA_DIR=/data \
    OPENSPANNER_GRPC_PORT=50051 \
    OPENSPANNER_HTTP_PORT=8080 \
    OPENSPANNER_LOG_FORMAT=json
EXPOSE 50051 8080
VOLUME ["/data"]

# The standard gRPC health service, asked through the server's own stubs, so
# the image needs no extra probe binary.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import grpc, sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; \
ch = grpc.insecure_channel('localhost:50051'); \
s = g.HealthStub(ch).Check(h.HealthCheckRequest(), timeout=3).status; \
sys.exit(0 if s == h.HealthCheckResponse.SERVING else 1)"

STOPSIGNAL SIGTERM
ENTRYPOINT ["openspanner"]
CMD ["serve"]
