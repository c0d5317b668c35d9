"""Record layer of the own TLS engine (csrc/dt_record.c via dicomtls.tls.own.record).

Every protection mode is checked against an independent TLS record implementation written here
over `cryptography`'s primitives (AES, TripleDES, HMAC, AESGCM): our sealed records are opened by
the reference and the reference's records are opened by us, for every cipher x MAC x version x
encrypt-then-MAC combination.  Failures (bad MAC, bad padding, bad lengths, wrong version,
oversize records) are built with the reference and must come back as the right alert.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import struct

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dicomtls._binding import ffi, lib
from dicomtls.errors import TLSProtocolViolation
from dicomtls.tls.own.record import RecordState

APP, HS, ALERT, CCS = 23, 22, 21, 20
CIPHERS = {  # name: (key length, block size)
    "DES-CBC": (8, 8), "DES-EDE3-CBC": (24, 8), "AES-128-CBC": (16, 16), "AES-256-CBC": (32, 16),
    "AES-128-GCM": (16, 0), "AES-256-GCM": (32, 0),
}
MACS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA384": hashlib.sha384}
VERSIONS = (0x0301, 0x0302, 0x0303)
CBC_COMBOS = [(v, c, m, e) for v in VERSIONS for c in CIPHERS if "CBC" in c for m in MACS
              for e in (False, True)]
GCM_COMBOS = [(0x0303, c, "NULL", False) for c in CIPHERS if "GCM" in c]
ALL_COMBOS = CBC_COMBOS + GCM_COMBOS


def combo_id(combo):
    v, c, m, e = combo
    return f"{v:04x}-{c}-{m}{'-etm' if e else ''}"


class Ref:
    """Straightforward (not constant-time) TLS 1.0-1.2 record protection, RFC 2246/4346/5246,
    RFC 7366 (encrypt-then-MAC) and RFC 5288 (GCM)."""

    def __init__(self, version, cipher, mac, etm, key, mac_key, iv, rng):
        self.version, self.cipher, self.mac, self.etm = version, cipher, mac, etm
        self.key, self.mac_key, self.rng = key, mac_key, rng
        self.bs = CIPHERS[cipher][1] if cipher != "NULL" else 0
        self.chain = iv  # TLS 1.0 CBC: the IV of the next record; GCM: the salt
        self.seq = 0

    def _alg(self):
        if self.cipher.startswith("AES"):
            return algorithms.AES(self.key)
        return TripleDES(self.key * 3 if len(self.key) == 8 else self.key)

    def _hmac(self, data):
        return hmac.new(self.mac_key, data, MACS[self.mac]).digest()

    def _pseudo(self, ctype, length):
        return struct.pack(">QBHH", self.seq, ctype, self.version, length)

    def _cbc(self, iv, data, encrypt):
        c = Cipher(self._alg(), modes.CBC(iv))
        op = c.encryptor() if encrypt else c.decryptor()
        return op.update(data) + op.finalize()

    def seal(self, ctype, data, *, bad_mac=False, bad_pad=False, pad_len=None, version=None):
        """One record.  The keyword arguments build broken records for the failure tests."""
        if self.cipher == "NULL":
            body = data + (self._hmac(self._pseudo(ctype, len(data)) + data) if self.mac != "NULL"
                           else b"")
        elif "GCM" in self.cipher:
            explicit = struct.pack(">Q", self.seq)
            body = explicit + AESGCM(self.key).encrypt(self.chain + explicit, data,
                                                       self._pseudo(ctype, len(data)))
        else:
            explicit = self.version >= 0x0302
            iv = self.rng.randbytes(self.bs) if explicit else self.chain
            maclen = MACS[self.mac]().digest_size
            if pad_len is None:
                base = len(data) + (0 if self.etm else maclen)
                pad_len = self.bs - 1 - base % self.bs
            padding = bytes([pad_len]) * (pad_len + 1)
            if bad_pad:
                padding = bytes([padding[0] ^ 0x01]) + padding[1:]
            if self.etm:
                ct = self._cbc(iv, data + padding, True)
                lead = iv if explicit else b""
                tag = self._hmac(self._pseudo(ctype, len(lead) + len(ct)) + lead + ct)
                if bad_mac:
                    tag = bytes([tag[0] ^ 0x80]) + tag[1:]
                body = lead + ct + tag
            else:
                tag = self._hmac(self._pseudo(ctype, len(data)) + data)
                if bad_mac:
                    tag = bytes([tag[0] ^ 0x80]) + tag[1:]
                ct = self._cbc(iv, data + tag + padding, True)
                body = (iv if explicit else b"") + ct
            if not explicit:
                self.chain = ct[-self.bs:]
        self.seq += 1
        return struct.pack(">BHH", ctype, version or self.version, len(body)) + body

    def open(self, record):
        """(content type, plaintext) of one record; AssertionError on anything wrong."""
        ctype, version, length = struct.unpack(">BHH", record[:5])
        body = record[5:]
        assert version == self.version and len(body) == length
        if self.cipher == "NULL":
            data = body
            if self.mac != "NULL":
                maclen = MACS[self.mac]().digest_size
                data, tag = body[:-maclen], body[-maclen:]
                assert tag == self._hmac(self._pseudo(ctype, len(data)) + data)
        elif "GCM" in self.cipher:
            data = AESGCM(self.key).decrypt(self.chain + body[:8], body[8:],
                                            self._pseudo(ctype, length - 24))
        else:
            maclen = MACS[self.mac]().digest_size
            explicit = self.version >= 0x0302
            iv, ct = (body[:self.bs], body[self.bs:]) if explicit else (self.chain, body)
            if self.etm:
                ct, tag = ct[:-maclen], ct[-maclen:]
                lead = iv if explicit else b""
                assert tag == self._hmac(self._pseudo(ctype, len(lead) + len(ct)) + lead + ct)
            plain = self._cbc(iv, ct, False)
            pad = plain[-1]
            assert plain[-1 - pad:] == bytes([pad]) * (pad + 1)
            plain = plain[:-1 - pad]
            if not explicit:
                self.chain = ct[-self.bs:]
            if not self.etm:
                plain, tag = plain[:-maclen], plain[-maclen:]
                assert tag == self._hmac(self._pseudo(ctype, len(plain)) + plain)
            data = plain
        self.seq += 1
        return ctype, data


def split_records(buf):
    out, pos = [], 0
    while pos < len(buf):
        length = struct.unpack(">H", buf[pos + 3:pos + 5])[0]
        out.append(bytes(buf[pos:pos + 5 + length]))
        pos += 5 + length
    return out


def make(combo, seed=1):
    """(our sealing state, our opening state, reference for our output, reference for our input)
    sharing one set of keys."""
    version, cipher, mac, etm = combo
    rng = random.Random(f"{combo}-{seed}")
    key = rng.randbytes(CIPHERS[cipher][0]) if cipher != "NULL" else b""
    mac_key = rng.randbytes(MACS[mac]().digest_size) if mac != "NULL" else b""
    if "GCM" in cipher:
        iv = rng.randbytes(4)
    elif "CBC" in cipher and version == 0x0301:
        iv = rng.randbytes(CIPHERS[cipher][1])
    else:
        iv = b""
    ours_w = RecordState(True, version, cipher, mac, etm, key, mac_key, iv)
    ours_r = RecordState(False, version, cipher, mac, etm, key, mac_key, iv)
    return (ours_w, ours_r, Ref(version, cipher, mac, etm, key, mac_key, iv, rng),
            Ref(version, cipher, mac, etm, key, mac_key, iv, rng))


SIZES = (0, 1, 7, 8, 15, 16, 17, 100, 1000, 16383, 16384)


@pytest.mark.parametrize("combo", ALL_COMBOS, ids=combo_id)
def test_our_records_open_with_the_reference(combo):
    w, _, ref, _ = make(combo)
    rng = random.Random(2)
    for size in SIZES + (16385, 40000):
        data = rng.randbytes(size)
        recs = split_records(w.seal(APP, data))
        assert len(recs) == max(1, -(-size // 16384))
        assert b"".join(ref.open(r)[1] for r in recs) == data
        assert all(len(r) - 5 <= 16384 + 2048 for r in recs)


@pytest.mark.parametrize("combo", ALL_COMBOS, ids=combo_id)
def test_reference_records_open_with_us(combo):
    _, r, _, ref = make(combo)
    rng = random.Random(3)
    for size in SIZES:
        data = rng.randbytes(size)
        rec = ref.seal(APP, data)
        n, used, plain, ctype = r.open(rec)
        assert (n, used, bytes(plain), ctype) == (1, len(rec), data, APP)


@pytest.mark.parametrize("combo", [c for c in CBC_COMBOS if not c[3]], ids=combo_id)
def test_long_padding_is_accepted(combo):
    """Any padding up to 255 bytes is legal; the constant-time path must find the MAC."""
    _, r, _, ref = make(combo)
    for pad_len in (0, 15, 64, 200, 255):
        for size in (0, 1, 300):
            maclen = MACS[combo[2]]().digest_size
            bs = CIPHERS[combo[1]][1]
            if (size + maclen + pad_len + 1) % bs:
                continue
            data = bytes(i % 256 for i in range(size))
            rec = ref.seal(APP, data, pad_len=pad_len)
            assert bytes(r.open(rec)[2]) == data


def test_sequence_numbers_across_many_records_and_calls():
    combo = (0x0302, "AES-128-CBC", "SHA256", False)
    w, r, ref_out, ref_in = make(combo)
    data = random.Random(4).randbytes(10_000)
    # 1000 records of 10 bytes in one seal call, in three open calls of the reference...
    recs = split_records(w.seal(APP, data, max_fragment=10))
    assert len(recs) == 1000
    assert b"".join(ref_out.open(x)[1] for x in recs) == data
    # ...and again after that: the numbers continue across calls.
    assert ref_out.open(w.seal(APP, b"tail"))[1] == b"tail"
    assert ref_out.seq == 1001
    # 300 reference records opened by us in one call, then more in the next calls.
    buf = b"".join(ref_in.seal(APP, bytes([i % 256]) * (i % 50)) for i in range(300))
    n, used, plain, _ = r.open(buf)
    assert (n, used) == (300, len(buf))
    assert bytes(plain) == b"".join(bytes([i % 256]) * (i % 50) for i in range(300))
    for _ in range(3):
        assert bytes(r.open(ref_in.seal(APP, b"more"))[2]) == b"more"


@pytest.mark.parametrize("combo", [(0x0301, "DES-EDE3-CBC", "SHA1", False),
                                   (0x0303, "AES-128-GCM", "NULL", False)], ids=combo_id)
def test_one_byte_records(combo):
    w, r, ref, _ = make(combo)
    data = b"0123456789"
    sealed = w.seal(APP, data, max_fragment=1)
    recs = split_records(sealed)
    assert [ref.open(x)[1] for x in recs] == [bytes([c]) for c in data]


def test_one_n_minus_one_split():
    combo = (0x0301, "AES-128-CBC", "SHA1", False)
    w, r, ref, _ = make(combo)
    data = random.Random(5).randbytes(40000)
    recs = split_records(w.seal(APP, data, split_first=True))
    plains = [ref.open(x)[1] for x in recs]
    assert [len(p) for p in plains] == [1, 16384, 16384, 40000 - 1 - 32768]
    assert b"".join(plains) == data
    # One byte has nothing to split; zero bytes is one empty record.
    assert [ref.open(x)[1] for x in split_records(w.seal(APP, b"x", split_first=True))] == [b"x"]
    assert [ref.open(x)[1] for x in split_records(w.seal(APP, b"", split_first=True))] == [b""]


@pytest.mark.parametrize("combo", [(0x0301, "AES-128-CBC", "SHA1", False),
                                   (0x0302, "DES-CBC", "SHA1", True),
                                   (0x0303, "AES-256-GCM", "NULL", False)], ids=combo_id)
def test_zero_length_records(combo):
    """OpenSSL's empty-fragment countermeasure sends empty application records: legal."""
    w, r, ref_out, ref_in = make(combo)
    sealed = w.seal(APP, b"")
    assert ref_out.open(sealed) == (APP, b"")
    buf = ref_in.seal(APP, b"") + ref_in.seal(APP, b"data") + ref_in.seal(APP, b"")
    n, used, plain, ctype = r.open(buf)
    assert (n, used, bytes(plain), ctype) == (3, len(buf), b"data", APP)


def test_a_run_of_empty_records_is_refused_per_record_across_calls():
    """32 empty records in a row pass, the 33rd is unexpected_message (libssl's limit), however
    the records are split between calls and whether data shares their run; data resets the
    count. The records before the bad one are handed out first."""
    w, r, _, _ = make((0x0303, "AES-128-CBC", "SHA1", False))
    empty = lambda k: b"".join(bytes(w.seal(APP, b"")) for _ in range(k))  # noqa: E731
    buf = empty(20) + bytes(w.seal(APP, b"x")) + empty(30)
    assert r.open(buf)[:3] == (51, len(buf), bytearray(b"x"))
    buf = empty(2) + bytes(w.seal(APP, b"y")) + empty(3)     # 30 + 2 = 32: still fine
    assert r.open(buf)[:3] == (6, len(buf), bytearray(b"y"))
    first = empty(29)
    buf = empty(32) + bytes(w.seal(APP, b"z"))
    n, used, plain, _ = r.open(first + buf)                  # 3 + 29 + 1 = 33 in a row
    assert (n, bytes(plain)) == (29, b"")
    assert used == len(first)
    with pytest.raises(TLSProtocolViolation) as err:
        r.open(buf)
    assert err.value.alert == 10


def test_coalesced_buffer_partial_record_and_type_change():
    combo = (0x0303, "AES-128-CBC", "SHA1", True)
    _, r, _, ref = make(combo)
    hs = [ref.seal(HS, b"handshake %d" % i) for i in range(3)]
    app = [ref.seal(APP, b"app %d" % i) for i in range(4)]
    stream = b"".join(hs + app)
    # The run stops at the type change.
    n, used, plain, ctype = r.open(stream)
    assert (n, ctype, bytes(plain)) == (3, HS, b"handshake 0handshake 1handshake 2")
    assert used == sum(map(len, hs))
    # A partial record at the end is left for later; offset addresses the rest of the buffer.
    cut = used + sum(map(len, app[:3])) + 7
    n, used2, plain, ctype = r.open(stream[:cut], used)
    assert (n, ctype, bytes(plain)) == (3, APP, b"app 0app 1app 2")
    assert used2 == sum(map(len, app[:3]))
    assert r.open(stream[:cut], used + used2) == (0, 0, bytearray(), 0)
    assert r.open(b"\x17\x03") == (0, 0, bytearray(), 0)   # not even a header
    n, _, plain, _ = r.open(stream, used + used2)
    assert (n, bytes(plain)) == (1, b"app 3")


def test_open_stops_when_the_output_buffer_is_full():
    combo = (0x0303, "AES-128-GCM", "NULL", False)
    _, r, _, ref = make(combo)
    buf = ref.seal(APP, b"a" * 100) + ref.seal(APP, b"b" * 100)
    out = ffi.new("uint8_t[]", 150)
    consumed, produced, ctype = ffi.new("size_t *"), ffi.new("size_t *"), ffi.new("int *")
    assert lib.dt_rec_open(r._rec, buf, len(buf), out, 150, consumed, produced, ctype) == 1
    assert (produced[0], consumed[0], ctype[0]) == (100, len(buf) // 2, APP)
    assert lib.dt_rec_open(r._rec, buf[consumed[0]:], len(buf) // 2, out, 50, consumed, produced,
                           ctype) == 0
    assert lib.dt_rec_open(r._rec, buf[len(buf) // 2:], len(buf) // 2, out, 150, consumed,
                           produced, ctype) == 1
    assert ffi.buffer(out, 100)[:] == b"b" * 100


def test_plaintext_state():
    w = RecordState.plaintext(True, 0x0301)
    sealed = w.seal(HS, b"x" * 20000)
    assert [len(x) for x in split_records(sealed)] == [5 + 16384, 5 + 20000 - 16384]
    assert sealed[:5] == b"\x16\x03\x01\x40\x00"
    r = RecordState.plaintext(False, 0x0301)
    assert bytes(r.open(sealed)[2]) == b"x" * 20000
    # Version 0: an opening state that takes any 3.x header, before the version is known.
    any_version = RecordState.plaintext(False, 0)
    n, _, plain, ctype = any_version.open(b"\x16\x03\x03\x00\x02hi\x16\x03\x01\x00\x01!")
    assert (n, bytes(plain), ctype) == (2, b"hi!", HS)
    with pytest.raises(TLSProtocolViolation) as exc:
        RecordState.plaintext(False, 0).open(b"\x16\x02\x00\x00\x01x")
    assert exc.value.alert == 70
    with pytest.raises(TLSProtocolViolation) as exc:
        r2 = RecordState.plaintext(False, 0x0303)
        r2.open(b"\x17\x03\x03\x40\x01")   # 16385 > 2^14 plaintext, refused from the header
    assert exc.value.alert == 22


def test_null_cipher_with_mac():
    combo = (0x0303, "NULL", "SHA256", False)
    rng = random.Random(6)
    mac_key = rng.randbytes(32)
    w = RecordState(True, 0x0303, "NULL", "SHA256", False, b"", mac_key, b"")
    r = RecordState(False, 0x0303, "NULL", "SHA256", False, b"", mac_key, b"")
    ref = Ref(*combo, b"", mac_key, b"", rng)
    ref2 = Ref(*combo, b"", mac_key, b"", rng)
    assert ref.open(w.seal(APP, b"hello")) == (APP, b"hello")
    assert bytes(r.open(ref2.seal(APP, b"world"))[2]) == b"world"
    with pytest.raises(TLSProtocolViolation) as exc:
        rec = ref2.seal(APP, b"tampered")
        r.open(rec[:-1] + bytes([rec[-1] ^ 1]))
    assert exc.value.alert == 20


# ---- failures ----

def expect_alert(state, buf, alert):
    with pytest.raises(TLSProtocolViolation) as exc:
        state.open(buf)
    assert exc.value.alert == alert
    assert exc.value.alert_sent == alert
    # The state stays unusable.
    with pytest.raises(TLSProtocolViolation):
        state.open(buf)


@pytest.mark.parametrize("combo", CBC_COMBOS, ids=combo_id)
def test_bad_mac_and_bad_padding_are_bad_record_mac(combo):
    for kwargs in ({"bad_mac": True}, {"bad_pad": True}):
        for size in (0, 5, 1000):
            _, r, _, ref = make(combo)
            good = ref.seal(APP, b"good")       # the bad record is not the first one
            assert bytes(r.open(good)[2]) == b"good"
            expect_alert(r, ref.seal(APP, b"z" * size, **kwargs), 20)


@pytest.mark.parametrize("combo", [c for c in CBC_COMBOS if not c[3]], ids=combo_id)
def test_padding_length_beyond_the_record_is_bad_record_mac(combo):
    """A padding-length byte claiming 255 bytes of padding in a record long enough for the MAC
    but shorter than the padding."""
    _, r, _, ref = make(combo)
    bs = CIPHERS[combo[1]][1]
    explicit = combo[0] >= 0x0302
    maclen = MACS[combo[2]]().digest_size
    iv = ref.rng.randbytes(bs) if explicit else ref.chain
    ct = ref._cbc(iv, b"\xff" * (-(-(maclen + 1) // bs) * bs + bs), True)
    body = (iv if explicit else b"") + ct
    expect_alert(r, struct.pack(">BHH", APP, combo[0], len(body)) + body, 20)


@pytest.mark.parametrize("combo", GCM_COMBOS, ids=combo_id)
def test_gcm_tag_flip(combo):
    _, r, _, ref = make(combo)
    rec = bytearray(ref.seal(APP, b"payload"))
    rec[-1] ^= 1
    expect_alert(r, bytes(rec), 20)
    _, r, _, ref = make(combo)
    rec = bytearray(ref.seal(APP, b"payload"))
    rec[5 + 8] ^= 1                         # ciphertext byte
    expect_alert(r, bytes(rec), 20)
    _, r, _, ref = make(combo)
    rec = bytearray(ref.seal(APP, b"payload"))
    rec[5] ^= 1                             # explicit nonce
    expect_alert(r, bytes(rec), 20)


@pytest.mark.parametrize("combo", [(0x0301, "DES-CBC", "SHA1", False),
                                   (0x0302, "AES-128-CBC", "SHA256", True),
                                   (0x0303, "AES-128-GCM", "NULL", False)], ids=combo_id)
def test_length_and_header_failures(combo):
    version = combo[0]
    _, r, _, ref = make(combo)
    good = ref.seal(APP, b"x" * 40)
    # Wrong header version.
    _, r, _, ref = make(combo)
    expect_alert(r, ref.seal(APP, b"x", version=0x0300 | ((version & 0xff) ^ 1)), 70)
    # Oversize ciphertext: refused from the header alone.
    _, r, _, _ = make(combo)
    expect_alert(r, struct.pack(">BHH", APP, version, 16384 + 2049), 22)
    # Truncated: a record shorter than the cipher's minimum, and one whose bytes are missing.
    _, r, _, _ = make(combo)
    expect_alert(r, struct.pack(">BHH", APP, version, 4) + b"\0" * 4, 50)
    _, r, _, _ = make(combo)
    assert r.open(good[:-1]) == (0, 0, bytearray(), 0)
    # Ciphertext length not a multiple of the block size.
    if "CBC" in combo[1]:
        _, r, _, _ = make(combo)
        body = good[5:] + b"\0"
        expect_alert(r, struct.pack(">BHH", APP, version, len(body)) + body, 50)
    # Plaintext over 2^14: well protected, still refused.
    _, r, _, ref = make(combo)
    expect_alert(r, ref.seal(APP, b"y" * 16385), 22)


def test_good_records_before_a_bad_one_are_delivered_first():
    combo = (0x0303, "AES-256-CBC", "SHA384", False)
    _, r, _, ref = make(combo)
    buf = ref.seal(APP, b"one") + ref.seal(APP, b"two") + ref.seal(APP, b"bad", bad_mac=True)
    n, used, plain, _ = r.open(buf)
    assert (n, bytes(plain)) == (2, b"onetwo")
    with pytest.raises(TLSProtocolViolation) as exc:
        r.open(buf, used)
    assert exc.value.alert == 20


def test_bad_arguments():
    with pytest.raises(Exception):
        RecordState(True, 0x0303, "RC4", "SHA1", False, b"k" * 16, b"m" * 20)
    with pytest.raises(Exception):
        RecordState(True, 0x0303, "AES-128-CBC", "SHA1", False, b"short", b"m" * 20)
    with pytest.raises(Exception):
        RecordState(True, 0x0301, "AES-128-CBC", "SHA1", False, b"k" * 16, b"m" * 20, b"")
    with pytest.raises(Exception):
        RecordState(True, 0x0303, "AES-128-GCM", "NULL", True, b"k" * 16, b"", b"salt")
    with pytest.raises(Exception):
        RecordState.plaintext(True, 0)   # sealing needs a real version
    w = RecordState.plaintext(True, 0x0303)
    with pytest.raises(Exception):
        w.seal(APP, b"x", max_fragment=16385)


def test_seal_into_a_caller_buffer():
    combo = (0x0303, "AES-128-CBC", "SHA1", False)
    w, _, ref, _ = make(combo)
    out = bytearray(100 + w.seal_bound(1000))
    n = w.seal_into(APP, b"q" * 1000, out, 100)
    assert ref.open(bytes(out[100:100 + n])) == (APP, b"q" * 1000)


MULTIBLOCK_COMBOS = [(v, c, m, False) for v in (0x0302, 0x0303) for c in ("AES-128-CBC", "AES-256-CBC")
                     for m in ("SHA1", "SHA256")]


@pytest.mark.parametrize("combo", MULTIBLOCK_COMBOS, ids=combo_id)
@pytest.mark.parametrize("size", [4 * 15872, 8 * 15872 + 1, (1 << 20) + 12345])
def test_multiblock_sealing_is_read_by_the_reference(combo, size):
    """TLS 1.1+ MAC-then-encrypt AES-CBC: runs of 4 or 8 full records are sealed interleaved by
    OpenSSL's stitched cipher (15,872-byte records, as libssl makes them) where the machine has
    it; whatever the path, the reference opens every record, in sequence, to the same bytes,
    and the numbering goes on across calls."""
    w, _, ref_out, _ = make(combo)
    data = random.Random(size).randbytes(size)
    sealed = w.seal(APP, data)
    assert len(sealed) <= lib.dt_rec_seal_bound(w._rec, size, 16384)
    recs = split_records(sealed)
    plains = [ref_out.open(x)[1] for x in recs]
    assert b"".join(plains) == data
    assert ref_out.seq == len(recs)
    if combo[2] == "SHA1" and " aes " in open("/proc/cpuinfo").read():
        assert lib.dt_rec_multiblock(w._rec)   # OpenSSL's AES-NI stitched AES-CBC-HMAC-SHA1
    if lib.dt_rec_multiblock(w._rec):
        assert len(plains[0]) == 15872 and len(plains[3]) == 15872
    assert ref_out.open(w.seal(APP, b"tail"))[1] == b"tail"
    assert ref_out.seq == len(recs) + 1
