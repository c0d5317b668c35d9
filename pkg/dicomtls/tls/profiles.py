"""DICOM PS3.15 Annex B secure transport connection profiles as ready-made TLS presets.

Each profile fixes the suites a client proposes (in proposal order), the TLS version range and,
for the later profiles, the minimum (EC)DHE key sizes. The suite orders follow DCMTK's
``setTLSProfile`` so a dicomtls client offers the same ClientHello list a DCMTK client would,
which matters when a peer's behaviour depends on the order it is offered.

The default is the current B.12 profile (``rfc8996``); the B.1/B.3/B.9-B.11 profiles are retired
in the standard but still needed to reach old equipment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigurationError, UnknownProfileError
from .suites import CipherSuite, lookup
from .versions import TLSVersion

__all__ = ["Profile", "PROFILES", "DEFAULT_PROFILE", "DCMTK_OPTIONS", "get_profile",
           "profile_names"]


@dataclass(frozen=True)
class Profile:
    """A PS3.15 secure transport profile: its section, versions, suites in proposal order
    (TLS <= 1.2 and TLS 1.3) and key-size floors."""

    name: str
    title: str
    section: str
    retired: bool
    suites: tuple[CipherSuite, ...]
    tls13_suites: tuple[CipherSuite, ...]
    min_version: TLSVersion
    max_version: TLSVersion
    min_dhe_bits: int | None
    min_ecdhe_bits: int | None
    description: str
    # Derived from the suites, so a profile built with dataclasses.replace() stays truthful.
    legacy: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "suites", tuple(self.suites))
        object.__setattr__(self, "tls13_suites", tuple(self.tls13_suites))
        object.__setattr__(self, "legacy", any(s.legacy for s in self.suites))
        # Catch inconsistent presets early instead of at handshake time.
        if self.min_version > self.max_version:
            raise ConfigurationError(
                f"profile {self.name}: min version {self.min_version.label} is above "
                f"max version {self.max_version.label}")
        if any(s.is_tls13 for s in self.suites):
            raise ConfigurationError(f"profile {self.name}: TLS 1.3 suites belong in tls13_suites")
        if any(not s.is_tls13 for s in self.tls13_suites):
            raise ConfigurationError(f"profile {self.name}: tls13_suites holds a pre-1.3 suite")
        if self.tls13_suites and self.max_version < TLSVersion.TLSv1_3:
            raise ConfigurationError(
                f"profile {self.name}: TLS 1.3 suites given but TLS 1.3 is not enabled")
        for s in self.suites:
            if s.min_version > self.max_version:
                raise ConfigurationError(
                    f"profile {self.name}: {s.name} needs {s.min_version.label}, "
                    f"above the profile's max {self.max_version.label}")

    @property
    def tls13_enabled(self) -> bool:
        return self.max_version >= TLSVersion.TLSv1_3

    @property
    def all_suites(self) -> tuple[CipherSuite, ...]:
        """TLS <= 1.2 suites followed by the TLS 1.3 ones."""
        return self.suites + self.tls13_suites

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "section": self.section,
            "retired": self.retired,
            "suites": [s.name for s in self.suites],
            "tls13_suites": [s.name for s in self.tls13_suites],
            "min_version": self.min_version.label,
            "max_version": self.max_version.label,
            "min_dhe_bits": self.min_dhe_bits,
            "min_ecdhe_bits": self.min_ecdhe_bits,
            "legacy": self.legacy,
            "description": self.description,
        }

    def __str__(self) -> str:
        return self.name


def _suites(*names: str) -> tuple[CipherSuite, ...]:
    return tuple(lookup(n) for n in names)


V10, V12, V13 = TLSVersion.TLSv1_0, TLSVersion.TLSv1_2, TLSVersion.TLSv1_3

# What OpenSSL 3 enables for TLS 1.3 out of the box, in its order; DCMTK leaves these untouched
# for every profile except the modified RFC 8996 one.
_TLS13_DEFAULT = _suites("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                         "TLS_AES_128_GCM_SHA256")

# The four AEAD suites RFC 7525 recommends, which B.9-B.11 all build on (DCMTK's order).
_BCP195_GCM = _suites(
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
)

_ALL = (
    Profile(
        name="basic",
        title="Basic TLS Secure Transport Connection Profile",
        section="PS3.15 B.1",
        retired=True,
        suites=_suites("TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        tls13_suites=(),
        min_version=V10, max_version=V12,
        min_dhe_bits=None, min_ecdhe_bits=None,
        description=("The original DICOM TLS profile: RSA key transport with triple-DES and SHA-1. "
                     "Only for old peers; system OpenSSL builds since 1.1.0 lack this suite, so "
                     "the engine has to supply it."),
    ),
    Profile(
        name="aes",
        title="AES TLS Secure Transport Connection Profile",
        section="PS3.15 B.3",
        retired=True,
        suites=_suites("TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        tls13_suites=(),
        min_version=V10, max_version=V12,
        min_dhe_bits=None, min_ecdhe_bits=None,
        description=("RSA key transport with AES-128-CBC, still offering triple-DES after it so "
                     "Basic-profile peers can connect."),
    ),
    Profile(
        name="bcp195",
        title="BCP 195 TLS Secure Transport Connection Profile",
        section="PS3.15 B.9",
        retired=True,
        suites=_BCP195_GCM + _suites("TLS_RSA_WITH_AES_128_CBC_SHA"),
        tls13_suites=_TLS13_DEFAULT,
        min_version=V10, max_version=V13,
        min_dhe_bits=None, min_ecdhe_bits=None,
        description=("The RFC 7525 GCM suites plus AES-128-CBC for AES-profile peers, from TLS 1.0 "
                     "up to 1.3. The optional triple-DES fallback is left out so the profile runs "
                     "on a stock libssl; add it by name when a Basic-profile peer needs it."),
    ),
    Profile(
        name="bcp195-nd",
        title="Non-downgrading BCP 195 TLS Secure Transport Connection Profile",
        section="PS3.15 B.10",
        retired=True,
        suites=_BCP195_GCM,
        tls13_suites=_TLS13_DEFAULT,
        min_version=V12, max_version=V13,
        min_dhe_bits=None, min_ecdhe_bits=None,
        description=("Only the four RFC 7525 GCM suites, and never below TLS 1.2. It was DCMTK "
                     "3.6.7's default."),
    ),
    Profile(
        name="bcp195-ex",
        title="Extended BCP 195 TLS Secure Transport Connection Profile",
        section="PS3.15 B.11",
        retired=True,
        suites=_BCP195_GCM + _suites("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                                     "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
        tls13_suites=(),
        min_version=V12, max_version=V12,
        min_dhe_bits=2048, min_ecdhe_bits=256,
        description=("The non-downgrading GCM suites plus their ECDSA counterparts, TLS 1.2 only, "
                     "with DHE groups of at least 2048 bits and EC curves of at least 256 bits. "
                     "The standard forbids any suite outside its list, so none may be added."),
    ),
    Profile(
        name="rfc8996",
        title="BCP 195 RFC 8996 TLS Secure Transport Connection Profile",
        section="PS3.15 B.12",
        retired=False,
        suites=_suites(
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ),
        tls13_suites=_TLS13_DEFAULT,
        min_version=V12, max_version=V13,
        min_dhe_bits=2048, min_ecdhe_bits=256,
        description=("The current default: ECDHE with AES-GCM for RSA or ECDSA certificates on "
                     "TLS 1.2, and TLS 1.3 preferred when both ends have it."),
    ),
    Profile(
        name="rfc8996-mod",
        title="Modified BCP 195 RFC 8996 TLS Secure Transport Connection Profile",
        section="PS3.15 B.13",
        retired=False,
        # DCMTK puts the four ECDHE Camellia-GCM suites first, but no OpenSSL release implements
        # them, so proposing them would only be dropped; they stay in the registry for lookups.
        suites=_suites(
            "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ),
        tls13_suites=_suites(
            "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256",
            "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256",
        ),
        min_version=V12, max_version=V13,
        min_dhe_bits=2048, min_ecdhe_bits=256,
        description=("Only ECDHE with AEAD ciphers (AES-CCM, AES-GCM, ChaCha20-Poly1305) on TLS 1.2, "
                     "and all five TLS 1.3 suites including CCM. The Camellia-GCM suites the profile "
                     "also permits are omitted because OpenSSL does not implement them."),
    ),
    Profile(
        name="none",
        title="No profile",
        section="",
        retired=False,
        suites=(),
        tls13_suites=_TLS13_DEFAULT,
        min_version=V12, max_version=V13,
        min_dhe_bits=None, min_ecdhe_bits=None,
        description=("An empty TLS 1.2 suite list to add suites to by name; TLS 1.3 keeps "
                     "OpenSSL's default suites."),
    ),
)

PROFILES: dict[str, Profile] = {p.name: p for p in _ALL}
DEFAULT_PROFILE = "rfc8996"

# DCMTK command-line switches (short and long) -> profile name, so users can paste what they
# already pass to storescu/storescp.
DCMTK_OPTIONS: dict[str, str] = {
    "+pb": "basic", "--profile-basic": "basic",
    "+pa": "aes", "--profile-aes": "aes",
    "+px": "bcp195", "--profile-bcp195": "bcp195",
    "+py": "bcp195-nd", "--profile-bcp195-nd": "bcp195-nd",
    "+pz": "bcp195-ex", "--profile-bcp195-ex": "bcp195-ex",
    "+pg": "rfc8996", "--profile-8996": "rfc8996",
    "+pm": "rfc8996-mod", "--profile-8996-mod": "rfc8996-mod",
}

# Other spellings: PS3.15 section letters and underscores for dashes.
_EXTRA_ALIASES = {
    "b.1": "basic", "b.3": "aes", "b.9": "bcp195", "b.10": "bcp195-nd", "b.11": "bcp195-ex",
    "b.12": "rfc8996", "b.13": "rfc8996-mod", "default": DEFAULT_PROFILE,
}


def profile_names() -> tuple[str, ...]:
    return tuple(PROFILES)


def get_profile(name: str | Profile) -> Profile:
    """Return a profile by name (case-insensitive), DCMTK option, or PS3.15 section (``B.12``)."""
    if isinstance(name, Profile):
        return name
    if not isinstance(name, str):
        raise UnknownProfileError(f"not a profile name: {name!r}")
    key = name.strip().lower()
    if key.startswith("ps3.15 "):
        key = key[len("ps3.15 "):].strip()
    if key in DCMTK_OPTIONS:
        key = DCMTK_OPTIONS[key]
    key = _EXTRA_ALIASES.get(key, key).replace("_", "-")
    try:
        return PROFILES[key]
    except KeyError:
        raise UnknownProfileError(
            f"unknown TLS profile {name!r}; known profiles: {', '.join(PROFILES)} "
            f"(DCMTK options {', '.join(k for k in DCMTK_OPTIONS if k.startswith('+'))} "
            f"are accepted too)") from None
