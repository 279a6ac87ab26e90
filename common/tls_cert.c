/* tls_cert.c - reading identities out of certificate files. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>

#include "bulwark/err.h"
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
