"""Tests for the PS3.15 profile presets (dicomtls.tls.profiles)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dicomtls.errors import ConfigurationError, UnknownProfileError
from dicomtls.tls.profiles import DCMTK_OPTIONS, DEFAULT_PROFILE, PROFILES, Profile, get_profile
from dicomtls.tls.suites import ALL_SUITES, lookup
from dicomtls.tls.versions import TLSVersion

V10, V12, V13 = TLSVersion.TLSv1_0, TLSVersion.TLSv1_2, TLSVersion.TLSv1_3
TLS13_DEFAULT = ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"]
GCM4 = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"]

# name -> (suites, tls13 suites, min, max, min_dhe, min_ecdhe, legacy, retired, section)
EXPECTED = {
    "basic": (["TLS_RSA_WITH_3DES_EDE_CBC_SHA"], [], V10, V12, None, None, True, True, "PS3.15 B.1"),
    "aes": (["TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"], [],
            V10, V12, None, None, True, True, "PS3.15 B.3"),
    "bcp195": (GCM4 + ["TLS_RSA_WITH_AES_128_CBC_SHA"], TLS13_DEFAULT,
               V10, V13, None, None, False, True, "PS3.15 B.9"),
    "bcp195-nd": (GCM4, TLS13_DEFAULT, V12, V13, None, None, False, True, "PS3.15 B.10"),
    "bcp195-ex": (GCM4 + ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                          "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"], [],
                  V12, V12, 2048, 256, False, True, "PS3.15 B.11"),
    "rfc8996": (["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                 "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"],
                TLS13_DEFAULT, V12, V13, 2048, 256, False, False, "PS3.15 B.12"),
    "rfc8996-mod": (["TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
                     "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                     "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                     "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                     "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                     "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
                     "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                     "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"],
                    TLS13_DEFAULT + ["TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"],
                    V12, V13, 2048, 256, False, False, "PS3.15 B.13"),
    "none": ([], TLS13_DEFAULT, V12, V13, None, None, False, False, ""),
}


def test_profile_set():
    assert list(PROFILES) == list(EXPECTED)
    assert DEFAULT_PROFILE == "rfc8996"
    assert get_profile(DEFAULT_PROFILE) is PROFILES["rfc8996"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_profile_contents(name):
    p = PROFILES[name]
    suites, tls13, lo, hi, dhe, ecdhe, legacy, retired, section = EXPECTED[name]
    assert p.name == name
    assert [s.name for s in p.suites] == suites          # order matters: it is the proposal order
    assert [s.name for s in p.tls13_suites] == tls13
    assert (p.min_version, p.max_version) == (lo, hi)
    assert (p.min_dhe_bits, p.min_ecdhe_bits) == (dhe, ecdhe)
    assert p.legacy is legacy
    assert p.retired is retired
    assert p.section == section
    assert p.title and p.description
    assert p.tls13_enabled == (hi == V13)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_profile_suites_are_registry_objects(name):
    p = PROFILES[name]
    for s in p.suites + p.tls13_suites:
        assert s in ALL_SUITES
        assert lookup(s.code) is s
    assert all(not s.is_tls13 for s in p.suites)
    assert all(s.is_tls13 for s in p.tls13_suites)
    # Every suite a profile proposes must be negotiable within the profile's version range.
    for s in p.suites:
        assert s.min_version <= p.max_version


def test_modern_profiles_are_aead_forward_secret():
    for name in ("bcp195-nd", "bcp195-ex", "rfc8996", "rfc8996-mod"):
        for s in PROFILES[name].suites:
            assert s.aead, (name, s.name)
            assert s.key_exchange in ("DHE", "ECDHE"), (name, s.name)
    for s in PROFILES["rfc8996-mod"].suites:
        assert s.key_exchange == "ECDHE"
        assert s.openssl_name is not None   # Camellia-GCM left out: OpenSSL has none


def test_bcp195_has_no_3des():
    assert all(s.code != 0x000A for s in PROFILES["bcp195"].all_suites)


def test_legacy_flag_tracks_suites():
    assert [n for n, p in PROFILES.items() if p.legacy] == ["basic", "aes"]
    p = dataclasses.replace(PROFILES["none"], name="custom", suites=(lookup(0x000A),))
    assert p.legacy is True


@pytest.mark.parametrize("option,name", [
    ("+pb", "basic"), ("+pa", "aes"), ("+px", "bcp195"), ("+py", "bcp195-nd"),
    ("+pz", "bcp195-ex"), ("+pg", "rfc8996"), ("+pm", "rfc8996-mod"),
    ("--profile-8996", "rfc8996"), ("--profile-bcp195-nd", "bcp195-nd"),
])
def test_dcmtk_aliases(option, name):
    assert get_profile(option) is PROFILES[name]
    assert DCMTK_OPTIONS[option] == name


@pytest.mark.parametrize("text,name", [
    ("BASIC", "basic"), (" Rfc8996-Mod ", "rfc8996-mod"), ("bcp195_nd", "bcp195-nd"),
    ("B.13", "rfc8996-mod"), ("PS3.15 B.1", "basic"), ("default", "rfc8996"), ("+PG", "rfc8996"),
])
def test_case_and_spelling(text, name):
    assert get_profile(text) is PROFILES[name]


def test_profile_instance_passes_through():
    p = PROFILES["aes"]
    assert get_profile(p) is p


@pytest.mark.parametrize("bad", ["", "tls", "bcp", "+pn", "+pq", "rfc9325", None, 3])
def test_unknown_profile(bad):
    with pytest.raises(UnknownProfileError) as exc:
        get_profile(bad)
    assert isinstance(exc.value, ConfigurationError)
    if isinstance(bad, str):
        for name in PROFILES:
            assert name in str(exc.value)


def test_to_dict():
    d = PROFILES["aes"].to_dict()
    assert d["suites"] == ["TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]
    assert d["min_version"] == "TLSv1" and d["max_version"] == "TLSv1.2"
    assert d["legacy"] is True and d["section"] == "PS3.15 B.3"
    json.dumps([p.to_dict() for p in PROFILES.values()])


def test_inconsistent_profile_rejected():
    base = PROFILES["rfc8996"]
    with pytest.raises(ConfigurationError):
        dataclasses.replace(base, max_version=V12)            # 1.3 suites without 1.3
    with pytest.raises(ConfigurationError):
        dataclasses.replace(base, min_version=V13, max_version=V12)
    with pytest.raises(ConfigurationError):
        dataclasses.replace(base, suites=(lookup(0x1301),))
    with pytest.raises(ConfigurationError):
        dataclasses.replace(PROFILES["basic"], suites=(lookup(0xC02F),),
                            max_version=TLSVersion.TLSv1_1)   # GCM needs TLS 1.2


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["basic"].name = "x"   # type: ignore[misc]
