"""The JSON copies of the seed payloads match the documents kept beside them."""

from __future__ import annotations

from tests.support.paths import SEED_DIR


def test_seed_payload_files_match_the_documents() -> None:
    """Guards the JSON copies in tests/seed_payloads against drifting from the documents kept beside them."""
    documents = "".join(p.read_text() for p in sorted((SEED_DIR / "documents").glob("*.txt")))
    assert documents
    for path in sorted(SEED_DIR.glob("*.json")):
        body = path.read_text().strip()
        assert body in documents, f"{path.name} is not a verbatim copy of a seed payload"
