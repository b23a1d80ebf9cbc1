"""uvicorn's HTTP/1.1 protocol (httptools), answering a request it cannot parse in the error body.

A request line with a NUL or a space in it, a header with a control
character, an unreadable Content-Length: httptools refuses them before any
app sees the request, and uvicorn answered `400 Invalid HTTP request
received.` as text/plain. Clients of this API read every error as
`{"error": {...}}`, so that answer is the same 400 in the error body.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from openspanner.errors import InvalidArgument
from openspanner.http.problems import error_content


class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        # uvicorn's one message here is "Invalid HTTP request received."
        status, body, _ = error_content(InvalidArgument("the request cannot be parsed as HTTP/1.1"))
        payload = json.dumps(body, separators=(",", ":")).encode()
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(payload)).encode("ascii") + b"\r\n",
            # As uvicorn does: the rest of the stream cannot be read as requests.
            b"connection: close\r\n",
            b"\r\n",
            payload,
        ])
        self.transport.write(b"".join(content))
        self.transport.close()
