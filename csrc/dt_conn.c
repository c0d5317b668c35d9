/*
 * libssl pump over a memory BIO (input) and an output queue (dt_outq.c): the sans-IO core of
 * the libssl engine.
 *
 * Python feeds received ciphertext with dt_conn_feed(), drives the handshake, reads and writes
 * application data in large runs (one C call for a whole buffer: cffi drops the GIL around it), and
 * takes the ciphertext to send with dt_conn_take_out().  The struct also records what libssl only
 * reports through callbacks: the last fatal alert in each direction and the first certificate
 * verification failure, so the Python side can raise a typed error after the call returns.
 */

static int dt_conn_ex_index = -1;

int dt_init(void)
{
    if (dt_conn_ex_index < 0)
        dt_conn_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return dt_conn_ex_index >= 0 && dt_outq_init();
}

static dt_conn *dt_conn_of(const SSL *ssl)
{
    return (dt_conn *)SSL_get_ex_data(ssl, dt_conn_ex_index);
}

static void dt_info_cb(const SSL *ssl, int where, int ret)
{
    dt_conn *c;
    int level, desc;

    c = dt_conn_of(ssl);
    if (c == NULL)
        return;
    if ((where & SSL_CB_LOOP) && c->kx_bits == 0) {
        /* A TLS 1.2 server's ephemeral key lives only between its ServerKeyExchange and the
         * client's ClientKeyExchange, so its size is taken while the handshake runs. */
        EVP_PKEY *key = NULL;
        if (SSL_is_server((SSL *)ssl) && SSL_get_tmp_key((SSL *)ssl, &key)) {
            c->kx_bits = EVP_PKEY_get_bits(key);
            EVP_PKEY_free(key);
        }
    }
    if (!(where & SSL_CB_ALERT))
        return;
    level = (ret >> 8) & 0xff;
    desc = ret & 0xff;
    if (where & SSL_CB_WRITE) {
        if (level == 2 || c->alert_sent < 0) {
            c->alert_sent = desc;
            c->alert_sent_level = level;
        }
    } else {
        if (level == 2 || c->alert_received < 0) {
            c->alert_received = desc;
            c->alert_received_level = level;
        }
    }
}

/* Called by OpenSSL for each certificate of the peer chain (and again for each error). */
static int dt_verify_cb(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    dt_conn *c = ssl ? dt_conn_of(ssl) : NULL;
    int err = X509_STORE_CTX_get_error(store);
    int depth = X509_STORE_CTX_get_error_depth(store);

    if (c == NULL)
        return ok;
    if (c->presented_leaf == NULL) {
        /* Kept so a refused peer can be named: libssl stores the peer certificate in the
         * session only once the chain has verified. */
        X509 *leaf = X509_STORE_CTX_get0_cert(store);
        if (leaf != NULL && X509_up_ref(leaf))
            c->presented_leaf = leaf;
    }
    if (c->py_verify) {
        int user_ok = dt_py_verify(c->py_handle, ok, X509_STORE_CTX_get_current_cert(store),
                                   err, depth);
        if (ok && !user_ok) {
            /* A veto of a chain OpenSSL accepted: report it as OpenSSL's own code for that. */
            err = X509_V_ERR_APPLICATION_VERIFICATION;
            X509_STORE_CTX_set_error(store, err);
        }
        ok = user_ok;
    }
    if (!ok && c->verify_error == 0) {
        c->verify_error = err;
        c->verify_depth = depth;
    }
    return ok;
}

static void dt_keylog_cb(const SSL *ssl, const char *line)
{
    dt_conn *c = dt_conn_of(ssl);
    if (c != NULL && c->py_keylog)
        dt_py_keylog(c->py_handle, line);
}

/* A client's new session (after a TLS 1.2 handshake, or each TLS 1.3 NewSessionTicket): kept
 * on the connection, replacing an older one, for Python to take into its session cache. */
static int dt_new_session_cb(SSL *ssl, SSL_SESSION *session)
{
    dt_conn *c = dt_conn_of(ssl);
    if (c == NULL)
        return 0;              /* not ours: libssl frees it */
    SSL_SESSION_free(c->new_session);
    c->new_session = session;
    return 1;                  /* we keep the reference libssl gave us */
}

/*
 * Session resumption, off unless ``enabled`` (DCMTK has it off too: a resumed handshake does not
 * check the client certificate again).  Off: no server cache, no tickets sent or asked for.
 * On, server: an internal cache of ``size`` sessions living ``timeout`` seconds, and one TLS 1.3
 * ticket per handshake (TLS 1.2 tickets too); the session id context is set because libssl
 * refuses to resume, when it verifies clients, without one.  On, client: libssl stores nothing
 * itself; dt_new_session_cb hands each new session to Python's bounded cache.
 */
void dt_ctx_session_cache(SSL_CTX *ctx, int server, int enabled, long size, long timeout)
{
    static const unsigned char sid_ctx[] = "dicomtls";

    if (!enabled) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        if (server)
            SSL_CTX_set_num_tickets(ctx, 0);
        return;
    }
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_timeout(ctx, timeout);
    if (server) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, size);
        SSL_CTX_set_num_tickets(ctx, 1);
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, dt_new_session_cb);
    }
}

/* The newest session libssl gave this client connection, or NULL; the caller owns it. */
SSL_SESSION *dt_conn_take_session(dt_conn *c)
{
    SSL_SESSION *s = c->new_session;
    c->new_session = NULL;
    return s;
}

/* Offer ``session`` (still owned by the caller: libssl takes its own reference). */
int dt_conn_set_session(dt_conn *c, SSL_SESSION *session)
{
    return SSL_set_session(c->ssl, session);
}

void dt_ctx_install_callbacks(SSL_CTX *ctx, int verify_mode, int keylog)
{
    SSL_CTX_set_verify(ctx, verify_mode, verify_mode == SSL_VERIFY_NONE ? NULL : dt_verify_cb);
    if (keylog)
        SSL_CTX_set_keylog_callback(ctx, dt_keylog_cb);
}

dt_conn *dt_conn_new(SSL_CTX *ctx, int server, void *py_handle, int py_verify, int py_keylog)
{
    dt_conn *c = OPENSSL_zalloc(sizeof(*c));
    if (c == NULL)
        return NULL;
    c->alert_sent = c->alert_received = -1;
    c->py_handle = py_handle;
    c->py_verify = py_verify;
    c->py_keylog = py_keylog;
    c->ssl = SSL_new(ctx);
    c->net_in = BIO_new(BIO_s_mem());
    c->out_fd = -1;
    c->net_out = dt_outq_new(c);   /* dt_outq.c: a queue that can send straight to the socket */
    if (c->ssl == NULL || c->net_in == NULL || c->net_out == NULL)
        goto fail;
    /* An empty input BIO means "no data yet", not EOF, until dt_conn_feed_eof(). */
    BIO_set_mem_eof_return(c->net_in, -1);
    if (!SSL_set_ex_data(c->ssl, dt_conn_ex_index, c))
        goto fail;
    SSL_set_info_callback(c->ssl, dt_info_cb);
    /* The SSL takes ownership of both BIOs from here on. */
    SSL_set_bio(c->ssl, c->net_in, c->net_out);
    if (server)
        SSL_set_accept_state(c->ssl);
    else
        SSL_set_connect_state(c->ssl);
    return c;

fail:
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    BIO_free(c->net_in);
    BIO_free(c->net_out);
    OPENSSL_free(c);
    return NULL;
}

void dt_conn_free(dt_conn *c)
{
    if (c == NULL)
        return;
    SSL_set_ex_data(c->ssl, dt_conn_ex_index, NULL);
    SSL_free(c->ssl);   /* frees both BIOs */
    X509_free(c->presented_leaf);
    SSL_SESSION_free(c->new_session);
    OPENSSL_free(c->io_stage);
    OPENSSL_free(c->outq);
    OPENSSL_free(c);
}

SSL *dt_conn_ssl(dt_conn *c) { return c->ssl; }

int dt_conn_feed(dt_conn *c, const uint8_t *data, size_t len)
{
    size_t done = 0, n;
    while (done < len) {
        if (!BIO_write_ex(c->net_in, data + done, len - done, &n))
            return 0;
        done += n;
    }
    return 1;
}

void dt_conn_feed_eof(dt_conn *c)
{
    BIO_set_mem_eof_return(c->net_in, 0);
}

size_t dt_conn_pending_in(dt_conn *c)
{
    return BIO_ctrl_pending(c->net_in) + (size_t)SSL_pending(c->ssl);
}

/* Ciphertext to send: the output queue (dt_outq.c), oldest bytes first. */
size_t dt_conn_pending_out(dt_conn *c)
{
    return c->outq_len - c->outq_off;
}

size_t dt_conn_take_out(dt_conn *c, uint8_t *buf, size_t cap)
{
    size_t n = c->outq_len - c->outq_off;
    if (n > cap)
        n = cap;
    if (n)
        memcpy(buf, c->outq + c->outq_off, n);
    c->outq_off += n;
    return n;
}

int dt_conn_handshake(dt_conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    return r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
}

/*
 * Decrypt as much as is buffered into buf.  Returns the SSL_get_error() code of the call that
 * stopped the loop (SSL_ERROR_WANT_READ when the input ran dry, SSL_ERROR_ZERO_RETURN after
 * close_notify) or SSL_ERROR_NONE when buf filled up.  *got counts bytes written to buf either way.
 */
int dt_conn_read(dt_conn *c, uint8_t *buf, size_t cap, size_t *got)
{
    size_t n;
    *got = 0;
    while (*got < cap) {
        if (!SSL_read_ex(c->ssl, buf + *got, cap - *got, &n))
            return SSL_get_error(c->ssl, 0);
        *got += n;
    }
    return SSL_ERROR_NONE;
}

/* Encrypt a whole run of plaintext; the memory BIO never refuses, so this writes it all. */
int dt_conn_write(dt_conn *c, const uint8_t *buf, size_t len, size_t *written)
{
    size_t n;
    *written = 0;
    while (*written < len) {
        if (!SSL_write_ex(c->ssl, buf + *written, len - *written, &n))
            return SSL_get_error(c->ssl, 0);
        *written += n;
    }
    return SSL_ERROR_NONE;
}

int dt_conn_shutdown(dt_conn *c)
{
    int r = SSL_shutdown(c->ssl);
    if (r >= 0)
        return SSL_ERROR_NONE;
    return SSL_get_error(c->ssl, r);
}

int dt_conn_alert_sent(dt_conn *c) { return c->alert_sent; }
int dt_conn_alert_sent_level(dt_conn *c) { return c->alert_sent_level; }
int dt_conn_alert_received(dt_conn *c) { return c->alert_received; }
int dt_conn_alert_received_level(dt_conn *c) { return c->alert_received_level; }
int dt_conn_verify_error(dt_conn *c) { return c->verify_error; }
int dt_conn_verify_depth(dt_conn *c) { return c->verify_depth; }

/* The peer's leaf certificate (borrowed): the one verification saw, else the session's. */
X509 *dt_conn_presented_leaf(dt_conn *c)
{
    return c->presented_leaf != NULL ? c->presented_leaf : SSL_get0_peer_certificate(c->ssl);
}

/* The peer chain, leaf first: the verified chain when there is one, else what the peer sent. */
int dt_conn_peer_chain(dt_conn *c, X509 **out, int cap)
{
    STACK_OF(X509) *chain = SSL_get0_verified_chain(c->ssl);
    X509 *leaf = SSL_get0_peer_certificate(c->ssl);
    int i, n = 0;

    if (leaf == NULL)
        return 0;
    if (chain != NULL && sk_X509_num(chain) > 0) {
        for (i = 0; i < sk_X509_num(chain) && n < cap; i++)
            out[n++] = sk_X509_value(chain, i);
        return n;
    }
    out[n++] = leaf;
    /* A server's view of the client chain excludes the leaf; a client's view includes it. */
    chain = SSL_get_peer_cert_chain(c->ssl);
    for (i = 0; chain != NULL && i < sk_X509_num(chain) && n < cap; i++) {
        X509 *x = sk_X509_value(chain, i);
        if (X509_cmp(x, leaf) != 0)
            out[n++] = x;
    }
    return n;
}

/* Bits of the ephemeral key exchange (DH group size, EC curve size), 0 if none or unknown. */
int dt_conn_kx_bits(dt_conn *c, int server)
{
    EVP_PKEY *key = NULL;
    int bits = 0;
    if (c->kx_bits > 0)
        return c->kx_bits;
    if (server ? SSL_get_tmp_key(c->ssl, &key) : SSL_get_peer_tmp_key(c->ssl, &key)) {
        bits = EVP_PKEY_get_bits(key);
        EVP_PKEY_free(key);
    }
    ERR_clear_error();  /* no ephemeral key (RSA key transport) is not an error */
    return bits;
}

const char *dt_conn_kx_group(dt_conn *c)
{
    int nid = SSL_get_negotiated_group(c->ssl);
    const char *name = nid > 0 ? SSL_group_to_name(c->ssl, nid) : NULL;
    ERR_clear_error();
    return name;
}

/* Bulk cipher key bits and the suite code libssl negotiated. */
int dt_conn_cipher(dt_conn *c, int *code, int *bits)
{
    const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);
    if (ci == NULL)
        return 0;
    *code = SSL_CIPHER_get_protocol_id(ci);
    SSL_CIPHER_get_bits(ci, bits);
    return 1;
}

/* Whether this libssl build can negotiate a suite: fills codes[] with every code it offers. */
int dt_libssl_suite_codes(OSSL_LIB_CTX *lib, int *codes, int cap)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(lib, NULL, TLS_method());
    STACK_OF(SSL_CIPHER) *ciphers;
    int i, n = 0;
    if (ctx == NULL)
        return -1;
    SSL_CTX_set_security_level(ctx, 0);
    /* "ALL:COMPLEMENTOFALL" lists everything compiled in, NULL suites included. */
    if (!SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL")) {
        SSL_CTX_free(ctx);
        return -1;
    }
    /* TLS 1.3 suites are a separate list; the CCM ones are not in libssl's default. */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                             "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:"
                             "TLS_AES_128_CCM_8_SHA256");
    ERR_clear_error();
    ciphers = SSL_CTX_get_ciphers(ctx);
    for (i = 0; ciphers != NULL && i < sk_SSL_CIPHER_num(ciphers) && n < cap; i++)
        codes[n++] = SSL_CIPHER_get_protocol_id(sk_SSL_CIPHER_value(ciphers, i));
    SSL_CTX_free(ctx);
    return n;
}
