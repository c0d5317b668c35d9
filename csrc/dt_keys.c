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

/*
 * Chain verification for dicomtls' own TLS engine, with the same policy hooks the libssl engine
 * gets from SSL_CTX: one X509_STORE of trusted certificates, a depth limit, the TLS purpose
 * (X509_PURPOSE_SSL_SERVER / _CLIENT), optional host or IP check, and the Python verify callback
 * (dt_py_verify) asked for every certificate, exactly as libssl's SSL_CTX_set_verify callback is.
 */
typedef struct dt_verify_state {
    void *py_handle;
    int use_cb;
} dt_verify_state;

static int dt_verify_state_idx = -1;

static int dt_own_verify_cb(int ok, X509_STORE_CTX *store)
{
    dt_verify_state *st = X509_STORE_CTX_get_ex_data(store, dt_verify_state_idx);
    if (st == NULL || !st->use_cb)
        return ok;
    return dt_py_verify(st->py_handle, ok, X509_STORE_CTX_get_current_cert(store),
                        X509_STORE_CTX_get_error(store), X509_STORE_CTX_get_error_depth(store));
}

X509_STORE *dt_store_new(OSSL_LIB_CTX *lib, const char *ca_file, const char *ca_dir)
{
    X509_STORE *st = X509_STORE_new();
    if (st == NULL)
        return NULL;
    if ((ca_file != NULL && !X509_STORE_load_file_ex(st, ca_file, lib, NULL))
        || (ca_dir != NULL && !X509_STORE_load_path(st, ca_dir))) {
        X509_STORE_free(st);
        return NULL;
    }
    return st;
}

/*
 * Verify chain[0..n) (leaf first; chain[1..] are untrusted intermediates). Returns 1 when the
 * chain verified (callback included), 0 when it did not (*err, *err_depth say why), -1 on an
 * internal error. host / ip may be NULL.
 */
int dt_verify_chain(X509_STORE *trust, X509 **chain, int n, int depth, int purpose,
                    const char *host, const char *ip, void *py_handle, int use_cb,
                    int *err, int *err_depth)
{
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *untrusted = NULL;
    X509_VERIFY_PARAM *param;
    dt_verify_state st = { py_handle, use_cb };
    int i, rc = -1;

    *err = 0;
    *err_depth = 0;
    if (n < 1)
        return -1;
    if (dt_verify_state_idx < 0) {
        /* Races only allocate a spare index: both threads get valid ones. */
        dt_verify_state_idx = X509_STORE_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        if (dt_verify_state_idx < 0)
            return -1;
    }
    if ((untrusted = sk_X509_new_null()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL)
        goto done;
    for (i = 1; i < n; i++)
        if (!sk_X509_push(untrusted, chain[i]))  /* borrowed: the stack is freed, not its items */
            goto done;
    if (!X509_STORE_CTX_init(ctx, trust, chain[0], untrusted))
        goto done;
    if (!X509_STORE_CTX_set_ex_data(ctx, dt_verify_state_idx, &st))
        goto done;
    X509_STORE_CTX_set_verify_cb(ctx, dt_own_verify_cb);
    param = X509_STORE_CTX_get0_param(ctx);
    if (depth >= 0)
        X509_VERIFY_PARAM_set_depth(param, depth);
    if (!X509_STORE_CTX_set_purpose(ctx, purpose)
        || (host != NULL && !X509_VERIFY_PARAM_set1_host(param, host, 0))
        || (ip != NULL && !X509_VERIFY_PARAM_set1_ip_asc(param, ip)))
        goto done;
    rc = X509_verify_cert(ctx) > 0 ? 1 : 0;
    if (rc == 0) {
        *err = X509_STORE_CTX_get_error(ctx);
        *err_depth = X509_STORE_CTX_get_error_depth(ctx);
        if (*err == X509_V_OK)  /* failed outside the chain checks (e.g. out of memory) */
            rc = -1;
    }
done:
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    return rc;
}
