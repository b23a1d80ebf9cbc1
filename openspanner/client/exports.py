"""The calls of ExportService, as Client and AsyncClient make them.

Answers are plain dicts in the proto's JSON form (field names as in
proto/openspanner/v1/export.proto, every field present), as the webhook
calls answer; `query_json` is the query as sent. A download is a stream of
chunks, written to a file as they come.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from openspanner.client.calls import Call, Rpc, serialize
from openspanner.client.webhooks import Answer, as_dict
from openspanner.v1 import export_pb2

CREATE_EXPORT = Rpc("ExportService", "CreateExport", export_pb2.CreateExportResponse, repeatable=False)
LIST_EXPORTS = Rpc("ExportService", "ListExports", export_pb2.ListExportsResponse, repeatable=True)
GET_EXPORT = Rpc("ExportService", "GetExport", export_pb2.GetExportResponse, repeatable=True)
CANCEL_EXPORT = Rpc("ExportService", "CancelExport", export_pb2.CancelExportResponse, repeatable=True)
RETRY_EXPORT = Rpc("ExportService", "RetryExport", export_pb2.RetryExportResponse, repeatable=False)
DOWNLOAD_PATH = "/openspanner.v1.ExportService/DownloadExport"


def _export(response: Any) -> Answer:
    return as_dict(response.export)


def create_export(kind: str, fmt: str, query: Mapping[str, Any], gzip: bool) -> Call[Answer]:
    request = export_pb2.CreateExportRequest(kind=kind, format=fmt, query_json=json.dumps(query), gzip=gzip)
    return Call(CREATE_EXPORT, request, _export)


def list_exports(limit: int, cursor: str) -> Call[Answer]:
    """`{exports, next_cursor}`."""
    return Call(LIST_EXPORTS, export_pb2.ListExportsRequest(limit=limit, cursor=cursor), as_dict)


def get_export(export_id: str) -> Call[Answer]:
    return Call(GET_EXPORT, export_pb2.GetExportRequest(id=export_id), _export)


def cancel_export(export_id: str) -> Call[Answer]:
    return Call(CANCEL_EXPORT, export_pb2.CancelExportRequest(id=export_id), _export)


def retry_export(export_id: str) -> Call[Answer]:
    return Call(RETRY_EXPORT, export_pb2.RetryExportRequest(id=export_id), _export)


def download_stub(channel: Any) -> Any:
    """The channel's callable of DownloadExport (a server stream; the sync and aio channels spell it alike)."""
    return channel.unary_stream(
        DOWNLOAD_PATH, request_serializer=serialize, response_deserializer=export_pb2.DownloadExportResponse.FromString
    )


def download_request(export_id: str) -> export_pb2.DownloadExportRequest:
    return export_pb2.DownloadExportRequest(id=export_id)
