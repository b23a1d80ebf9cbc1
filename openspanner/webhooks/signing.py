"""Signing secrets and the two signatures every attempt carries over the same body bytes.

One HMAC key per destination: the UTF-8 bytes of its `osp_whsec_...` secret
string, as the product keys its HMAC (the whole string, prefix included).
The Standard Webhooks libraries take a secret `whsec_<base64 of the key>`
and decode the base64 to get the key, so `standard_webhooks_secret` gives
the same key in that form: a receiver may verify with either and both agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "osp_whsec_"
STANDARD_SECRET_PREFIX = "whsec_"
SECRET_RANDOM_BYTES = 32

# The product's headers.
PRODUCT_TIMESTAMP_HEADER = "X-Open-Spanner-Timestamp"
PRODUCT_SIGNATURE_HEADER = "X-Open-Spanner-Signature"
PRODUCT_DELIVERY_ID_HEADER = "X-Open-Spanner-Delivery-ID"
PRODUCT_SIGNATURE_ALGORITHM = "hmac-sha256"
# The Standard Webhooks headers (standardwebhooks.com).
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"


def new_secret() -> str:
    """`osp_whsec_` + 32 random bytes in unpadded base64url, as the product makes them."""
    random = secrets.token_bytes(SECRET_RANDOM_BYTES)
    return SECRET_PREFIX + base64.urlsafe_b64encode(random).rstrip(b"=").decode("ascii")


def signing_key(secret: str) -> bytes:
    return secret.encode("utf-8")


def standard_webhooks_secret(secret: str) -> str:
    """The same HMAC key in the form Standard Webhooks libraries take."""
    return STANDARD_SECRET_PREFIX + base64.b64encode(signing_key(secret)).decode("ascii")


def product_signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`, the product's X-Open-Spanner-Signature."""
    mac = hmac.new(signing_key(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, the webhook-signature header."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(signing_key(secret), signed, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Both schemes' headers for one attempt; `message_id` is the job's, the same on every attempt."""
    return {
        PRODUCT_TIMESTAMP_HEADER: str(timestamp),
        PRODUCT_SIGNATURE_HEADER: product_signature(secret, timestamp, body),
        PRODUCT_DELIVERY_ID_HEADER: message_id,
        STANDARD_ID_HEADER: message_id,
        STANDARD_TIMESTAMP_HEADER: str(timestamp),
        STANDARD_SIGNATURE_HEADER: standard_signature(secret, message_id, timestamp, body),
    }
