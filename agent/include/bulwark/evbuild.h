/* evbuild.h - building events and their messages as malloc'd trees
 * (freed by evb_msg_free() or evjson_event_free()): container
 * attribution, the collectors, the sources and the sensor share these. */
#ifndef BULWARK_EVBUILD_H
#define BULWARK_EVBUILD_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/v1/bulwark.pb-c.h"

#define EVB_STR_MAX 1023      /* longest string put in an event (evjson's bound) */
#define EVB_CMDLINE_MAX 4096  /* evjson's bound on cmdline */

int64_t evb_now_ns(void);
/* A malloc'd copy of s cut to max bytes (NULL s gives ""); NULL on ENOMEM. */
char *evb_strdup(const char *s, size_t max);
/* A malloc'd copy of s[0, n) cut to at most max bytes on a UTF-8 boundary
 * (a multi-byte sequence is never split; s may hold NULs). NULL on ENOMEM. */
char *evb_strndup_utf8(const char *s, size_t n, size_t max);
/* Replaces *field (a malloc'd or empty string) with a copy; BW_ENOMEM. */
int evb_set_str(char **field, const char *s, size_t max);
/* A zeroed, initialised message of descriptor d (malloc'd); NULL on ENOMEM. */
void *evb_msg_new(const ProtobufCMessageDescriptor *d);
/* Frees a malloc'd message tree (strings, arrays, sub-messages); NULL ok. */
void evb_msg_free(ProtobufCMessage *m);
/* A new event at time_ns with the given severity; NULL on ENOMEM. */
Bulwark__V1__Event *evb_event_new(int64_t time_ns, Bulwark__V1__Severity sev);

#endif
