/*
 * The libssl data path over a socket, once the handshake is done: one call moves a whole buffer
 * between the caller and the socket, with the GIL released (cffi drops it around every call),
 * instead of a Python round trip per read, feed, decrypt and copy.
 *
 * The SSL keeps its input memory BIO and output queue: the sans-IO path (dt_conn_feed /
 * dt_conn_read / take_out) and this one see the same state and may alternate, e.g. ciphertext
 * the handshake already buffered is decrypted here first, and a close_notify or alert found
 * here is left for the event path. Received bytes pass through a small staging buffer owned
 * by the dt_conn (made at the first call: a connection that never carries data costs
 * nothing); sent records go from libssl to the socket directly (dt_outq.c).
 *
 * Outcomes (return value):
 *   DT_IO_DONE     *ssl_rc is the SSL_get_error() code that ended the loop (SSL_ERROR_NONE: the
 *                  buffer filled up or everything was sent; SSL_ERROR_WANT_READ: data arrived
 *                  and the socket has no more right now); *got / *sent count the bytes moved.
 *   DT_IO_TIMEOUT  timeout_ms passed with nothing moved (timeout_ms 0: nothing was ready).
 *   DT_IO_EOF      the peer closed TCP before any plaintext arrived (not fed to the SSL).
 *   DT_IO_ERRNO    a socket call failed; *err is errno.
 *   DT_IO_EINTR    a signal interrupted a wait: the caller runs its handlers and calls again
 *                  (ciphertext not sent yet stays in the output queue, dt_outq.c, and goes
 *                  first: dt_conn_pending_out and dt_conn_take_out count it too).
 * timeout_ms < 0 waits without limit; the socket may be blocking or not (we never block in
 * recv/send themselves: MSG_DONTWAIT, and poll() for the waits).
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#define DT_IO_DONE 0
#define DT_IO_TIMEOUT 1
#define DT_IO_EOF 2
#define DT_IO_ERRNO 3
#define DT_IO_EINTR 4

/* Four full TLS records per socket call: fewer system calls than one record, and still small
 * enough to stay in the L2 cache between recv() and the decryption that reads it. */
#define DT_IO_STAGE (4 * (16384 + 256))
/* Plaintext per SSL_write of the socket path: four full records. */
#define DT_IO_SEND_STEP (4 * 16384)

/* The input staging buffer (made at the first call): socket -> SSL. */
static int dt_io_stage(dt_conn *c)
{
    if (c->io_stage == NULL)
        c->io_stage = OPENSSL_malloc(DT_IO_STAGE);
    return c->io_stage != NULL;
}

static long long dt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for `events`; DT_IO_DONE when it is, else TIMEOUT, EINTR or ERRNO. */
static int dt_io_wait(int fd, short events, long long deadline, int *err)
{
    struct pollfd p;
    int left = -1, r;
    if (deadline >= 0) {
        long long ms = deadline - dt_now_ms();
        left = ms > 0 ? (ms > 0x7fffffff ? 0x7fffffff : (int)ms) : 0;
    }
    p.fd = fd;
    p.events = events;
    p.revents = 0;
    r = poll(&p, 1, left);
    if (r > 0)
        return DT_IO_DONE;  /* ready, or POLLERR/POLLHUP: the next recv/send reports which */
    if (r == 0)
        return DT_IO_TIMEOUT;
    if (errno == EINTR)
        return DT_IO_EINTR;
    *err = errno;
    return DT_IO_ERRNO;
}

/* The outcome of a recv() that returned r <= 0 with nothing received yet: DT_IO_EOF, EINTR or
 * ERRNO, or -1 when the socket just has nothing now (wait for it). Shared with dt_rec_io.c. */
static int dt_io_recv_outcome(ssize_t r, int *err)
{
    if (r == 0)
        return DT_IO_EOF;
    if (errno == EINTR)
        return DT_IO_EINTR;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
        *err = errno;
        return DT_IO_ERRNO;
    }
    return -1;
}

/* Send buf[*off, len) to fd, advancing *off; DT_IO_DONE once all is sent, else TIMEOUT, EINTR
 * (the caller runs its signal handlers and calls again) or ERRNO. Shared with dt_rec_io.c. */
static int dt_io_send_all(int fd, const uint8_t *buf, size_t *off, size_t len,
                          long long deadline, int *err)
{
    ssize_t r;
    int w;
    while (*off < len) {
        r = send(fd, buf + *off, len - *off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0) {
            *off += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            return DT_IO_EINTR;
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            *err = errno;
            return DT_IO_ERRNO;
        }
        w = dt_io_wait(fd, POLLOUT, deadline, err);
        if (w != DT_IO_DONE)
            return w;
    }
    return DT_IO_DONE;
}

/* Send all ciphertext queued in the output queue (dt_outq.c): what the socket did not take
 * at once, and what the event path queued. It stays queued across any return, in order. */
static int dt_io_flush(dt_conn *c, int fd, long long deadline, int *err)
{
    int w = dt_io_send_all(fd, c->outq, &c->outq_off, c->outq_len, deadline, err);
    if (w == DT_IO_DONE)
        c->outq_off = c->outq_len = 0;
    return w;
}

static int dt_recv_fd(dt_conn *c, int fd, uint8_t *buf, size_t cap, int timeout_ms,
                      size_t *got, int *ssl_rc, int *err)
{
    long long deadline = timeout_ms < 0 ? -1 : dt_now_ms() + timeout_ms;
    uint8_t *stage;
    size_t n;
    ssize_t r;
    int w;

    *got = 0;
    *ssl_rc = SSL_ERROR_NONE;
    *err = 0;
    if (!dt_io_stage(c)) {
        *err = ENOMEM;
        return DT_IO_ERRNO;
    }
    stage = c->io_stage;
    for (;;) {
        /* Decrypt what is buffered, straight into the caller's buffer. */
        while (*got < cap) {
            if (SSL_read_ex(c->ssl, buf + *got, cap - *got, &n)) {
                *got += n;
                continue;
            }
            *ssl_rc = SSL_get_error(c->ssl, 0);
            if (*ssl_rc != SSL_ERROR_WANT_READ)
                return DT_IO_DONE;  /* close_notify, an alert, a failure: the caller decides */
            ERR_clear_error();
            break;
        }
        if (*got == cap) {
            *ssl_rc = SSL_ERROR_NONE;
            return DT_IO_DONE;
        }
        /* More ciphertext: take what the socket has; wait for it only while we have nothing. */
        r = recv(fd, stage, DT_IO_STAGE, MSG_DONTWAIT);
        if (r > 0) {
            if (!dt_conn_feed(c, stage, (size_t)r)) {
                ERR_clear_error();
                *err = ENOMEM;
                return DT_IO_ERRNO;
            }
            continue;
        }
        if (*got)
            return DT_IO_DONE;  /* *ssl_rc is WANT_READ; a socket error shows on the next call */
        if ((w = dt_io_recv_outcome(r, err)) >= 0)
            return w;
        /* Before waiting: what reading produced must reach the peer first (a KeyUpdate
         * answer, the warning refusing a renegotiation), or the peer may wait for it too. */
        w = dt_io_flush(c, fd, deadline, err);
        if (w != DT_IO_DONE)
            return w;
        w = dt_io_wait(fd, POLLIN, deadline, err);
        if (w != DT_IO_DONE)
            return w;
    }
}

static int dt_send_fd(dt_conn *c, int fd, const uint8_t *buf, size_t len, int timeout_ms,
                      size_t *sent, int *ssl_rc, int *err)
{
    long long deadline = timeout_ms < 0 ? -1 : dt_now_ms() + timeout_ms;
    size_t n, step;
    int w;

    *sent = 0;
    *ssl_rc = SSL_ERROR_NONE;
    *err = 0;
    w = dt_io_flush(c, fd, deadline, err);  /* what an earlier call or the event path left */
    if (w != DT_IO_DONE)
        return w;
    while (*sent < len) {
        /* Encrypt a few records at a time: they go to the socket as libssl writes them
         * (dt_outq.c), still in the cache, and what the socket refuses queues no more than
         * this before the flush below waits for room. */
        step = len - *sent;
        if (step > DT_IO_SEND_STEP)
            step = DT_IO_SEND_STEP;
        if (!SSL_write_ex(c->ssl, buf + *sent, step, &n)) {
            *ssl_rc = SSL_get_error(c->ssl, 0);
            return DT_IO_DONE;
        }
        *sent += n;
        w = dt_io_flush(c, fd, deadline, err);
        if (w != DT_IO_DONE)
            return w;
    }
    return DT_IO_DONE;
}

/* The public calls: the output queue sends straight to fd while they run (dt_outq.c). */
int dt_conn_recv_fd(dt_conn *c, int fd, uint8_t *buf, size_t cap, int timeout_ms,
                    size_t *got, int *ssl_rc, int *err)
{
    int rc;
    c->out_fd = fd;
    rc = dt_recv_fd(c, fd, buf, cap, timeout_ms, got, ssl_rc, err);
    c->out_fd = -1;
    return rc;
}

int dt_conn_send_fd(dt_conn *c, int fd, const uint8_t *buf, size_t len, int timeout_ms,
                    size_t *sent, int *ssl_rc, int *err)
{
    int rc;
    c->out_fd = fd;
    rc = dt_send_fd(c, fd, buf, len, timeout_ms, sent, ssl_rc, err);
    c->out_fd = -1;
    return rc;
}
