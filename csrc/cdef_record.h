/* ---- our helpers: csrc/dt_record.c (own TLS 1.0-1.2 record layer, docs/own-engine.md) ---- */
typedef struct dt_rec dt_rec;
dt_rec *dt_rec_new(OSSL_LIB_CTX *, int, int, const char *, const char *, int,
                   const uint8_t *, size_t, const uint8_t *, size_t, const uint8_t *, size_t);
void dt_rec_free(dt_rec *);
size_t dt_rec_seal_bound(dt_rec *, size_t, size_t);
int dt_rec_multiblock(dt_rec *);
int dt_rec_seal(dt_rec *, int, const uint8_t *, size_t, size_t, int, uint8_t *, size_t, size_t *);
int dt_rec_open(dt_rec *, const uint8_t *, size_t, uint8_t *, size_t, size_t *, size_t *, int *);
