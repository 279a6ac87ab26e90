/* secretfile.c - reading a secret from its file, writing key and
 * certificate files atomically (see bulwark/secretfile.h). */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulwark/err.h"
#include "bulwark/secretfile.h"

int secretfile_read(const char *path, size_t max, char **out)
{
    char buf[4096 + 2];
    size_t n;
    FILE *fp;
    int rc = BW_ECONFIG;

    if (max > sizeof buf - 2 || !(fp = fopen(path, "re")))
        return BW_ECONFIG;
    n = fread(buf, 1, max + 1, fp);
    fclose(fp);
    buf[n] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    n = strlen(buf);
    if (n == 0 || n > max || strpbrk(buf, "\t ") == buf)
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20)
            goto out;
    rc = (*out = strdup(buf)) ? 0 : BW_ENOMEM;
out:
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

char *secretfile_slurp(const char *path, size_t max)
{
    FILE *fp = fopen(path, "re");
    char *s = NULL;
    size_t n;

    if (!fp)
        return NULL;
    if ((s = malloc(max + 1)) != NULL) {
        n = fread(s, 1, max + 1, fp);
        if (n == 0 || n > max || ferror(fp)) {
            free(s);
            s = NULL;
        } else {
            s[n] = '\0';
        }
    }
    fclose(fp);
    return s;
}

int secretfile_write(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    const char *p = data;
    int fd, dfd;

    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp ||
        snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return BW_EIO;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return BW_EIO;
    if (fchmod(fd, mode) != 0)  /* whatever the umask said */
        goto fail;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0)
            goto fail;
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return BW_EIO;
}
