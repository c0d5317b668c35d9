"""Helpers shared by the fuzz targets (not a target itself; no atheris needed to import it).

Every target's input starts with a two-byte control header, then the payload:

    byte 0  flags: bits 0-4 are the target's own switches, bits 5-7 choose the chunking
    byte 1  chunk seed: which split points (a PRNG seed), so the fuzzer chooses them too

``split`` turns (flags, seed, payload) into the chunks a target feeds one by one: chunking
mode 0 is the whole payload at once, 1-7 are pseudo-random chunk sizes up to 1, 3, 16, 64,
512, 4096 or 16384 bytes. ``tests/fuzz/make_corpus.py`` writes seeds with ``header()``.
"""

from __future__ import annotations

import random

CHUNK_LIMITS = (0, 1, 3, 16, 64, 512, 4096, 16384)
CHUNK_SHIFT = 5


def header(flags: int = 0, chunking: int = 0, seed: int = 0) -> bytes:
    """The control header of a seed: target ``flags`` (bits 0-4), ``chunking`` mode 0-7."""
    if not 0 <= flags < 1 << CHUNK_SHIFT or not 0 <= chunking < 8 or not 0 <= seed < 256:
        raise ValueError("flags 0-31, chunking 0-7, seed 0-255")
    return bytes((flags | chunking << CHUNK_SHIFT, seed))


def parse(data: bytes) -> tuple[int, int, int, bytes]:
    """(flags, chunking mode, seed, payload); a too-short input is all payload, flags 0."""
    if len(data) < 2:
        return 0, 0, 0, data
    return data[0] & ((1 << CHUNK_SHIFT) - 1), data[0] >> CHUNK_SHIFT, data[1], data[2:]


def split(chunking: int, seed: int, payload: bytes) -> list[bytes]:
    """The payload cut into chunks (immutable ``bytes``; an empty payload is no chunk)."""
    if not payload:
        return []
    if chunking == 0:
        return [payload]
    limit = CHUNK_LIMITS[chunking]
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(payload):
        n = rng.randint(1, limit)
        out.append(payload[pos:pos + n])
        pos += n
    return out


# ---- the own TLS engine's configurations (fuzz_tls_own.py and make_corpus.py) ---------------
#: A fixed ClientHello.random: the client's hello is then the same bytes in every run, so a
#: recorded server flight's ServerKeyExchange signature (over both randoms) still verifies and
#: the fuzzer gets past it. Likewise the server's random, for repeatable runs.
CLIENT_RANDOM = bytes(range(32))
SERVER_RANDOM = bytes(range(32, 64))

#: The server's suite preference per ``server_suites(n)``: n=0 ECDHE first, 1 DHE first, 2 RSA
#: first, 3 the legacy (3DES, DES, NULL) ones first; each list holds every own-engine suite, so
#: the order decides which key exchange a given ClientHello gets.
_FIRST = ("ECDHE", "DHE", "RSA", "legacy")


def engine_suites() -> list:
    from dicomtls.tls.own.cipherspec import engine_supports
    from dicomtls.tls.suites import ALL_SUITES
    return [s for s in ALL_SUITES if engine_supports(s)]


def server_suites(n: int) -> list[str]:
    suites = engine_suites()
    first = _FIRST[n]
    if first == "legacy":
        head = [s for s in suites if s.legacy]
    else:
        head = [s for s in suites if s.key_exchange == first and not s.legacy]
    return [s.name for s in head] + [s.name for s in suites if s not in head]


def client_suites() -> list[str]:
    # Modern ones first, as a real client orders them; every own-engine suite is offered.
    suites = engine_suites()
    return [s.name for s in suites if not s.legacy] + [s.name for s in suites if s.legacy]


def tls_config(pki, role: str, suites, *, low="1.0", high="1.2", peer_cert="require",
               etm: bool = True, ems: bool = True):
    """A TLSConfig forcing dicomtls' own engine, with the dev PKI's certificate for ``role``."""
    import warnings

    import dicomtls as d
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", d.LegacyCryptoWarning)
        return d.TLSConfig(
            certificate=str(getattr(pki, f"{role}_cert")),
            private_key=str(getattr(pki, f"{role}_key")),
            ca_file=str(pki.ca_cert), peer_cert=peer_cert, cipher_suites=tuple(suites),
            min_version=low, max_version=high, engine="dicomtls",
            encrypt_then_mac=etm, extended_master_secret=ems)


# fuzz_tls_own.py's flag bits
TLS_CLIENT = 1
TLS_SERVER_SUITES = 6      # bits 1-2: server_suites(n)
TLS_SERVER_NO_CERT = 8
TLS_CLIENT_VERIFY = 2
TLS_CLIENT_OLD = 4
TLS_CLIENT_NO_EXT = 8
TLS_EOF = 16


def tls_config_key(flags: int) -> int:
    """The flag bits that choose the configuration (the rest do not change it)."""
    if flags & TLS_CLIENT:
        return flags & (TLS_CLIENT | TLS_CLIENT_VERIFY | TLS_CLIENT_OLD | TLS_CLIENT_NO_EXT)
    return flags & (TLS_SERVER_SUITES | TLS_SERVER_NO_CERT)


def tls_role_config(pki, flags: int):
    """(role, TLSConfig) fuzz_tls_own.py runs for ``flags``."""
    if flags & TLS_CLIENT:
        plain = not flags & TLS_CLIENT_NO_EXT
        return "client", tls_config(
            pki, "client", client_suites(), high="1.1" if flags & TLS_CLIENT_OLD else "1.2",
            peer_cert="require" if flags & TLS_CLIENT_VERIFY else "ignore", etm=plain, ems=plain)
    return "server", tls_config(
        pki, "server", server_suites((flags & TLS_SERVER_SUITES) >> 1),
        peer_cert="ignore" if flags & TLS_SERVER_NO_CERT else "require")


# ---- memory guards (fuzzing only: the targets call these under ``__main__``) ----------------
ADDRESS_SPACE_HEADROOM = 1 << 30
PEAK_ENV = "DICOMTLS_FUZZ_PEAK_MB"


def limit_address_space(headroom: int = ADDRESS_SPACE_HEADROOM) -> None:
    """Cap the address space at what the process maps now plus ``headroom`` (1 GiB): one
    allocation a lying length field sizes (4 GiB) then fails with MemoryError, which the target
    does not catch, so atheris reports it instead of the machine swapping. libFuzzer's own
    -malloc_limit_mb needs a sanitizer's malloc hooks and does nothing here."""
    import resource
    try:
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = vm + headroom
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or soft > want:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def peak_guard(test_one_input, warmup=(b"",)):
    """With ``DICOMTLS_FUZZ_PEAK_MB=N`` set: fail any input whose run's peak of Python
    allocations exceeds N MiB plus 64 bytes per input byte (tracemalloc, about 3x slower).
    The ``warmup`` inputs run first, unmeasured: what a process loads once (pydicom's data
    dictionary, a TLS config's credentials) is not an input's cost. Without the variable,
    ``test_one_input`` unchanged."""
    import os
    limit = os.environ.get(PEAK_ENV)
    if not limit:
        return test_one_input
    import tracemalloc
    limit_bytes = int(float(limit) * (1 << 20))
    for data in warmup:
        test_one_input(data)
    tracemalloc.start()

    def guarded(data: bytes) -> None:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        test_one_input(data)
        peak = tracemalloc.get_traced_memory()[1] - base
        if peak > limit_bytes + 64 * len(data):
            raise AssertionError(f"{peak} bytes allocated at peak for a {len(data)}-byte input "
                                 f"(limit {limit} MiB + 64 B/byte, {PEAK_ENV})")
    return guarded
