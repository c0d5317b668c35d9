/* ---- our helpers: csrc/dt_record.c (own TLS 1.0-1.2 record layer, docs/own-engine.md) ---- */
typedef struct dt_rec dt_rec;
dt_rec *dt_rec_new(OSSL_LIB_CTX *, int, int, const char *, const char *, int,
                   const uint8_t *, size_t, const uint8_t *, size_t, const uint8_t *, size_t);
void dt_rec_free(dt_rec *);
size_t dt_rec_seal_bound(dt_rec *, size_t, size_t);
int dt_rec_multiblock(dt_rec *);
int dt_rec_seal(dt_rec *, int, const uint8_t *, size_t, size_t, int, uint8_t *, size_t, size_t *);
int dt_rec_open(dt_rec *, const uint8_t *, size_t, uint8_t *, size_t, size_t *, size_t *, int *);
/* ---- csrc/dt_rec_io.c: the own engine's data path over a socket (DT_IO_* as dt_conn_io.c) ---- */
#define DT_IO_STOP 5
typedef struct dt_rio dt_rio;
dt_rio *dt_rio_new(void);
void dt_rio_free(dt_rio *);
int dt_rio_put_in(dt_rio *, const uint8_t *, size_t);
size_t dt_rio_pending_in(dt_rio *);
size_t dt_rio_take_in(dt_rio *, uint8_t *, size_t);
int dt_rio_put_out(dt_rio *, const uint8_t *, size_t);
size_t dt_rio_pending_out(dt_rio *);
size_t dt_rio_take_out(dt_rio *, uint8_t *, size_t);
int dt_rio_recv_fd(dt_rio *, dt_rec *, int, uint8_t *, size_t, int, size_t *, int *);
int dt_rio_send_fd(dt_rio *, dt_rec *, int, const uint8_t *, size_t, int, int, size_t *, int *);
