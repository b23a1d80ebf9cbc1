"""TLS on both listeners, with certificates made here: self-signed for the server, a CA for client certificates."""

from __future__ import annotations

import asyncio
import datetime
import http.client
import ipaddress
import json
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.protobuf import timestamp_pb2

from openspanner.client import Client as UnaryClient
from openspanner.client import StreamClient
from openspanner.v1 import meter_pb2, query_pb2, usage_pb2
from tests.harness import ADMIN_KEY, Client, ServerProcess, running_server, server_env
from tests.integration.test_seeds import grpcurl_binary


@dataclass
class Issued:
    cert: Path
    key: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()

    @property
    def key_pem(self) -> bytes:
        return self.key.read_bytes()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(
    directory: Path,
    name: str,
    *,
    issuer: tuple[Issued, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
    client: bool = False,
) -> tuple[Issued, ec.EllipticCurvePrivateKey]:
    """A certificate and key in PEM files; self-signed unless an issuer is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, signing_key = _name(name), key
    if issuer is not None:
        issuer_name = x509.load_pem_x509_certificate(issuer[0].cert_pem).subject
        signing_key = issuer[1]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca or issuer is None, path_length=None), critical=True)
    )
    if client:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ]),
            critical=False,
        )
    cert = builder.sign(signing_key, hashes.SHA256())
    files = Issued(directory / f"{name}.crt", directory / f"{name}.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    return files, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Issued]:
    directory = tmp_path_factory.mktemp("certs")
    server, _ = issue(directory, "server")
    other, _ = issue(directory, "other")
    client_ca = issue(directory, "client-ca", ca=True)
    client, _ = issue(directory, "client", issuer=client_ca, client=True)
    stranger_ca = issue(directory, "stranger-ca", ca=True)
    stranger, _ = issue(directory, "stranger", issuer=stranger_ca, client=True)
    return {"server": server, "other": other, "client_ca": client_ca[0], "client": client, "stranger": stranger}


def tls_env(certs: dict[str, Issued], *, mutual: bool = False) -> dict[str, str]:
    env = {
        "OPENSPANNER_TLS_CERT_FILE": str(certs["server"].cert),
        "OPENSPANNER_TLS_KEY_FILE": str(certs["server"].key),
    }
    if mutual:
        env["OPENSPANNER_TLS_CLIENT_CA_FILE"] = str(certs["client_ca"].cert)
    return env


def https(
    server: ServerProcess, context: ssl.SSLContext, method: str, path: str, body: Any = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPSConnection("localhost", server.http_port, context=context, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def trusting(certs: dict[str, Issued], client: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certs["server"].cert)
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    return context


def _ts(seconds_from_now: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int((time.time() + seconds_from_now) * 1e9))
    return stamp


def test_grpc_and_https_are_served_over_tls_and_plaintext_is_refused(
    tmp_path: Path, certs: dict[str, Issued]
) -> None:
    with running_server(tmp_path, **tls_env(certs)) as server:
        started = [e for e in server.log_events() if e["event"] == "server started"]
        assert len(started) == 1 and started[0]["tls"] is True
        secure = Client(server.address, credentials=grpc.ssl_channel_credentials(certs["server"].cert_pem))
        secure.call(secure.meters.CreateMeter, meter_pb2.Meter(name="calls", aggregation=meter_pb2.sum))
        recorded = secure.call(secure.usage.RecordUsage, usage_pb2.UsageEvent(
            meter="calls", subject="org_1", idempotency_key="over-grpc", quantity=3
        ))
        assert recorded.outcome == usage_pb2.ACCEPTED

        context = trusting(certs)
        assert https(server, context, "GET", "/health")[0] == 204
        status, _ = https(server, context, "POST", "/v1/usages", {
            "idempotency_key": "over-https", "subject": "org_1", "meter": "calls", "quantity": 4,
        })
        assert status == 201
        total = secure.call(secure.query.QueryUsage, query_pb2.QueryUsageRequest(
            meter="calls", start_time=_ts(-3600), end_time=_ts(3600)
        ))
        assert [row.value for row in total.rows] == [7]

        listed = subprocess.run(
            [grpcurl_binary(), "-cacert", str(certs["server"].cert), server.address, "list"],
            capture_output=True, text=True, timeout=60,
        )
        assert listed.returncode == 0 and "openspanner.v1.UsageService" in listed.stdout, listed.stderr

        plaintext = Client(server.address)
        with pytest.raises(grpc.RpcError) as refused:
            plaintext.call(plaintext.meters.ListMeters, meter_pb2.ListMetersRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        plain_http = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            plain_http.request("GET", "/health")
            plain_http.getresponse()
        plain_http.close()
        # A client that does not trust the certificate refuses the server.
        with pytest.raises(ssl.SSLCertVerificationError):
            https(server, ssl.create_default_context(), "GET", "/health")
        for client in (secure, plaintext):
            client.close()

        # Our own clients: a stream and a unary call over TLS.
        async def stream_over_tls() -> None:
            start = usage_pb2.StreamUsageStart(meters=["calls"])
            credentials = grpc.ssl_channel_credentials(certs["server"].cert_pem)
            async with StreamClient(server.address, ADMIN_KEY, start, credentials=credentials) as stream:
                for i in range(5):
                    await stream.send(usage_pb2.UsageEvent(
                        meter="calls", subject="org_1", idempotency_key=f"streamed-{i}", quantity=1,
                    ))
            assert stream.stats.outcomes["ACCEPTED"] == 5

        asyncio.run(stream_over_tls())
        credentials = grpc.ssl_channel_credentials(certs["server"].cert_pem)
        with UnaryClient(server.address, ADMIN_KEY, credentials=credentials) as unary:
            now = datetime.datetime.now(datetime.UTC)
            hour = datetime.timedelta(hours=1)
            [row] = unary.query_usage("calls", now - hour, now + hour)["rows"]
        assert (row["value"], row["event_count"]) == (12, 7)


def test_with_a_client_ca_only_clients_with_a_certificate_it_signed_are_served(
    tmp_path: Path, certs: dict[str, Issued]
) -> None:
    with running_server(tmp_path, **tls_env(certs, mutual=True)) as server:
        assert [e["mutual_tls"] for e in server.log_events() if e["event"] == "server started"] == [True]
        root = certs["server"].cert_pem

        def grpc_client(identity: Issued | None) -> Client:
            credentials = grpc.ssl_channel_credentials(
                root, identity.key_pem if identity else None, identity.cert_pem if identity else None
            )
            return Client(server.address, credentials=credentials)

        served = grpc_client(certs["client"])
        assert served.call(served.meters.ListMeters, meter_pb2.ListMetersRequest()) is not None
        assert https(server, trusting(certs, certs["client"]), "GET", "/health")[0] == 204
        for identity in (None, certs["stranger"]):
            refused = grpc_client(identity)
            with pytest.raises(grpc.RpcError) as error:
                refused.call(refused.meters.ListMeters, meter_pb2.ListMetersRequest(), timeout=10)
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
            refused.close()
            with pytest.raises((ssl.SSLError, ConnectionError)):
                https(server, trusting(certs, identity), "GET", "/health")
        served.close()


def refused_start(tmp_path: Path, **env: str) -> str:
    """The error of a server that must not start with these settings."""
    result = subprocess.run(
        [sys.executable, "-m", "openspanner", "serve", "--grpc-port", "0"],
        env=server_env(tmp_path, "x", env), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_tls_settings_are_checked_at_start_up_and_named(tmp_path: Path, certs: dict[str, Issued]) -> None:
    server = certs["server"]
    alone = refused_start(tmp_path, OPENSPANNER_TLS_CERT_FILE=str(server.cert))
    assert "OPENSPANNER_TLS_CERT_FILE and OPENSPANNER_TLS_KEY_FILE are set together" in alone

    missing = tmp_path / "missing.pem"
    unreadable = refused_start(
        tmp_path, OPENSPANNER_TLS_CERT_FILE=str(missing), OPENSPANNER_TLS_KEY_FILE=str(server.key)
    )
    assert f"OPENSPANNER_TLS_CERT_FILE: cannot read {missing}: No such file or directory" in unreadable

    mismatch = refused_start(
        tmp_path, OPENSPANNER_TLS_CERT_FILE=str(server.cert), OPENSPANNER_TLS_KEY_FILE=str(certs["other"].key)
    )
    assert "OPENSPANNER_TLS_CERT_FILE" in mismatch and "OPENSPANNER_TLS_KEY_FILE" in mismatch
    assert "KEY_VALUES_MISMATCH" in mismatch

    not_pem = tmp_path / "not-a-certificate.pem"
    not_pem.write_text("hello\n")
    garbage = refused_start(
        tmp_path, OPENSPANNER_TLS_CERT_FILE=str(not_pem), OPENSPANNER_TLS_KEY_FILE=str(server.key)
    )
    assert f"OPENSPANNER_TLS_CERT_FILE ({not_pem}) holds no PEM certificate" in garbage

    encrypted_key = tmp_path / "encrypted.key"
    encrypted_key.write_bytes(serialization.load_pem_private_key(server.key_pem, None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    ))
    encrypted = refused_start(
        tmp_path, OPENSPANNER_TLS_CERT_FILE=str(server.cert), OPENSPANNER_TLS_KEY_FILE=str(encrypted_key)
    )
    assert f"OPENSPANNER_TLS_KEY_FILE ({encrypted_key}) is encrypted" in encrypted

    bad_ca = refused_start(tmp_path, **tls_env(certs), OPENSPANNER_TLS_CLIENT_CA_FILE=str(not_pem))
    assert f"OPENSPANNER_TLS_CLIENT_CA_FILE ({not_pem}) holds no PEM certificate" in bad_ca
