/* err.c - descriptions of enum bw_err. */
#include "bulwark/err.h"

const char *bw_strerror(int err)
{
    switch (err) {
    case BW_OK: return "ok";
    case BW_ENOMEM: return "out of memory";
    case BW_EINVAL: return "invalid argument";
    case BW_EPROTO: return "protocol error";
    case BW_EIO: return "i/o error";
    case BW_ETOOBIG: return "size limit exceeded";
    case BW_EAGAIN: return "try again";
    case BW_EFULL: return "full";
    case BW_ETLS: return "tls error";
    case BW_ECONFIG: return "bad configuration";
    case BW_ENOTFOUND: return "not found";
    case BW_EAUTH: return "identity refused";
    case BW_ECLOSED: return "closed by peer";
    case BW_ESEQ: return "events before these were not stored";
    }
    return "unknown error";
}
