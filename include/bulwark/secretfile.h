/* secretfile.h - small files (secrets up to 4 KiB) that hold secrets: a token read from its
 * file (tokens never travel on a command line), and key and certificate
 * files written atomically with their mode set before any byte is in them. */
#ifndef BULWARK_SECRETFILE_H
#define BULWARK_SECRETFILE_H

#include <stddef.h>
#include <sys/types.h>

/* The file's first line without its line end into *out (heap; cleanse and
 * free it). BW_ECONFIG when unreadable, empty, longer than max, starting
 * with a blank or holding control characters; BW_ENOMEM. */
int secretfile_read(const char *path, size_t max, char **out);
/* The whole of a file (a PEM certificate or key), NUL-terminated, on the
 * heap (cleanse a key before freeing it); NULL when absent, unreadable,
 * empty or larger than max bytes. */
char *secretfile_slurp(const char *path, size_t max);
/* Writes data to path atomically: a temporary file beside it created with
 * mode, written, fsynced, renamed over path, and the directory fsynced.
 * 0 or BW_EIO (path is then as it was). */
int secretfile_write(const char *path, const void *data, size_t len, mode_t mode);

#endif
