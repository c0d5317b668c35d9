/*
 * The own engine's data path over a socket, once the handshake is done: the counterpart of
 * dt_conn_io.c for dt_rec (the own TLS 1.0-1.2 record layer). One call moves a whole buffer,
 * with the GIL released: socket -> staging buffer -> open straight into the caller's buffer,
 * and caller's buffer -> seal into the output buffer -> socket.
 *
 * The protocol logic stays in Python (tls/own/connection.py). This path handles application
 * data records only; at anything else it stops *before* opening the record (DT_IO_STOP) and
 * the Python side takes the staged ciphertext back (dt_rio_take_in) for its event path: a
 * close_notify, an alert, a renegotiation attempt, a record that fails to open (its state
 * remembers the failure, so the event path raises it: a bad MAC, or too many empty records in
 * a row, dt_record_open.c), or a caller buffer too small for the next record. Bytes the event path still holds are put in first
 * (dt_rio_put_in / dt_rio_put_out), so both paths see one ordered stream each way.
 *
 * Outcomes are those of dt_conn_io.c (DT_IO_DONE, TIMEOUT, EOF, ERRNO, EINTR) plus DT_IO_STOP.
 * After EINTR or TIMEOUT on sending, the sealed records not sent yet stay in the output
 * buffer (dt_rio_pending_out) and go first on the next call (after TIMEOUT the caller only
 * closes: part of a record may have gone).
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#define DT_IO_STOP 5

/* Received ciphertext per recv(): eight full records, plus room for a partial one carried
 * over from the last call. */
#define DT_RIO_MAX_RECORD (DTR_HDR + DTR_MAX_CIPHER)
#define DT_RIO_IN_CAP (9 * DT_RIO_MAX_RECORD)
/* Plaintext sealed per step before it is sent: four full records, as dt_conn_io.c does. */
#define DT_RIO_SEAL_STEP (4 * 16384)
#define DT_RIO_APPLICATION_DATA 23

/* A byte queue: data[off, len) is live; it is compacted, then grown, when more must fit. */
typedef struct dt_rio_buf {
    uint8_t *data;
    size_t off, len, cap;
} dt_rio_buf;

typedef struct dt_rio {
    dt_rio_buf in;               /* staged ciphertext, not opened yet */
    dt_rio_buf out;              /* sealed ciphertext, not sent yet */
} dt_rio;

dt_rio *dt_rio_new(void)
{
    return OPENSSL_zalloc(sizeof(dt_rio));
}

void dt_rio_free(dt_rio *io)
{
    if (io == NULL)
        return;
    OPENSSL_clear_free(io->in.data, io->in.cap);
    OPENSSL_clear_free(io->out.data, io->out.cap);
    OPENSSL_free(io);
}

static size_t dt_rio_live(const dt_rio_buf *b) { return b->len - b->off; }

/* Make room for `need` bytes after the live part (moved to the front first); 0: no memory. */
static int dt_rio_room(dt_rio_buf *b, size_t need)
{
    size_t live = dt_rio_live(b);
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, live);
        b->off = 0;
        b->len = live;
    }
    if (b->cap - live < need) {
        uint8_t *grown = OPENSSL_clear_realloc(b->data, b->cap, live + need);
        if (grown == NULL)
            return 0;
        b->data = grown;
        b->cap = live + need;
    }
    return 1;
}

static int dt_rio_put(dt_rio_buf *b, const uint8_t *data, size_t len)
{
    if (!dt_rio_room(b, len))
        return 0;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 1;
}

static size_t dt_rio_take(dt_rio_buf *b, uint8_t *dst, size_t cap)
{
    size_t n = dt_rio_live(b) < cap ? dt_rio_live(b) : cap;
    memcpy(dst, b->data + b->off, n);
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
    return n;
}

/* What the event path and Python see of the two queues. */
int dt_rio_put_in(dt_rio *io, const uint8_t *d, size_t n) { return dt_rio_put(&io->in, d, n); }
int dt_rio_put_out(dt_rio *io, const uint8_t *d, size_t n) { return dt_rio_put(&io->out, d, n); }
size_t dt_rio_take_in(dt_rio *io, uint8_t *d, size_t n) { return dt_rio_take(&io->in, d, n); }
size_t dt_rio_take_out(dt_rio *io, uint8_t *d, size_t n) { return dt_rio_take(&io->out, d, n); }
size_t dt_rio_pending_in(dt_rio *io) { return dt_rio_live(&io->in); }
size_t dt_rio_pending_out(dt_rio *io) { return dt_rio_live(&io->out); }

/* Send the output queue; what is not sent stays there, in order, across any return. */
static int dt_rio_flush(dt_rio *io, int fd, long long deadline, int *err)
{
    int w = dt_io_send_all(fd, io->out.data, &io->out.off, io->out.len, deadline, err);
    if (w == DT_IO_DONE)
        io->out.off = io->out.len = 0;
    return w;
}

/* Open the application data records at the front of the staging buffer into buf[*got, cap).
 * DT_IO_DONE: opened what could be (maybe nothing: more input needed); DT_IO_STOP: the event
 * path must look at the next record first. */
static int dt_rio_open_staged(dt_rio *io, dt_rec *rd, uint8_t *buf, size_t cap, size_t *got)
{
    while (dt_rio_live(&io->in) >= DTR_HDR) {
        size_t consumed, produced;
        int type, n;
        if (io->in.data[io->in.off] != DT_RIO_APPLICATION_DATA)
            return DT_IO_STOP;
        n = dt_rec_open(rd, io->in.data + io->in.off, dt_rio_live(&io->in), buf + *got,
                        cap - *got, &consumed, &produced, &type);
        if (n < 0) {
            ERR_clear_error();  /* the state keeps the failure; the event path raises it */
            return DT_IO_STOP;
        }
        if (n == 0) {
            size_t len = ((size_t)io->in.data[io->in.off + 3] << 8) | io->in.data[io->in.off + 4];
            /* A whole record is here but the caller's room is not enough for it. */
            return dt_rio_live(&io->in) - DTR_HDR >= len ? DT_IO_STOP : DT_IO_DONE;
        }
        io->in.off += consumed;
        *got += produced;
        if (rd->failed)
            return DT_IO_STOP;   /* records before a bad one were handed out: stop at it */
    }
    if (io->in.off == io->in.len)
        io->in.off = io->in.len = 0;
    return DT_IO_DONE;
}

int dt_rio_recv_fd(dt_rio *io, dt_rec *rd, int fd, uint8_t *buf, size_t cap, int timeout_ms,
                   size_t *got, int *err)
{
    long long deadline = timeout_ms < 0 ? -1 : dt_now_ms() + timeout_ms;
    ssize_t r;
    int w, s;

    *got = 0;
    *err = 0;
    for (;;) {
        s = dt_rio_open_staged(io, rd, buf, cap, got);
        if (s == DT_IO_STOP)
            return *got ? DT_IO_DONE : DT_IO_STOP;   /* with data: the stop shows next call */
        if (*got == cap)
            return DT_IO_DONE;
        /* What is staged now is at most a partial record: top the buffer up to a full
         * batch of records, moving that part to the front only when the end is near. */
        if (io->in.cap - io->in.len < DT_RIO_MAX_RECORD
            && !dt_rio_room(&io->in, DT_RIO_IN_CAP - dt_rio_live(&io->in))) {
            *err = ENOMEM;
            return DT_IO_ERRNO;
        }
        r = recv(fd, io->in.data + io->in.len, io->in.cap - io->in.len, MSG_DONTWAIT);
        if (r > 0) {
            io->in.len += (size_t)r;
            continue;
        }
        if (*got)
            return DT_IO_DONE;   /* a socket error or EOF shows on the next call */
        if ((w = dt_io_recv_outcome(r, err)) >= 0)
            return w;
        w = dt_rio_flush(io, fd, deadline, err);   /* what the event path left, first */
        if (w != DT_IO_DONE)
            return w;
        w = dt_io_wait(fd, POLLIN, deadline, err);
        if (w != DT_IO_DONE)
            return w;
    }
}

int dt_rio_send_fd(dt_rio *io, dt_rec *wr, int fd, const uint8_t *buf, size_t len,
                   int split_first, int timeout_ms, size_t *taken, int *err)
{
    long long deadline = timeout_ms < 0 ? -1 : dt_now_ms() + timeout_ms;
    size_t step, bound, written;
    int w;

    *taken = 0;
    *err = 0;
    w = dt_rio_flush(io, fd, deadline, err);
    if (w != DT_IO_DONE)
        return w;
    while (*taken < len) {
        step = len - *taken;
        if (step > DT_RIO_SEAL_STEP)
            step = DT_RIO_SEAL_STEP;
        bound = dt_rec_seal_bound(wr, step, DTR_MAX_PLAIN);
        /* The queue is empty here (flushed): seal at its start. */
        if (!dt_rio_room(&io->out, bound)) {
            *err = ENOMEM;
            return DT_IO_ERRNO;
        }
        if (!dt_rec_seal(wr, DT_RIO_APPLICATION_DATA, buf + *taken, step, DTR_MAX_PLAIN,
                         split_first && *taken == 0, io->out.data, io->out.cap, &written))
            return DT_IO_STOP;   /* the error is on OpenSSL's queue for the caller to raise */
        io->out.len = written;
        *taken += step;
        w = dt_rio_flush(io, fd, deadline, err);
        if (w != DT_IO_DONE)
            return w;
    }
    return DT_IO_DONE;
}
