"""The two signatures over one body: the product's, computed by hand as its Go worker does, and
Standard Webhooks', verified by the `standardwebhooks` library with the whsec_ form of the secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from standardwebhooks.webhooks import Webhook

from openspanner.webhooks.signing import new_secret, signed_headers, standard_webhooks_secret


def test_a_secret_is_the_prefix_and_32_random_bytes_in_base64url() -> None:
    secret = new_secret()
    assert secret.startswith("osp_whsec_")
    random = secret.removeprefix("osp_whsec_")
    assert len(base64.urlsafe_b64decode(random + "=" * (-len(random) % 4))) == 32
    assert "=" not in random
    assert new_secret() != secret


def test_the_standard_form_carries_the_same_key_the_product_signs_with() -> None:
    secret = new_secret()
    assert base64.b64decode(standard_webhooks_secret(secret).removeprefix("whsec_")) == secret.encode()


def test_both_signatures_verify_over_the_same_bytes() -> None:
    secret = new_secret()
    body = '{"event":{"id":"e1","type":"triggered","message":"över"}}'.encode()
    timestamp = int(time.time())
    headers = signed_headers(secret, "job-1", timestamp, body)

    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Open-Spanner-Signature"] == f"v1={expected}"
    assert headers["X-Open-Spanner-Timestamp"] == headers["webhook-timestamp"] == str(timestamp)
    assert headers["X-Open-Spanner-Delivery-ID"] == headers["webhook-id"] == "job-1"
    assert Webhook(standard_webhooks_secret(secret)).verify(body, headers)["event"]["id"] == "e1"


def test_a_changed_body_or_another_secret_does_not_verify() -> None:
    secret = new_secret()
    body = b'{"a":1}'
    headers = signed_headers(secret, "job-1", int(time.time()), body)
    for verifier, payload in ((Webhook(standard_webhooks_secret(secret)), b'{"a":2}'),
                              (Webhook(standard_webhooks_secret(new_secret())), body)):
        try:
            verifier.verify(payload, headers)
        except Exception as exc:
            assert "signature" in str(exc).lower()
        else:
            raise AssertionError("verified")
