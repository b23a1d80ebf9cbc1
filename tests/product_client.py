"""Run the product's official Python client (`open-spanner` 0.1.13) against our server.

The client pins protobuf<7 and our stubs need 7.35+, so it lives in a virtual
environment of its own (`make product-client`, .venv-product-client) and
tests drive it with small scripts run there as child processes. Each script
prints one JSON document with `emit(...)`; `run_product_client` returns it
parsed. Used for its gRPC `StreamClient` and its REST functions alike.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-product-client"
PYTHON = VENV / "bin" / "python"
# Written by the make target last, so its presence means "installed".
STAMP = VENV / ".installed-stamp"
RUN_TIMEOUT_SECONDS = 120
INSTALL_TIMEOUT_SECONDS = 600

# Prepended to every script: `emit` prints any result of the client as JSON
# (dataclasses of StreamClient, attrs models of the REST functions through
# their to_dict, datetimes as RFC 3339), and `rpc_error` describes a gRPC
# error as the client sees it: the retry delay as its RetryPolicy reads it,
# and the raw google.rpc.Status trailer (base64) for the test to decode.
PRELUDE = '''
import dataclasses as _dataclasses
import datetime as _datetime
import json as _json
import os
import sys


def _plain(value):
    if _dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in _dataclasses.fields(value)}
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if isinstance(value, _datetime.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


def emit(value):
    print(_json.dumps(_plain(value)))


def rpc_error(error):
    import base64

    from open_spanner_client.stream import _retry_info_delay_seconds

    trailer = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin", b"")
    return {
        "code": error.code().name,
        "details": error.details(),
        "retry_delay_seconds": _retry_info_delay_seconds(error),
        "status_details_b64": base64.b64encode(trailer).decode(),
    }
'''


class ProductClientError(AssertionError):
    """A script failed: its exit code and stderr say why."""


def ensure_product_client() -> Path:
    """The client's interpreter, after creating its environment when missing.

    Through the make target, so the pinned version is written in one place;
    a lock keeps concurrent test processes from installing it twice at once.
    """
    if STAMP.exists():
        return PYTHON
    lock_path = ROOT / ".venv-product-client.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not STAMP.exists():
            subprocess.run(
                ["make", "--no-print-directory", "product-client"],
                cwd=ROOT,
                check=True,
                timeout=INSTALL_TIMEOUT_SECONDS,
            )
    return PYTHON


def run_product_client(script: str, **env: str) -> Any:
    """Run `script` with the product's client and return what it `emit`ted.

    `env` becomes environment variables of the script (read them with
    `os.environ`), e.g. the server's address and the API key. The script runs
    isolated (`python -I`): nothing of this repository or of our virtual
    environment is importable there, only the client and its dependencies.
    """
    python = ensure_product_client()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    child_env.update(env)
    completed = subprocess.run(
        [str(python), "-I", "-c", PRELUDE + textwrap.dedent(script)],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        cwd=VENV,
    )
    if completed.returncode != 0:
        raise ProductClientError(
            f"product client script exited {completed.returncode}:\n{completed.stderr}\n{completed.stdout}"
        )
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ProductClientError(f"expected one emit() line, got:\n{completed.stdout}\n{completed.stderr}")
    return json.loads(lines[0])
