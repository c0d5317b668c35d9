"""The ciphersuite registry: what dicomtls knows about each TLS ciphersuite.

Pure data and lookups; nothing here talks to OpenSSL. The TLS engine decides which suites it can
actually run (libssl for the ones the system OpenSSL still ships, its own record layer for the
legacy DES/3DES suites that OpenSSL 1.1+ no longer builds by default).

Sources for the table: IANA TLS cipher suite registry (code points and names), the local
``openssl ciphers -V -stdname`` output (OpenSSL names; the tests re-check this), DCMTK's
``tlsciphr.cc`` table (which suites a DICOM stack is expected to know and in what strength order).
LEADTOOLS' private suite ordinals and enums belong to the facade (``ldicomnet/suites.py``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..errors import UnknownCipherSuiteError
from .versions import TLSVersion

__all__ = ["CipherSuite", "ALL_SUITES", "lookup", "by_code", "tls12_suites", "tls13_suites"]


# Encryption label -> key bits. 3DES keys are 168 bits on the wire but meet-in-the-middle leaves
# 112 bits of strength, which is what OpenSSL and DCMTK report as "effective" bits.
_KEY_BITS = {"NULL": 0, "DES-CBC": 56, "3DES-EDE-CBC": 168, "CHACHA20-POLY1305": 256}
_EFFECTIVE_BITS = {"3DES-EDE-CBC": 112}
_ENCRYPTIONS = frozenset({
    "NULL", "DES-CBC", "3DES-EDE-CBC", "AES-128-CBC", "AES-256-CBC", "AES-128-GCM", "AES-256-GCM",
    "AES-128-CCM", "AES-256-CCM", "AES-128-CCM8", "AES-256-CCM8", "CAMELLIA-128-CBC",
    "CAMELLIA-256-CBC", "CAMELLIA-128-GCM", "CAMELLIA-256-GCM", "CHACHA20-POLY1305",
})
_KEY_EXCHANGES = frozenset({"RSA", "DHE", "ECDHE", "ECDH", "NULL", "ANY"})
_AUTHS = frozenset({"RSA", "DSS", "ECDSA", "ECDH", "NULL", "ANY"})
_MACS = frozenset({"SHA1", "SHA256", "SHA384", "AEAD", "MD5"})


@dataclass(frozen=True)
class CipherSuite:
    """One ciphersuite of the registry: IANA name and code, OpenSSL name, key exchange,
    authentication, cipher and key bits, MAC, the versions it runs on, and whether it is legacy."""

    name: str
    code: int
    openssl_name: str | None
    key_exchange: str
    authentication: str
    encryption: str
    encryption_bits: int
    effective_bits: int
    mac: str
    prf_hash: str
    min_version: TLSVersion
    max_version: TLSVersion
    removed_in_tls12: bool
    legacy: bool

    @property
    def aead(self) -> bool:
        return self.mac == "AEAD"

    @property
    def is_tls13(self) -> bool:
        return self.min_version >= TLSVersion.TLSv1_3

    @property
    def block_cipher(self) -> bool:
        return "-CBC" in self.encryption

    @property
    def code_hex(self) -> str:
        return f"0x{self.code:04X}"

    def supports(self, version: TLSVersion) -> bool:
        """True when the suite may be negotiated at ``version`` (ignoring ``removed_in_tls12``)."""
        return self.min_version <= TLSVersion.parse(version) <= self.max_version

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "code": self.code,
            "code_hex": self.code_hex,
            "openssl_name": self.openssl_name,
            "key_exchange": self.key_exchange,
            "authentication": self.authentication,
            "encryption": self.encryption,
            "encryption_bits": self.encryption_bits,
            "effective_bits": self.effective_bits,
            "mac": self.mac,
            "prf_hash": self.prf_hash,
            "min_version": self.min_version.label,
            "max_version": self.max_version.label,
            "legacy": self.legacy,
            "aead": self.aead,
            "removed_in_tls12": self.removed_in_tls12,
        }

    def __str__(self) -> str:
        return self.name


# --- The table ---------------------------------------------------------------------------------
# Weakest to strongest, following DCMTK's strength ordering (its server role sorts by this index),
# with the extra legacy rows (NULL-MD5, DES, DHE-3DES) at the weak end and TLS 1.3 last.
# Columns: code, IANA name, OpenSSL name ("-" = OpenSSL never had it), key exchange,
# authentication, encryption, MAC. Everything else is derived below.
#
# OpenSSL names: where a suite is gone from current OpenSSL the last name it shipped under is kept.
# 0x0016 is spelled the 1.1+ way (DHE-...), the name an OpenSSL built with enable-weak-ssl-ciphers
# accepts; 0x0015 vanished before that rename, so it keeps EDH-. Both spellings are accepted by
# lookup() via _OPENSSL_ALIASES. Static-ECDH names are the OpenSSL 1.0.2 ones.
_TABLE = """
0x0001 TLS_RSA_WITH_NULL_MD5                         NULL-MD5                      RSA   RSA   NULL              MD5
0x0002 TLS_RSA_WITH_NULL_SHA                         NULL-SHA                      RSA   RSA   NULL              SHA1
0x003B TLS_RSA_WITH_NULL_SHA256                      NULL-SHA256                   RSA   RSA   NULL              SHA256
0x0009 TLS_RSA_WITH_DES_CBC_SHA                      DES-CBC-SHA                   RSA   RSA   DES-CBC           SHA1
0x0015 TLS_DHE_RSA_WITH_DES_CBC_SHA                  EDH-RSA-DES-CBC-SHA           DHE   RSA   DES-CBC           SHA1
0x000A TLS_RSA_WITH_3DES_EDE_CBC_SHA                 DES-CBC3-SHA                  RSA   RSA   3DES-EDE-CBC      SHA1
0x0016 TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA             DHE-RSA-DES-CBC3-SHA          DHE   RSA   3DES-EDE-CBC      SHA1
0x002F TLS_RSA_WITH_AES_128_CBC_SHA                  AES128-SHA                    RSA   RSA   AES-128-CBC       SHA1
0x0041 TLS_RSA_WITH_CAMELLIA_128_CBC_SHA             CAMELLIA128-SHA               RSA   RSA   CAMELLIA-128-CBC  SHA1
0x003C TLS_RSA_WITH_AES_128_CBC_SHA256               AES128-SHA256                 RSA   RSA   AES-128-CBC       SHA256
0x009C TLS_RSA_WITH_AES_128_GCM_SHA256               AES128-GCM-SHA256             RSA   RSA   AES-128-GCM       AEAD
0xC004 TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA           ECDH-ECDSA-AES128-SHA         ECDH  ECDH  AES-128-CBC       SHA1
0xC00E TLS_ECDH_RSA_WITH_AES_128_CBC_SHA             ECDH-RSA-AES128-SHA           ECDH  ECDH  AES-128-CBC       SHA1
0xC025 TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256        ECDH-ECDSA-AES128-SHA256      ECDH  ECDH  AES-128-CBC       SHA256
0xC029 TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256          ECDH-RSA-AES128-SHA256        ECDH  ECDH  AES-128-CBC       SHA256
0xC02D TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256        ECDH-ECDSA-AES128-GCM-SHA256  ECDH  ECDH  AES-128-GCM       AEAD
0xC031 TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256          ECDH-RSA-AES128-GCM-SHA256    ECDH  ECDH  AES-128-GCM       AEAD
0x0084 TLS_RSA_WITH_CAMELLIA_256_CBC_SHA             CAMELLIA256-SHA               RSA   RSA   CAMELLIA-256-CBC  SHA1
0x0035 TLS_RSA_WITH_AES_256_CBC_SHA                  AES256-SHA                    RSA   RSA   AES-256-CBC       SHA1
0x003D TLS_RSA_WITH_AES_256_CBC_SHA256               AES256-SHA256                 RSA   RSA   AES-256-CBC       SHA256
0x009D TLS_RSA_WITH_AES_256_GCM_SHA384               AES256-GCM-SHA384             RSA   RSA   AES-256-GCM       AEAD
0xC005 TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA           ECDH-ECDSA-AES256-SHA         ECDH  ECDH  AES-256-CBC       SHA1
0xC00F TLS_ECDH_RSA_WITH_AES_256_CBC_SHA             ECDH-RSA-AES256-SHA           ECDH  ECDH  AES-256-CBC       SHA1
0xC026 TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384        ECDH-ECDSA-AES256-SHA384      ECDH  ECDH  AES-256-CBC       SHA384
0xC02A TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384          ECDH-RSA-AES256-SHA384        ECDH  ECDH  AES-256-CBC       SHA384
0xC02E TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384        ECDH-ECDSA-AES256-GCM-SHA384  ECDH  ECDH  AES-256-GCM       AEAD
0xC032 TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384          ECDH-RSA-AES256-GCM-SHA384    ECDH  ECDH  AES-256-GCM       AEAD
0x0032 TLS_DHE_DSS_WITH_AES_128_CBC_SHA              DHE-DSS-AES128-SHA            DHE   DSS   AES-128-CBC       SHA1
0x0044 TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA         DHE-DSS-CAMELLIA128-SHA       DHE   DSS   CAMELLIA-128-CBC  SHA1
0x0033 TLS_DHE_RSA_WITH_AES_128_CBC_SHA              DHE-RSA-AES128-SHA            DHE   RSA   AES-128-CBC       SHA1
0x0045 TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA         DHE-RSA-CAMELLIA128-SHA       DHE   RSA   CAMELLIA-128-CBC  SHA1
0x0040 TLS_DHE_DSS_WITH_AES_128_CBC_SHA256           DHE-DSS-AES128-SHA256         DHE   DSS   AES-128-CBC       SHA256
0x0067 TLS_DHE_RSA_WITH_AES_128_CBC_SHA256           DHE-RSA-AES128-SHA256         DHE   RSA   AES-128-CBC       SHA256
0x00A2 TLS_DHE_DSS_WITH_AES_128_GCM_SHA256           DHE-DSS-AES128-GCM-SHA256     DHE   DSS   AES-128-GCM       AEAD
0x009E TLS_DHE_RSA_WITH_AES_128_GCM_SHA256           DHE-RSA-AES128-GCM-SHA256     DHE   RSA   AES-128-GCM       AEAD
0xC07C TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256      -                             DHE   RSA   CAMELLIA-128-GCM  AEAD
0xC009 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA          ECDHE-ECDSA-AES128-SHA        ECDHE ECDSA AES-128-CBC       SHA1
0xC013 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA            ECDHE-RSA-AES128-SHA          ECDHE RSA   AES-128-CBC       SHA1
0xC023 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256       ECDHE-ECDSA-AES128-SHA256     ECDHE ECDSA AES-128-CBC       SHA256
0xC027 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256         ECDHE-RSA-AES128-SHA256       ECDHE RSA   AES-128-CBC       SHA256
0xC086 TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256  -                             ECDHE ECDSA CAMELLIA-128-GCM  AEAD
0xC08A TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256    -                             ECDHE RSA   CAMELLIA-128-GCM  AEAD
0xC0AC TLS_ECDHE_ECDSA_WITH_AES_128_CCM              ECDHE-ECDSA-AES128-CCM        ECDHE ECDSA AES-128-CCM       AEAD
0xC0AE TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8            ECDHE-ECDSA-AES128-CCM8       ECDHE ECDSA AES-128-CCM8      AEAD
0xC02B TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256       ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE ECDSA AES-128-GCM       AEAD
0xC02F TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256         ECDHE-RSA-AES128-GCM-SHA256   ECDHE RSA   AES-128-GCM       AEAD
0x0038 TLS_DHE_DSS_WITH_AES_256_CBC_SHA              DHE-DSS-AES256-SHA            DHE   DSS   AES-256-CBC       SHA1
0x0039 TLS_DHE_RSA_WITH_AES_256_CBC_SHA              DHE-RSA-AES256-SHA            DHE   RSA   AES-256-CBC       SHA1
0x0087 TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA         DHE-DSS-CAMELLIA256-SHA       DHE   DSS   CAMELLIA-256-CBC  SHA1
0x0088 TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA         DHE-RSA-CAMELLIA256-SHA       DHE   RSA   CAMELLIA-256-CBC  SHA1
0xCCAA TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256     DHE-RSA-CHACHA20-POLY1305     DHE   RSA   CHACHA20-POLY1305 AEAD
0x006A TLS_DHE_DSS_WITH_AES_256_CBC_SHA256           DHE-DSS-AES256-SHA256         DHE   DSS   AES-256-CBC       SHA256
0x006B TLS_DHE_RSA_WITH_AES_256_CBC_SHA256           DHE-RSA-AES256-SHA256         DHE   RSA   AES-256-CBC       SHA256
0x00A3 TLS_DHE_DSS_WITH_AES_256_GCM_SHA384           DHE-DSS-AES256-GCM-SHA384     DHE   DSS   AES-256-GCM       AEAD
0x009F TLS_DHE_RSA_WITH_AES_256_GCM_SHA384           DHE-RSA-AES256-GCM-SHA384     DHE   RSA   AES-256-GCM       AEAD
0xC07D TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384      -                             DHE   RSA   CAMELLIA-256-GCM  AEAD
0xC00A TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA          ECDHE-ECDSA-AES256-SHA        ECDHE ECDSA AES-256-CBC       SHA1
0xC014 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA            ECDHE-RSA-AES256-SHA          ECDHE RSA   AES-256-CBC       SHA1
0xC024 TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384       ECDHE-ECDSA-AES256-SHA384     ECDHE ECDSA AES-256-CBC       SHA384
0xC028 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384         ECDHE-RSA-AES256-SHA384       ECDHE RSA   AES-256-CBC       SHA384
0xC087 TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384  -                             ECDHE ECDSA CAMELLIA-256-GCM  AEAD
0xC08B TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384    -                             ECDHE RSA   CAMELLIA-256-GCM  AEAD
0xCCA9 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE ECDSA CHACHA20-POLY1305 AEAD
0xCCA8 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256   ECDHE-RSA-CHACHA20-POLY1305   ECDHE RSA   CHACHA20-POLY1305 AEAD
0xC0AD TLS_ECDHE_ECDSA_WITH_AES_256_CCM              ECDHE-ECDSA-AES256-CCM        ECDHE ECDSA AES-256-CCM       AEAD
0xC0AF TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8            ECDHE-ECDSA-AES256-CCM8       ECDHE ECDSA AES-256-CCM8      AEAD
0xC02C TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384       ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE ECDSA AES-256-GCM       AEAD
0xC030 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384         ECDHE-RSA-AES256-GCM-SHA384   ECDHE RSA   AES-256-GCM       AEAD
0x1304 TLS_AES_128_CCM_SHA256                        TLS_AES_128_CCM_SHA256        ANY   ANY   AES-128-CCM       AEAD
0x1305 TLS_AES_128_CCM_8_SHA256                      TLS_AES_128_CCM_8_SHA256      ANY   ANY   AES-128-CCM8      AEAD
0x1301 TLS_AES_128_GCM_SHA256                        TLS_AES_128_GCM_SHA256        ANY   ANY   AES-128-GCM       AEAD
0x1303 TLS_CHACHA20_POLY1305_SHA256                  TLS_CHACHA20_POLY1305_SHA256  ANY   ANY   CHACHA20-POLY1305 AEAD
0x1302 TLS_AES_256_GCM_SHA384                        TLS_AES_256_GCM_SHA384        ANY   ANY   AES-256-GCM       AEAD
"""

# Other spellings a user may reasonably type: older OpenSSL names.
_OPENSSL_ALIASES = {
    "EDH-RSA-DES-CBC3-SHA": 0x0016,   # OpenSSL <= 1.0.2
    "DHE-RSA-DES-CBC-SHA": 0x0015,    # the 1.1-style spelling, never shipped with the suite
}


def _derive(row: str) -> CipherSuite:
    code_s, name, ossl, kx, auth, enc, mac = row.split()
    if kx not in _KEY_EXCHANGES or auth not in _AUTHS or enc not in _ENCRYPTIONS or mac not in _MACS:
        raise ValueError(f"bad ciphersuite table row: {row!r}")
    code = int(code_s, 16)
    if enc in _KEY_BITS:
        bits = _KEY_BITS[enc]
    else:
        bits = int(re.search(r"-(128|256)-", enc).group(1))
    if kx == "ANY":
        lo = hi = TLSVersion.TLSv1_3
    else:
        # SHA-1/MD5 record MACs date from SSLv3/TLS 1.0; SHA-2 MACs and AEAD need TLS 1.2.
        lo = TLSVersion.TLSv1_0 if mac in ("SHA1", "MD5") else TLSVersion.TLSv1_2
        hi = TLSVersion.TLSv1_2
    return CipherSuite(
        name=name,
        code=code,
        openssl_name=None if ossl == "-" else ossl,
        key_exchange=kx,
        authentication=auth,
        encryption=enc,
        encryption_bits=bits,
        effective_bits=_EFFECTIVE_BITS.get(enc, bits),
        mac=mac,
        # The *_SHA384 suites switch the TLS 1.2 PRF (and the TLS 1.3 HKDF) to SHA-384.
        prf_hash="SHA384" if name.endswith("_SHA384") else "SHA256",
        min_version=lo,
        max_version=hi,
        # RFC 5246 dropped single-DES suites from TLS 1.2. They stay max_version=1.2 so an engine
        # can still force them on a 1.2 connection when a peer insists; the flag records the
        # violation so the engine can warn.
        removed_in_tls12=enc == "DES-CBC",
        # Suites only used when named explicitly: no confidentiality, or a broken/weak cipher.
        legacy=enc in ("NULL", "DES-CBC", "3DES-EDE-CBC"),
    )


ALL_SUITES: tuple[CipherSuite, ...] = tuple(
    _derive(line) for line in _TABLE.strip().splitlines() if line.strip()
)

_BY_CODE: dict[int, CipherSuite] = {}
_BY_NAME: dict[str, CipherSuite] = {}   # upper-cased IANA, OpenSSL and alias names
for _s in ALL_SUITES:
    if _s.code in _BY_CODE:
        raise ValueError(f"duplicate code {_s.code_hex} in ciphersuite table")
    _BY_CODE[_s.code] = _s
    for _n in (_s.name, _s.openssl_name):
        if _n is None:
            continue
        _key = _n.upper()
        if _BY_NAME.get(_key, _s) is not _s:
            raise ValueError(f"name {_n!r} maps to two suites")
        _BY_NAME[_key] = _s
for _n, _c in _OPENSSL_ALIASES.items():
    _BY_NAME.setdefault(_n.upper(), _BY_CODE[_c])
del _s, _n, _c, _key

# "0x000A", "000A", "0xA", or OpenSSL's -V form "0x00,0x0A".
_HEX_RE = re.compile(r"^(?:0x)?([0-9a-f]{1,4})$", re.I)
_PAIR_RE = re.compile(r"^0x([0-9a-f]{2})\s*,\s*0x([0-9a-f]{2})$", re.I)


def _parse_code_text(text: str) -> int | None:
    m = _PAIR_RE.match(text)
    if m:
        return int(m.group(1), 16) << 8 | int(m.group(2), 16)
    m = _HEX_RE.match(text)
    if m:
        return int(m.group(1), 16)
    return None


def by_code(code: int | str) -> CipherSuite | None:
    """The suite with IANA code point ``code`` (an int or hex text), or None."""
    if isinstance(code, str):
        parsed = _parse_code_text(code.strip())
        if parsed is None:
            return None
        code = parsed
    if isinstance(code, bool) or not isinstance(code, int):
        return None
    return _BY_CODE.get(code)


def lookup(key: str | int | CipherSuite) -> CipherSuite:
    """Find a suite by IANA name, OpenSSL name, code point, or hex text.

    Names are matched case-insensitively. Raises UnknownCipherSuiteError (a ConfigurationError)
    naming the closest known spellings when nothing matches.
    """
    if isinstance(key, CipherSuite):
        found = _BY_CODE.get(key.code)
        if found is None:
            raise UnknownCipherSuiteError(f"ciphersuite {key.name} ({key.code_hex}) is not in the registry")
        return found
    if isinstance(key, bool):
        raise UnknownCipherSuiteError(f"not a ciphersuite: {key!r}")
    if isinstance(key, int):
        found = _BY_CODE.get(key)
        if found is None:
            raise UnknownCipherSuiteError(
                f"no ciphersuite with code 0x{key:04X} in the registry" if 0 <= key <= 0xFFFF
                else f"ciphersuite code {key} is outside 0x0000..0xFFFF")
        return found
    if not isinstance(key, str):
        raise UnknownCipherSuiteError(f"not a ciphersuite name or code: {key!r}")
    text = key.strip()
    found = _BY_NAME.get(text.upper())
    if found is not None:
        return found
    code = _parse_code_text(text)
    if code is not None:
        found = _BY_CODE.get(code)
        if found is not None:
            return found
        raise UnknownCipherSuiteError(f"no ciphersuite with code 0x{code:04X} in the registry")
    raise UnknownCipherSuiteError(_unknown_message(text))


def _unknown_message(text: str) -> str:
    if not text:
        return "empty ciphersuite name"
    close = difflib.get_close_matches(text.upper(), list(_BY_NAME), n=5, cutoff=0.6)
    # Report the canonical IANA name of each near miss (plus the spelling that was close, if it
    # was not the IANA name), one hint per suite.
    hints, seen = [], set()
    for c in close:
        s = _BY_NAME[c]
        if s.code in seen:
            continue
        seen.add(s.code)
        hints.append(s.name if c == s.name.upper() else f"{s.name} ({_original_spelling(c, s)})")
    hints = hints[:3]
    msg = f"unknown ciphersuite {text!r}"
    if hints:
        msg += "; did you mean " + ", ".join(hints) + "?"
    else:
        msg += "; use an IANA name (TLS_..._WITH_...), an OpenSSL name, or a code like 0x002F"
    return msg


def _original_spelling(upper: str, suite: CipherSuite) -> str:
    for n in (suite.openssl_name, *_OPENSSL_ALIASES):
        if n and n.upper() == upper:
            return n
    return upper


def tls12_suites() -> tuple[CipherSuite, ...]:
    """Suites negotiated by TLS 1.0-1.2 (everything except the TLS 1.3 suites), table order."""
    return tuple(s for s in ALL_SUITES if not s.is_tls13)


def tls13_suites() -> tuple[CipherSuite, ...]:
    """The TLS 1.3 suites, table order."""
    return tuple(s for s in ALL_SUITES if s.is_tls13)
