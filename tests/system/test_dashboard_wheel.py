"""The built wheel ships the dashboard, and the installed package serves it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from openspanner.dashboard.files import PIN_FILE, STATIC_DIR
from tests.support.paths import ROOT


@pytest.mark.slow
def test_the_wheel_ships_the_dashboard_and_the_installed_package_serves_it(tmp_path: Path) -> None:
    # Built from a copy: an in-tree build leaves build/lib behind, whose stale files a later
    # wheel would ship, and which would hide a file missing from the package data.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "data", "docs", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
    ))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(source)],
        check=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("openspanner-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "installed")
    expected = {
        str(p.relative_to(ROOT)) for p in STATIC_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    assert str(PIN_FILE.relative_to(ROOT)) in names

    # The unpacked wheel, imported ahead of this checkout, answers / and a page module itself.
    probe = textwrap.dedent("""
        import asyncio, json, sys
        import openspanner
        from fastapi import FastAPI
        from openspanner.dashboard.serving import mount_dashboard

        async def get(app, path):
            sent, done, asked = [], asyncio.Event(), []
            scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
                     "headers": [], "scheme": "http", "server": ("t", 80), "client": ("t", 1), "root_path": "",
                     "http_version": "1.1"}
            async def receive():
                # The request once; then, as a client would, a disconnect after the answer.
                asked.append(1)
                if len(asked) == 1:
                    return {"type": "http.request", "body": b"", "more_body": False}
                await done.wait()
                return {"type": "http.disconnect"}
            async def send(message):
                sent.append(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    done.set()
            await app(scope, receive, send)
            body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
            return sent[0]["status"], body

        app = FastAPI()
        mount_dashboard(app)
        index = asyncio.run(get(app, "/"))
        page = asyncio.run(get(app, "/dashboard/pages/usage.js"))
        print(json.dumps({"file": openspanner.__file__, "index": [index[0], index[1].decode()[:200]],
                          "page": page[0]}))
    """)
    done = subprocess.run(
        # Run from elsewhere: `-c` puts the working dir, this checkout, first on the path.
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(tmp_path / "installed")}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=True,
    )
    answer = json.loads(done.stdout)
    assert answer["file"].startswith(str(tmp_path / "installed"))
    assert answer["index"][0] == 200 and "<!doctype html>" in answer["index"][1]
    assert answer["page"] == 200
