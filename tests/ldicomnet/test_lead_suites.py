"""LEADTOOLS' suite ordinals, names and per-suite enums (dicomtls.ldicomnet.suites).

The table is LEAD's ``L_CIPHERSUITE`` / .NET ``DicomTlsCipherSuiteType`` (reference
ldicomnet-api.md 3.2) with the IANA code of each suite."""

from __future__ import annotations

import pytest

from dicomtls.errors import UnknownCipherSuiteError
from dicomtls.ldicomnet.suites import (SUITES_BY_ORDINAL, EncryptionMethod, KeyExchangeMethod,
                                       MacMethod, MutualAuthMethod, encryption_method,
                                       key_exchange_method, lead_dotnet_name, lead_ordinal,
                                       mac_method, mutual_auth_method, suite_value, to_suite)
from dicomtls.tls.suites import ALL_SUITES, lookup

LEAD_TABLE = {
    0x12: (0x0015, "DheRsaWithDesCbcSha"),
    0x13: (0x0016, "DheRsaWith3DesEdeCbcSha"),
    0x14: (0x0039, "DheRsaAes256Sha"),
    0x15: (0x002F, "RsaWithAes128CbcSha"),
    0x16: (0x000A, "RsaWith3DesEdeCbcSha"),
    0x17: (0x009E, "DheRsaWithAes128GcmSha256"),
    0x18: (0xC02F, "EcdheRsaWithAes128GcmSha256"),
    0x19: (0x009F, "DheRsaWithAes256GcmSha384"),
    0x1A: (0xC030, "EcdheRsaWithAes256GcmSha384"),
}


def test_lead_ordinals():
    assert sorted(SUITES_BY_ORDINAL) == list(range(0x12, 0x1B))
    for ordinal, (code, name) in LEAD_TABLE.items():
        s = SUITES_BY_ORDINAL[ordinal]
        assert (s.code, lead_ordinal(s), lead_dotnet_name(s)) == (code, ordinal, name)
        assert suite_value(s) == ordinal
    others = [s for s in ALL_SUITES if s.code not in {c for c, _ in LEAD_TABLE.values()}]
    assert all(lead_ordinal(s) is None and lead_dotnet_name(s) is None for s in others)
    assert lead_ordinal(lookup(0x0009)) is None   # LEAD's single-DES suite is the DHE one
    assert suite_value(lookup(0x1302)) == 0x1302  # no ordinal: the IANA code


@pytest.mark.parametrize("key", [0x16, "RsaWith3DesEdeCbcSha", "rsawith3desedecbcsha",
                                 "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA", 0x000A])
def test_to_suite_reads_ordinals_lead_names_and_registry_keys(key):
    assert to_suite(key).code == 0x000A


def test_to_suite_lead_c_name_and_unknown():
    assert to_suite("TLS_DHE_RSA_AES256_SHA").code == 0x0039  # LEAD's C name for 0x14
    assert to_suite(lookup(0xC02F)).code == 0xC02F
    with pytest.raises(UnknownCipherSuiteError):
        to_suite("NO_SUCH_SUITE")
    with pytest.raises(UnknownCipherSuiteError):
        to_suite(True)


def test_getters_3des_des():
    tdes = lookup("DES-CBC3-SHA")
    assert encryption_method(tdes) == 2 == EncryptionMethod.THREE_DES
    assert mac_method(tdes) == 0x10
    assert key_exchange_method(tdes) == 0x41
    assert mutual_auth_method(tdes) == 0x20
    dhe_tdes = SUITES_BY_ORDINAL[0x13]
    assert encryption_method(dhe_tdes) == 2
    assert key_exchange_method(dhe_tdes) == 0x40          # RSA-signed DHE
    des = SUITES_BY_ORDINAL[0x12]
    assert encryption_method(des) == 1
    assert mac_method(des) == 0x10
    assert encryption_method(lookup(0x0009)) == 1
    assert key_exchange_method(lookup(0x0009)) == 0x41


def test_getters_modern():
    gcm = SUITES_BY_ORDINAL[0x18]                          # ECDHE-RSA-AES128-GCM-SHA256
    assert encryption_method(gcm) == 7
    assert mac_method(gcm) == 0x14
    assert key_exchange_method(gcm) == 0x45
    assert mutual_auth_method(gcm) == 0x20
    dhe_gcm = SUITES_BY_ORDINAL[0x19]
    assert (encryption_method(dhe_gcm), key_exchange_method(dhe_gcm)) == (7, 0x40)
    assert key_exchange_method(lookup(0x0032)) == KeyExchangeMethod.DH_DSS == 0x43
    assert mutual_auth_method(lookup(0x0032)) == MutualAuthMethod.DSS == 0x21
    assert mutual_auth_method(lookup(0xC02B)) == 0x23
    assert key_exchange_method(lookup(0xC031)) == 0x46
    assert mutual_auth_method(lookup(0xC031)) == 0x22
    assert key_exchange_method(lookup(0x1301)) == 0x47
    assert mutual_auth_method(lookup(0x1301)) == 0x24
    assert encryption_method(lookup(0x0041)) == 8
    assert encryption_method(lookup(0xCCA8)) == 9
    assert encryption_method(lookup(0x0002)) == 0
    assert mac_method(lookup(0x0001)) == MacMethod.MD5 == 0x11
    assert mac_method(lookup(0x003C)) == 0x12
    assert mac_method(lookup(0xC028)) == 0x13
    for s in ALL_SUITES:   # every suite has an answer for every getter
        for getter in (encryption_method, mac_method, key_exchange_method, mutual_auth_method):
            assert isinstance(getter(s), int)
