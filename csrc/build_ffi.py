"""cffi build script for dicomtls._dicomtls_c (API mode, against the system OpenSSL 3).

Only the OpenSSL functions dicomtls calls are declared, grouped by header.  Coarse helpers (the
libssl pump, key decoding, certificate issuing) live in csrc/*.c and are compiled into the same
module so their callbacks into Python see cffi's extern "Python" declarations.
"""

import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
# Compiled as one unit, in this order (dt_hscrypto.c builds record states from dt_record.c).
C_FILES = ("dt_outq.c", "dt_conn.c", "dt_conn_io.c", "dt_keys.c", "dt_record.c",
           "dt_record_open.c", "dt_hscrypto.c", "dt_hs_rsa.c", "dt_rec_io.c", "dt_x509.c")
# Declarations of the own-engine C helpers, one file per C source, appended to CDEF.
CDEF_FILES = ("cdef_record.h", "cdef_hscrypto.h")


def _check_headers():
    """Fail early with an actionable message instead of a wall of compiler errors."""
    for inc in ("/usr/include", "/usr/local/include", os.environ.get("OPENSSL_INCLUDE", "")):
        if inc and os.path.exists(os.path.join(inc, "openssl", "ssl.h")):
            return
    sys.stderr.write(
        "dicomtls: OpenSSL 3 development headers not found (openssl/ssl.h).\n"
        "Install them first, e.g. `apt-get install libssl-dev`, or set OPENSSL_INCLUDE.\n")
    raise SystemExit(1)


CDEF = r"""
/* ---- basic opaque types ---- */
typedef ... OSSL_LIB_CTX;
typedef ... OSSL_PROVIDER;
typedef ... SSL_CTX;
typedef ... SSL;
typedef ... SSL_METHOD;
typedef ... X509;
typedef ... X509_NAME;
typedef ... X509_STORE;
typedef ... X509_STORE_CTX;
typedef ... X509_VERIFY_PARAM;
typedef ... EVP_PKEY;
typedef ... EVP_CIPHER;
typedef ... EVP_MD;
typedef ... BIO;
typedef ... BIO_METHOD;
typedef ... ASN1_INTEGER;
typedef ... ASN1_TIME;
typedef ... BIGNUM;
typedef ... ASN1_OBJECT;
typedef ... X509_EXTENSION;
struct tm { int tm_sec; int tm_min; int tm_hour; int tm_mday; int tm_mon; int tm_year; ...; };

/* ---- crypto.h / provider.h ---- */
OSSL_LIB_CTX *OSSL_LIB_CTX_new(void);
OSSL_PROVIDER *OSSL_PROVIDER_load(OSSL_LIB_CTX *, const char *);
int OSSL_PROVIDER_available(OSSL_LIB_CTX *, const char *);
unsigned long OpenSSL_version_num(void);
const char *OpenSSL_version(int);
#define OPENSSL_VERSION ...
void OPENSSL_cleanse(void *, size_t);
void OPENSSL_free(void *);

/* ---- err.h ---- */
unsigned long ERR_get_error_all(const char **, int *, const char **, const char **, int *);
unsigned long ERR_peek_error(void);
void ERR_clear_error(void);
int ERR_GET_LIB(unsigned long);
int ERR_GET_REASON(unsigned long);
const char *ERR_lib_error_string(unsigned long);
const char *ERR_reason_error_string(unsigned long);
#define ERR_TXT_STRING ...
#define ERR_LIB_SSL ...
#define ERR_LIB_PEM ...
#define ERR_LIB_EVP ...
#define ERR_LIB_PROV ...
#define ERR_LIB_X509 ...
#define ERR_LIB_OSSL_DECODER ...
#define ERR_LIB_SYS ...

/* ---- bio.h ---- */
BIO *BIO_new(const BIO_METHOD *);
const BIO_METHOD *BIO_s_mem(void);
int BIO_free(BIO *);
long BIO_get_mem_data(BIO *, char **);

/* ---- evp.h ---- */
EVP_CIPHER *EVP_CIPHER_fetch(OSSL_LIB_CTX *, const char *, const char *);
void EVP_CIPHER_free(EVP_CIPHER *);
EVP_MD *EVP_MD_fetch(OSSL_LIB_CTX *, const char *, const char *);
void EVP_MD_free(EVP_MD *);
void EVP_PKEY_free(EVP_PKEY *);
int EVP_PKEY_get_bits(const EVP_PKEY *);
const char *EVP_PKEY_get0_type_name(const EVP_PKEY *);

/* ---- x509.h ---- */
void X509_free(X509 *);
int X509_up_ref(X509 *);
X509_NAME *X509_get_subject_name(const X509 *);
X509_NAME *X509_get_issuer_name(const X509 *);
int X509_NAME_print_ex(BIO *, const X509_NAME *, int, unsigned long);
#define XN_FLAG_RFC2253 ...
ASN1_INTEGER *X509_get_serialNumber(X509 *);
BIGNUM *ASN1_INTEGER_to_BN(const ASN1_INTEGER *, BIGNUM *);
char *BN_bn2hex(const BIGNUM *);
void BN_free(BIGNUM *);
const ASN1_TIME *X509_get0_notBefore(const X509 *);
const ASN1_TIME *X509_get0_notAfter(const X509 *);
int ASN1_TIME_to_tm(const ASN1_TIME *, struct tm *);
int X509_digest(const X509 *, const EVP_MD *, unsigned char *, unsigned int *);
EVP_PKEY *X509_get0_pubkey(const X509 *);
int X509_check_private_key(const X509 *, const EVP_PKEY *);
int X509_check_purpose(X509 *, int, int);
int PEM_write_bio_X509(BIO *, const X509 *);
int i2d_X509_bio(BIO *, const X509 *);
int X509_check_host(X509 *, const char *, size_t, unsigned int, char **);
uint32_t X509_get_extended_key_usage(X509 *);
#define XKU_SSL_SERVER ...
#define XKU_SSL_CLIENT ...
#define XKU_ANYEKU ...
int X509_get_signature_nid(const X509 *);
const char *OBJ_nid2ln(int);
size_t dt_x509_alt_names(X509 *, char *, size_t);
const char *X509_verify_cert_error_string(long);
#define X509_V_OK ...
#define X509_V_ERR_APPLICATION_VERIFICATION ...
#define X509_V_ERR_CERT_HAS_EXPIRED ...
#define X509_V_ERR_CERT_NOT_YET_VALID ...
#define X509_V_ERR_INVALID_PURPOSE ...
#define X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ...
#define X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ...

/* ---- ssl.h ---- */
const SSL_METHOD *TLS_method(void);
SSL_CTX *SSL_CTX_new_ex(OSSL_LIB_CTX *, const char *, const SSL_METHOD *);
void SSL_CTX_free(SSL_CTX *);
int SSL_CTX_set_min_proto_version(SSL_CTX *, int);
int SSL_CTX_set_max_proto_version(SSL_CTX *, int);
void SSL_CTX_set_security_level(SSL_CTX *, int);
int SSL_CTX_set_cipher_list(SSL_CTX *, const char *);
int SSL_CTX_set_ciphersuites(SSL_CTX *, const char *);
uint64_t SSL_CTX_set_options(SSL_CTX *, uint64_t);
long SSL_CTX_set_mode(SSL_CTX *, long);
void SSL_CTX_set_verify_depth(SSL_CTX *, int);
int SSL_CTX_load_verify_file(SSL_CTX *, const char *);
int SSL_CTX_load_verify_dir(SSL_CTX *, const char *);
long SSL_CTX_set_dh_auto(SSL_CTX *, int);
int SSL_CTX_set1_groups_list(SSL_CTX *, const char *);
long SSL_CTX_set_session_cache_mode(SSL_CTX *, long);
typedef ... SSL_SESSION;
void SSL_SESSION_free(SSL_SESSION *);
int SSL_SESSION_up_ref(SSL_SESSION *);
int SSL_SESSION_is_resumable(const SSL_SESSION *);
int SSL_CTX_check_private_key(const SSL_CTX *);
int SSL_set_tlsext_host_name(SSL *, const char *);
int SSL_set1_host(SSL *, const char *);
X509_VERIFY_PARAM *SSL_get0_param(SSL *);
int X509_VERIFY_PARAM_set1_ip_asc(X509_VERIFY_PARAM *, const char *);
int SSL_version(const SSL *);
const char *SSL_get_version(const SSL *);
long SSL_get_verify_result(const SSL *);
int SSL_get_shutdown(const SSL *);
int SSL_session_reused(const SSL *);
int SSL_is_init_finished(const SSL *);
#define TLS1_VERSION ...
#define TLS1_1_VERSION ...
#define TLS1_2_VERSION ...
#define TLS1_3_VERSION ...
#define SSL_VERIFY_NONE ...
#define SSL_VERIFY_PEER ...
#define SSL_VERIFY_FAIL_IF_NO_PEER_CERT ...
#define SSL_OP_CIPHER_SERVER_PREFERENCE ...
#define SSL_OP_NO_RENEGOTIATION ...
#define SSL_OP_NO_COMPRESSION ...
#define SSL_OP_NO_TICKET ...
#define SSL_OP_NO_ENCRYPT_THEN_MAC ...
#define SSL_OP_NO_EXTENDED_MASTER_SECRET ...
#define SSL_MODE_RELEASE_BUFFERS ...
#define SSL_SESS_CACHE_OFF ...
#define SSL_ERROR_NONE ...
#define SSL_ERROR_SSL ...
#define SSL_ERROR_WANT_READ ...
#define SSL_ERROR_WANT_WRITE ...
#define SSL_ERROR_SYSCALL ...
#define SSL_ERROR_ZERO_RETURN ...
#define SSL_RECEIVED_SHUTDOWN ...
#define SSL_SENT_SHUTDOWN ...
#define SSL_R_UNEXPECTED_EOF_WHILE_READING ...
#define SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ...
#define SSL_R_CERTIFICATE_VERIFY_FAILED ...
#define SSL_R_NO_SHARED_CIPHER ...
#define SSL_R_UNSUPPORTED_PROTOCOL ...
#define SSL_R_NO_PROTOCOLS_AVAILABLE ...
#define SSL_R_NO_CIPHER_MATCH ...
#define SSL_R_PRIVATE_KEY_MISMATCH ...
#define X509_PURPOSE_SSL_CLIENT ...
#define X509_PURPOSE_SSL_SERVER ...

/* ---- our helpers: csrc/dt_conn.c ---- */
typedef struct dt_conn dt_conn;
int dt_init(void);
void dt_ctx_install_callbacks(SSL_CTX *, int, int);
dt_conn *dt_conn_new(SSL_CTX *, int, void *, int, int);
void dt_conn_free(dt_conn *);
SSL *dt_conn_ssl(dt_conn *);
int dt_conn_feed(dt_conn *, const uint8_t *, size_t);
void dt_conn_feed_eof(dt_conn *);
size_t dt_conn_pending_in(dt_conn *);
size_t dt_conn_pending_out(dt_conn *);
size_t dt_conn_take_out(dt_conn *, uint8_t *, size_t);
int dt_conn_handshake(dt_conn *);
int dt_conn_read(dt_conn *, uint8_t *, size_t, size_t *);
int dt_conn_write(dt_conn *, const uint8_t *, size_t, size_t *);
int dt_conn_shutdown(dt_conn *);
int dt_conn_alert_sent(dt_conn *);
int dt_conn_alert_sent_level(dt_conn *);
int dt_conn_alert_received(dt_conn *);
int dt_conn_alert_received_level(dt_conn *);
int dt_conn_verify_error(dt_conn *);
int dt_conn_verify_depth(dt_conn *);
X509 *dt_conn_presented_leaf(dt_conn *);
int dt_conn_peer_chain(dt_conn *, X509 **, int);
int dt_conn_kx_bits(dt_conn *, int);
const char *dt_conn_kx_group(dt_conn *);
int dt_conn_cipher(dt_conn *, int *, int *);
void dt_ctx_session_cache(SSL_CTX *, int, int, long, long);
SSL_SESSION *dt_conn_take_session(dt_conn *);
/* csrc/dt_conn_io.c: the data path over a socket */
#define DT_IO_DONE 0
#define DT_IO_TIMEOUT 1
#define DT_IO_EOF 2
#define DT_IO_ERRNO 3
#define DT_IO_EINTR 4
int dt_conn_recv_fd(dt_conn *, int, uint8_t *, size_t, int, size_t *, int *, int *);
int dt_conn_send_fd(dt_conn *, int, const uint8_t *, size_t, int, size_t *, int *, int *);
int dt_conn_set_session(dt_conn *, SSL_SESSION *);
int dt_libssl_suite_codes(OSSL_LIB_CTX *, int *, int);

/* ---- our helpers: csrc/dt_keys.c ---- */
EVP_PKEY *dt_load_private_key(OSSL_LIB_CTX *, const uint8_t *, size_t, const char *, void *);
int dt_load_certificates(OSSL_LIB_CTX *, const uint8_t *, size_t, int, X509 **, int);
int dt_ctx_use_chain(SSL_CTX *, X509 **, int, EVP_PKEY *);
EVP_PKEY *dt_keygen(OSSL_LIB_CTX *, const char *, int, const char *);
X509 *dt_issue_certificate(OSSL_LIB_CTX *, EVP_PKEY *, const char *, const char *, X509 *,
                           EVP_PKEY *, long, long, long, const char **, const char **, int);
int dt_write_private_key(BIO *, EVP_PKEY *, int, const EVP_CIPHER *, const char *, int);
X509_STORE *dt_store_new(OSSL_LIB_CTX *, const char *, const char *);
void X509_STORE_free(X509_STORE *);
int dt_verify_chain(X509_STORE *, X509 **, int, int, int, const char *, const char *, void *, int,
                    int *, int *);

/* ---- callbacks into Python ---- */
extern "Python" int dt_py_verify(void *, int, X509 *, int, int);
extern "Python" void dt_py_keylog(void *, const char *);
extern "Python" int dt_py_password(char *, int, int, void *);
"""

PREAMBLE = r"""
#include <limits.h>
#include <arpa/inet.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/ssl.h>
#include <openssl/decoder.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "dicomtls needs OpenSSL 3.0 or newer"
#endif

typedef struct dt_conn {
    SSL *ssl;
    BIO *net_in;             /* ciphertext from the peer; owned by ssl */
    BIO *net_out;            /* ciphertext to the peer (dt_outq.c); owned by ssl */
    int alert_sent, alert_sent_level;
    int alert_received, alert_received_level;
    int verify_error, verify_depth;
    int py_verify, py_keylog;
    int kx_bits;             /* ephemeral key size seen during the handshake */
    X509 *presented_leaf;    /* the peer's own certificate as first seen by verification (owned) */
    SSL_SESSION *new_session;  /* client: the latest resumable session libssl gave us (owned) */
    void *py_handle;         /* cffi handle of the Python connection (kept alive there) */
    uint8_t *io_stage;       /* dt_conn_io.c: socket -> SSL staging buffer (owned, made on use) */
    uint8_t *outq;           /* dt_outq.c: ciphertext not sent yet, outq[outq_off..outq_len) */
    size_t outq_off, outq_len, outq_cap;
    int out_fd;              /* >= 0 while the socket path runs: net_out sends to it directly */
} dt_conn;

/* cffi defines the extern "Python" callbacks later in this file, as static functions. */
static int dt_py_verify(void *, int, X509 *, int, int);
static void dt_py_keylog(void *, const char *);
static int dt_py_password(char *, int, int, void *);

""" + "\n".join('#include "%s"' % name for name in C_FILES)

# DICOMTLS_SANITIZE=address builds an AddressSanitizer variant (see .ci/asan).
_SANITIZE = os.environ.get("DICOMTLS_SANITIZE", "")
_EXTRA_COMPILE = ["-Wall", "-Wno-unused-function", "-Wno-deprecated-declarations"]
_EXTRA_LINK = []
if _SANITIZE:
    _EXTRA_COMPILE += [f"-fsanitize={_SANITIZE}", "-fno-omit-frame-pointer", "-g", "-O1"]
    _EXTRA_LINK += [f"-fsanitize={_SANITIZE}"]

for _name in CDEF_FILES:
    with open(os.path.join(HERE, _name)) as _f:
        CDEF += _f.read()

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
if "egg_info" not in sys.argv and "dist_info" not in sys.argv:
    _check_headers()
ffibuilder.set_source(
    "dicomtls._dicomtls_c",
    PREAMBLE,
    libraries=["ssl", "crypto"],
    include_dirs=[HERE],
    depends=[os.path.join(HERE, name) for name in C_FILES + CDEF_FILES],
    extra_compile_args=_EXTRA_COMPILE,
    extra_link_args=_EXTRA_LINK,
)

if __name__ == "__main__":
    # Development build: python csrc/build_ffi.py -> pkg/dicomtls/_dicomtls_c*.so. Built in a
    # scratch directory and moved into place with one rename, so processes that have the old
    # module mapped keep running (an in-place overwrite would crash them with SIGBUS).
    import glob
    import shutil
    import tempfile
    target = os.path.join(HERE, "..", "pkg", "dicomtls")
    with tempfile.TemporaryDirectory(prefix="dicomtls-build-") as tmp:
        ffibuilder.compile(tmpdir=tmp, verbose=False)
        for built in glob.glob(os.path.join(tmp, "dicomtls", "_dicomtls_c*.so")):
            staged = os.path.join(target, "." + os.path.basename(built) + ".new")
            shutil.copy2(built, staged)
            os.replace(staged, os.path.join(target, os.path.basename(built)))
            # A module left by `pip install -e` under another suffix would shadow or be shadowed.
            for other in glob.glob(os.path.join(target, "_dicomtls_c*.so")):
                if os.path.basename(other) != os.path.basename(built):
                    os.remove(other)
