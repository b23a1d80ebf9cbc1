"""TLS for both listeners (docs/operations.md, TLS), from the files the settings name.

The files are read and checked once, at start-up, so a certificate that does
not match its key, or is not PEM at all, stops the start with the setting
named instead of failing every handshake later. A renewed certificate is
picked up by a restart (both listeners hold what they read at start).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from openspanner.config import Settings
from openspanner.errors import ConfigError

PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class TlsFiles:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None
    cert: bytes
    key: bytes
    client_ca: bytes | None

    @property
    def requires_client_certificate(self) -> bool:
        return self.client_ca is not None

    def grpc_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)],
            root_certificates=self.client_ca,
            require_client_auth=self.requires_client_certificate,
        )


def load_tls(settings: Settings) -> TlsFiles | None:
    """The certificate, key and client CA the settings name, checked; None without TLS."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    cert_file, key_file, ca_file = settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    for setting, path in (("OPENSPANNER_TLS_CERT_FILE", cert_file), ("OPENSPANNER_TLS_CLIENT_CA_FILE", ca_file)):
        if path is not None and PEM_CERTIFICATE not in path.read_bytes():
            raise ConfigError(f"{setting} ({path}) holds no PEM certificate ({PEM_CERTIFICATE.decode()})")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_file, key_file, password=_refuse_encrypted_key)
    except _EncryptedKey:
        raise ConfigError(
            f"OPENSPANNER_TLS_KEY_FILE ({key_file}) is encrypted; the server needs the key unencrypted"
        ) from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"OPENSPANNER_TLS_CERT_FILE ({cert_file}) and OPENSPANNER_TLS_KEY_FILE ({key_file}) must be a PEM"
            f" certificate and its private key: {_reason(exc)}"
        ) from None
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"OPENSPANNER_TLS_CLIENT_CA_FILE ({ca_file}) must hold PEM CA certificates: {_reason(exc)}"
            ) from None
    return TlsFiles(
        cert_file, key_file, ca_file,
        cert_file.read_bytes(), key_file.read_bytes(), ca_file.read_bytes() if ca_file else None,
    )


class _EncryptedKey(Exception):
    pass


def _refuse_encrypted_key() -> bytes:
    """Asked for only by an encrypted key, instead of OpenSSL prompting on the terminal."""
    raise _EncryptedKey


def _reason(exc: ssl.SSLError | OSError) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return exc.strerror or str(exc)
