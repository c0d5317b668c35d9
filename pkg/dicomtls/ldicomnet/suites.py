"""LEADTOOLS' view of ciphersuites: the ``L_CIPHERSUITE`` ordinals and .NET names, and the
per-suite property enums the ``Get*AlgorithmTLS`` members answer with.

LEAD numbers its nine suites with private ordinals (0x12..0x1A), not IANA code points
(reference ``ldicomnet-api.md`` 3.2). The ordinals were chosen so that no suite we can negotiate
has one of them as its IANA code, so one int argument can be either: ``to_suite`` reads an
ordinal as an ordinal and any other int as an IANA code.
"""

from __future__ import annotations

import enum
from typing import Union

from ..tls.suites import CipherSuite, by_code, lookup

# ---- L_CIPHERSUITE (3.2): ordinal -> (IANA code, .NET DicomTlsCipherSuiteType name) ------------
TLS_NONE = 0
TLS_DHE_RSA_WITH_DES_CBC_SHA = 0x12
TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA = 0x13
TLS_DHE_RSA_AES256_SHA = 0x14
TLS_RSA_WITH_AES_128_CBC_SHA = 0x15
TLS_RSA_WITH_3DES_EDE_CBC_SHA = 0x16
TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 = 0x17
TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0x18
TLS_DHE_RSA_WITH_AES_256_GCM_SHA384 = 0x19
TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0x1A

_ORDINALS = {
    TLS_DHE_RSA_WITH_DES_CBC_SHA: (0x0015, "DheRsaWithDesCbcSha"),
    TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA: (0x0016, "DheRsaWith3DesEdeCbcSha"),
    TLS_DHE_RSA_AES256_SHA: (0x0039, "DheRsaAes256Sha"),
    TLS_RSA_WITH_AES_128_CBC_SHA: (0x002F, "RsaWithAes128CbcSha"),
    TLS_RSA_WITH_3DES_EDE_CBC_SHA: (0x000A, "RsaWith3DesEdeCbcSha"),
    TLS_DHE_RSA_WITH_AES_128_GCM_SHA256: (0x009E, "DheRsaWithAes128GcmSha256"),
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: (0xC02F, "EcdheRsaWithAes128GcmSha256"),
    TLS_DHE_RSA_WITH_AES_256_GCM_SHA384: (0x009F, "DheRsaWithAes256GcmSha384"),
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: (0xC030, "EcdheRsaWithAes256GcmSha384"),
}

#: LEAD ordinal -> the registry's suite.
SUITES_BY_ORDINAL: dict[int, CipherSuite] = {o: by_code(c) for o, (c, _) in _ORDINALS.items()}
_ORDINAL_BY_CODE = {c: o for o, (c, _) in _ORDINALS.items()}
#: Names only LEAD uses, upper-cased: the .NET enum names and the one C name that is not the
#: IANA name (``TLS_DHE_RSA_AES256_SHA``).
_SUITES_BY_LEAD_NAME = {name.upper(): SUITES_BY_ORDINAL[o] for o, (_, name) in _ORDINALS.items()}
_SUITES_BY_LEAD_NAME["TLS_DHE_RSA_AES256_SHA"] = SUITES_BY_ORDINAL[TLS_DHE_RSA_AES256_SHA]


def to_suite(value: Union[int, str, CipherSuite]) -> CipherSuite:
    """A LEAD ordinal (0x12..0x1A), a LEAD .NET or C name, any name or code the registry knows
    (IANA, OpenSSL), or a CipherSuite. An int outside LEAD's ordinals is an IANA code point.
    UnknownCipherSuiteError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and value in SUITES_BY_ORDINAL:
        return SUITES_BY_ORDINAL[value]
    if isinstance(value, str) and value.strip().upper() in _SUITES_BY_LEAD_NAME:
        return _SUITES_BY_LEAD_NAME[value.strip().upper()]
    return lookup(value)


def lead_ordinal(suite: CipherSuite):
    """LEAD's ordinal for ``suite``, or None when LEAD has none (TLS 1.3, ECDSA, ...)."""
    return _ORDINAL_BY_CODE.get(suite.code)


def lead_dotnet_name(suite: CipherSuite):
    """The .NET ``DicomTlsCipherSuiteType`` member name, or None."""
    ordinal = lead_ordinal(suite)
    return None if ordinal is None else _ORDINALS[ordinal][1]


def suite_value(suite: CipherSuite) -> int:
    """What LEAD's getters report for a suite: its ordinal, or the IANA code when LEAD has none
    (never ambiguous: see the module docstring)."""
    ordinal = lead_ordinal(suite)
    return suite.code if ordinal is None else ordinal


# ---- per-suite property enums (3.3) ------------------------------------------------------------
# LEAD's enums stop at what SSLv3-era suites needed: no ECDHE, no GCM, no SHA-2. The facade still
# has to answer "what encryption does this suite use" for every suite we negotiate, so members
# marked "dicomtls extension" are new values placed just past LEAD's last one. A LEAD caller that
# only knows the original values sees an unknown number rather than a wrong one.

class EncryptionMethod(enum.IntEnum):
    """``L_ENCRYPTION_METHOD``."""

    NONE = 0
    DES = 1
    THREE_DES = 2
    RC4 = 3
    RC2 = 4
    IDEA = 5
    FORTEZZA = 6
    AES = 7          # every AES mode (CBC, GCM, CCM): LEAD's enum carries no mode
    CAMELLIA = 8     # dicomtls extension
    CHACHA20 = 9     # dicomtls extension


class MacMethod(enum.IntEnum):
    """``L_MAC_METHOD``."""

    NONE = 0x00
    SHA1 = 0x10
    MD5 = 0x11
    SHA256 = 0x12    # dicomtls extension
    SHA384 = 0x13    # dicomtls extension
    AEAD = 0x14      # dicomtls extension: integrity comes from the AEAD cipher itself


class KeyExchangeMethod(enum.IntEnum):
    """``L_KEY_EXCHANGE_METHOD``."""

    NONE = 0
    RSA_SIGNED_DHE = 0x40   # ephemeral DH signed with an RSA key
    RSA = 0x41
    DH = 0x42
    DH_DSS = 0x43           # ephemeral DH signed with a DSA key
    FORTEZZA = 0x44
    ECDHE = 0x45            # dicomtls extension
    ECDH = 0x46             # dicomtls extension: static ECDH from the certificate
    TLS13 = 0x47            # dicomtls extension: TLS 1.3 negotiates the group separately


class MutualAuthMethod(enum.IntEnum):
    """``L_MUTUAL_AUTH_METHOD``."""

    NONE = 0
    RSA = 0x20
    DSS = 0x21
    DH = 0x22               # also used for static ECDH: the certificate's (EC)DH key authenticates
    ECDSA = 0x23            # dicomtls extension
    TLS13 = 0x24            # dicomtls extension: TLS 1.3 picks the signature scheme separately


_ENCRYPTION = {
    "NULL": EncryptionMethod.NONE, "DES": EncryptionMethod.DES,
    "3DES": EncryptionMethod.THREE_DES, "AES": EncryptionMethod.AES,
    "CAMELLIA": EncryptionMethod.CAMELLIA, "CHACHA20": EncryptionMethod.CHACHA20,
}
_AUTHENTICATION = {
    "NULL": MutualAuthMethod.NONE, "RSA": MutualAuthMethod.RSA, "DSS": MutualAuthMethod.DSS,
    "ECDH": MutualAuthMethod.DH, "ECDSA": MutualAuthMethod.ECDSA, "ANY": MutualAuthMethod.TLS13,
}
_KEY_EXCHANGE = {
    "RSA": KeyExchangeMethod.RSA, "ECDHE": KeyExchangeMethod.ECDHE,
    "ECDH": KeyExchangeMethod.ECDH, "ANY": KeyExchangeMethod.TLS13,
    "NULL": KeyExchangeMethod.NONE,
}
# LEAD names ephemeral DH by the key that signs it.
_DHE_BY_AUTHENTICATION = {"RSA": KeyExchangeMethod.RSA_SIGNED_DHE, "DSS": KeyExchangeMethod.DH_DSS}


def encryption_method(suite: CipherSuite) -> EncryptionMethod:
    """``GetEncryptionAlgorithmTLS``: the bulk cipher, whatever its mode and key size."""
    return _ENCRYPTION[suite.encryption.split("-")[0]]


def mac_method(suite: CipherSuite) -> MacMethod:
    """``GetIntegrityAlgorithmTLS``: the record MAC (AEAD for GCM, CCM, ChaCha20-Poly1305)."""
    return MacMethod[suite.mac]


def key_exchange_method(suite: CipherSuite) -> KeyExchangeMethod:
    """``GetKeyExchangeAlgorithmTLS``: ephemeral DH named by its signing key, as LEAD does."""
    if suite.key_exchange == "DHE":
        return _DHE_BY_AUTHENTICATION.get(suite.authentication, KeyExchangeMethod.DH)
    return _KEY_EXCHANGE[suite.key_exchange]


def mutual_auth_method(suite: CipherSuite) -> MutualAuthMethod:
    """``GetAuthenticationAlgorithmTLS``: the key type that authenticates the server."""
    return _AUTHENTICATION[suite.authentication]


__all__ = ["EncryptionMethod", "KeyExchangeMethod", "MacMethod", "MutualAuthMethod",
           "SUITES_BY_ORDINAL", "encryption_method", "key_exchange_method", "lead_dotnet_name",
           "lead_ordinal", "mac_method", "mutual_auth_method", "suite_value", "to_suite"] + \
    [n for n in dir() if n.startswith("TLS_")]
