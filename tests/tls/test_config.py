"""TLSConfig construction, validation and the engine choice (no network)."""

from __future__ import annotations

import warnings

import pytest

import dicomtls
from dicomtls.errors import ConfigurationError, EngineUnavailableError, LocalProtocolError
from dicomtls.ldicomnet import lead_code
from dicomtls.tls.config import LegacyCryptoWarning, TLSConfig, parse_cipher_list
from dicomtls.tls.versions import TLSVersion

V = TLSVersion


def names(suites):
    return [s.name for s in suites]


def test_default_is_rfc8996_tls12_and_13_without_legacy():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = TLSConfig.from_profile(peer_cert="ignore")
    assert cfg.profile == "rfc8996"
    assert (cfg.min_version, cfg.max_version) == (V.TLSv1_2, V.TLSv1_3)
    assert cfg.legacy_choices == []
    assert all(s.key_exchange == "ECDHE" and s.aead for s in cfg.cipher_suites)


def test_ciphers_replace_the_profile_list_in_order():
    cfg = TLSConfig.from_profile(
        ciphers=["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "0x009E", "TLS_AES_128_GCM_SHA256"],
        peer_cert="ignore")
    assert names(cfg.cipher_suites) == ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"]
    assert names(cfg.tls13_suites) == ["TLS_AES_128_GCM_SHA256"]


def test_ciphers_without_tls13_suite_cap_the_version_at_12():
    cfg = TLSConfig.from_profile(ciphers=["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                                 peer_cert="ignore")
    assert cfg.max_version == V.TLSv1_2


def test_only_tls13_suites_means_tls13_only():
    cfg = TLSConfig.from_profile(ciphers=["TLS_AES_256_GCM_SHA384"], peer_cert="ignore")
    assert cfg.effective_versions() == (V.TLSv1_3, V.TLSv1_3)
    assert TLSConfig.from_profile("none", peer_cert="ignore").effective_versions() == (
        V.TLSv1_3, V.TLSv1_3)


def test_legacy_versions_warn_and_are_listed():
    with pytest.warns(LegacyCryptoWarning, match="TLSv1"):
        cfg = TLSConfig.from_profile(ciphers=["TLS_RSA_WITH_AES_128_CBC_SHA"], min_version="1.0",
                                     peer_cert="ignore")
    assert cfg.legacy_choices == ["TLSv1", "TLSv1.1"]
    assert cfg.effective_versions() == (V.TLSv1_0, V.TLSv1_2)


def test_legacy_suite_warns():
    with pytest.warns(LegacyCryptoWarning, match="TLS_RSA_WITH_3DES_EDE_CBC_SHA"):
        TLSConfig.from_profile("basic", peer_cert="ignore")


@pytest.mark.parametrize("kwargs,match", [
    (dict(min_version="1.3", max_version="1.2"), "above maximum"),
    (dict(cipher_suites=["TLS_AES_128_GCM_SHA256"]), "TLS 1.3 suite"),
    (dict(tls13_suites=["TLS_RSA_WITH_AES_128_CBC_SHA"]), "not a TLS 1.3 suite"),
    (dict(cipher_suites=["TLS_RSA_WITH_AES_128_GCM_SHA256"], min_version="1.0",
          max_version="1.1"), "no ciphersuite is usable"),
    (dict(peer_cert="sometimes"), "peer_cert"),
    (dict(file_format="p12"), "file_format"),
    (dict(certificate="/nonexistent/cert.pem"), "no such file"),
    (dict(private_key="/tmp/key.pem"), "without a certificate"),
    (dict(verify_depth=-1), "verify_depth"),
])
def test_invalid_configurations_raise(kwargs, match):
    base = dict(cipher_suites=["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"], peer_cert="ignore")
    base.update(kwargs)
    with pytest.raises(ConfigurationError, match=match), warnings.catch_warnings():
        warnings.simplefilter("ignore", LegacyCryptoWarning)
        TLSConfig(**base)


def test_unknown_version_and_suite():
    with pytest.raises(ConfigurationError, match="unknown TLS version"):
        TLSConfig.from_profile(min_version="1.4")
    with pytest.raises(dicomtls.UnknownCipherSuiteError):
        parse_cipher_list(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:NOPE"])


def test_parse_cipher_list_splits_and_keeps_order():
    got = parse_cipher_list(["0x002F,TLS_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES128-GCM-SHA256"])
    assert [s.code for s in got] == [0x002F, 0x0035, 0xC02F]


def test_replace_revalidates():
    cfg = TLSConfig.from_profile(peer_cert="ignore")
    assert cfg.replace(max_version=V.TLSv1_2).max_version == V.TLSv1_2
    with pytest.raises(ConfigurationError):
        cfg.replace(min_version=V.TLSv1_3, max_version=V.TLSv1_2)


@pytest.mark.parametrize("profile", ["basic", "aes"])
@pytest.mark.parametrize("role", ["client", "server"])
def test_profiles_libssl_cannot_run_go_to_the_own_engine(profile, role):
    with pytest.warns(LegacyCryptoWarning):
        cfg = TLSConfig.from_profile(profile, peer_cert="ignore")
    assert dicomtls.select_engine(cfg, role) == "dicomtls"


def test_suites_no_engine_runs_are_reported_not_trimmed():
    """Camellia-GCM is in the registry (DCMTK/IANA know it) but neither engine runs it."""
    cfg = TLSConfig.from_profile(peer_cert="ignore", ciphers=[
        "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"])
    with pytest.raises(EngineUnavailableError, match="TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"):
        dicomtls.select_engine(cfg)


def test_forced_engines():
    cfg = TLSConfig.from_profile(peer_cert="ignore", ciphers=["TLS_RSA_WITH_AES_128_CBC_SHA"],
                                 engine="dicomtls")
    assert dicomtls.select_engine(cfg) == "dicomtls"
    with pytest.warns(LegacyCryptoWarning):
        cfg = TLSConfig.from_profile("basic", peer_cert="ignore", engine="libssl")
    with pytest.raises(EngineUnavailableError, match="engine='libssl'"):
        dicomtls.select_engine(cfg)
    cfg = TLSConfig.from_profile(peer_cert="ignore", engine="dicomtls",
                                 ciphers=["TLS_AES_128_GCM_SHA256"])  # TLS 1.3 only
    with pytest.raises(EngineUnavailableError, match="engine='dicomtls'"):
        dicomtls.select_engine(cfg)
    with pytest.raises(ConfigurationError):
        TLSConfig.from_profile(peer_cert="ignore", engine="gnutls")


def test_server_needs_a_certificate():
    cfg = TLSConfig.from_profile(peer_cert="ignore")
    with pytest.raises(ConfigurationError, match="needs a certificate"):
        dicomtls.new_connection(cfg, "server")


def test_verification_needs_trust_anchors():
    cfg = TLSConfig.from_profile(peer_cert="require")
    with pytest.raises(ConfigurationError, match="trusted certificates") as info:
        dicomtls.new_connection(cfg, "client")
    assert info.value.setting == "ca_file"
    assert lead_code(info.value) == 195  # LEAD DICOM_ERROR_TLS_INVALID_CTX_CAFILE


def test_tls13_only_profile_handshakes(pki):
    server = TLSConfig.from_profile("none", certificate=str(pki.server_cert),
                                    private_key=str(pki.server_key), ca_file=str(pki.ca_cert),
                                    peer_cert="ignore")
    client = TLSConfig.from_profile("none", ca_file=str(pki.ca_cert))
    c, s = dicomtls.new_connection(client, "client"), dicomtls.new_connection(server, "server")
    done = {}
    for _ in range(6):
        for a, b in ((c, s), (s, c)):
            if a not in done:
                event = a.next_event()
                if isinstance(event, dicomtls.HandshakeComplete):
                    done[a] = event.session
            b.receive_data(a.data_to_send())
    assert done[c].protocol == V.TLSv1_3 and done[s].protocol == V.TLSv1_3


def test_close_before_handshake_is_final(pki):
    client = TLSConfig.from_profile(ca_file=str(pki.ca_cert))
    conn = dicomtls.new_connection(client, "client")
    conn.close()
    with pytest.raises(LocalProtocolError, match="closed before"):
        conn.next_event()
    assert conn.data_to_send() == b""
