"""What the scanner reads from a server certificate to grade it: subjectAltName entries, the
extended key usage, the signature algorithm, and RFC 6125 host matching. Certificates are issued
here by our own CA code with exactly the property under test."""

from __future__ import annotations

import datetime as dt

import pytest

from dicomtls.crypto.devpki import issue_certificate
from dicomtls.crypto.keys import PrivateKey


@pytest.fixture(scope="module")
def key():
    return PrivateKey.generate("rsa", bits=2048)


def test_alt_names_eku_and_signature(key):
    info = issue_certificate(key, "pacs", purposes=("serverAuth", "clientAuth"),
                             san_dns=("pacs.example.org", "*.imaging.example.org"),
                             san_ip=("10.1.2.3", "::1")).info()
    assert info.alt_names == (("DNS", "pacs.example.org"), ("DNS", "*.imaging.example.org"),
                              ("IP", "10.1.2.3"), ("IP", "::1"))
    assert info.server_auth is True and info.client_auth is True
    assert info.signature_algorithm == "sha256WithRSAEncryption"
    assert info.to_dict()["alt_names"][0] == "DNS:pacs.example.org"


def test_no_eku_means_any_use_and_client_only_eku_is_not_server(key):
    plain = issue_certificate(key, "any").info()
    assert (plain.server_auth, plain.client_auth, plain.alt_names) == (None, None, ())
    client_only = issue_certificate(key, "modality", purposes=("clientAuth",)).info()
    assert client_only.server_auth is False and client_only.client_auth is True


@pytest.mark.parametrize("host, named", [
    ("pacs.example.org", True), ("PACS.Example.org.", True), ("other.example.org", False),
    ("ct.imaging.example.org", True), ("a.ct.imaging.example.org", False),
    ("imaging.example.org", False), ("10.1.2.3", True), ("10.1.2.4", False),
    ("::1", True), ("[::1]", True), ("127.0.0.1", False),
])
def test_host_matching(key, host, named):
    info = issue_certificate(key, "pacs", san_dns=("pacs.example.org", "*.imaging.example.org"),
                             san_ip=("10.1.2.3", "::1")).info()
    assert info.names_host(host) is named


def test_subject_cn_alone_names_nothing(key):
    assert issue_certificate(key, "localhost").info().names_host("localhost") is False


def test_expired_dates_are_read(key):
    info = issue_certificate(key, "old", not_before=dt.timedelta(days=-30),
                             not_after=dt.timedelta(days=-1)).info()
    assert info.not_after < dt.datetime.now(dt.timezone.utc)
