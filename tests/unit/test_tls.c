/* test_tls.c - the TLS transport and deploy/gen-certs.sh: certificates made
 * by the real script, client and server conns pumped through memory (no
 * sockets), good and bad identities, big and partial transfers, close. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bulwark/buf.h"
#include "bulwark/err.h"
#include "bulwark/tls.h"

#define AGENT "node-7"
#define BIG (1024 * 1024)

struct fix {
    char root[64];
    char a[PATH_MAX];   /* the CA the server trusts */
    char b[PATH_MAX];   /* another CA, with an agent of the same id */
};

/* ---- files and the script ---------------------------------------------- */

static void join(char *dst, const char *dir, const char *file)
{
    int n = snprintf(dst, PATH_MAX, "%s/%s", dir, file);
    assert_true(n > 0 && n < PATH_MAX);
}

/* Runs deploy/gen-certs.sh DIR IDS... and returns its exit status. */
static int gen_certs(const char *dir, const char *const *ids)
{
    const char *src = getenv("BW_SOURCE_DIR");
    char script[PATH_MAX];
    const char *argv[16];
    int n = 0, status;
    pid_t pid;

    assert_non_null(src);  /* ctest sets it */
    join(script, src, "deploy/gen-certs.sh");
    argv[n++] = "bash";
    argv[n++] = script;
    argv[n++] = dir;
    for (; ids && *ids; ids++) {
        assert_true(n < 15);
        argv[n++] = *ids;
    }
    argv[n] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execvp("bash", (char *const *)argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s = calloc(1, 65536);
    size_t n;

    assert_non_null(f);
    assert_non_null(s);
    n = fread(s, 1, 65535, f);
    assert_true(n > 0);
    fclose(f);
    return s;
}

static int mode_of(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return -1;
    return (int)(st.st_mode & 0777);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int group_setup(void **state)
{
    static const char *const ids[] = {AGENT, "other", NULL};
    static const char *const ids_b[] = {AGENT, NULL};
    struct fix *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    snprintf(f->root, sizeof f->root, "/tmp/bw-tls-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->a, sizeof f->a, "%s/a", f->root);
    snprintf(f->b, sizeof f->b, "%s/b", f->root);
    if (gen_certs(f->a, ids) != 0 || gen_certs(f->b, ids_b) != 0)
        return -1;
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fix *f = *state;

    nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- contexts and pumping ---------------------------------------------- */

/* A context trusting cadir/ca.pem and presenting certdir/NAME.{pem,key}. */
static struct tls_ctx *mkctx(enum tls_role role, const char *cadir, const char *certdir,
                             const char *name)
{
    char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], file[128], err[256];
    struct tls_ctx *ctx;

    join(ca, cadir, "ca.pem");
    snprintf(file, sizeof file, "%s.pem", name);
    join(crt, certdir, file);
    snprintf(file, sizeof file, "%s.key", name);
    join(key, certdir, file);
    ctx = tls_ctx_new(role, ca, crt, key, err, sizeof err);
    if (!ctx)
        print_error("tls_ctx_new: %s\n", err);
    assert_non_null(ctx);
    return ctx;
}

static void assert_lower(const char *s)
{
    assert_true(s[0] != '\0');
    for (; *s; s++)
        assert_false(*s >= 'A' && *s <= 'Z');
}

/* Moves everything `from` has to send into `to`, fed `step` bytes at a time
 * through a small wire buffer. Returns the first feed error, else 0. */
static int xfer(struct tls_conn *from, struct tls_conn *to, size_t step)
{
    struct buf wire;
    int rc = 0;

    buf_init(&wire, 5003);
    while (tls_conn_take_output(from, &wire) > 0) {
        while (buf_size(&wire) > 0) {
            size_t n = buf_size(&wire) < step ? buf_size(&wire) : step;
            int r = tls_conn_feed(to, buf_head(&wire), n);

            if (r < 0 && rc == 0)
                rc = r;
            buf_consume(&wire, n);
        }
    }
    buf_release(&wire);
    return rc;
}

/* Drives both sides until both finish or one fails; *crc and *src get the last
 * results of tls_conn_handshake (1, 0 or BW_ETLS). */
static void handshake(struct tls_conn *cl, struct tls_conn *sv, int *crc, int *src)
{
    int c = tls_conn_handshake(cl), s = 0, r, i;

    for (i = 0; i < 10 && c >= 0 && s >= 0 && !(c == 1 && s == 1); i++) {
        r = xfer(cl, sv, 333);
        s = r < 0 ? r : tls_conn_handshake(sv);
        r = xfer(sv, cl, 333);   /* includes the alert when the server failed */
        c = r < 0 ? r : tls_conn_handshake(cl);
    }
    r = xfer(cl, sv, 333);       /* the client's alert, if it failed last */
    if (r < 0)
        s = r;
    *crc = c;
    *src = s;
}

struct pair {
    struct tls_ctx *cctx, *sctx;
    struct tls_conn *cl, *sv;
    int crc, src;
};

/* Server: CA a, a/server. Client: trusts cacli/ca.pem, presents
 * certdir/name, checks server_name. */
static void pair_open(struct pair *p, const struct fix *f, const char *cacli, const char *certdir,
                      const char *name, const char *server_name)
{
    memset(p, 0, sizeof *p);
    p->sctx = mkctx(TLS_ROLE_SERVER, f->a, f->a, "server");
    p->cctx = mkctx(TLS_ROLE_CLIENT, cacli, certdir, name);
    p->sv = tls_conn_new(p->sctx, NULL);
    p->cl = tls_conn_new(p->cctx, server_name);
    assert_non_null(p->sv);
    assert_non_null(p->cl);
    handshake(p->cl, p->sv, &p->crc, &p->src);
}

static void pair_close(struct pair *p)
{
    tls_conn_free(p->cl);
    tls_conn_free(p->sv);
    tls_ctx_free(p->cctx);
    tls_ctx_free(p->sctx);
}

/* ---- the script ---------------------------------------------------------- */

static void test_gen_certs_script(void **state)
{
    static const char *const one[] = {"x1", NULL};
    static const char *const two[] = {"x1", "x.2_b-C", NULL};
    static const char *const bad[][2] = {{"a/b", NULL}, {"", NULL}, {"x y", NULL},
        {"0123456789012345678901234567890123456789012345678901234567890123x", NULL}};
    struct fix *f = *state;
    char dir[PATH_MAX], p[PATH_MAX];
    char *ca1, *ag1, *ca2, *ag2;
    size_t i;

    join(dir, f->root, "script");
    assert_int_equal(gen_certs(dir, one), 0);
    assert_int_equal(mode_of(dir), 0700);
    join(p, dir, "ca.key");
    assert_int_equal(mode_of(p), 0600);
    join(p, dir, "server.key");
    assert_int_equal(mode_of(p), 0600);
    join(p, dir, "agent-x1.key");
    assert_int_equal(mode_of(p), 0600);
    join(p, dir, "ca.pem");
    ca1 = slurp(p);
    join(p, dir, "agent-x1.pem");
    ag1 = slurp(p);

    /* Again with one more agent: nothing is replaced, one agent is added. */
    assert_int_equal(gen_certs(dir, two), 0);
    join(p, dir, "ca.pem");
    ca2 = slurp(p);
    join(p, dir, "agent-x1.pem");
    ag2 = slurp(p);
    assert_string_equal(ca1, ca2);
    assert_string_equal(ag1, ag2);
    join(p, dir, "agent-x.2_b-C.pem");
    assert_int_equal(mode_of(p), 0644);

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(gen_certs(dir, bad[i]), 0);
    join(p, dir, "agent-x y.pem");
    assert_int_equal(mode_of(p), -1);
    assert_int_equal(gen_certs(dir, NULL), 0);  /* no ids: CA and server only */
    free(ca1);
    free(ag1);
    free(ca2);
    free(ag2);
}

/* ---- handshakes ---------------------------------------------------------- */

static void test_handshake_identity(void **state)
{
    struct fix *f = *state;
    struct pair p;

    pair_open(&p, f, f->a, f->a, "agent-" AGENT, "localhost");
    assert_int_equal(p.crc, 1);
    assert_int_equal(p.src, 1);
    assert_true(tls_conn_established(p.cl));
    assert_true(tls_conn_established(p.sv));
    assert_non_null(tls_conn_peer_cn(p.sv));
    assert_string_equal(tls_conn_peer_cn(p.sv), AGENT);
    assert_string_equal(tls_conn_peer_cn(p.cl), "bulwarkd");
    assert_string_equal(tls_conn_error(p.sv), "");
    assert_string_equal(tls_conn_error(p.cl), "");
    pair_close(&p);
}

static void test_server_ip_names(void **state)
{
    static const struct { const char *name; bool ok; } cases[] = {
        {"127.0.0.1", true}, {"::1", true}, {"localhost", true},
        {"10.9.8.7", false}, {"wrong.example", false}, {"localhost.evil", false},
    };
    struct fix *f = *state;
    struct pair p;
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pair_open(&p, f, f->a, f->a, "agent-" AGENT, cases[i].name);
        if (cases[i].ok) {
            assert_int_equal(p.crc, 1);
            assert_int_equal(p.src, 1);
        } else {
            /* The client refuses; the server hears the alert. */
            assert_int_equal(p.crc, BW_ETLS);
            assert_false(tls_conn_established(p.cl));
            assert_int_equal(p.src, BW_ETLS);
            assert_non_null(strstr(tls_conn_error(p.cl), "certificate verify failed"));
            assert_non_null(strstr(tls_conn_error(p.cl), "mismatch"));
            assert_lower(tls_conn_error(p.cl));
            assert_null(tls_conn_peer_cn(p.cl));
        }
        pair_close(&p);
    }
}

/* The server rejects after the client has finished (TLS 1.3 order), so the
 * client sees the refusal on its next read. */
static void assert_server_refused(struct pair *p, const char *why)
{
    struct buf in;

    assert_int_equal(p->src, BW_ETLS);
    assert_false(tls_conn_established(p->sv));
    assert_null(tls_conn_peer_cn(p->sv));
    assert_non_null(strstr(tls_conn_error(p->sv), why));
    assert_lower(tls_conn_error(p->sv));
    buf_init(&in, 4096);
    if (p->crc == 1)
        assert_int_equal(tls_conn_read(p->cl, &in), BW_ETLS);
    else
        assert_int_equal(p->crc, BW_ETLS);
    assert_true(tls_conn_error(p->cl)[0] != '\0');
    assert_int_equal(buf_size(&in), 0);
    buf_release(&in);
}

static void test_client_from_other_ca(void **state)
{
    struct fix *f = *state;
    struct pair p;

    /* Same agent id, but issued by another CA. */
    pair_open(&p, f, f->a, f->b, "agent-" AGENT, "localhost");
    assert_server_refused(&p, "certificate verify failed");
    pair_close(&p);
}

static void test_server_from_other_ca(void **state)
{
    struct fix *f = *state;
    struct tls_ctx *sctx = mkctx(TLS_ROLE_SERVER, f->b, f->b, "server");
    struct tls_ctx *cctx = mkctx(TLS_ROLE_CLIENT, f->a, f->a, "agent-" AGENT);
    struct tls_conn *sv = tls_conn_new(sctx, NULL), *cl = tls_conn_new(cctx, "localhost");
    int c, s;

    handshake(cl, sv, &c, &s);
    assert_int_equal(c, BW_ETLS);
    assert_non_null(strstr(tls_conn_error(cl), "certificate verify failed"));
    assert_int_equal(s, BW_ETLS);
    tls_conn_free(cl);
    tls_conn_free(sv);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

static void test_wrong_purpose(void **state)
{
    struct fix *f = *state;
    struct pair p;
    struct tls_ctx *sctx, *cctx;
    struct tls_conn *sv, *cl;
    int c, s;

    /* A server certificate (serverAuth only) cannot log in as an agent. */
    pair_open(&p, f, f->a, f->a, "server", "localhost");
    assert_server_refused(&p, "certificate verify failed");
    pair_close(&p);

    /* An agent certificate (clientAuth only) cannot act as the server. */
    sctx = mkctx(TLS_ROLE_SERVER, f->a, f->a, "agent-other");
    cctx = mkctx(TLS_ROLE_CLIENT, f->a, f->a, "agent-" AGENT);
    sv = tls_conn_new(sctx, NULL);
    cl = tls_conn_new(cctx, "other");
    handshake(cl, sv, &c, &s);
    assert_int_equal(c, BW_ETLS);
    assert_non_null(strstr(tls_conn_error(cl), "certificate verify failed"));
    tls_conn_free(cl);
    tls_conn_free(sv);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* A plain OpenSSL client trusting CA a, with cert/key if given and at most
 * TLS version maxv, against our server. Returns the server's last result;
 * asserts the client got an alert if `refused`, else that it is connected. */
static int raw_client_vs_server(const struct fix *f, const char *cert, const char *key,
                                int maxv, bool refused, struct tls_conn **svp,
                                struct tls_ctx **sctxp)
{
    struct tls_ctx *sctx = mkctx(TLS_ROLE_SERVER, f->a, f->a, "server");
    struct tls_conn *sv = tls_conn_new(sctx, NULL);
    SSL_CTX *raw = SSL_CTX_new(TLS_client_method());
    char ca[PATH_MAX], tmp[4096];
    SSL *ssl;
    BIO *rb, *wb;
    struct buf wire;
    int n, rc = 0, i;

    join(ca, f->a, "ca.pem");
    assert_non_null(raw);
    assert_int_equal(SSL_CTX_load_verify_locations(raw, ca, NULL), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(raw, maxv), 1);
    if (cert) {
        assert_int_equal(SSL_CTX_use_certificate_chain_file(raw, cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(raw, key, SSL_FILETYPE_PEM), 1);
    }
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, NULL);
    ssl = SSL_new(raw);
    rb = BIO_new(BIO_s_mem());
    wb = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, rb, wb);
    SSL_set_connect_state(ssl);
    buf_init(&wire, 1 << 16);
    for (i = 0; i < 4 && rc == 0; i++) {
        (void)SSL_do_handshake(ssl);
        while ((n = BIO_read(wb, tmp, sizeof tmp)) > 0 && rc == 0)
            rc = tls_conn_feed(sv, tmp, (size_t)n);
        tls_conn_take_output(sv, &wire);
        BIO_write(rb, buf_head(&wire), (int)buf_size(&wire));
        buf_reset(&wire);
    }
    n = SSL_read(ssl, tmp, sizeof tmp);
    if (refused) {
        assert_true(n <= 0);   /* the alert */
        assert_int_equal(SSL_get_error(ssl, n), SSL_ERROR_SSL);
    } else {
        assert_int_equal(SSL_get_error(ssl, n), SSL_ERROR_WANT_READ);
        assert_int_equal(SSL_version(ssl), TLS1_3_VERSION);
    }
    ERR_clear_error();
    buf_release(&wire);
    SSL_free(ssl);
    SSL_CTX_free(raw);
    *svp = sv;
    *sctxp = sctx;
    return rc;
}

static void test_client_without_certificate(void **state)
{
    struct fix *f = *state;
    struct tls_conn *sv;
    struct tls_ctx *sctx;

    assert_int_equal(raw_client_vs_server(f, NULL, NULL, TLS1_3_VERSION, true, &sv, &sctx), BW_ETLS);
    assert_false(tls_conn_established(sv));
    /* Refused by TLS itself (with an alert), not by a later check. */
    assert_non_null(strstr(tls_conn_error(sv), "peer did not return a certificate"));
    assert_lower(tls_conn_error(sv));
    tls_conn_free(sv);
    tls_ctx_free(sctx);
}

static void test_only_tls13(void **state)
{
    struct fix *f = *state;
    char crt[PATH_MAX], key[PATH_MAX];
    struct tls_conn *sv;
    struct tls_ctx *sctx;

    /* A valid agent certificate, but TLS 1.2 at most. */
    join(crt, f->a, "agent-" AGENT ".pem");
    join(key, f->a, "agent-" AGENT ".key");
    assert_int_equal(raw_client_vs_server(f, crt, key, TLS1_2_VERSION, true, &sv, &sctx), BW_ETLS);
    assert_false(tls_conn_established(sv));
    assert_non_null(strstr(tls_conn_error(sv), "protocol"));
    tls_conn_free(sv);
    tls_ctx_free(sctx);

    /* The same client with TLS 1.3 is let in (the helper's sanity check). */
    assert_int_equal(raw_client_vs_server(f, crt, key, TLS1_3_VERSION, false, &sv, &sctx), 0);
    assert_true(tls_conn_established(sv));
    assert_string_equal(tls_conn_peer_cn(sv), AGENT);
    tls_conn_free(sv);
    tls_ctx_free(sctx);
}

static void test_garbage(void **state)
{
    static const char junk[] = "GET / HTTP/1.1\r\nHost: bulwark\r\n\r\n";
    struct fix *f = *state;
    struct tls_ctx *sctx = mkctx(TLS_ROLE_SERVER, f->a, f->a, "server");
    struct tls_conn *sv = tls_conn_new(sctx, NULL);
    uint8_t noise[777];
    struct buf in;
    struct pair p;
    size_t i;

    /* Before a handshake. */
    assert_int_equal(tls_conn_feed(sv, junk, sizeof junk - 1), BW_ETLS);
    assert_lower(tls_conn_error(sv));
    assert_int_equal(tls_conn_feed(sv, junk, 1), BW_ETLS);   /* stays failed */
    assert_int_equal(tls_conn_handshake(sv), BW_ETLS);
    tls_conn_free(sv);
    tls_ctx_free(sctx);

    /* After one: a record that is not a record. */
    for (i = 0; i < sizeof noise; i++)
        noise[i] = (uint8_t)(i * 131 + 7);
    noise[0] = 0x17;   /* application_data, TLS 1.2 legacy version, bad MAC */
    noise[1] = 0x03;
    noise[2] = 0x03;
    noise[3] = 0x01;
    noise[4] = 0x00;
    pair_open(&p, f, f->a, f->a, "agent-" AGENT, "localhost");
    assert_int_equal(p.src, 1);
    assert_int_equal(tls_conn_feed(p.sv, noise, sizeof noise), 0);
    buf_init(&in, 4096);
    assert_int_equal(tls_conn_read(p.sv, &in), BW_ETLS);
    assert_lower(tls_conn_error(p.sv));
    assert_int_equal(tls_conn_read(p.sv, &in), BW_ETLS);
    assert_int_equal(tls_conn_write(p.sv, "x", 1), BW_ETLS);
    assert_string_equal(tls_conn_peer_cn(p.sv), AGENT);   /* still known, for the log */
    buf_release(&in);
    pair_close(&p);
}

/* ---- application data ---------------------------------------------------- */

/* Sends len bytes from -> to in odd-sized writes, moving at most 3001 bytes
 * of ciphertext per step (fed in 1237-byte pieces), reading into a 65521-byte
 * buffer that is only partly drained each time. */
static void stream(struct tls_conn *from, struct tls_conn *to, const uint8_t *data, size_t len)
{
    static const size_t wsz[] = {1, 4093, 16385, 77, 65537, 1000, 16384};
    struct buf wire, in;
    size_t woff = 0, roff = 0, i = 0, steps = 0;

    buf_init(&wire, 3001);
    buf_init(&in, 65521);
    while (roff < len) {
        size_t room, moved;
        long r;

        assert_true(++steps < 100000);
        if (woff < len) {
            size_t n = wsz[i++ % (sizeof wsz / sizeof wsz[0])];

            if (n > len - woff)
                n = len - woff;
            assert_int_equal(tls_conn_write(from, data + woff, n), 0);
            woff += n;
        }
        room = wire.max - buf_size(&wire);
        moved = tls_conn_take_output(from, &wire);
        assert_true(moved <= room);
        while (buf_size(&wire) > 0) {
            size_t n = buf_size(&wire) < 1237 ? buf_size(&wire) : 1237;

            assert_int_equal(tls_conn_feed(to, buf_head(&wire), n), 0);
            buf_consume(&wire, n);
        }
        room = in.max - buf_size(&in);
        r = tls_conn_read(to, &in);
        assert_true(r >= 0 && (size_t)r <= room);
        assert_true(roff + buf_size(&in) <= len);
        assert_memory_equal(buf_head(&in), data + roff, buf_size(&in));
        /* Drain a little over half: the next read must respect max. */
        if (buf_size(&in) > 0) {
            size_t take = buf_size(&in) / 2 + 1;

            roff += take;
            buf_consume(&in, take);
        }
    }
    assert_int_equal(woff, len);
    assert_int_equal(tls_conn_take_output(from, &wire), 0);
    assert_int_equal(tls_conn_read(to, &in), 0);
    buf_release(&wire);
    buf_release(&in);
}

static void test_roundtrip(void **state)
{
    struct fix *f = *state;
    struct pair p;
    uint8_t *big = malloc(BIG);
    struct buf in;
    size_t i;
    uint32_t x = 2463534242u;

    assert_non_null(big);
    for (i = 0; i < BIG; i++) {   /* xorshift: no repeating period to hide bugs */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big[i] = (uint8_t)x;
    }
    pair_open(&p, f, f->a, f->a, "agent-" AGENT, "127.0.0.1");
    assert_int_equal(p.src, 1);

    stream(p.cl, p.sv, (const uint8_t *)"hello", 5);
    stream(p.sv, p.cl, (const uint8_t *)"olleh", 5);
    stream(p.cl, p.sv, big, BIG);
    stream(p.sv, p.cl, big, BIG);

    /* A read never passes out's max; the rest stays for later. */
    assert_int_equal(tls_conn_write(p.cl, big, 100), 0);
    assert_int_equal(xfer(p.cl, p.sv, 7), 0);
    buf_init(&in, 10);
    assert_int_equal(tls_conn_read(p.sv, &in), 10);
    assert_int_equal(tls_conn_read(p.sv, &in), 0);
    assert_memory_equal(buf_head(&in), big, 10);
    buf_release(&in);
    buf_init(&in, 1000);
    assert_int_equal(tls_conn_read(p.sv, &in), 90);
    assert_memory_equal(buf_head(&in), big + 10, 90);
    buf_release(&in);
    free(big);
    pair_close(&p);
}

static void test_close_notify(void **state)
{
    struct fix *f = *state;
    struct pair p;
    struct buf in;

    pair_open(&p, f, f->a, f->a, "agent-" AGENT, "::1");
    assert_int_equal(p.src, 1);
    buf_init(&in, 4096);
    assert_int_equal(tls_conn_write(p.cl, "bye", 3), 0);
    tls_conn_shutdown(p.cl);
    assert_int_equal(tls_conn_write(p.cl, "late", 4), BW_ETLS);
    assert_int_equal(xfer(p.cl, p.sv, 5), 0);
    /* Data before close_notify first, then the close. */
    assert_int_equal(tls_conn_read(p.sv, &in), 3);
    assert_memory_equal(buf_head(&in), "bye", 3);
    assert_int_equal(tls_conn_read(p.sv, &in), BW_ECLOSED);
    assert_int_equal(tls_conn_read(p.sv, &in), BW_ECLOSED);
    /* Half-close: the server may still answer, then close on its own. */
    assert_int_equal(tls_conn_write(p.sv, "ok", 2), 0);
    assert_int_equal(xfer(p.sv, p.cl, 1), 0);
    buf_reset(&in);
    assert_int_equal(tls_conn_read(p.cl, &in), 2);
    assert_int_equal(tls_conn_read(p.cl, &in), 0);
    tls_conn_shutdown(p.sv);
    assert_int_equal(xfer(p.sv, p.cl, 1), 0);
    assert_int_equal(tls_conn_read(p.cl, &in), BW_ECLOSED);
    assert_int_equal(buf_size(&in), 2);
    buf_release(&in);
    pair_close(&p);
}

/* ---- identities in memory (one context, many agents) -------------------- */

/* The identity certdir/NAME.{pem,key}, read into memory and parsed there. */
static struct tls_identity *mkid(const char *certdir, const char *name)
{
    char crt[PATH_MAX], key[PATH_MAX], file[128], err[256];
    struct tls_identity *id;
    char *c, *k;

    snprintf(file, sizeof file, "%s.pem", name);
    join(crt, certdir, file);
    snprintf(file, sizeof file, "%s.key", name);
    join(key, certdir, file);
    c = slurp(crt);
    k = slurp(key);
    id = tls_identity_from_pem(c, strlen(c), k, strlen(k), err, sizeof err);
    if (!id)
        print_error("tls_identity_from_pem: %s\n", err);
    assert_non_null(id);
    free(c);
    free(k);
    return id;
}

/* A conn of the shared client context `cctx` presenting `id` (none if NULL)
 * against a fresh server conn; returns the pair's results in p. */
static void multi_open(struct pair *p, const struct fix *f, struct tls_ctx *cctx,
                       const struct tls_identity *id)
{
    memset(p, 0, sizeof *p);
    p->sctx = mkctx(TLS_ROLE_SERVER, f->a, f->a, "server");
    p->sv = tls_conn_new(p->sctx, NULL);
    p->cl = tls_conn_new(cctx, "localhost");
    assert_non_null(p->sv);
    assert_non_null(p->cl);
    if (id)
        assert_int_equal(tls_conn_use_identity(p->cl, id), 0);
    handshake(p->cl, p->sv, &p->crc, &p->src);
}

static void multi_close(struct pair *p)
{
    tls_conn_free(p->cl);
    tls_conn_free(p->sv);
    tls_ctx_free(p->sctx);
}

static void test_identity_in_memory(void **state)
{
    struct fix *f = *state;
    char ca[PATH_MAX], err[256];
    struct tls_ctx *cctx;
    struct tls_identity *node7, *other, *foreign;
    struct pair p;

    join(ca, f->a, "ca.pem");
    cctx = tls_ctx_new_multi(ca, err, sizeof err);
    if (!cctx)
        print_error("tls_ctx_new_multi: %s\n", err);
    assert_non_null(cctx);
    node7 = mkid(f->a, "agent-" AGENT);
    other = mkid(f->a, "agent-other");
    foreign = mkid(f->b, "agent-" AGENT);  /* same id, another CA */

    /* One context, two identities: the server sees each conn's own CN. */
    multi_open(&p, f, cctx, node7);
    assert_int_equal(p.crc, 1);
    assert_int_equal(p.src, 1);
    assert_string_equal(tls_conn_peer_cn(p.sv), AGENT);
    assert_string_equal(tls_conn_peer_cn(p.cl), "bulwarkd");
    /* Too late once the handshake has run. */
    assert_int_equal(tls_conn_use_identity(p.cl, other), BW_EINVAL);
    multi_close(&p);

    multi_open(&p, f, cctx, other);
    assert_int_equal(p.crc, 1);
    assert_int_equal(p.src, 1);
    assert_string_equal(tls_conn_peer_cn(p.sv), "other");
    multi_close(&p);

    /* The conn keeps its references: the identity may go first. */
    {
        struct tls_identity *tmp = mkid(f->a, "agent-other");

        memset(&p, 0, sizeof p);
        p.sctx = mkctx(TLS_ROLE_SERVER, f->a, f->a, "server");
        p.sv = tls_conn_new(p.sctx, NULL);
        p.cl = tls_conn_new(cctx, "localhost");
        assert_int_equal(tls_conn_use_identity(p.cl, tmp), 0);
        tls_identity_free(tmp);
        handshake(p.cl, p.sv, &p.crc, &p.src);
        assert_int_equal(p.src, 1);
        assert_string_equal(tls_conn_peer_cn(p.sv), "other");
        multi_close(&p);
    }

    /* A second certificate for node7's key (the key is shared, not parsed). */
    {
        char crt[PATH_MAX];
        char *pem;
        struct tls_identity *again;

        join(crt, f->a, "agent-" AGENT ".pem");
        pem = slurp(crt);
        again = tls_identity_with_cert(node7, pem, strlen(pem), err, sizeof err);
        assert_non_null(again);
        multi_open(&p, f, cctx, again);
        assert_int_equal(p.src, 1);
        assert_string_equal(tls_conn_peer_cn(p.sv), AGENT);
        multi_close(&p);
        tls_identity_free(again);
        free(pem);
    }

    /* Issued by another CA: refused by the server. */
    multi_open(&p, f, cctx, foreign);
    assert_server_refused(&p, "certificate verify failed");
    multi_close(&p);

    /* No identity at all: refused by TLS itself. */
    multi_open(&p, f, cctx, NULL);
    assert_server_refused(&p, "peer did not return a certificate");
    multi_close(&p);

    /* The shared context still checks the server's name. */
    memset(&p, 0, sizeof p);
    p.sctx = mkctx(TLS_ROLE_SERVER, f->a, f->a, "server");
    p.sv = tls_conn_new(p.sctx, NULL);
    p.cl = tls_conn_new(cctx, "wrong.example");
    assert_int_equal(tls_conn_use_identity(p.cl, node7), 0);
    handshake(p.cl, p.sv, &p.crc, &p.src);
    assert_int_equal(p.crc, BW_ETLS);
    assert_non_null(strstr(tls_conn_error(p.cl), "certificate verify failed"));
    multi_close(&p);

    tls_identity_free(node7);
    tls_identity_free(other);
    tls_identity_free(foreign);
    tls_ctx_free(cctx);
}

/* ---- enrollment: key + request, the CA, the anonymous listener ------------ */

static void test_enroll_issue(void **state)
{
    struct fix *f = *state;
    char cacrt[PATH_MAX], cakey[PATH_MAX], srv[PATH_MAX], srvkey[PATH_MAX], err[256],
        serial[64], why[256];
    char *key = NULL, *csr = NULL;
    struct tls_ca *ca;
    struct tls_identity *id;
    struct tls_ctx *cctx, *anon;
    struct tls_conn *sv, *cl;
    struct buf cert;
    struct pair p;
    int crc, src;

    join(cacrt, f->a, "ca.pem");
    join(cakey, f->a, "ca.key");
    join(srv, f->a, "server.pem");
    join(srvkey, f->a, "server.key");
    ca = tls_ca_load(cacrt, cakey, err, sizeof err);
    assert_non_null(ca);
    assert_null(tls_ca_load(srv, srvkey, err, sizeof err));
    assert_non_null(strstr(err, "is not a ca certificate"));
    assert_null(tls_ca_load(cacrt, srvkey, err, sizeof err));
    assert_non_null(strstr(err, "does not match"));

    /* The request's subject is ignored: the CN is the one the CA is given. */
    assert_int_equal(tls_csr_new("whatever", &key, &csr, err, sizeof err), 0);
    assert_non_null(strstr(key, "-----BEGIN PRIVATE KEY-----"));
    assert_non_null(strstr(csr, "-----BEGIN CERTIFICATE REQUEST-----"));
    buf_init(&cert, 16384);
    assert_int_equal(tls_ca_issue(ca, csr, strlen(csr), "web-1-0badf00d", 3600, &cert, serial,
                                  sizeof serial, why, sizeof why), 0);
    assert_true(strlen(serial) >= 16);
    buf_append(&cert, "", 1);
    id = tls_identity_from_pem((const char *)buf_head(&cert), buf_size(&cert) - 1, key,
                               strlen(key), err, sizeof err);
    assert_non_null(id);  /* the certificate is for the request's key */
    join(cacrt, f->a, "ca.pem");
    cctx = tls_ctx_new_multi(cacrt, err, sizeof err);
    assert_non_null(cctx);
    multi_open(&p, f, cctx, id);
    assert_int_equal(p.src, 1);
    assert_string_equal(tls_conn_peer_cn(p.sv), "web-1-0badf00d");
    multi_close(&p);

    /* Bad requests: not PEM, a signature that does not verify. */
    buf_reset(&cert);
    assert_int_equal(tls_ca_issue(ca, "junk", 4, "x", 60, &cert, serial, sizeof serial, why,
                                  sizeof why), BW_EINVAL);
    assert_string_equal(why, "certificate request is not pem pkcs#10");
    char *sig = strstr(csr, "-----END") - 8;  /* inside the signature's base64 */
    *sig = *sig == 'A' ? 'B' : 'A';
    assert_int_equal(tls_ca_issue(ca, csr, strlen(csr), "x", 60, &cert, serial, sizeof serial,
                                  why, sizeof why), BW_EINVAL);
    assert_int_equal(buf_size(&cert), 0);

    /* The enrollment listener's context asks for no client certificate. */
    anon = tls_ctx_new_anon_server(srv, srvkey, err, sizeof err);
    assert_non_null(anon);
    sv = tls_conn_new(anon, NULL);
    cl = tls_conn_new(cctx, "localhost");
    handshake(cl, sv, &crc, &src);
    assert_int_equal(crc, 1);
    assert_int_equal(src, 1);
    assert_null(tls_conn_peer_cn(sv));
    tls_conn_free(cl);
    tls_conn_free(sv);
    tls_ctx_free(anon);

    tls_identity_free(id);
    tls_ctx_free(cctx);
    buf_release(&cert);
    tls_ca_free(ca);
    free(key);
    free(csr);
}

/* Writes s to path (a test's stand-in for a crash half-way). */
static void put(const char *path, const char *s)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(s, fp) >= 0, 1);
    fclose(fp);
}

/* A key and a certificate for it, issued by CA a. */
static void issue_pair(const struct fix *f, char **key, char **cert)
{
    char cacrt[PATH_MAX], cakey[PATH_MAX], err[256], serial[64], why[256], *csr = NULL;
    struct tls_ca *ca;
    struct buf b;

    join(cacrt, f->a, "ca.pem");
    join(cakey, f->a, "ca.key");
    ca = tls_ca_load(cacrt, cakey, err, sizeof err);
    assert_non_null(ca);
    assert_int_equal(tls_csr_new("x", key, &csr, err, sizeof err), 0);
    buf_init(&b, 16384);
    assert_int_equal(tls_ca_issue(ca, csr, strlen(csr), "pair", 3600, &b, serial, sizeof serial,
                                  why, sizeof why), 0);
    buf_append(&b, "", 1);
    *cert = strdup((const char *)buf_head(&b));
    buf_release(&b);
    tls_ca_free(ca);
    free(csr);
}

/* Key and certificate installed so that a crash never leaves a mismatch. */
static void test_cert_install_recover(void **state)
{
    struct fix *f = *state;
    char dir[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], pend[PATH_MAX];
    char *k1, *c1, *k2, *c2, *got;

    join(dir, f->root, "install");
    assert_int_equal(mkdir(dir, 0700), 0);
    join(crt, dir, "agent.pem");
    join(key, dir, "agent.key");
    join(pend, dir, "agent.key.new");
    issue_pair(f, &k1, &c1);
    issue_pair(f, &k2, &c2);

    assert_int_equal(tls_cert_install(crt, key, c1, k1), 0);
    assert_int_equal(mode_of(key), 0600);
    assert_int_equal(mode_of(pend), -1);
    got = slurp(key);
    assert_string_equal(got, k1);
    free(got);
    assert_int_equal(tls_cert_recover(crt, key), 0);  /* nothing pending */

    /* A crash after the certificate, before the key's rename: finished. */
    put(pend, k2);
    put(crt, c2);
    assert_int_equal(tls_cert_recover(crt, key), 1);
    got = slurp(key);
    assert_string_equal(got, k2);
    free(got);
    assert_int_equal(mode_of(pend), -1);

    /* A crash before the certificate: the new key is dropped, the pair stands. */
    put(pend, k1);
    assert_int_equal(tls_cert_recover(crt, key), 0);
    assert_int_equal(mode_of(pend), -1);
    got = slurp(key);
    assert_string_equal(got, k2);
    free(got);
    free(k1);
    free(c1);
    free(k2);
    free(c2);
}

static void test_identity_errors(void **state)
{
    struct fix *f = *state;
    char p[PATH_MAX], err[256];
    char *crt, *key, *other_key, *ca;
    const char junk[] = "not a certificate\n";
    const char bad_pem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    struct tls_identity *id;

    join(p, f->a, "agent-" AGENT ".pem");
    crt = slurp(p);
    join(p, f->a, "agent-" AGENT ".key");
    key = slurp(p);
    join(p, f->a, "agent-other.key");
    other_key = slurp(p);
    join(p, f->a, "ca.pem");
    ca = slurp(p);

    /* A key that is not the certificate's: says why, shows nothing of it. */
    assert_null(tls_identity_from_pem(crt, strlen(crt), other_key, strlen(other_key), err,
                                      sizeof err));
    assert_non_null(strstr(err, "mismatch"));
    assert_null(strstr(err, "PRIVATE"));
    assert_lower(err);

    /* The same through a shared key: another agent's certificate. */
    {
        struct tls_identity *base =
            tls_identity_from_pem(crt, strlen(crt), key, strlen(key), err, sizeof err);
        char *other_crt;

        join(p, f->a, "agent-other.pem");
        other_crt = slurp(p);
        assert_non_null(base);
        assert_null(tls_identity_with_cert(base, other_crt, strlen(other_crt), err, sizeof err));
        assert_non_null(strstr(err, "mismatch"));
        assert_null(tls_identity_with_cert(base, junk, sizeof junk - 1, err, sizeof err));
        assert_non_null(strstr(err, "cannot read certificate"));
        tls_identity_free(base);
        free(other_crt);
    }

    assert_null(tls_identity_from_pem(junk, sizeof junk - 1, key, strlen(key), err, sizeof err));
    assert_non_null(strstr(err, "cannot read certificate"));
    assert_null(tls_identity_from_pem(crt, strlen(crt), junk, sizeof junk - 1, err, sizeof err));
    assert_non_null(strstr(err, "cannot read key"));
    /* A key where the certificate goes, and a truncated certificate. */
    assert_null(tls_identity_from_pem(key, strlen(key), key, strlen(key), err, sizeof err));
    assert_null(tls_identity_from_pem(crt, strlen(crt) / 2, key, strlen(key), err, sizeof err));
    assert_null(tls_identity_from_pem(crt, 0, key, strlen(key), err, sizeof err));
    assert_null(tls_identity_from_pem(NULL, 10, key, strlen(key), err, sizeof err));
    assert_non_null(strstr(err, "required"));

    /* Leaf then CA: a chain is accepted; garbage after the leaf is not. */
    {
        size_t lc = strlen(crt), la = strlen(ca);
        char *both = malloc(lc + (la > sizeof bad_pem ? la : sizeof bad_pem));

        assert_non_null(both);
        memcpy(both, crt, lc);
        memcpy(both + lc, ca, la);
        id = tls_identity_from_pem(both, lc + la, key, strlen(key), err, sizeof err);
        assert_non_null(id);
        tls_identity_free(id);
        memcpy(both + lc, bad_pem, sizeof bad_pem - 1);
        assert_null(tls_identity_from_pem(both, lc + sizeof bad_pem - 1, key, strlen(key), err,
                                          sizeof err));
        assert_non_null(strstr(err, "chain"));
        free(both);
    }

    assert_null(tls_ctx_new_multi(NULL, err, sizeof err));
    assert_non_null(strstr(err, "required"));
    join(p, f->root, "nope.pem");
    assert_null(tls_ctx_new_multi(p, err, sizeof err));
    assert_non_null(strstr(err, p));
    tls_identity_free(NULL);
    assert_int_equal(ERR_peek_error(), 0);  /* nothing left queued for the next caller */
    free(crt);
    free(key);
    free(other_key);
    free(ca);
}

/* ---- configuration errors ------------------------------------------------ */

static void test_ctx_errors(void **state)
{
    struct fix *f = *state;
    char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], other_key[PATH_MAX], junk[PATH_MAX];
    char missing[PATH_MAX], err[256];
    FILE *fp;

    join(ca, f->a, "ca.pem");
    join(crt, f->a, "server.pem");
    join(key, f->a, "server.key");
    join(other_key, f->a, "agent-other.key");
    join(missing, f->root, "nope.pem");
    join(junk, f->root, "junk.pem");
    fp = fopen(junk, "w");
    assert_non_null(fp);
    fputs("not a certificate\n", fp);
    fclose(fp);

    assert_null(tls_ctx_new(TLS_ROLE_SERVER, missing, crt, key, err, sizeof err));
    assert_non_null(strstr(err, missing));
    assert_non_null(strstr(err, "no such file"));

    assert_null(tls_ctx_new(TLS_ROLE_SERVER, ca, junk, key, err, sizeof err));
    assert_non_null(strstr(err, junk));
    assert_non_null(strstr(err, "certificate"));

    /* A key that is not the certificate's: the message names the file and
     * says why, and shows nothing of the key. */
    assert_null(tls_ctx_new(TLS_ROLE_CLIENT, ca, crt, other_key, err, sizeof err));
    assert_non_null(strstr(err, other_key));
    assert_non_null(strstr(err, "mismatch"));
    assert_null(strstr(err, "PRIVATE"));

    assert_null(tls_ctx_new(TLS_ROLE_SERVER, ca, crt, junk, err, sizeof err));
    assert_non_null(strstr(err, junk));

    /* A client must know which server name to check. */
    {
        struct tls_ctx *cctx = mkctx(TLS_ROLE_CLIENT, f->a, f->a, "agent-" AGENT);
        struct tls_conn *c = tls_conn_new(cctx, NULL);

        assert_null(c);
        assert_null(tls_conn_new(cctx, ""));
        c = tls_conn_new(cctx, "localhost");
        assert_non_null(c);
        assert_false(tls_conn_established(c));
        assert_null(tls_conn_peer_cn(c));
        assert_int_equal(tls_conn_write(c, "x", 1), BW_ETLS);
        tls_conn_free(c);
        tls_ctx_free(cctx);
    }
    tls_ctx_free(NULL);
    tls_conn_free(NULL);
}

/* A name tls_conn_new could not use is refused up front (the agent checks
 * it at start instead of failing each connection as "out of memory"). */
static void test_server_name_check(void **state)
{
    (void)state;
    char longest[TLS_SERVER_NAME_MAX + 2];

    assert_int_equal(tls_server_name_check("bulwark.example"), 0);
    assert_int_equal(tls_server_name_check("127.0.0.1"), 0);
    assert_int_equal(tls_server_name_check("::1"), 0);
    assert_int_equal(tls_server_name_check(""), BW_EINVAL);
    assert_int_equal(tls_server_name_check(NULL), BW_EINVAL);
    memset(longest, 'a', sizeof longest - 1);
    longest[TLS_SERVER_NAME_MAX] = '\0';
    assert_int_equal(tls_server_name_check(longest), 0);
    longest[TLS_SERVER_NAME_MAX] = 'a';
    longest[TLS_SERVER_NAME_MAX + 1] = '\0';
    assert_int_equal(tls_server_name_check(longest), BW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_certs_script),
        cmocka_unit_test(test_handshake_identity),
        cmocka_unit_test(test_server_ip_names),
        cmocka_unit_test(test_client_from_other_ca),
        cmocka_unit_test(test_server_from_other_ca),
        cmocka_unit_test(test_wrong_purpose),
        cmocka_unit_test(test_client_without_certificate),
        cmocka_unit_test(test_only_tls13),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_close_notify),
        cmocka_unit_test(test_ctx_errors),
        cmocka_unit_test(test_identity_in_memory),
        cmocka_unit_test(test_identity_errors),
        cmocka_unit_test(test_enroll_issue),
        cmocka_unit_test(test_cert_install_recover),
        cmocka_unit_test(test_server_name_check),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
