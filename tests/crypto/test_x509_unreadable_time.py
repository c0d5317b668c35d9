"""A certificate whose validity time OpenSSL cannot read ("29030822q028Z") is still described.

Regression for tests/fuzz/crashes/tls_own/peer-certificate-bad-notafter-masks-error: the server
certificate in that flight parses (OpenSSL does not check the time fields when decoding), but
``not_after`` raised CryptoLibraryError, so ``info()`` did, and the own engine lost the handshake
error it was attaching that description to.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from dicomtls.crypto.x509 import CertificateInfo, certificates_from_bytes
from fuzz_crashes import server_certificate_der

CRASH = (Path(__file__).resolve().parents[1] / "fuzz" / "crashes" / "tls_own"
         / "peer-certificate-bad-notafter-masks-error")


@pytest.fixture(scope="module")
def cert():
    der = server_certificate_der(CRASH)
    assert b"\x17\x0d29030822q028Z" in der  # UTCTime notAfter with a letter in the minutes
    (c,) = certificates_from_bytes(der, der=True)
    return c


def test_unreadable_time_is_none_not_an_error(cert):
    assert cert.not_after is None
    assert cert.not_before == dt.datetime(2026, 12, 4, 21, 55, 28, tzinfo=dt.timezone.utc)


def test_info_still_says_who_it_is(cert):
    info = cert.info()
    assert isinstance(info, CertificateInfo)
    assert info.subject == "CN=localhost,O=dicomtls dev PKI"
    assert info.issuer == "CN=dicomtls dev CA,O=dicomtls dev PKI"
    assert info.serial == "5F1629B478BAF1F6"
    assert (info.not_before, info.not_after) == (cert.not_before, None)
    d = json.loads(json.dumps(info.to_dict()))
    assert d["not_after"] is None and d["not_before"] == info.not_before.isoformat()
    text = info.describe()
    assert "notAfter=unreadable" in text and f"subject={info.subject}" in text


def test_no_stale_openssl_error_is_left_behind(cert):
    """The failed time read must not leave an entry an unrelated later call would report."""
    from dicomtls._binding import drain_errors
    drain_errors()
    assert cert.not_after is None
    assert drain_errors() == ()
