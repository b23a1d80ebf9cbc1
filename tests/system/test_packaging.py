"""What `pip install openspanner` gives: the wheel's contents, and a client-only
install (no `server` extra) that has the clients and the CLI but no engine."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.harness import ADMIN_KEY, Client, ServerProcess
from tests.support.paths import ROOT

PROTOS = sorted(p.name for p in (ROOT / "proto" / "openspanner" / "v1").glob("*.proto"))


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the repository's files, so the build leaves nothing in the work tree."""
    source = tmp_path_factory.mktemp("source")
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir", str(out), str(source)],
        check=True, capture_output=True, timeout=600,
    )
    return out


def wheel_of(dist: Path) -> Path:
    [wheel] = dist.glob("openspanner-*.whl")
    return wheel


def test_the_wheel_carries_the_protos_the_typing_marker_and_the_licence(dist: Path) -> None:
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        names = set(wheel.namelist())
        [metadata_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(wheel.read(metadata_name).decode())
    assert {f"openspanner/v1/{name}" for name in PROTOS} <= names
    shipped = {"openspanner/py.typed", "openspanner/v1/descriptors.binpb", "openspanner/dashboard/static/index.html"}
    assert shipped <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert metadata["License-Expression"] == "Apache-2.0"
    engine = [r for r in metadata.get_all("Requires-Dist") or [] if r.startswith("clickhouse-connect")]
    assert engine and all('extra == "server"' in r for r in engine), engine


def test_the_sdist_carries_the_protos(dist: Path) -> None:
    [sdist] = dist.glob("openspanner-*.tar.gz")
    listed = subprocess.run(["tar", "tzf", str(sdist)], check=True, capture_output=True, text=True).stdout
    for name in PROTOS:
        assert f"/openspanner/v1/{name}" in listed


@pytest.mark.slow
def test_a_client_only_install_has_the_clients_and_cli_but_no_engine(
    dist: Path, tmp_path: Path, shared_server: ServerProcess, client: Client
) -> None:
    env_dir = tmp_path / "client-only"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel_of(dist))], check=True, timeout=900)

    probe = "import importlib.util, openspanner.client; print(importlib.util.find_spec('chdb') is None)"
    assert subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True).stdout.strip() == "True"

    served = subprocess.run([env_dir / "bin" / "openspanner", "serve"], capture_output=True, text=True, timeout=60)
    assert served.returncode == 2
    assert "pip install 'openspanner[server]'" in served.stderr

    name = f"pkg_{uuid.uuid4().hex[:8]}"
    definition = tmp_path / "meter.json"
    definition.write_text(f'{{"name": "{name}", "aggregation": "sum", "event_retention_days": 7}}')
    cli = [env_dir / "bin" / "openspanner", "meters"]
    flags = ["--server", shared_server.address, "--api-key", ADMIN_KEY]
    subprocess.run([*cli, "create", str(definition), *flags], check=True, capture_output=True, timeout=60)
    listed = subprocess.run([*cli, "list", *flags], check=True, capture_output=True, text=True, timeout=60)
    assert name in listed.stdout

    call = (
        "import sys\n"
        "from openspanner.client import AsyncClient, Client, StreamClient\n"
        "with Client(sys.argv[1], sys.argv[2]) as client:\n"
        "    print(client.get_meter(sys.argv[3])['event_retention_days'])\n"
    )
    got = subprocess.run(
        [python, "-c", call, shared_server.address, ADMIN_KEY, name], check=True, capture_output=True, text=True
    )
    assert got.stdout.strip() == "7"


def test_the_image_builds_the_server_from_the_files_it_copies(tmp_path: Path) -> None:
    """The Dockerfile's COPY lines hold every file the build needs, and it installs the server extra."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            *sources, _destination = line.split()[1:]
            for source in sources:
                copy = shutil.copytree if (ROOT / source).is_dir() else shutil.copy2
                copy(ROOT / source, tmp_path / source)
    assert "pip install --no-cache-dir '.[server]'" in dockerfile
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(tmp_path / "dist"), str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    with zipfile.ZipFile(wheel_of(tmp_path / "dist")) as wheel:
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())
