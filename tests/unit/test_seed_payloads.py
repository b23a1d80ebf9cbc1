"""The seed payloads: the JSON copies match the documents kept beside them, whose curl examples
the integration tests run verbatim."""

from __future__ import annotations

from tests.support.paths import SEED_DIR
from tests.support.seed_docs import seed_commands


def test_seed_payload_files_match_the_documents() -> None:
    """Guards the JSON copies in tests/seed_payloads against drifting from the documents kept beside them."""
    documents = "".join(p.read_text() for p in sorted((SEED_DIR / "documents").glob("*.txt")))
    assert documents
    for path in sorted(SEED_DIR.glob("*.json")):
        body = path.read_text().strip()
        assert body in documents, f"{path.name} is not a verbatim copy of a seed payload"


def test_seed_documents_contain_the_curl_examples() -> None:
    commands = seed_commands()
    assert len(commands) >= 3
    for name, found in commands.items():
        assert [c.split('"$OPEN_SPANNER_BASE_URL', 1)[1].split('"', 1)[0] for c in found] == [
            "/v1/meters", "/v1/usages"
        ], name
