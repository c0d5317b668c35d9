"""check_config with certificates whose notAfter OpenSSL cannot read: a warning, not a crash.

``CertificateInfo``/``Certificate`` report such a time as None (the fuzz finding
tests/fuzz/crashes/tls_own/peer-certificate-bad-notafter-masks-error); the expiry checks compared
it with a datetime. The certificate here is the dev PKI's server certificate with one digit of
its notAfter replaced by a letter, as in that finding: its key still matches, so the
configuration loads.
"""

from __future__ import annotations

import base64
import textwrap

import pytest

from dicomtls import TLSConfig
from dicomtls.crypto.x509 import load_certificates
from dicomtls.tls.check import check_config


@pytest.fixture
def bad_time_cert(pki, tmp_path):
    (cert,) = load_certificates(pki.server_cert)
    der = cert.to_der()
    when = cert.not_after.strftime("%y%m%d%H%M%SZ").encode()   # UTCTime: 13 bytes
    field = b"\x17\x0d" + when
    assert der.count(field) == 1
    bad = der.replace(field, b"\x17\x0d" + when[:8] + b"q" + when[9:])
    path = tmp_path / "bad-time.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n"
                    + "\n".join(textwrap.wrap(base64.b64encode(bad).decode(), 64))
                    + "\n-----END CERTIFICATE-----\n")
    (loaded,) = load_certificates(path)
    assert loaded.not_after is None and loaded.not_before == cert.not_before
    return path


def test_own_certificate_with_unreadable_time_is_a_warning(pki, bad_time_cert):
    config = TLSConfig.from_profile("rfc8996", certificate=str(bad_time_cert),
                                    private_key=str(pki.server_key), ca_file=str(pki.ca_cert))
    report = check_config(config)
    assert report.certificate.not_after is None
    assert any("unreadable validity date" in w for w in report.warnings)
    assert "valid until (unreadable date)" in report.summary()
    assert report.to_dict()["certificate"]["not_after"] is None


def test_trust_anchors_with_unreadable_time_count_as_unusable(pki, bad_time_cert):
    config = TLSConfig.from_profile("rfc8996", certificate=str(pki.server_cert),
                                    private_key=str(pki.server_key), ca_file=str(bad_time_cert))
    report = check_config(config)
    assert report.trusted_certificates == 1
    assert any("every certificate in" in w and "unreadable validity date" in w
               for w in report.warnings)
