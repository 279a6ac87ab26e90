/* loadgen_certs.c - the load generator's identities (see loadgen.h): one EC
 * P-256 key shared by every agent and N leaf certificates (CN=<prefix>-<i>,
 * clientAuth) signed in-process by the dev CA in --certs (ca.pem and ca.key
 * from deploy/gen-certs.sh), each handed to tls.h as PEM text in memory
 * (tls_identity_from_pem), and the one client tls_ctx (tls_ctx_new_multi)
 * whose conns each present their own identity. Nothing is written to disk.
 *
 * Reported: ctx_ms = the context plus parsing the N identities (what one
 * tls_ctx per identity cost before: 1.6 ms and ~25 KiB each), certgen_ms =
 * everything else (reading the CA, the key, signing and encoding). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "loadgen.h"

/* The extensions every agent certificate carries (made once: parsing them
 * per certificate would cost more than signing). */
struct cert_exts {
    X509_EXTENSION *e[3];
};

static int cert_exts_init(struct cert_exts *x)
{
    static const struct {
        int nid;
        const char *value;
    } want[3] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "clientAuth"},
    };

    for (size_t i = 0; i < 3; i++)
        if (!(x->e[i] = X509V3_EXT_conf_nid(NULL, NULL, want[i].nid, want[i].value)))
            return BW_EINVAL;
    return 0;
}

static void cert_exts_release(struct cert_exts *x)
{
    for (size_t i = 0; i < 3; i++)
        X509_EXTENSION_free(x->e[i]);
}

/* One leaf certificate for `id`, signed by the CA, as PEM into out (emptied
 * first). */
static int cert_make(X509 *ca, EVP_PKEY *cakey, EVP_PKEY *key, const struct cert_exts *ext,
                     const char *id, uint64_t serial, BIO *out)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    int rc = BW_EINVAL;

    if (!x || !name)
        goto out;
    if (!X509_set_version(x, 2) || !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
        !X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)id, -1, -1,
                                    0) ||
        !X509_set_subject_name(x, name) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 7L * 86400) || !X509_set_pubkey(x, key))
        goto out;
    for (size_t i = 0; i < 3; i++)
        if (!X509_add_ext(x, ext->e[i], -1))
            goto out;
    if (X509_sign(x, cakey, EVP_sha256()) <= 0)
        goto out;
    if (BIO_reset(out) == 1 && PEM_write_bio_X509(out, x))
        rc = 0;
out:
    X509_NAME_free(name);
    X509_free(x);
    return rc;
}

/* The CA certificate and key from --certs. */
static int ca_read(const char *dir, X509 **ca, EVP_PKEY **cakey)
{
    char path[300];
    FILE *fp;

    snprintf(path, sizeof path, "%s/ca.pem", dir);
    if ((fp = fopen(path, "r")) != NULL) {
        *ca = PEM_read_X509(fp, NULL, NULL, NULL);
        fclose(fp);
    }
    if (!*ca) {
        fprintf(stderr, "loadgen: cannot read ca certificate '%s'\n", path);
        return BW_EIO;
    }
    snprintf(path, sizeof path, "%s/ca.key", dir);
    if ((fp = fopen(path, "r")) != NULL) {
        *cakey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
        fclose(fp);
    }
    if (!*cakey) {
        fprintf(stderr, "loadgen: cannot read ca key '%s'\n", path);
        return BW_EIO;
    }
    return 0;
}

int lg_identities_make(struct loadgen *lg)
{
    char ca_path[300], err[256];
    X509 *ca = NULL;
    EVP_PKEY *cakey = NULL, *key = NULL;
    BIO *kbio = NULL, *cbio = NULL;
    struct cert_exts ext = {{NULL}};
    char *kpem, *cpem;
    long klen, clen;
    uint64_t t0 = (uint64_t)clock_mono_ns(), parse_ns = 0, t, serial0;
    int rc = BW_EIO;

    if (ca_read(lg->o.certs, &ca, &cakey) < 0)
        goto out;
    if (cert_exts_init(&ext) < 0) {
        fprintf(stderr, "loadgen: cannot make certificate extensions\n");
        goto out;
    }
    if (!(key = EVP_EC_gen("P-256"))) {
        fprintf(stderr, "loadgen: cannot generate a P-256 key\n");
        goto out;
    }
    if (!(kbio = BIO_new(BIO_s_mem())) || !(cbio = BIO_new(BIO_s_mem())) ||
        !PEM_write_bio_PrivateKey(kbio, key, NULL, NULL, 0, NULL, NULL) ||
        (klen = BIO_get_mem_data(kbio, &kpem)) <= 0) {
        fprintf(stderr, "loadgen: cannot encode the key\n");
        goto out;
    }

    t = (uint64_t)clock_mono_ns();
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", lg->o.certs);
    lg->ctx = tls_ctx_new_multi(ca_path, err, sizeof err);
    lg->ids = calloc(lg->o.agents, sizeof *lg->ids);
    parse_ns += (uint64_t)clock_mono_ns() - t;
    if (!lg->ctx || !lg->ids) {
        fprintf(stderr, "loadgen: %s\n", lg->ctx ? "out of memory" : err);
        goto out;
    }
    serial0 = (lg_rand(lg) >> 2) & ~(uint64_t)0xfffff;  /* random base, room for N */
    for (uint32_t i = 0; i < lg->o.agents; i++) {
        char id[LG_ID_MAX];

        stream_id(lg, i, id, sizeof id);
        if (cert_make(ca, cakey, key, &ext, id, serial0 + i + 1, cbio) < 0 ||
            (clen = BIO_get_mem_data(cbio, &cpem)) <= 0) {
            fprintf(stderr, "loadgen: cannot make certificate '%s'\n", id);
            goto out;
        }
        t = (uint64_t)clock_mono_ns();
        /* the key is parsed once, for the first; the others share it */
        lg->ids[i] = i == 0 ? tls_identity_from_pem(cpem, (size_t)clen, kpem, (size_t)klen, err,
                                                    sizeof err)
                            : tls_identity_with_cert(lg->ids[0], cpem, (size_t)clen, err,
                                                     sizeof err);
        parse_ns += (uint64_t)clock_mono_ns() - t;
        if (!lg->ids[i]) {
            fprintf(stderr, "loadgen: %s: %s\n", id, err);
            goto out;
        }
    }
    lg->ctx_ms = (double)parse_ns / 1e6;
    lg->certgen_ms = ms_since(t0, (uint64_t)clock_mono_ns()) - lg->ctx_ms;
    rc = 0;
out:
    BIO_free(kbio);
    BIO_free(cbio);
    cert_exts_release(&ext);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
    return rc;
}

void lg_identities_free(struct loadgen *lg)
{
    if (lg->ids)
        for (uint32_t i = 0; i < lg->o.agents; i++)
            tls_identity_free(lg->ids[i]);
    free(lg->ids);
    lg->ids = NULL;
    tls_ctx_free(lg->ctx);
    lg->ctx = NULL;
}
