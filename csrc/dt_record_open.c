/*
 * Opening half of the own record layer (dt_record.c has the state, the MAC and sealing):
 * dt_rec_open and the constant-time CBC MAC-then-encrypt check.
 *
 * Compiled in the same translation unit right after dt_record.c, which includes this file until
 * build_ffi.py lists it in C_FILES; the guard makes a second inclusion a no-op.
 */
#ifndef DT_RECORD_OPEN_C
#define DT_RECORD_OPEN_C

/* Bytes opening a fragment of length len writes to out (the decrypted fragment, before the MAC
 * and padding are stripped; an upper bound of its plaintext); impossible lengths give -50. */
static long dtr_write_bound(const dt_rec *r, size_t len)
{
    size_t ivlen = r->explicit_iv ? r->bs : 0;
    switch (r->kind) {
    case DTR_GCM:
        return len < DTR_GCM_EXPLICIT + DTR_GCM_TAG ? -50
                                                     : (long)(len - DTR_GCM_EXPLICIT - DTR_GCM_TAG);
    case DTR_CBC:
        if (r->etm) {
            if (len < ivlen + r->bs + r->maclen || (len - ivlen - r->maclen) % r->bs != 0)
                return -50;
            return (long)(len - ivlen - r->maclen);
        }
        if (len < ivlen + r->bs || len % r->bs != 0 || len - ivlen < r->maclen + 1)
            return -50;
        return (long)(len - ivlen);
    default:
        return len < r->maclen ? -50 : (long)(len - r->maclen);
    }
}

/*
 * CBC MAC-then-encrypt, decided in constant time (Lucky 13, AlFardan & Paterson 2013).
 *
 * Countermeasure chosen: check every byte that could be padding with masks, copy the MAC out of
 * its secret position with a masked scan plus a masked rotation, compute the HMAC over the data
 * of secret length, then hash as many dummy blocks as make the total number of hash compression
 * calls equal to that of the longest possible data (padding length 0), and compare with
 * CRYPTO_memcmp.  Why this and not a fully constant-time HMAC (ssl3_cbc_digest_record style):
 * that needs the raw compression function, which OpenSSL 3 only offers through deprecated
 * low-level SHA*_Transform calls outside the provider model.  What is left is the per-call cost
 * of one EVP_DigestUpdate versus another of the same total block count, far below the
 * compression-block difference Lucky 13 measures.  Bad padding and bad MAC both return -20.
 */
static int dtr_open_cbc_mte(dt_rec *r, int type, const uint8_t *frag, size_t len, uint8_t *out,
                            size_t *outlen)
{
    static const uint8_t zeros[512];
    size_t ivlen = r->explicit_iv ? r->bs : 0, n = len - ivlen, maclen = r->maclen;
    size_t pad, good, i, j, k, lim, first, data_len, scan_start, span, base, mac_start, rot;
    size_t blocks, max_blocks, extra;
    const uint8_t *tail;
    uint8_t acc = 0, rotated[DTR_MAX_MAC], received[DTR_MAX_MAC], computed[DTR_MAX_MAC], aad[DTR_AAD];
    const size_t B = r->md_block, shift = B == 128 ? 7 : 6;

    if ((ivlen && !EVP_CipherInit_ex2(r->cctx, NULL, NULL, frag, 0, NULL))
        || !dtr_cipher(r->cctx, out, frag + ivlen, n))
        return -80;

    /* n >= maclen + 1 was checked from the public length.  The loops below run over public
     * ranges with straight-line bodies (the compiler vectorises them). */
    pad = out[n - 1];
    good = dtr_ge(n, pad + 1 + maclen);
    pad = dtr_sel(good, pad, 0);          /* keeps every index below in range; pad < lim */
    lim = n < 256 ? n : 256;
    tail = out + n - lim;                 /* tail[k] is padding (or its length) iff k >= first */
    first = lim - 1 - pad;
    for (k = 0; k < lim; k++)
        acc |= (uint8_t)((tail[k] ^ pad) & dtr_ge(k, first));
    good &= dtr_is_zero(acc);
    data_len = n - 1 - pad - maclen;

    /* The MAC starts somewhere in [n-1-maclen-255, n-1-maclen]: scan that window and OR each
     * byte into a maclen-long ring at (j - scan_start) mod maclen; the ring is then turned by
     * rot = (mac_start - scan_start) mod maclen, computed by masked subtraction. */
    mac_start = data_len;
    scan_start = n - 1 > maclen + 255 ? n - 1 - maclen - 255 : 0;
    span = n - 1 - scan_start;
    memset(rotated, 0, sizeof(rotated));
    for (base = 0; base < span; base += maclen) {
        size_t m = span - base < maclen ? span - base : maclen;
        for (i = 0; i < m; i++) {
            size_t j = scan_start + base + i;
            rotated[i] |= (uint8_t)(out[j] & dtr_ge(j, mac_start) & dtr_lt(j, mac_start + maclen));
        }
    }
    rot = mac_start - scan_start;
    for (k = 0; k <= span / maclen; k++)
        rot = dtr_sel(dtr_ge(rot, maclen), rot - maclen, rot);
    /* received[i] = rotated[(rot + i) mod maclen]: rotate by each bit of rot in turn, every
     * pass a masked choice between the ring and the ring turned by that power of two. */
    for (j = 1; j < maclen; j <<= 1) {
        size_t take = ~dtr_is_zero(rot & j);
        for (i = 0; i < maclen; i++)
            received[i] = (uint8_t)dtr_sel(take, rotated[i + j < maclen ? i + j : i + j - maclen],
                                           rotated[i]);
        memcpy(rotated, received, maclen);
    }

    dtr_put_aad(r, aad, type, data_len);
    if (!dtr_mac(r, aad, out, data_len, computed))
        return -80;
    /* Compression calls of the inner hash: ceil((B + 13 + data + 1 + lenfield) / B). */
    blocks = (B + DTR_AAD + data_len + 1 + r->md_lenfield + B - 1) >> shift;
    max_blocks = (B + DTR_AAD + (n - 1 - maclen) + 1 + r->md_lenfield + B - 1) >> shift;
    extra = (max_blocks - blocks) * B;
    if (!EVP_DigestInit_ex2(r->mac_dummy, NULL, NULL))
        return -80;
    while (extra > 0) {
        size_t step = extra > sizeof(zeros) ? sizeof(zeros) : extra;
        if (!EVP_DigestUpdate(r->mac_dummy, zeros, step))
            return -80;
        extra -= step;
    }

    good &= dtr_is_zero((size_t)CRYPTO_memcmp(received, computed, maclen));
    OPENSSL_cleanse(computed, sizeof(computed));
    if (!good)
        return -20;
    if (data_len > DTR_MAX_PLAIN)
        return -22;
    *outlen = data_len;
    return 1;
}

/* Open one record's fragment into out. */
static int dtr_open_one(dt_rec *r, int type, const uint8_t *frag, size_t len, uint8_t *out,
                        size_t *outlen)
{
    uint8_t aad[DTR_AAD], mac[DTR_MAX_MAC];
    int rc = 1;

    if (r->seq_exhausted)
        return -80;
    if (r->kind == DTR_NULL) {
        size_t plen = len - r->maclen;
        if (r->maclen) {
            dtr_put_aad(r, aad, type, plen);
            if (!dtr_mac(r, aad, frag, plen, mac))
                return -80;
            if (CRYPTO_memcmp(mac, frag + plen, r->maclen) != 0)
                return -20;
        }
        if (plen > DTR_MAX_PLAIN)
            return -22;
        memcpy(out, frag, plen);
        *outlen = plen;
    } else if (r->kind == DTR_GCM) {
        size_t plen = len - DTR_GCM_EXPLICIT - DTR_GCM_TAG;
        uint8_t nonce[12];
        int outl = 0;
        memcpy(nonce, r->salt, 4);
        memcpy(nonce + 4, frag, DTR_GCM_EXPLICIT);
        dtr_put_aad(r, aad, type, plen);
        if (!EVP_CipherInit_ex2(r->cctx, NULL, NULL, nonce, 0, NULL)
            || !EVP_CipherUpdate(r->cctx, NULL, &outl, aad, DTR_AAD)
            || !dtr_cipher(r->cctx, out, frag + DTR_GCM_EXPLICIT, plen)
            || !EVP_CIPHER_CTX_ctrl(r->cctx, EVP_CTRL_AEAD_SET_TAG, DTR_GCM_TAG,
                                    (void *)(frag + DTR_GCM_EXPLICIT + plen)))
            return -80;
        ERR_set_mark();
        if (EVP_CipherFinal_ex(r->cctx, out + plen, &outl) <= 0) {
            ERR_pop_to_mark();    /* a tag mismatch is the peer's fault, reported as the alert */
            return -20;
        }
        ERR_clear_last_mark();
        if (plen > DTR_MAX_PLAIN)
            return -22;
        *outlen = plen;
    } else if (!r->etm) {
        rc = dtr_open_cbc_mte(r, type, frag, len, out, outlen);
    } else {
        size_t ivlen = r->explicit_iv ? r->bs : 0, enclen = len - r->maclen - ivlen, pad, i;
        unsigned bad = 0;
        dtr_put_aad(r, aad, type, ivlen + enclen);
        if (!dtr_mac(r, aad, frag, ivlen + enclen, mac))
            return -80;
        if (CRYPTO_memcmp(mac, frag + ivlen + enclen, r->maclen) != 0)
            return -20;
        if ((ivlen && !EVP_CipherInit_ex2(r->cctx, NULL, NULL, frag, 0, NULL))
            || !dtr_cipher(r->cctx, out, frag + ivlen, enclen))
            return -80;
        /* Authenticated already, so the padding check need not hide anything. */
        pad = out[enclen - 1];
        if (pad + 1 > enclen)
            return -20;
        for (i = 0; i <= pad; i++)
            bad |= out[enclen - 1 - i] ^ (unsigned)pad;
        if (bad)
            return -20;
        if (enclen - pad - 1 > DTR_MAX_PLAIN)
            return -22;
        *outlen = enclen - pad - 1;
    }
    if (rc > 0 && ++r->seq == 0)
        r->seq_exhausted = 1;
    return rc;
}

int dt_rec_open(dt_rec *r, const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap,
                size_t *consumed, size_t *produced, int *content_type)
{
    size_t pos = 0, prod = 0;
    int n = 0, type = -1;
    size_t max_frag = r->kind == DTR_NULL && r->maclen == 0 ? DTR_MAX_PLAIN : DTR_MAX_CIPHER;

    *consumed = 0;
    *produced = 0;
    *content_type = 0;
    if (r->failed)
        return -r->failed;
    if (r->encrypt) {
        dtr_err("dt_rec_open on a sealing state");
        return -80;
    }
    while (inlen - pos >= DTR_HDR) {
        const uint8_t *h = in + pos;
        size_t len = ((size_t)h[3] << 8) | h[4], plen = 0;
        int version = (h[1] << 8) | h[2], rc;
        long bound;

        if (n > 0 && h[0] != type)
            break;                                  /* a run holds one content type */
        if (r->version == 0 ? h[1] != 3 : version != r->version)
            rc = -70;
        else if (len > max_frag)
            rc = -22;                               /* refuse before waiting for the bytes */
        else if ((bound = dtr_write_bound(r, len)) < 0)
            rc = (int)bound;
        else if (inlen - pos - DTR_HDR < len || outcap - prod < (size_t)bound)
            break;                                  /* need more input / more output room */
        else
            rc = dtr_open_one(r, h[0], h + DTR_HDR, len, out + prod, &plen);
        /* Empty records are legal (OpenSSL's old CBC countermeasure); an endless run of them is
         * a cheap way to keep a reader busy: past DTR_MAX_EMPTY in a row, unexpected_message
         * (libssl's limit). Counted per record, across calls, whatever the run holds. */
        if (rc > 0 && plen == 0 && ++r->empty_run > DTR_MAX_EMPTY) {
            dtr_err("more empty records in a row than allowed (32)");
            rc = -10;
        } else if (rc > 0 && plen > 0)
            r->empty_run = 0;
        if (rc < 0) {
            r->failed = -rc;
            if (n > 0)
                break;     /* hand out the records already opened; the next call fails */
            return rc;
        }
        type = h[0];
        prod += plen;
        pos += DTR_HDR + len;
        n++;
    }
    *consumed = pos;
    *produced = prod;
    *content_type = n > 0 ? type : 0;
    return n;
}

#endif /* DT_RECORD_OPEN_C */
