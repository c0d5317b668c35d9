/*
 * dicomtls' own TLS 1.0-1.2 record layer (docs/own-engine.md, "C contract: record layer").
 *
 * One dt_rec is one direction's protection state.  dt_rec_seal turns a run of plaintext into
 * records, dt_rec_open opens a buffer of consecutive records of one content type; both are one C
 * call per buffer so Python never loops per record (cffi releases the GIL around them).
 *
 * Protection: NULL, CBC (DES, 3DES, AES) with HMAC-SHA1/256/384 MAC-then-encrypt or RFC 7366
 * encrypt-then-MAC, AES-GCM (RFC 5288).  Every EVP object and key byte lives in the dt_rec and is
 * freed/cleansed in dt_rec_free.
 *
 * Internal names start with dtr_: every C file is compiled into one translation unit.  Opening
 * lives in dt_record_open.c.
 */

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define DTR_HDR 5                    /* type(1) version(2) length(2) */
#define DTR_MAX_PLAIN 16384          /* 2^14 */
#define DTR_MAX_CIPHER (16384 + 2048)
#define DTR_MAX_EMPTY 32             /* consecutive empty records opened before refusing */
#define DTR_AAD 13                   /* seq(8) type(1) version(2) length(2) */
#define DTR_GCM_EXPLICIT 8
#define DTR_GCM_TAG 16
#define DTR_MAX_MAC 48               /* HMAC-SHA384 */
#define DTR_IV_POOL 512              /* random explicit IVs fetched from the DRBG in one call */

enum { DTR_NULL, DTR_CBC, DTR_GCM };

typedef struct dt_rec dt_rec;
void dt_rec_free(dt_rec *);

struct dt_rec {
    OSSL_LIB_CTX *libctx;
    int encrypt, version, kind, etm;
    int explicit_iv;                 /* TLS 1.1+ CBC: a random IV block leads every record */
    int failed;                      /* 0, or the alert (>0) that made this state unusable */
    int seq_exhausted;               /* 2^64 records used: the next one would reuse a number */
    size_t empty_run;                /* opening: consecutive empty records just opened */
    uint64_t seq;
    size_t bs;                       /* CBC block size; 0 for NULL and GCM */
    size_t maclen;                   /* HMAC output length; 0 for NULL MAC and GCM */
    size_t md_block, md_lenfield;    /* hash block size and length-trailer size (Lucky 13 counts) */
    EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *cctx;            /* CBC: one context, chained across records (padding off) */
    EVP_CIPHER *stitched;            /* AES-CBC-HMAC-SHA* (AES-NI) for MtE sealing, or NULL */
    EVP_CIPHER_CTX *sctx;
    int multiblock;                  /* sctx seals 4 or 8 application records interleaved */
    EVP_MD *md;
    EVP_MD_CTX *mac_inner;           /* hash state after the key^ipad block: keyed once */
    EVP_MD_CTX *mac_outer;           /* hash state after the key^opad block */
    EVP_MD_CTX *mac_work;            /* per-record copy of one of the two above */
    EVP_MD_CTX *mac_dummy;           /* extra compression blocks of the Lucky 13 countermeasure */
    uint8_t salt[4];                 /* GCM implicit nonce part */
    size_t iv_pos;                   /* next unused byte of iv_pool (== DTR_IV_POOL: empty) */
    uint8_t iv_pool[DTR_IV_POOL];
};

/* Report a misuse (bad argument, impossible state) on the error queue for Python to drain. */
static void dtr_err(const char *what)
{
    ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "dicomtls record layer: %s", what);
}

/* ---- constant-time helpers.  Every operand here is < 2^31, so the top bit of a - b is set
 * exactly when a < b; masks are all-ones (true) or zero (false). ---- */
static inline size_t dtr_msb(size_t a) { return (size_t)0 - (a >> (sizeof(size_t) * 8 - 1)); }
static inline size_t dtr_lt(size_t a, size_t b) { return dtr_msb(a - b); }
static inline size_t dtr_ge(size_t a, size_t b) { return ~dtr_lt(a, b); }
static inline size_t dtr_is_zero(size_t a) { return dtr_msb(~a & (a - 1)); }
static inline size_t dtr_eq(size_t a, size_t b) { return dtr_is_zero(a ^ b); }
static inline size_t dtr_sel(size_t mask, size_t a, size_t b) { return (mask & a) | (~mask & b); }

static void dtr_put_aad(const dt_rec *r, uint8_t aad[DTR_AAD], int type, size_t len)
{
    int i;
    for (i = 0; i < 8; i++)
        aad[i] = (uint8_t)(r->seq >> (56 - 8 * i));
    aad[8] = (uint8_t)type;
    aad[9] = (uint8_t)(r->version >> 8);
    aad[10] = (uint8_t)r->version;
    aad[11] = (uint8_t)(len >> 8);
    aad[12] = (uint8_t)len;
}

/* ---- HMAC over two pre-keyed hash states (RFC 2104).  Keying hashes the ipad/opad blocks once
 * per state; every record then costs two context copies instead of a re-key, and the inner hash
 * is a plain EVP_MD_CTX whose block accounting the Lucky 13 countermeasure can reason about. ---- */
static int dtr_mac_key(dt_rec *r, const uint8_t *key, size_t keylen)
{
    uint8_t k[128], pad[128];
    unsigned int klen = 0;
    size_t i;
    int ok = 0;

    if (r->md_block > sizeof(k))
        return 0;
    memset(k, 0, sizeof(k));
    if (keylen > r->md_block) {
        if (!EVP_Digest(key, keylen, k, &klen, r->md, NULL))
            goto done;
    } else if (keylen > 0) {
        memcpy(k, key, keylen);
    }
    for (i = 0; i < r->md_block; i++)
        pad[i] = k[i] ^ 0x36;
    if (!EVP_DigestInit_ex2(r->mac_inner, r->md, NULL)
        || !EVP_DigestUpdate(r->mac_inner, pad, r->md_block))
        goto done;
    for (i = 0; i < r->md_block; i++)
        pad[i] = k[i] ^ 0x5c;
    if (!EVP_DigestInit_ex2(r->mac_outer, r->md, NULL)
        || !EVP_DigestUpdate(r->mac_outer, pad, r->md_block)
        || !EVP_DigestInit_ex2(r->mac_dummy, r->md, NULL))
        goto done;
    ok = 1;
done:
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    return ok;
}

/* HMAC(aad || data) into mac (r->maclen bytes). */
static int dtr_mac(dt_rec *r, const uint8_t aad[DTR_AAD], const uint8_t *data, size_t len,
                   uint8_t *mac)
{
    uint8_t inner[EVP_MAX_MD_SIZE];
    unsigned int n;
    int ok = EVP_MD_CTX_copy_ex(r->mac_work, r->mac_inner)
             && EVP_DigestUpdate(r->mac_work, aad, DTR_AAD)
             && (len == 0 || EVP_DigestUpdate(r->mac_work, data, len))
             && EVP_DigestFinal_ex(r->mac_work, inner, &n)
             && EVP_MD_CTX_copy_ex(r->mac_work, r->mac_outer)
             && EVP_DigestUpdate(r->mac_work, inner, n)
             && EVP_DigestFinal_ex(r->mac_work, mac, &n);
    OPENSSL_cleanse(inner, sizeof(inner));
    return ok;
}

static const uint8_t *dtr_random_iv(dt_rec *r)
{
    const uint8_t *iv;
    if (r->iv_pos + r->bs > DTR_IV_POOL) {
        if (RAND_bytes_ex(r->libctx, r->iv_pool, DTR_IV_POOL, 0) <= 0)
            return NULL;
        r->iv_pos = 0;
    }
    iv = r->iv_pool + r->iv_pos;
    r->iv_pos += r->bs;
    return iv;
}

/* ---- construction ---- */

static EVP_CIPHER *dtr_fetch_stitched(dt_rec *r, const char *cipher, const char *mac, size_t keylen)
{
    char name[40];
    if (!r->encrypt || r->kind != DTR_CBC || r->etm || strncmp(cipher, "AES-", 4) != 0
        || (strcmp(mac, "SHA1") != 0 && strcmp(mac, "SHA256") != 0))
        return NULL;
    /* Only on AES-NI machines does the default provider offer these; elsewhere the fetch fails
     * and sealing takes the generic MAC + encrypt route. */
    snprintf(name, sizeof(name), "AES-%d-CBC-HMAC-%s", (int)keylen * 8, mac);
    ERR_set_mark();
    EVP_CIPHER *c = EVP_CIPHER_fetch(r->libctx, name, NULL);
    ERR_pop_to_mark();
    return c;
}

dt_rec *dt_rec_new(OSSL_LIB_CTX *ctx, int encrypt, int version, const char *cipher, const char *mac,
                   int etm, const uint8_t *key, size_t keylen, const uint8_t *mac_key,
                   size_t mac_keylen, const uint8_t *iv, size_t ivlen)
{
    dt_rec *r;
    int null_mac = strcmp(mac, "NULL") == 0;

    if (version != 0x0301 && version != 0x0302 && version != 0x0303
        && !(version == 0 && !encrypt && strcmp(cipher, "NULL") == 0 && null_mac)) {
        dtr_err("unsupported record version");
        return NULL;
    }
    if ((r = OPENSSL_zalloc(sizeof(*r))) == NULL)
        return NULL;
    r->libctx = ctx;
    r->encrypt = encrypt ? 1 : 0;
    r->version = version;
    r->etm = etm ? 1 : 0;
    r->iv_pos = DTR_IV_POOL;

    if (strcmp(cipher, "NULL") == 0) {
        r->kind = DTR_NULL;
        if (keylen != 0 || ivlen != 0 || etm) {
            dtr_err("NULL cipher takes no key, IV or encrypt-then-MAC");
            goto fail;
        }
    } else {
        r->kind = strstr(cipher, "-GCM") != NULL ? DTR_GCM : DTR_CBC;
        if (strcmp(cipher, "DES-CBC") != 0 && strcmp(cipher, "DES-EDE3-CBC") != 0
            && strcmp(cipher, "AES-128-CBC") != 0 && strcmp(cipher, "AES-256-CBC") != 0
            && strcmp(cipher, "AES-128-GCM") != 0 && strcmp(cipher, "AES-256-GCM") != 0) {
            dtr_err("unknown cipher");
            goto fail;
        }
        if ((r->cipher = EVP_CIPHER_fetch(ctx, cipher, NULL)) == NULL
            || (r->cctx = EVP_CIPHER_CTX_new()) == NULL)
            goto fail;
        if ((size_t)EVP_CIPHER_get_key_length(r->cipher) != keylen) {
            dtr_err("key length does not match the cipher");
            goto fail;
        }
    }

    if (r->kind == DTR_GCM) {
        if (!null_mac || etm || ivlen != 4) {
            dtr_err("GCM takes MAC NULL, no encrypt-then-MAC and a 4-byte salt");
            goto fail;
        }
        memcpy(r->salt, iv, 4);
        /* The key schedule is done once; every record only sets its 12-byte nonce. */
        if (!EVP_CipherInit_ex2(r->cctx, r->cipher, key, NULL, r->encrypt, NULL))
            goto fail;
    } else if (r->kind == DTR_CBC) {
        r->bs = (size_t)EVP_CIPHER_get_block_size(r->cipher);
        r->explicit_iv = version >= 0x0302;
        if (null_mac || ivlen != (r->explicit_iv ? 0 : r->bs)) {
            dtr_err("CBC needs a MAC, and an IV of one block exactly in TLS 1.0 (none after)");
            goto fail;
        }
        /* TLS 1.0 chains the IV across records: one context, never re-initialised, padding
         * off so every update returns all its blocks.  TLS 1.1+ sets each record's IV. */
        if (!EVP_CipherInit_ex2(r->cctx, r->cipher, key, r->explicit_iv ? NULL : iv,
                                r->encrypt, NULL)
            || !EVP_CIPHER_CTX_set_padding(r->cctx, 0))
            goto fail;
    } else if (etm) {
        dtr_err("encrypt-then-MAC needs a CBC cipher");
        goto fail;
    }

    if (!null_mac) {
        const char *mdname = strcmp(mac, "SHA1") == 0 ? "SHA1"
                             : strcmp(mac, "SHA256") == 0 ? "SHA256"
                             : strcmp(mac, "SHA384") == 0 ? "SHA384" : NULL;
        if (mdname == NULL) {
            dtr_err("unknown MAC");
            goto fail;
        }
        if ((r->md = EVP_MD_fetch(ctx, mdname, NULL)) == NULL
            || (r->mac_inner = EVP_MD_CTX_new()) == NULL
            || (r->mac_outer = EVP_MD_CTX_new()) == NULL
            || (r->mac_work = EVP_MD_CTX_new()) == NULL
            || (r->mac_dummy = EVP_MD_CTX_new()) == NULL)
            goto fail;
        r->maclen = (size_t)EVP_MD_get_size(r->md);
        r->md_block = (size_t)EVP_MD_get_block_size(r->md);
        r->md_lenfield = r->md_block == 128 ? 16 : 8;   /* SHA-384: 128-bit length trailer */
        if (!dtr_mac_key(r, mac_key, mac_keylen))
            goto fail;
    } else if (mac_keylen != 0) {
        dtr_err("MAC key given without a MAC");
        goto fail;
    }

    r->stitched = dtr_fetch_stitched(r, cipher, mac, keylen);
    if (r->stitched != NULL) {
        OSSL_PARAM p[2];
        /* TLS 1.1+: the zero IV only encrypts each record's random leading block, whose
         * ciphertext then serves as the record's explicit IV (RFC 4346 6.2.3.2 option 2). */
        static const uint8_t zero_iv[16];
        p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_MAC_KEY,
                                                 (void *)mac_key, mac_keylen);
        p[1] = OSSL_PARAM_construct_end();
        ERR_set_mark();
        if ((r->sctx = EVP_CIPHER_CTX_new()) == NULL
            || !EVP_CipherInit_ex2(r->sctx, r->stitched, key, r->explicit_iv ? zero_iv : iv, 1,
                                   NULL)
            || !EVP_CIPHER_CTX_set_params(r->sctx, p)) {
            /* A stitched cipher that fetches but will not key is not worth failing for. */
            EVP_CIPHER_CTX_free(r->sctx);
            EVP_CIPHER_free(r->stitched);
            r->sctx = NULL;
            r->stitched = NULL;
        }
        ERR_pop_to_mark();
    }
    /* Multi-block sealing needs an explicit IV per record (TLS 1.1+) and MAC-then-encrypt. */
    r->multiblock = r->sctx != NULL && r->explicit_iv && !r->etm
        && (EVP_CIPHER_get_flags(r->stitched) & EVP_CIPH_FLAG_TLS1_1_MULTIBLOCK) != 0;
    return r;
fail:
    dt_rec_free(r);
    return NULL;
}

void dt_rec_free(dt_rec *r)
{
    if (r == NULL)
        return;
    EVP_CIPHER_CTX_free(r->cctx);     /* cleanses its key schedule */
    EVP_CIPHER_CTX_free(r->sctx);
    EVP_CIPHER_free(r->cipher);
    EVP_CIPHER_free(r->stitched);
    EVP_MD_CTX_free(r->mac_inner);    /* keyed hash states: cleansed by the provider */
    EVP_MD_CTX_free(r->mac_outer);
    EVP_MD_CTX_free(r->mac_work);
    EVP_MD_CTX_free(r->mac_dummy);
    EVP_MD_free(r->md);
    OPENSSL_clear_free(r, sizeof(*r));
}

/* ---- sealing ---- */

/* Most bytes one record adds to its plaintext. */
static size_t dtr_overhead(const dt_rec *r)
{
    switch (r->kind) {
    case DTR_GCM:
        return DTR_HDR + DTR_GCM_EXPLICIT + DTR_GCM_TAG;
    case DTR_CBC:
        return DTR_HDR + (r->explicit_iv ? r->bs : 0) + r->maclen + r->bs;
    default:
        return DTR_HDR + r->maclen;
    }
}

/* The plaintext per record of multi-block sealing: like libssl, 512 bytes short of a multiple
 * of 4 KiB, so the interleaved records' buffers do not alias in the cache. */
static size_t dtr_multiblock_fragment(size_t max_fragment)
{
    return (max_fragment & 0xfff) == 0 ? max_fragment - 512 : max_fragment;
}

size_t dt_rec_seal_bound(dt_rec *r, size_t inlen, size_t max_fragment)
{
    size_t frag = max_fragment == 0 || max_fragment > DTR_MAX_PLAIN ? DTR_MAX_PLAIN : max_fragment;
    if (r->multiblock && frag == DTR_MAX_PLAIN)
        frag = dtr_multiblock_fragment(frag);
    /* +1 record: a 1/n-1 split, and the empty record sealed for inlen == 0. */
    size_t nrec = inlen / frag + 2;
    return inlen + nrec * dtr_overhead(r);
}

static int dtr_cipher(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len)
{
    int outl = 0;
    if (len == 0)
        return 1;
    return EVP_CipherUpdate(c, out, &outl, in, (int)len) && (size_t)outl == len;
}

/* CBC, MAC-then-encrypt, through the stitched AES-NI cipher: it MACs, pads and encrypts in one
 * pass over the buffer.  body holds [random block if TLS 1.1+] || plaintext. */
static int dtr_seal_stitched(dt_rec *r, int type, uint8_t *body, size_t plen, size_t *bodylen)
{
    uint8_t aad[DTR_AAD];
    size_t ivlen = r->explicit_iv ? r->bs : 0, pad = 0;
    OSSL_PARAM p[2];

    /* The cipher takes the record length including the explicit IV and removes it itself. */
    dtr_put_aad(r, aad, type, ivlen + plen);
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_AAD, aad, DTR_AAD);
    p[1] = OSSL_PARAM_construct_end();
    if (!EVP_CIPHER_CTX_set_params(r->sctx, p))
        return 0;
    p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_TLS1_AAD_PAD, &pad);
    if (!EVP_CIPHER_CTX_get_params(r->sctx, p) || pad < r->maclen + 1 || pad > r->maclen + r->bs)
        return 0;
    if (!dtr_cipher(r->sctx, body, body, ivlen + plen + pad))
        return 0;
    *bodylen = ivlen + plen + pad;
    return 1;
}

/* CBC: pad the len bytes after body's IV block (if any) with 1..bs bytes of value padlen - 1 and
 * encrypt them in place; TLS 1.0 continues the chain, TLS 1.1+ starts from body's IV block.
 * Returns the encrypted length, 0 on error. */
static size_t dtr_pad_encrypt(dt_rec *r, uint8_t *body, size_t len)
{
    size_t ivlen = r->explicit_iv ? r->bs : 0, padlen = r->bs - len % r->bs, i;
    uint8_t *p = body + ivlen;
    for (i = 0; i < padlen; i++)
        p[len + i] = (uint8_t)(padlen - 1);
    if ((ivlen && !EVP_CipherInit_ex2(r->cctx, NULL, NULL, body, 1, NULL))
        || !dtr_cipher(r->cctx, p, p, len + padlen))
        return 0;
    return len + padlen;
}

/* One record: header + protected fragment at out.  Returns bytes written, 0 on error. */
static size_t dtr_seal_one(dt_rec *r, int type, const uint8_t *in, size_t plen, uint8_t *out)
{
    uint8_t aad[DTR_AAD];
    uint8_t *body = out + DTR_HDR;
    size_t bodylen = 0;

    if (r->seq_exhausted) {
        dtr_err("sequence number exhausted");
        return 0;
    }
    if (r->kind == DTR_NULL) {
        memcpy(body, in, plen);
        bodylen = plen;
        if (r->maclen) {
            dtr_put_aad(r, aad, type, plen);
            if (!dtr_mac(r, aad, body, plen, body + plen))
                return 0;
            bodylen += r->maclen;
        }
    } else if (r->kind == DTR_GCM) {
        uint8_t nonce[12];
        int outl = 0, i;
        memcpy(nonce, r->salt, 4);
        for (i = 0; i < 8; i++)
            nonce[4 + i] = body[i] = (uint8_t)(r->seq >> (56 - 8 * i));
        dtr_put_aad(r, aad, type, plen);
        if (!EVP_CipherInit_ex2(r->cctx, NULL, NULL, nonce, 1, NULL)
            || !EVP_CipherUpdate(r->cctx, NULL, &outl, aad, DTR_AAD)
            || !dtr_cipher(r->cctx, body + DTR_GCM_EXPLICIT, in, plen)
            || !EVP_CipherFinal_ex(r->cctx, body + DTR_GCM_EXPLICIT + plen, &outl)
            || !EVP_CIPHER_CTX_ctrl(r->cctx, EVP_CTRL_AEAD_GET_TAG, DTR_GCM_TAG,
                                    body + DTR_GCM_EXPLICIT + plen))
            return 0;
        bodylen = DTR_GCM_EXPLICIT + plen + DTR_GCM_TAG;
    } else {
        size_t ivlen = r->explicit_iv ? r->bs : 0, enclen;
        uint8_t *p = body + ivlen;
        if (ivlen) {
            const uint8_t *iv = dtr_random_iv(r);
            if (iv == NULL)
                return 0;
            memcpy(body, iv, ivlen);
        }
        memcpy(p, in, plen);
        if (r->sctx != NULL) {
            if (!dtr_seal_stitched(r, type, body, plen, &bodylen))
                return 0;
        } else if (!r->etm) {
            dtr_put_aad(r, aad, type, plen);
            if (!dtr_mac(r, aad, p, plen, p + plen)
                || (enclen = dtr_pad_encrypt(r, body, plen + r->maclen)) == 0)
                return 0;
            bodylen = ivlen + enclen;
        } else {
            /* RFC 7366: encrypt plaintext || padding, then MAC the IV and ciphertext under a
             * header carrying their length. */
            if ((enclen = dtr_pad_encrypt(r, body, plen)) == 0)
                return 0;
            dtr_put_aad(r, aad, type, ivlen + enclen);
            if (!dtr_mac(r, aad, body, ivlen + enclen, body + ivlen + enclen))
                return 0;
            bodylen = ivlen + enclen + r->maclen;
        }
    }
    out[0] = (uint8_t)type;
    out[1] = (uint8_t)(r->version >> 8);
    out[2] = (uint8_t)r->version;
    out[3] = (uint8_t)(bodylen >> 8);
    out[4] = (uint8_t)bodylen;
    if (++r->seq == 0)
        r->seq_exhausted = 1;
    return DTR_HDR + bodylen;
}

/* 4 or 8 application-data records of frag bytes each, sealed in one interleaved pass of the
 * stitched cipher (AES-NI pipelines independent CBC chains; a single record's chain is
 * serial): header, random IV, ciphertext of data || MAC || padding, as dtr_seal_one writes.
 * Returns bytes written, 0 on error. */
static size_t dtr_seal_multiblock(dt_rec *r, const uint8_t *in, size_t frag, unsigned int n,
                                  uint8_t *out, size_t outcap)
{
    EVP_CTRL_TLS1_1_MULTIBLOCK_PARAM mb;
    uint8_t aad[DTR_AAD];
    int packlen, i;

    for (i = 0; i < 8; i++)
        aad[i] = (uint8_t)(r->seq >> (56 - 8 * i));
    aad[8] = 23;
    aad[9] = (uint8_t)(r->version >> 8);
    aad[10] = (uint8_t)r->version;
    aad[11] = aad[12] = 0;
    memset(&mb, 0, sizeof(mb));
    mb.inp = aad;
    mb.len = frag * n;
    mb.interleave = n;
    packlen = EVP_CIPHER_CTX_ctrl(r->sctx, EVP_CTRL_TLS1_1_MULTIBLOCK_AAD, sizeof(mb), &mb);
    if (packlen <= 0 || (size_t)packlen > outcap)
        return 0;
    mb.out = out;
    mb.inp = in;
    mb.len = frag * n;
    mb.interleave = n;
    if (EVP_CIPHER_CTX_ctrl(r->sctx, EVP_CTRL_TLS1_1_MULTIBLOCK_ENCRYPT, sizeof(mb), &mb) <= 0)
        return 0;
    r->seq += n;
    return (size_t)packlen;
}

int dt_rec_multiblock(dt_rec *r) { return r->multiblock; }

int dt_rec_seal(dt_rec *r, int content_type, const uint8_t *in, size_t inlen, size_t max_fragment,
                int split_first, uint8_t *out, size_t outcap, size_t *outlen)
{
    size_t pos = 0, w = 0, room = dtr_overhead(r);
    int first = 1;

    *outlen = 0;
    if (r->failed || !r->encrypt || max_fragment == 0 || max_fragment > DTR_MAX_PLAIN
        || content_type < 0 || content_type > 255) {
        dtr_err(r->failed ? "state unusable after an error" : "bad seal arguments");
        return 0;
    }
    while (first || pos < inlen) {
        size_t n = inlen - pos, done;
        size_t frag = dtr_multiblock_fragment(max_fragment);
        /* Only full-size records, as libssl does (a peer's smaller max_fragment_length
         * gets one record at a time). */
        if (r->multiblock && max_fragment == DTR_MAX_PLAIN && content_type == 23
            && !(first && split_first) && n >= 4 * frag
            && r->seq <= UINT64_MAX - 8) {
            unsigned int k = n >= 8 * frag ? 8 : 4;
            if (outcap - w < k * (frag + room)) {
                dtr_err("output buffer too small (use dt_rec_seal_bound)");
                r->failed = 80;
                return 0;
            }
            done = dtr_seal_multiblock(r, in + pos, frag, k, out + w, outcap - w);
            if (done == 0) {
                r->failed = 80;
                return 0;
            }
            w += done;
            pos += k * frag;
            first = 0;
            continue;
        }
        if (n > max_fragment)
            n = max_fragment;
        if (first && split_first && inlen > 1)
            n = 1;       /* 1/n-1: the first record's IV-chained block carries one byte only */
        if (outcap - w < n + room) {
            dtr_err("output buffer too small (use dt_rec_seal_bound)");
            r->failed = 80;
            return 0;
        }
        done = dtr_seal_one(r, content_type, in + pos, n, out + w);
        if (done == 0) {
            r->failed = 80;
            return 0;
        }
        w += done;
        pos += n;
        first = 0;
    }
    *outlen = w;
    return 1;
}

/* The opening half: see dt_record_open.c (included here until build_ffi.py lists it). */
#include "dt_record_open.c"
