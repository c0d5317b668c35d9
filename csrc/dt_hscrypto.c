/*
 * dicomtls' own TLS 1.0-1.2 handshake cryptography (docs/own-engine.md, "C contract: handshake
 * crypto"): the secrets holder dt_hs (premaster, master secret), the PRF, RSA key transport with
 * implicit rejection, ephemeral DH/ECDH, Finished, record states from the key block, signatures.
 *
 * Secrets never leave C except the master secret in the NSS key log line the caller asks for:
 * the premaster is cleansed as soon as the master secret exists, every key block right after use,
 * and the whole dt_hs on free.  On failure a function returns 0/NULL and leaves OpenSSL's error
 * queue for Python to drain.  Internal names start with dth_ (one translation unit).
 */

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#define DTH_MASTER 48
#define DTH_RANDOM 32
#define DTH_PMS_MAX 1024             /* ffdhe8192 shared secret */
#define DTH_DH_MIN_BITS 1024
#define DTH_DH_MAX_BITS 8192

typedef struct dt_hs dt_hs;
struct dt_hs {
    OSSL_LIB_CTX *libctx;
    EVP_KDF *kdf;                    /* TLS1-PRF, fetched once */
    char md[16];                     /* PRF digest: MD5-SHA1 (TLS 1.0/1.1), SHA256, SHA384 */
    size_t pms_len;                  /* 0: no premaster (none yet, or consumed by dt_hs_master) */
    int have_master;
    uint8_t pms[DTH_PMS_MAX];
    uint8_t master[DTH_MASTER];
};

static void dth_err(const char *what)
{
    ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "dicomtls handshake: %s", what);
}

static int dth_md_ok(const char *md)
{
    return strcmp(md, "MD5-SHA1") == 0 || strcmp(md, "SHA256") == 0 || strcmp(md, "SHA384") == 0;
}

/* PRF(secret, label, seed1 || seed2) into out (RFC 2246 5 / RFC 5246 5) via EVP_KDF TLS1-PRF. */
static int dth_prf(EVP_KDF *kdf, const char *md, const uint8_t *secret, size_t slen,
                   const uint8_t *label, size_t llen, const uint8_t *s1, size_t l1,
                   const uint8_t *s2, size_t l2, uint8_t *out, size_t outlen)
{
    uint8_t seed[256];
    OSSL_PARAM p[4];
    EVP_KDF_CTX *k;
    int ok;

    if (llen > sizeof(seed) || l1 > sizeof(seed) - llen || l2 > sizeof(seed) - llen - l1) {
        dth_err("PRF seed too long");
        return 0;
    }
    memcpy(seed, label, llen);
    if (l1)
        memcpy(seed + llen, s1, l1);
    if (l2)
        memcpy(seed + llen + l1, s2, l2);
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)secret, slen);
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, llen + l1 + l2);
    p[3] = OSSL_PARAM_construct_end();
    if ((k = EVP_KDF_CTX_new(kdf)) == NULL)
        return 0;
    ok = EVP_KDF_derive(k, out, outlen, p) > 0;
    EVP_KDF_CTX_free(k);              /* clears its copy of the secret */
    return ok;
}

/* The bare PRF, for known-answer tests against published vectors. */
int dt_prf(OSSL_LIB_CTX *ctx, const char *md, const uint8_t *secret, size_t slen,
           const uint8_t *label, size_t llen, const uint8_t *seed, size_t seedlen,
           uint8_t *out, size_t outlen)
{
    EVP_KDF *kdf;
    int ok;
    if (!dth_md_ok(md)) {
        dth_err("unknown PRF digest");
        return 0;
    }
    if ((kdf = EVP_KDF_fetch(ctx, "TLS1-PRF", NULL)) == NULL)
        return 0;
    ok = dth_prf(kdf, md, secret, slen, label, llen, seed, seedlen, NULL, 0, out, outlen);
    EVP_KDF_free(kdf);
    return ok;
}

dt_hs *dt_hs_new(OSSL_LIB_CTX *ctx, const char *prf_md)
{
    dt_hs *hs;
    if (!dth_md_ok(prf_md)) {
        dth_err("unknown PRF digest");
        return NULL;
    }
    if ((hs = OPENSSL_zalloc(sizeof(*hs))) == NULL)
        return NULL;
    hs->libctx = ctx;
    strcpy(hs->md, prf_md);
    if ((hs->kdf = EVP_KDF_fetch(ctx, "TLS1-PRF", NULL)) == NULL) {
        OPENSSL_free(hs);
        return NULL;
    }
    return hs;
}

void dt_hs_free(dt_hs *hs)
{
    if (hs == NULL)
        return;
    EVP_KDF_free(hs->kdf);
    OPENSSL_clear_free(hs, sizeof(*hs));
}

static void dth_drop_premaster(dt_hs *hs)
{
    OPENSSL_cleanse(hs->pms, sizeof(hs->pms));
    hs->pms_len = 0;
}

/* ---- ephemeral (EC)DH ---- */

EVP_PKEY *dt_kx_keygen_group(OSSL_LIB_CTX *ctx, const char *group)
{
    const char *type, *name = NULL;
    EVP_PKEY_CTX *c;
    EVP_PKEY *k = NULL;

    if (strcmp(group, "x25519") == 0 || strcmp(group, "X25519") == 0) {
        type = "X25519";
    } else if (strcmp(group, "x448") == 0 || strcmp(group, "X448") == 0) {
        type = "X448";
    } else if (strcmp(group, "P-256") == 0 || strcmp(group, "P-384") == 0
               || strcmp(group, "P-521") == 0) {
        type = "EC";
        name = group;
    } else if (strcmp(group, "ffdhe2048") == 0 || strcmp(group, "ffdhe3072") == 0
               || strcmp(group, "ffdhe4096") == 0 || strcmp(group, "ffdhe6144") == 0
               || strcmp(group, "ffdhe8192") == 0) {
        type = "DH";
        name = group;
    } else {
        dth_err("unknown key exchange group");
        return NULL;
    }
    if ((c = EVP_PKEY_CTX_new_from_name(ctx, type, NULL)) == NULL)
        return NULL;
    if (EVP_PKEY_keygen_init(c) <= 0
        || (name != NULL && EVP_PKEY_CTX_set_group_name(c, name) <= 0)
        || EVP_PKEY_generate(c, &k) <= 0)
        k = NULL;
    EVP_PKEY_CTX_free(c);
    return k;
}

/* Client side of DHE: a key pair in the server's group (p, g from ServerKeyExchange). */
EVP_PKEY *dt_kx_keygen_dh(OSSL_LIB_CTX *ctx, const uint8_t *p, size_t plen, const uint8_t *g,
                          size_t glen)
{
    BIGNUM *bp = NULL, *bg = NULL, *pm1 = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pc = NULL, *kc = NULL;
    EVP_PKEY *dom = NULL, *k = NULL;
    int bits;

    if (plen > DTH_DH_MAX_BITS / 8 + 1 || glen > DTH_DH_MAX_BITS / 8 + 1) {
        ERR_raise_data(ERR_LIB_DH, DH_R_MODULUS_TOO_LARGE, "p of %zu, g of %zu bytes", plen, glen);
        return NULL;
    }
    if ((bp = BN_bin2bn(p, (int)plen, NULL)) == NULL || (bg = BN_bin2bn(g, (int)glen, NULL)) == NULL
        || (pm1 = BN_dup(bp)) == NULL || !BN_sub_word(pm1, 1))
        goto done;
    bits = BN_num_bits(bp);
    if (bits < DTH_DH_MIN_BITS) {
        ERR_raise_data(ERR_LIB_DH, DH_R_MODULUS_TOO_SMALL, "p has %d bits (minimum %d)", bits,
                       DTH_DH_MIN_BITS);
        goto done;
    }
    if (bits > DTH_DH_MAX_BITS) {
        ERR_raise_data(ERR_LIB_DH, DH_R_MODULUS_TOO_LARGE, "p has %d bits", bits);
        goto done;
    }
    /* Primality is not tested (libssl does not either); an odd p and 1 < g < p-1 are. */
    if (!BN_is_odd(bp) || BN_cmp(bg, BN_value_one()) <= 0 || BN_cmp(bg, pm1) >= 0) {
        ERR_raise_data(ERR_LIB_DH, DH_R_BAD_FFC_PARAMETERS, "even p or g outside (1, p-1)");
        goto done;
    }
    if ((bld = OSSL_PARAM_BLD_new()) == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, bp)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, bg)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (pc = EVP_PKEY_CTX_new_from_name(ctx, "DH", NULL)) == NULL
        || EVP_PKEY_fromdata_init(pc) <= 0
        || EVP_PKEY_fromdata(pc, &dom, EVP_PKEY_KEY_PARAMETERS, params) <= 0
        || (kc = EVP_PKEY_CTX_new_from_pkey(ctx, dom, NULL)) == NULL
        || EVP_PKEY_keygen_init(kc) <= 0
        || EVP_PKEY_generate(kc, &k) <= 0)
        k = NULL;
done:
    EVP_PKEY_CTX_free(kc);
    EVP_PKEY_CTX_free(pc);
    EVP_PKEY_free(dom);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bp);
    BN_free(bg);
    BN_free(pm1);
    return k;
}

static int dth_bn_out(const EVP_PKEY *k, const char *name, uint8_t *out, size_t cap, size_t *len)
{
    BIGNUM *b = NULL;
    int ok = 0;
    if (EVP_PKEY_get_bn_param(k, name, &b) && (size_t)BN_num_bytes(b) <= cap) {
        *len = (size_t)BN_bn2bin(b, out);
        ok = 1;
    } else if (b != NULL) {
        dth_err("output buffer too small");
    }
    BN_clear_free(b);
    return ok;
}

int dt_kx_public(EVP_PKEY *k, uint8_t *out, size_t outcap, size_t *outlen)
{
    unsigned char *enc = NULL;
    size_t n;
    if (EVP_PKEY_is_a(k, "DH"))
        return dth_bn_out(k, OSSL_PKEY_PARAM_PUB_KEY, out, outcap, outlen);
    /* X25519/X448: the raw key; EC: the uncompressed point (the key's default format). */
    if ((n = EVP_PKEY_get1_encoded_public_key(k, &enc)) == 0)
        return 0;
    if (n > outcap) {
        OPENSSL_free(enc);
        dth_err("output buffer too small");
        return 0;
    }
    memcpy(out, enc, n);
    *outlen = n;
    OPENSSL_free(enc);
    return 1;
}

int dt_kx_dh_params(EVP_PKEY *k, uint8_t *p, size_t pcap, size_t *plen, uint8_t *g, size_t gcap,
                    size_t *glen)
{
    return dth_bn_out(k, OSSL_PKEY_PARAM_FFC_P, p, pcap, plen)
           && dth_bn_out(k, OSSL_PKEY_PARAM_FFC_G, g, gcap, glen);
}

int dt_kx_bits(EVP_PKEY *k)
{
    return EVP_PKEY_get_bits(k);
}

/* The peer's public value as a key in our group, or NULL when it is not a valid one. */
static EVP_PKEY *dth_peer_key(dt_hs *hs, EVP_PKEY *ours, const uint8_t *peer, size_t peerlen)
{
    EVP_PKEY *pk = NULL;
    if (EVP_PKEY_is_a(ours, "DH")) {
        BIGNUM *p = NULL, *y = NULL;
        int in_range = 0;
        /* 1 < Y < p-1 (RFC 7919 5.1): rules out the values that force a known secret. */
        if (peerlen > 0 && peerlen <= INT_MAX && EVP_PKEY_get_bn_param(ours, OSSL_PKEY_PARAM_FFC_P, &p)
            && (y = BN_bin2bn(peer, (int)peerlen, NULL)) != NULL && BN_sub_word(p, 1))
            in_range = BN_cmp(y, BN_value_one()) > 0 && BN_cmp(y, p) < 0;
        BN_free(p);
        BN_free(y);
        if (!in_range) {
            ERR_raise_data(ERR_LIB_DH, DH_R_INVALID_PUBKEY, "peer public value not in (1, p-1)");
            return NULL;
        }
    } else if (EVP_PKEY_is_a(ours, "EC")) {
        unsigned char *own = NULL;
        size_t ownlen = EVP_PKEY_get1_encoded_public_key(ours, &own);
        OPENSSL_free(own);
        /* RFC 8422 5.4.1: uncompressed points only, so the length is fixed by the curve. */
        if (ownlen == 0 || peerlen != ownlen || peer[0] != 0x04) {
            ERR_raise_data(ERR_LIB_EC, EC_R_INVALID_ENCODING, "not an uncompressed point");
            return NULL;
        }
    }
    if (EVP_PKEY_is_a(ours, "X25519") || EVP_PKEY_is_a(ours, "X448"))
        return EVP_PKEY_new_raw_public_key_ex(hs->libctx, EVP_PKEY_get0_type_name(ours), NULL,
                                              peer, peerlen);
    /* Decoding the point checks that it lies on the curve. */
    if ((pk = EVP_PKEY_new()) == NULL || !EVP_PKEY_copy_parameters(pk, ours)
        || !EVP_PKEY_set1_encoded_public_key(pk, peer, peerlen)) {
        EVP_PKEY_free(pk);
        return NULL;
    }
    return pk;
}

int dt_hs_kx_derive(dt_hs *hs, EVP_PKEY *ours, const uint8_t *peer_pub, size_t peerlen)
{
    EVP_PKEY *peer;
    EVP_PKEY_CTX *c = NULL;
    size_t len = sizeof(hs->pms), z = 0;
    int ok = 0, dh = EVP_PKEY_is_a(ours, "DH");

    dth_drop_premaster(hs);
    if ((peer = dth_peer_key(hs, ours, peer_pub, peerlen)) == NULL)
        return 0;
    /* validate_peer = 1: OpenSSL's public-key check on top of ours (on curve, in range). */
    if ((c = EVP_PKEY_CTX_new_from_pkey(hs->libctx, ours, NULL)) == NULL
        || EVP_PKEY_derive_init(c) <= 0
        || (dh && EVP_PKEY_CTX_set_dh_pad(c, 0) <= 0)
        || EVP_PKEY_derive_set_peer_ex(c, peer, 1) <= 0
        || EVP_PKEY_derive(c, hs->pms, &len) <= 0 || len == 0)
        goto done;
    if (dh) {
        /* RFC 5246 8.1.2: leading zero bytes of Z are stripped. */
        while (z < len - 1 && hs->pms[z] == 0)
            z++;
        memmove(hs->pms, hs->pms + z, len - z);
        OPENSSL_cleanse(hs->pms + len - z, z);
        len -= z;
    }
    hs->pms_len = len;
    ok = 1;
done:
    if (!ok)
        dth_drop_premaster(hs);
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(peer);
    return ok;
}

/* ---- master secret, key log, Finished, key block ---- */

int dt_hs_master(dt_hs *hs, const uint8_t *client_random, const uint8_t *server_random,
                 const uint8_t *session_hash, size_t hashlen)
{
    static const char ms[] = "master secret", ems[] = "extended master secret";
    int ok;
    if (hs->pms_len == 0) {
        dth_err("no premaster secret");
        return 0;
    }
    if (session_hash != NULL && hashlen > 0)   /* RFC 7627 4 */
        ok = dth_prf(hs->kdf, hs->md, hs->pms, hs->pms_len, (const uint8_t *)ems,
                     sizeof(ems) - 1, session_hash, hashlen, NULL, 0, hs->master, DTH_MASTER);
    else
        ok = dth_prf(hs->kdf, hs->md, hs->pms, hs->pms_len, (const uint8_t *)ms, sizeof(ms) - 1,
                     client_random, DTH_RANDOM, server_random, DTH_RANDOM, hs->master, DTH_MASTER);
    dth_drop_premaster(hs);
    hs->have_master = ok;
    if (!ok)
        OPENSSL_cleanse(hs->master, sizeof(hs->master));
    return ok;
}

int dt_hs_keylog_line(dt_hs *hs, const uint8_t *client_random, char *out, size_t outcap)
{
    static const char hex[] = "0123456789abcdef";
    static const char prefix[] = "CLIENT_RANDOM ";
    size_t i, pos = sizeof(prefix) - 1;
    if (!hs->have_master || outcap < pos + 2 * DTH_RANDOM + 1 + 2 * DTH_MASTER + 1) {
        dth_err(hs->have_master ? "output buffer too small" : "no master secret");
        return 0;
    }
    memcpy(out, prefix, pos);
    for (i = 0; i < DTH_RANDOM; i++) {
        out[pos++] = hex[client_random[i] >> 4];
        out[pos++] = hex[client_random[i] & 15];
    }
    out[pos++] = ' ';
    for (i = 0; i < DTH_MASTER; i++) {
        out[pos++] = hex[hs->master[i] >> 4];
        out[pos++] = hex[hs->master[i] & 15];
    }
    out[pos] = '\0';
    return 1;
}

int dt_hs_finished(dt_hs *hs, int from_server, const uint8_t *handshake_hash, size_t hashlen,
                   uint8_t *out12)
{
    const char *label = from_server ? "server finished" : "client finished";
    if (!hs->have_master) {
        dth_err("no master secret");
        return 0;
    }
    return dth_prf(hs->kdf, hs->md, hs->master, DTH_MASTER, (const uint8_t *)label,
                   strlen(label), handshake_hash, hashlen, NULL, 0, out12, 12);
}

dt_rec *dt_hs_record_state(dt_hs *hs, int encrypt, int for_client_write, int version,
                           const char *cipher, const char *mac, int etm, size_t mac_keylen,
                           size_t keylen, size_t ivlen, const uint8_t *client_random,
                           const uint8_t *server_random)
{
    static const char label[] = "key expansion";
    uint8_t kb[2 * (64 + 64 + 16)];
    size_t side = for_client_write ? 0 : 1;
    dt_rec *r = NULL;

    if (!hs->have_master) {
        dth_err("no master secret");
        return NULL;
    }
    if (mac_keylen > 64 || keylen > 64 || ivlen > 16) {
        dth_err("key block lengths out of range");
        return NULL;
    }
    /* RFC 5246 6.3: client MAC, server MAC, client key, server key, client IV, server IV. */
    if (dth_prf(hs->kdf, hs->md, hs->master, DTH_MASTER, (const uint8_t *)label,
                sizeof(label) - 1, server_random, DTH_RANDOM, client_random, DTH_RANDOM, kb,
                2 * (mac_keylen + keylen + ivlen)))
        r = dt_rec_new(hs->libctx, encrypt, version, cipher, mac, etm,
                       kb + 2 * mac_keylen + side * keylen, keylen,
                       kb + side * mac_keylen, mac_keylen,
                       kb + 2 * (mac_keylen + keylen) + side * ivlen, ivlen);
    OPENSSL_cleanse(kb, sizeof(kb));
    return r;
}

/* ---- signatures (ServerKeyExchange, CertificateVerify) ---- */

static EVP_MD_CTX *dth_sig_ctx(OSSL_LIB_CTX *ctx, EVP_PKEY *key, const char *md, int pss, int sign)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    int ok;
    if (m == NULL)
        return NULL;
    /* RSA with MD5-SHA1 signs the bare 36-byte hash pair, no DigestInfo (RFC 2246 7.4.3). */
    ok = sign ? EVP_DigestSignInit_ex(m, &pc, md, ctx, NULL, key, NULL)
              : EVP_DigestVerifyInit_ex(m, &pc, md, ctx, NULL, key, NULL);
    if (ok > 0 && pss)   /* rsa_pss_rsae_*: MGF1 with the same hash, salt = hash length */
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) > 0
             && EVP_PKEY_CTX_set_rsa_mgf1_md_name(pc, md, NULL) > 0;
    if (ok <= 0) {
        EVP_MD_CTX_free(m);   /* frees pc too: it belongs to m */
        return NULL;
    }
    return m;
}

int dt_sign(OSSL_LIB_CTX *ctx, EVP_PKEY *key, const char *md, int pss, const uint8_t *data,
            size_t len, uint8_t *sig, size_t sigcap, size_t *siglen)
{
    EVP_MD_CTX *m = dth_sig_ctx(ctx, key, md, pss, 1);
    int ok;
    if (m == NULL)
        return 0;
    *siglen = sigcap;
    ok = EVP_DigestSign(m, sig, siglen, data, len) > 0;
    EVP_MD_CTX_free(m);
    return ok;
}

int dt_verify(OSSL_LIB_CTX *ctx, EVP_PKEY *key, const char *md, int pss, const uint8_t *data,
              size_t len, const uint8_t *sig, size_t siglen)
{
    EVP_MD_CTX *m = dth_sig_ctx(ctx, key, md, pss, 0);
    int rc;
    if (m == NULL)
        return -1;
    /* Anything but a verified signature is "bad": a malformed one is the peer's fault too. */
    rc = EVP_DigestVerify(m, sig, siglen, data, len) == 1 ? 1 : 0;
    EVP_MD_CTX_free(m);
    return rc;
}
