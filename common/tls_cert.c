/* tls_cert.c - certificates as files and as requests: reading identities
 * and validity out of certificate files, making a key and a certificate
 * request (the agent's enrollment), and issuing a client certificate for a
 * request (the server's enrollment CA). */

#include <ctype.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/err.h"
#include "bulwark/secretfile.h"
#include "bulwark/tls.h"

int tls_cert_file_cn(const char *path, char *out, size_t outlen)
{
    FILE *fp = fopen(path, "r");
    X509 *x = NULL;
    int rc = BW_EIO, n;

    if (!fp)
        return BW_EIO;
    x = PEM_read_X509(fp, NULL, NULL, NULL);
    if (!x)
        goto out;
    n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)outlen);
    rc = (n > 0 && (size_t)n < outlen) ? 0 : BW_ENOTFOUND;
out:
    X509_free(x);
    fclose(fp);
    return rc;
}

/* ------------------------------------------------------------ enrollment */

/* Writes OpenSSL's first queued reason (or fallback) as "what: reason". */
static void cert_err(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, r ? r : "unknown error");
    ERR_clear_error();
}

/* The PEM text of a BIO's contents, NUL-terminated, on the heap. */
static char *cert_bio_text(BIO *b)
{
    char *data, *out;
    long n = BIO_get_mem_data(b, &data);

    if (n <= 0 || !(out = malloc((size_t)n + 1)))
        return NULL;
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    return out;
}

int tls_csr_new(const char *cn, char **key_pem, char **csr_pem, char *err, size_t errlen)
{
    EVP_PKEY *key = NULL;
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    BIO *kb = NULL, *rb = NULL;
    int rc = BW_ETLS;

    ERR_clear_error();
    if (!(key = EVP_EC_gen("P-256"))) {
        cert_err(err, errlen, "cannot make an ec p-256 key");
        goto out;
    }
    if (!(req = X509_REQ_new()) || !(name = X509_NAME_new()) ||
        !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0) ||
        !X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
        !X509_REQ_set_pubkey(req, key) || !X509_REQ_sign(req, key, EVP_sha256())) {
        cert_err(err, errlen, "cannot make a certificate request");
        goto out;
    }
    if (!(kb = BIO_new(BIO_s_mem())) || !(rb = BIO_new(BIO_s_mem())) ||
        !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_X509_REQ(rb, req)) {
        cert_err(err, errlen, "cannot write the key or the request");
        goto out;
    }
    *key_pem = cert_bio_text(kb);
    *csr_pem = cert_bio_text(rb);
    if (!*key_pem || !*csr_pem) {
        free(*key_pem);
        free(*csr_pem);
        *key_pem = *csr_pem = NULL;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    BIO_free(kb);  /* a mem BIO's buffer is cleared when freed */
    BIO_free(rb);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return rc;
}

struct tls_ca {
    X509 *cert;
    EVP_PKEY *key;
    pthread_mutex_t mu;
};

struct tls_ca *tls_ca_load(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    struct tls_ca *ca = calloc(1, sizeof *ca);
    FILE *fp;

    if (!ca) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&ca->mu, NULL);
    ERR_clear_error();
    if ((fp = fopen(cert_file, "r")) != NULL) {
        ca->cert = PEM_read_X509(fp, NULL, NULL, NULL);
        fclose(fp);
    }
    if (!ca->cert) {
        snprintf(err, errlen, "cannot read ca certificate '%s'", cert_file);
        goto fail;
    }
    if ((fp = fopen(key_file, "r")) != NULL) {
        ca->key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
        fclose(fp);
    }
    if (!ca->key) {
        snprintf(err, errlen, "cannot read ca key '%s'", key_file);
        goto fail;
    }
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        snprintf(err, errlen, "ca key '%s' does not match '%s'", key_file, cert_file);
        goto fail;
    }
    if (X509_check_ca(ca->cert) == 0) {
        snprintf(err, errlen, "'%s' is not a ca certificate", cert_file);
        goto fail;
    }
    ERR_clear_error();
    return ca;
fail:
    ERR_clear_error();
    tls_ca_free(ca);
    return NULL;
}

void tls_ca_free(struct tls_ca *ca)
{
    if (!ca)
        return;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    pthread_mutex_destroy(&ca->mu);
    free(ca);
}

/* Adds extension nid=value (OpenSSL's config syntax) to x. */
static int cert_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1);

    X509_EXTENSION_free(e);
    return ok ? 0 : BW_ETLS;
}

/* Checks the request: parsed, an EC P-256 key, signed by it. Its key into *pk
 * (a reference into req). */
static int cert_check_csr(X509_REQ *req, EVP_PKEY **pk, char *why, size_t whylen)
{
    char group[32];
    size_t glen = 0;

    if (!req) {
        snprintf(why, whylen, "certificate request is not pem pkcs#10");
        return BW_EINVAL;
    }
    *pk = X509_REQ_get0_pubkey(req);
    if (!*pk || !EVP_PKEY_is_a(*pk, "EC") ||
        !EVP_PKEY_get_group_name(*pk, group, sizeof group, &glen) ||
        strcmp(group, "prime256v1") != 0) {
        snprintf(why, whylen, "certificate request must carry an ec p-256 key");
        return BW_EINVAL;
    }
    if (X509_REQ_verify(req, *pk) != 1) {
        snprintf(why, whylen, "certificate request is not signed by its key");
        return BW_EINVAL;
    }
    return 0;
}

int tls_ca_issue(struct tls_ca *ca, const char *csr_pem, size_t csr_len, const char *cn,
                 int64_t lifetime_s, struct buf *out, char *serial, size_t serial_len, char *why,
                 size_t whylen)
{
    BIO *b = NULL;
    X509_REQ *req = NULL;
    X509 *x = NULL;
    X509_NAME *name = NULL;
    EVP_PKEY *pk = NULL;
    BIGNUM *bn = NULL;
    X509V3_CTX v3;
    unsigned char rnd[16];
    char *hex = NULL, *data;
    long n;
    int rc = BW_ETLS;

    ERR_clear_error();
    if (csr_len > INT_MAX || !(b = BIO_new_mem_buf(csr_pem, (int)csr_len))) {
        snprintf(why, whylen, "certificate request too large");
        return BW_EINVAL;
    }
    req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    BIO_free(b);
    b = NULL;
    if ((rc = cert_check_csr(req, &pk, why, whylen)) < 0)
        goto out;
    rc = BW_ETLS;
    snprintf(why, whylen, "cannot issue the certificate");
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        goto out;
    rnd[0] &= 0x7f;  /* positive */
    if (!(x = X509_new()) || !X509_set_version(x, 2) ||
        !(bn = BN_bin2bn(rnd, sizeof rnd, NULL)) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
        !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) || !(name = X509_NAME_new()) ||
        !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0) ||
        !X509_set_subject_name(x, name) || !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), (long)lifetime_s) || !X509_set_pubkey(x, pk))
        goto out;
    X509V3_set_ctx(&v3, ca->cert, x, NULL, NULL, 0);
    if (cert_add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        cert_add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") < 0 ||
        cert_add_ext(x, &v3, NID_ext_key_usage, "clientAuth") < 0 ||
        cert_add_ext(x, &v3, NID_subject_key_identifier, "hash") < 0 ||
        cert_add_ext(x, &v3, NID_authority_key_identifier, "keyid") < 0)
        goto out;
    pthread_mutex_lock(&ca->mu);
    int signed_ok = X509_sign(x, ca->key, EVP_sha256()) > 0;
    pthread_mutex_unlock(&ca->mu);
    if (!signed_ok || !(b = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509(b, x) ||
        (n = BIO_get_mem_data(b, &data)) <= 0 || buf_append(out, data, (size_t)n) < 0 ||
        !(hex = BN_bn2hex(bn)))
        goto out;
    snprintf(serial, serial_len, "%s", hex);
    for (char *p = serial; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    why[0] = '\0';
    rc = 0;
out:
    OPENSSL_free(hex);
    BN_free(bn);
    BIO_free(b);
    X509_NAME_free(name);
    X509_free(x);
    X509_REQ_free(req);
    ERR_clear_error();
    return rc;
}

int tls_cert_file_times(const char *path, int64_t *not_before, int64_t *not_after)
{
    FILE *fp = fopen(path, "r");
    X509 *x = NULL;
    struct tm tb, ta;
    int rc = BW_EINVAL;

    if (!fp)
        return BW_EIO;
    x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    if (x && ASN1_TIME_to_tm(X509_get0_notBefore(x), &tb) == 1 &&
        ASN1_TIME_to_tm(X509_get0_notAfter(x), &ta) == 1) {
        *not_before = (int64_t)timegm(&tb);
        *not_after = (int64_t)timegm(&ta);
        rc = 0;
    }
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/* ------------------------------------------------------------ key + certificate files */

#define TLS_PEM_FILE_MAX (64 * 1024)

/* Does the certificate in cert_path belong to the key in key_path? */
static bool cert_files_match(const char *cert_path, const char *key_path)
{
    char *c = secretfile_slurp(cert_path, TLS_PEM_FILE_MAX);
    char *k = secretfile_slurp(key_path, TLS_PEM_FILE_MAX), err[8];
    struct tls_identity *id = NULL;

    if (c && k)
        id = tls_identity_from_pem(c, strlen(c), k, strlen(k), err, sizeof err);
    if (k) {
        OPENSSL_cleanse(k, strlen(k));
        free(k);
    }
    free(c);
    tls_identity_free(id);
    return id != NULL;
}

static int cert_pending_key(const char *key_path, char *out, size_t n)
{
    return snprintf(out, n, "%s.new", key_path) < (int)n ? 0 : BW_EIO;
}

int tls_cert_install(const char *cert_path, const char *key_path, const char *cert_pem,
                     const char *key_pem)
{
    char pending[PATH_MAX];

    if (cert_pending_key(key_path, pending, sizeof pending) < 0 ||
        secretfile_write(pending, key_pem, strlen(key_pem), 0600) < 0)
        return BW_EIO;
    if (secretfile_write(cert_path, cert_pem, strlen(cert_pem), 0644) < 0) {
        unlink(pending);
        return BW_EIO;
    }
    return rename(pending, key_path) == 0 ? 0 : BW_EIO;
}

int tls_cert_recover(const char *cert_path, const char *key_path)
{
    char pending[PATH_MAX];

    if (cert_pending_key(key_path, pending, sizeof pending) < 0 || access(pending, F_OK) != 0)
        return 0;
    if (cert_files_match(cert_path, pending))
        return rename(pending, key_path) == 0 ? 1 : BW_EIO;  /* finish the install */
    unlink(pending);  /* the certificate never came: the old pair stands */
    return 0;
}
