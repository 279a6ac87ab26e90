/* err.h - the error codes every Bulwark module returns.
 *
 * Functions return 0 on success or a negative enum bw_err; bw_strerror()
 * gives a lower-case description for logs. */
#ifndef BULWARK_ERR_H
#define BULWARK_ERR_H

enum bw_err {
    BW_OK = 0,
    BW_ENOMEM = -1,    /* allocation failed */
    BW_EINVAL = -2,    /* invalid argument or value */
    BW_EPROTO = -3,    /* peer broke the protocol */
    BW_EIO = -4,       /* I/O or storage failure */
    BW_ETOOBIG = -5,   /* a bounded size or count was exceeded */
    BW_EAGAIN = -6,    /* not ready yet, try again later */
    BW_EFULL = -7,     /* a bounded queue or store is full */
    BW_ETLS = -8,      /* TLS failure (handshake, certificate, record) */
    BW_ECONFIG = -9,   /* bad configuration */
    BW_ENOTFOUND = -10,
    BW_EAUTH = -11,    /* identity refused */
    BW_ECLOSED = -12,  /* peer closed the stream */
    BW_ESEQ = -13,     /* a sequence gap: earlier events were not stored */
};

/* Returns a static, lower-case description of `err` (a negative bw_err). */
const char *bw_strerror(int err);

#endif
