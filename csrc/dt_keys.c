/*
 * Keys and certificates: decoding (PEM or DER, encrypted or not), installing a chain on an SSL_CTX,
 * and the dev-PKI helpers (key generation, certificate issuing, key export).
 *
 * Every password request goes through dt_pem_password_cb, which asks Python; with no Python source
 * it answers "no password" so OpenSSL never falls back to prompting on a terminal.
 */

static int dt_pem_password_cb(char *buf, int size, int rwflag, void *u)
{
    if (u == NULL)
        return 0;
    return dt_py_password(buf, size, rwflag, u);
}

/*
 * Decode a private key from memory.  fmt is "PEM", "DER" or NULL (try both).  pw_handle is the
 * Python password source (NULL = none).  Returns NULL with the error queue set on failure.
 */
EVP_PKEY *dt_load_private_key(OSSL_LIB_CTX *lib, const uint8_t *data, size_t len,
                              const char *fmt, void *pw_handle)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx;
    const unsigned char *p = data;
    size_t left = len;

    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, fmt, NULL, NULL, EVP_PKEY_KEYPAIR, lib, NULL);
    if (dctx == NULL)
        return NULL;
    OSSL_DECODER_CTX_set_pem_password_cb(dctx, dt_pem_password_cb, pw_handle);
    if (!OSSL_DECODER_from_data(dctx, &p, &left)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(dctx);
    return pkey;
}

/* Read every certificate from a PEM buffer (or one DER certificate); returns the count. */
int dt_load_certificates(OSSL_LIB_CTX *lib, const uint8_t *data, size_t len, int der,
                         X509 **out, int cap)
{
    BIO *bio;
    int n = 0;
    if (len > INT_MAX)  /* a negative length would make OpenSSL fall back to strlen() */
        return -1;
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL)
        return -1;
    if (der) {
        X509 *x = X509_new_ex(lib, NULL);
        if (x != NULL && d2i_X509_bio(bio, &x) != NULL && cap > 0)
            out[n++] = x;
        else
            X509_free(x);
    } else {
        while (n < cap) {
            X509 *x = X509_new_ex(lib, NULL);
            if (x == NULL || PEM_read_bio_X509(bio, &x, NULL, NULL) == NULL) {
                unsigned long e = ERR_peek_last_error();
                X509_free(x);
                /* Running off the end of the data is how the loop ends; anything else (a corrupt
                 * or truncated certificate after good ones) fails the whole file. */
                if (n > 0 && ERR_GET_LIB(e) == ERR_LIB_PEM
                    && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                    ERR_clear_error();
                } else if (n > 0) {
                    while (n > 0)
                        X509_free(out[--n]);
                    n = -1;
                }
                break;
            }
            out[n++] = x;
        }
    }
    BIO_free(bio);
    return n;
}

/* Install leaf + chain + key; the context takes its own references. */
int dt_ctx_use_chain(SSL_CTX *ctx, X509 **certs, int n, EVP_PKEY *key)
{
    STACK_OF(X509) *chain;
    int i, ok;
    if (n < 1 || (chain = sk_X509_new_null()) == NULL)
        return 0;
    for (i = 1; i < n; i++) {
        if (!sk_X509_push(chain, certs[i])) {
            sk_X509_free(chain);
            return 0;
        }
    }
    ok = SSL_CTX_use_cert_and_key(ctx, certs[0], key, chain, 1);
    sk_X509_free(chain);  /* the context copied what it keeps */
    return ok;
}

EVP_PKEY *dt_keygen(OSSL_LIB_CTX *lib, const char *type, int bits, const char *curve)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_from_name(lib, type, NULL);
    if (kctx == NULL)
        return NULL;
    if (EVP_PKEY_keygen_init(kctx) <= 0)
        goto done;
    if (strcmp(type, "RSA") == 0) {
        if (EVP_PKEY_CTX_set_rsa_keygen_bits(kctx, bits) <= 0)
            goto done;
    } else if (EVP_PKEY_CTX_set_group_name(kctx, curve) <= 0) {
        goto done;
    }
    if (EVP_PKEY_generate(kctx, &pkey) <= 0)
        pkey = NULL;
done:
    EVP_PKEY_CTX_free(kctx);
    return pkey;
}

/*
 * Issue a certificate.  issuer == NULL makes it self-signed.  Validity is given as offsets in
 * seconds from now (negative = past) so tests can make expired and not-yet-valid certificates.
 * ext_names/ext_values are OpenSSL v3 extension config pairs ("basicConstraints", "critical,CA:TRUE").
 */
X509 *dt_issue_certificate(OSSL_LIB_CTX *lib, EVP_PKEY *subject_key, const char *cn,
                           const char *org, X509 *issuer, EVP_PKEY *issuer_key, long serial,
                           long not_before, long not_after, const char **ext_names,
                           const char **ext_values, int n_ext)
{
    X509 *x = X509_new_ex(lib, NULL);
    X509_NAME *name = NULL;
    X509V3_CTX v3;
    EVP_MD_CTX *mctx = NULL;
    int i;

    if (x == NULL)
        return NULL;
    if (!X509_set_version(x, X509_VERSION_3)
        || !ASN1_INTEGER_set(X509_get_serialNumber(x), serial)
        || X509_gmtime_adj(X509_getm_notBefore(x), not_before) == NULL
        || X509_gmtime_adj(X509_getm_notAfter(x), not_after) == NULL
        || !X509_set_pubkey(x, subject_key))
        goto fail;
    name = X509_get_subject_name(x);
    if ((org != NULL && org[0] != 0
         && !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0))
        || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
        goto fail;
    if (!X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
        goto fail;
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    for (i = 0; i < n_ext; i++) {
        X509_EXTENSION *ext = X509V3_EXT_nconf(NULL, &v3, ext_names[i], ext_values[i]);
        int added;
        if (ext == NULL)
            goto fail;
        added = X509_add_ext(x, ext, -1);  /* copies ext */
        X509_EXTENSION_free(ext);
        if (!added)
            goto fail;
    }
    mctx = EVP_MD_CTX_new();
    if (mctx == NULL
        || EVP_DigestSignInit_ex(mctx, NULL, "SHA256", lib, NULL,
                                 issuer_key ? issuer_key : subject_key, NULL) <= 0
        || X509_sign_ctx(x, mctx) <= 0)
        goto fail;
    EVP_MD_CTX_free(mctx);
    return x;
fail:
    EVP_MD_CTX_free(mctx);
    X509_free(x);
    return NULL;
}

/*
 * Serialise a private key into a memory BIO.  form: 0 PKCS#8 PEM, 1 traditional PEM (the
 * "BEGIN RSA PRIVATE KEY" form with Proc-Type headers when encrypted), 2 PKCS#8 DER.
 * cipher NULL = unencrypted.
 */
int dt_write_private_key(BIO *bio, EVP_PKEY *pkey, int form, const EVP_CIPHER *cipher,
                         const char *pw, int pwlen)
{
    switch (form) {
    case 0:
        return PEM_write_bio_PKCS8PrivateKey(bio, pkey, cipher, pw, pwlen, NULL, NULL);
    case 1:
        return PEM_write_bio_PrivateKey_traditional(bio, pkey, cipher,
                                                    (unsigned char *)pw, pwlen, NULL, NULL);
    case 2:
        return i2d_PKCS8PrivateKey_bio(bio, pkey, cipher, pw, pwlen, NULL, NULL);
    default:
        return 0;
    }
}
