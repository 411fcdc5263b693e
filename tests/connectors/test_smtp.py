"""SMTP against a real aiosmtpd relay: STARTTLS with a certificate made here, AUTH, refusals."""

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import SmtpServer


def self_signed_certificate(directory):
    """A throwaway certificate for 127.0.0.1, made with `cryptography`."""
    cert, key = directory / "relay.pem", directory / "relay.key"
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def relay(certificate):
    cert, key = certificate
    with SmtpServer(username="journeys", password="relay-password-123", certfile=str(cert), keyfile=str(key)) as server:
        yield server


@pytest.fixture
def smtp_env(relay, certificate):
    return {
        "THROUGHLINE_SMTP_HOST": "127.0.0.1",
        "THROUGHLINE_SMTP_PORT": str(relay.port),
        "THROUGHLINE_SMTP_SECURITY": "starttls",
        "THROUGHLINE_SMTP_USERNAME": "journeys",
        "THROUGHLINE_SMTP_PASSWORD": "relay-password-123",
        "THROUGHLINE_SMTP_CA_FILE": str(certificate[0]),
        "THROUGHLINE_SMTP_FROM_EMAIL": "journeys@shop.example",
        "THROUGHLINE_SMTP_TIMEOUT": "5",
        "THROUGHLINE_SMTP_RETRY_DELAY": "0.01",
    }


def mails(count):
    return [Record(f"m-{i}", {"email": f"user{i}@example.com", "subject": "Your cart", "text": "Still there?",
                              "html": "<p>Still there?</p>"}) for i in range(count)]


def test_check_negotiates_starttls_and_logs_in(smtp_env, relay):
    with create("smtp", smtp_env) as smtp:
        assert smtp.check().ok
    assert relay.logins["ok"] == 1


def test_batch_reuses_one_connection_and_message_ids_are_deterministic(smtp_env, relay):
    with create("smtp", smtp_env) as smtp:
        result = smtp.write(Operation.SEND_MESSAGES, mails(150))  # two batches of at most 100
        expected = smtp.message_id(mails(1)[0])
    assert result.counts()["accepted"] == 150 and relay.logins["ok"] == 1
    assert set(relay.messages.values()) == {1} and len(relay.messages) == 150
    assert result.results[0].vendor_id == expected and expected in relay.messages
    first = relay.received[0]
    assert first["X-Throughline-Action-Id"] == "m-0" and first.is_multipart()


def test_refused_recipients_are_per_message(smtp_env, relay):
    relay.refuse = {"user1@example.com": (550, "5.1.1 User unknown")}
    with create("smtp", smtp_env) as smtp:
        result = smtp.write(Operation.SEND_MESSAGES, mails(3))
    assert [r.status for r in result.results] == [RecordStatus.ACCEPTED, RecordStatus.REJECTED, RecordStatus.ACCEPTED]
    assert (result.results[1].vendor_code, result.results[1].reason) == ("550", "5.1.1 User unknown")
    assert len(relay.messages) == 2


def test_temporary_refusal_is_retried_then_left_retryable(smtp_env, relay):
    relay.throttle_data = 2  # 451 4.7.1 twice: the message goes on the third try
    relay.refuse = {"user2@example.com": (452, "4.2.2 Mailbox full")}
    with create("smtp", smtp_env) as smtp:
        result = smtp.write(Operation.SEND_MESSAGES, mails(3))
    assert result.results[0].status is RecordStatus.ACCEPTED and result.retries >= 2
    assert result.results[2].status is RecordStatus.RETRYABLE and "4.2.2 Mailbox full" in result.results[2].reason
    assert set(relay.messages.values()) == {1} and len(relay.messages) == 2


def test_connection_lost_after_data_is_unknown_and_not_resent(smtp_env, relay):
    relay.drop_after_data = 1
    with create("smtp", smtp_env) as smtp:
        result = smtp.write(Operation.SEND_MESSAGES, mails(3))
    assert result.results[0].status is RecordStatus.UNKNOWN
    assert [r.status for r in result.results[1:]] == [RecordStatus.ACCEPTED] * 2  # reconnected for the rest
    assert set(relay.messages.values()) == {1} and len(relay.messages) == 3


def test_wrong_password_is_one_clear_error(smtp_env, relay):
    env = {**smtp_env, "THROUGHLINE_SMTP_PASSWORD": "not-the-password"}
    with create("smtp", env) as smtp:
        assert not smtp.check().ok
        with pytest.raises(AuthenticationError, match="smtp rejected the configured credentials"):
            smtp.write(Operation.SEND_MESSAGES, mails(50))
    # smtplib tries each offered mechanism (PLAIN, LOGIN) once per connection: check + write
    assert not relay.messages and relay.logins["refused"] == 4


def test_untrusted_certificate_is_refused(smtp_env, relay, tmp_path):
    other, _ = self_signed_certificate(tmp_path)
    with create("smtp", {**smtp_env, "THROUGHLINE_SMTP_CA_FILE": str(other)}) as smtp:
        check = smtp.check()
    assert not check.ok and "SSL" in check.message
