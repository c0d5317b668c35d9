"""What the own engine can negotiate, and the record parameters of each suite.

Pure data over the suite registry: cipher and MAC names as dt_record.c takes them, key, MAC-key
and IV lengths for the key block (RFC 5246 6.3), the PRF hash per version, the transcript hashes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..suites import CipherSuite, by_code
from ..versions import TLSVersion

ENGINE_NAME = "dicomtls"
VERSIONS = (TLSVersion.TLSv1_0, TLSVersion.TLSv1_1, TLSVersion.TLSv1_2)

# Registry encryption label -> (libcrypto cipher name, key bytes, block or salt bytes).
_CIPHERS = {
    "NULL": ("NULL", 0, 0),
    "DES-CBC": ("DES-CBC", 8, 8),
    "3DES-EDE-CBC": ("DES-EDE3-CBC", 24, 8),
    "AES-128-CBC": ("AES-128-CBC", 16, 16),
    "AES-256-CBC": ("AES-256-CBC", 32, 16),
    "AES-128-GCM": ("AES-128-GCM", 16, 4),
    "AES-256-GCM": ("AES-256-GCM", 32, 4),
}
_MAC_KEY_BYTES = {"SHA1": 20, "SHA256": 32, "SHA384": 48, "AEAD": 0}
_KEY_EXCHANGES = ("RSA", "DHE", "ECDHE")


@dataclass(frozen=True)
class RecordParams:
    cipher: str        # dt_record.c cipher name
    mac: str           # dt_record.c MAC name ("NULL" for AEAD)
    key_len: int
    mac_key_len: int
    iv_len: int        # key-block IV bytes: TLS 1.0 CBC block, GCM salt; 0 for TLS 1.1+ CBC
    block: bool
    aead: bool


def engine_supports(suite: CipherSuite) -> bool:
    """True when the own engine can run the suite (at some version it allows)."""
    return (not suite.is_tls13 and suite.encryption in _CIPHERS and suite.mac in _MAC_KEY_BYTES
            and suite.key_exchange in _KEY_EXCHANGES and suite.authentication == "RSA")


def engine_suite_codes() -> frozenset[int]:
    from ..suites import ALL_SUITES
    return frozenset(s.code for s in ALL_SUITES if engine_supports(s))


def allowed_at(suite: CipherSuite, version: TLSVersion) -> bool:
    """Whether the engine negotiates ``suite`` at ``version``.

    RFC 5246 (Appendix A.5) removed the single-DES suites from TLS 1.2; the engine follows it, so
    a DES suite always runs at TLS 1.0 or 1.1 (a server lowers the version for it, see server.py).
    """
    if not engine_supports(suite) or not suite.supports(version):
        return False
    return not (suite.removed_in_tls12 and version >= TLSVersion.TLSv1_2)


def record_params(suite: CipherSuite, version: TLSVersion) -> RecordParams:
    cipher, key_len, iv = _CIPHERS[suite.encryption]
    aead = suite.aead
    block = suite.block_cipher
    if block and version > TLSVersion.TLSv1_0:
        iv = 0  # explicit per-record IVs since TLS 1.1; nothing comes from the key block
    return RecordParams(cipher=cipher, mac="NULL" if aead else suite.mac, key_len=key_len,
                        mac_key_len=_MAC_KEY_BYTES[suite.mac], iv_len=iv, block=block, aead=aead)


def prf_digest(suite: CipherSuite, version: TLSVersion) -> str:
    """The PRF (and Finished/EMS transcript) hash: MD5+SHA-1 before TLS 1.2."""
    if version < TLSVersion.TLSv1_2:
        return "MD5-SHA1"
    return suite.prf_hash


def suite_by_code(code: int):
    return by_code(code)
