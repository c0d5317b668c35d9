"""The Bleichenbacher oracle check (scan/robot.py) against real servers on loopback: `openssl
s_server` and our own engine answer every malformed premaster alike (implicit rejection); a
deliberately leaky server, our own engine with its key exchange replaced by a PKCS#1 decryption
that reports bad padding as decode_error (the classic 1998 oracle), must be caught."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from test_scan_interop import OurServer, SServer, server_config

from dicomtls.errors import TLSProtocolViolation
from dicomtls.scan import scan
from dicomtls.tls.own import messages as m
from dicomtls.tls.own.server import OwnServerConnection
from dicomtls.tls.protocol import AlertDescription

AES_CBC = "TLS_RSA_WITH_AES_128_CBC_SHA"


def robot_of(port):
    report = scan("127.0.0.1", port, versions=("1.2",), suites=[AES_CBC], dicom=False,
                  questions=False)
    return report.robot, report


def test_openssl_s_server_has_no_oracle(pki, tmp_path):
    with SServer(pki, tmp_path, "-tls1_2", "-cipher", "AES128-SHA") as server:
        robot, report = robot_of(server.port)
    assert robot.state == "not_vulnerable", robot.answers
    assert robot.suite == AES_CBC and robot.version == "TLSv1.2"
    answers = robot.answers["with CCS and Finished"]
    assert set(answers) == {"correct", "wrong first bytes", "0x00 in the padding",
                            "no 0x00 separator", "wrong premaster version"}
    assert {a for runs in answers.values() for a in runs} == {"alert bad_record_mac"}
    assert "robot" not in {f.id for f in report.findings}


def test_our_own_engine_has_no_oracle(pki):
    with OurServer(server_config(pki, [AES_CBC], max_version="1.2", engine="dicomtls")) as server:
        robot, _ = robot_of(server.port)
    assert robot.state == "not_vulnerable", robot.answers


class LeakyServer(OwnServerConnection):
    """Decrypts the premaster (textbook RSA: libraries now reject bad padding implicitly) and
    checks the PKCS#1 v1.5 block the way old servers did, telling the client when it is bad:
    decode_error."""

    key = None

    def _on_client_key_exchange(self, body, raw):
        cke = m.decode_client_key_exchange(body, "RSA")
        numbers = self.key.private_numbers()
        n, k = numbers.public_numbers.n, self.key.key_size // 8
        block = pow(int.from_bytes(bytes(cke.exchange_keys), "big"), numbers.d, n).to_bytes(k, "big")
        separator = block.find(b"\0", 2)
        if block[:2] != b"\0\2" or separator < 10 or k - separator - 1 != 48:
            raise TLSProtocolViolation("bad PKCS#1 padding", alert=AlertDescription.DECODE_ERROR)
        return super()._on_client_key_exchange(body, raw)


def test_a_leaky_server_is_an_oracle(pki, monkeypatch):
    LeakyServer.key = serialization.load_pem_private_key(pki.server_key.read_bytes(), None)
    # OurServer builds each server connection through this name: ours is the leaky one.
    monkeypatch.setattr("test_scan_interop.new_connection",
                        lambda config, role, **kw: LeakyServer(config))
    with OurServer(server_config(pki, [AES_CBC], max_version="1.2", engine="dicomtls")) as server:
        robot, report = robot_of(server.port)
    assert robot.state == "oracle", robot.answers
    answers = robot.answers["with CCS and Finished"]
    assert answers["wrong first bytes"][0] == "alert decode_error"
    assert answers["no 0x00 separator"][0] == "alert decode_error"
    assert answers["correct"][0] == answers["wrong premaster version"][0] == "alert bad_record_mac"
    finding = {f.id: f for f in report.findings}["robot"]
    assert finding.severity == "high"
