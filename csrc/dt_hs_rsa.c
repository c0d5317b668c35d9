/*
 * RSA key transport of the own engine's handshake (RFC 5246 7.4.7.1): the client's premaster
 * encryption, the scanner's malformed-premaster probe (scan/robot.py) and the server's
 * decryption with implicit rejection. Compiled in the same translation unit right after
 * dt_hscrypto.c (build_ffi.py's C_FILES), whose dt_hs state and helpers it uses.
 */

/* ---- RSA key transport ---- */

/* Encrypt in[0, inlen) to the server's RSA key with `padding` into out (*outlen: its room in,
 * the ciphertext length out); 0 on failure, the reason on OpenSSL's error queue. */
static int dth_rsa_encrypt(dt_hs *hs, EVP_PKEY *pub, int padding, const uint8_t *in,
                           size_t inlen, uint8_t *out, size_t *outlen)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(hs->libctx, pub, NULL);
    int ok = c != NULL && EVP_PKEY_encrypt_init(c) > 0
             && EVP_PKEY_CTX_set_rsa_padding(c, padding) > 0
             && EVP_PKEY_encrypt(c, out, outlen, in, inlen) > 0;
    EVP_PKEY_CTX_free(c);
    return ok;
}

int dt_hs_rsa_client(dt_hs *hs, EVP_PKEY *server_pub, int client_version, uint8_t *out,
                     size_t outcap, size_t *outlen)
{
    if (!EVP_PKEY_is_a(server_pub, "RSA")) {
        dth_err("RSA key transport needs an RSA key");
        return 0;
    }
    dth_drop_premaster(hs);
    hs->pms[0] = (uint8_t)(client_version >> 8);
    hs->pms[1] = (uint8_t)client_version;
    *outlen = outcap;
    if (RAND_priv_bytes_ex(hs->libctx, hs->pms + 2, DTH_MASTER - 2, 0) <= 0
        || !dth_rsa_encrypt(hs, server_pub, RSA_PKCS1_PADDING, hs->pms, DTH_MASTER, out,
                            outlen)) {
        dth_drop_premaster(hs);
        return 0;
    }
    hs->pms_len = DTH_MASTER;
    return 1;
}

/*
 * The scanner's Bleichenbacher check (scan/robot.py, after Boeck, Somorovsky, Young: ROBOT,
 * 2017): an EncryptedPreMasterSecret whose PKCS#1 v1.5 block is built here by hand and
 * encrypted raw (RSA_NO_PADDING), correct or broken in one way:
 *   0 correct; 1 first two bytes 0x41 0x17 instead of 0x00 0x02; 2 a 0x00 inside the padding
 *   (the message would be longer than 48 bytes); 3 no 0x00 separator before the premaster;
 *   4 the premaster's version wrong (0x02 0x02).
 * The client's own premaster is fresh random bytes, not the block's, as ROBOT's scanner does:
 * its ChangeCipherSpec and Finished are protected with keys the server cannot share whatever it
 * decrypted, so even the correct variant fails at the record layer, and a server without an
 * oracle answers all five alike.
 */
int dt_hs_rsa_client_probe(dt_hs *hs, EVP_PKEY *server_pub, int client_version, int variant,
                           uint8_t *out, size_t outcap, size_t *outlen)
{
    uint8_t block[DTH_PMS_MAX];
    size_t k, i, ps_len;
    int ok = 0;

    if (!EVP_PKEY_is_a(server_pub, "RSA") || variant < 0 || variant > 4) {
        dth_err("the premaster probe needs an RSA key and a variant 0-4");
        return 0;
    }
    k = (size_t)EVP_PKEY_get_size(server_pub);
    if (k < DTH_MASTER + 11 || k > sizeof block || outcap < k) {
        dth_err("RSA key size unusable for key transport");
        return 0;
    }
    dth_drop_premaster(hs);
    /* 0x00 0x02 | nonzero padding | 0x00 | version | 46 random bytes */
    ps_len = k - 3 - DTH_MASTER;
    block[0] = 0x00;
    block[1] = 0x02;
    block[2 + ps_len] = 0x00;
    block[3 + ps_len] = (uint8_t)(client_version >> 8);
    block[4 + ps_len] = (uint8_t)client_version;
    if (RAND_bytes_ex(hs->libctx, block + 2, ps_len, 0) <= 0
        || RAND_bytes_ex(hs->libctx, block + 5 + ps_len, DTH_MASTER - 2, 0) <= 0)
        goto done;
    for (i = 2; i < 2 + ps_len; i++)
        if (block[i] == 0)
            block[i] = 0x5a;                 /* padding bytes must be nonzero */
    if (variant == 1) {
        block[0] = 0x41;
        block[1] = 0x17;
    } else if (variant == 2) {
        block[2 + ps_len / 2] = 0x00;
    } else if (variant == 3) {
        block[2 + ps_len] = 0x11;
    } else if (variant == 4) {
        block[3 + ps_len] = block[4 + ps_len] = 0x02;
    }
    *outlen = outcap;
    if (!dth_rsa_encrypt(hs, server_pub, RSA_NO_PADDING, block, k, out, outlen)
        || RAND_priv_bytes_ex(hs->libctx, hs->pms, DTH_MASTER, 0) <= 0)
        goto done;
    hs->pms_len = DTH_MASTER;
    ok = 1;
done:
    OPENSSL_cleanse(block, sizeof block);
    return ok;
}

/*
 * Server side, RFC 5246 7.4.7.1.  OpenSSL 3.0's RSA_PKCS1_WITH_TLS_PADDING mode (the one libssl
 * uses) decrypts without padding and then, in constant time, checks the PKCS#1 type 2 padding and
 * the premaster's leading version against OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, selecting a
 * fresh random premaster with masks when either is wrong, and returns 48 bytes either way
 * (ossl_rsa_padding_check_PKCS1_type_2_TLS in crypto/rsa/rsa_pk1.c).  It only fails, early, on
 * properties anyone can see in the ciphertext: its length and whether it is below the modulus;
 * those are checked here first and also answered with a random premaster, so a failure of the
 * decrypt call itself is an internal error.  TLS_NEGOTIATED_VERSION is not set: it would make a
 * second version acceptable (the SSL_OP_TLS_ROLLBACK_BUG workaround), which we do not want.
 */
int dt_hs_rsa_server(dt_hs *hs, EVP_PKEY *server_key, int client_version, const uint8_t *enc,
                     size_t enclen)
{
    EVP_PKEY_CTX *c = NULL;
    BIGNUM *n = NULL, *v = NULL;
    OSSL_PARAM p[2];
    unsigned int cv = (unsigned int)client_version;
    size_t outlen = DTH_MASTER;
    int ok = 0, size;

    if (!EVP_PKEY_is_a(server_key, "RSA")) {
        dth_err("RSA key transport needs an RSA key");
        return 0;
    }
    dth_drop_premaster(hs);
    size = EVP_PKEY_get_size(server_key);
    if (size < DTH_MASTER + 11 || size > DTH_PMS_MAX) {
        dth_err("RSA key size unusable for key transport");
        return 0;
    }
    if (!EVP_PKEY_get_bn_param(server_key, OSSL_PKEY_PARAM_RSA_N, &n))
        goto done;
    if (enclen != (size_t)size || (v = BN_bin2bn(enc, (int)enclen, NULL)) == NULL
        || BN_ucmp(v, n) >= 0) {
        if (enclen == (size_t)size && v == NULL)
            goto done;                           /* BN_bin2bn: out of memory */
        if (RAND_priv_bytes_ex(hs->libctx, hs->pms, DTH_MASTER, 0) <= 0)
            goto done;
        hs->pms_len = DTH_MASTER;
        ok = 1;
        goto done;
    }
    p[0] = OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, &cv);
    p[1] = OSSL_PARAM_construct_end();
    if ((c = EVP_PKEY_CTX_new_from_pkey(hs->libctx, server_key, NULL)) == NULL
        || EVP_PKEY_decrypt_init(c) <= 0
        || EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_WITH_TLS_PADDING) <= 0
        || !EVP_PKEY_CTX_set_params(c, p)
        || EVP_PKEY_decrypt(c, hs->pms, &outlen, enc, enclen) <= 0
        || outlen != DTH_MASTER) {
        dth_drop_premaster(hs);
        goto done;
    }
    hs->pms_len = DTH_MASTER;
    ok = 1;
done:
    EVP_PKEY_CTX_free(c);
    BN_free(n);
    BN_free(v);
    return ok;
}
