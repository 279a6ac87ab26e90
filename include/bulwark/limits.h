/* limits.h - the one table of protocol limits, shared by the agent (what it
 * may send) and the server (what it accepts). docs/protocol.md lists them.
 *
 * Strings are counted in bytes of UTF-8 and must be valid UTF-8 without NUL
 * bytes; a limit of a repeated field or map counts its entries. */
#ifndef BULWARK_LIMITS_H
#define BULWARK_LIMITS_H

#include <stdint.h>

/* Hello: the only frame a stream may send before it is welcomed. */
#define BW_LIMIT_HELLO_FRAME 65536u     /* bytes of the Hello frame */
#define BW_LIMIT_AGENT_ID 64u           /* [A-Za-z0-9._-], also the certificate CN */
#define BW_LIMIT_HOSTNAME 255u          /* printable, no spaces */
#define BW_LIMIT_AGENT_VERSION 64u
#define BW_LIMIT_LABEL 256u             /* cloud, region, environment, tenant */
#define BW_LIMIT_LABEL_KEY 128u         /* Labels.extra and ContainerRef.labels keys */
#define BW_LIMIT_LABEL_VALUE 1024u      /* ... and values */
#define BW_LIMIT_LABELS 64u             /* entries of Labels.extra, ContainerRef.labels */

/* Enrollment (EnrollRequest, RenewRequest): PEM texts are strings and
 * keep BW_LIMIT_STRING (a P-256 request is ~450 bytes). */
#define BW_LIMIT_ENROLL_TOKEN 128u      /* bytes of an enrollment token */

/* Events. */
#define BW_LIMIT_STRING 4096u           /* any other string field */
#define BW_LIMIT_CONTAINER_ID 128u
#define BW_LIMIT_ADDR 64u               /* a textual IP address (ProcessExec.stdio_remote_addr) */
#define BW_LIMIT_SECRET_MATCH 128u      /* SecretFinding.match_redacted: a key name and "****" */
#define BW_LIMIT_REPEATED 256u          /* entries of any other repeated field or map */
#define BW_LIMIT_ANCESTORS 16u          /* ProcessRef.ancestors (the agent sends up to 8) */
#define BW_LIMIT_SYSCALL_NAME 64u       /* Syscall.type and the keys of Syscall.args */
#define BW_LIMIT_SYSCALL_ARGS 16u       /* entries of Syscall.args */
/* Sequence numbers and epochs are stored as SQLite integers (signed 64-bit):
 * neither may pass INT64_MAX, and a batch may not wrap past it. */
#define BW_LIMIT_SEQ ((uint64_t)INT64_MAX)
#define BW_LIMIT_EPOCH ((uint64_t)INT64_MAX)

#endif
