/* ---- our helpers: csrc/dt_hscrypto.c (own TLS 1.0-1.2 handshake crypto, docs/own-engine.md) ---- */
int EVP_PKEY_get_size(const EVP_PKEY *);
#define ERR_LIB_DH ...
#define DH_R_MODULUS_TOO_SMALL ...
typedef struct dt_hs dt_hs;
dt_hs *dt_hs_new(OSSL_LIB_CTX *, const char *);
void dt_hs_free(dt_hs *);
int dt_prf(OSSL_LIB_CTX *, const char *, const uint8_t *, size_t, const uint8_t *, size_t,
           const uint8_t *, size_t, uint8_t *, size_t);
int dt_hs_rsa_client(dt_hs *, EVP_PKEY *, int, uint8_t *, size_t, size_t *);
int dt_hs_rsa_client_probe(dt_hs *, EVP_PKEY *, int, int, uint8_t *, size_t, size_t *);
int dt_hs_rsa_server(dt_hs *, EVP_PKEY *, int, const uint8_t *, size_t);
EVP_PKEY *dt_kx_keygen_group(OSSL_LIB_CTX *, const char *);
EVP_PKEY *dt_kx_keygen_dh(OSSL_LIB_CTX *, const uint8_t *, size_t, const uint8_t *, size_t);
int dt_kx_public(EVP_PKEY *, uint8_t *, size_t, size_t *);
int dt_kx_dh_params(EVP_PKEY *, uint8_t *, size_t, size_t *, uint8_t *, size_t, size_t *);
int dt_kx_bits(EVP_PKEY *);
int dt_hs_kx_derive(dt_hs *, EVP_PKEY *, const uint8_t *, size_t);
int dt_hs_master(dt_hs *, const uint8_t *, const uint8_t *, const uint8_t *, size_t);
int dt_hs_keylog_line(dt_hs *, const uint8_t *, char *, size_t);
int dt_hs_finished(dt_hs *, int, const uint8_t *, size_t, uint8_t *);
dt_rec *dt_hs_record_state(dt_hs *, int, int, int, const char *, const char *, int, size_t, size_t,
                           size_t, const uint8_t *, const uint8_t *);
int dt_sign(OSSL_LIB_CTX *, EVP_PKEY *, const char *, int, const uint8_t *, size_t, uint8_t *,
            size_t, size_t *);
int dt_verify(OSSL_LIB_CTX *, EVP_PKEY *, const char *, int, const uint8_t *, size_t,
              const uint8_t *, size_t);
