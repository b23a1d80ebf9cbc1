"""Server reflection shows the API as written in proto/, comments included (`grpcurl describe`)."""

from __future__ import annotations

import subprocess

import pytest

from tests.harness import ServerProcess
from tests.integration.test_seeds import grpcurl_binary
from tests.support.protos import commented_declarations

DECLARATIONS = commented_declarations()


@pytest.mark.parametrize(("name", "comment"), DECLARATIONS, ids=[name for name, _ in DECLARATIONS])
def test_grpcurl_describe_shows_the_comment(shared_server: ServerProcess, name: str, comment: list[str]) -> None:
    described = subprocess.run(
        [grpcurl_binary(), "-plaintext", shared_server.address, "describe", name],
        capture_output=True, text=True, timeout=60,
    )
    assert described.returncode == 0, described.stderr
    shown = [line.strip().removeprefix("//").strip() for line in described.stdout.splitlines()]
    for line in comment:
        assert line in shown, f"{name}: comment line {line!r} missing from:\n{described.stdout}"
