/* evbuild.c - the helpers that build events and their messages as
 * malloc'd trees (bulwark/evbuild.h): container attribution, the
 * collectors, the sources and the sensor share them. */
#include <stdlib.h>
#include <string.h>

#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"

int64_t evb_now_ns(void)
{
    return clock_wall_ns();
}

char *evb_strdup(const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max) : 0;
    char *d = malloc(n + 1);

    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *evb_strndup_utf8(const char *s, size_t n, size_t max)
{
    char *p;

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int evb_set_str(char **field, const char *s, size_t max)
{
    char *d = evb_strdup(s, max);

    if (!d)
        return BW_ENOMEM;
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = d;
    return 0;
}

/* The generated descriptors give proto3 strings &protobuf_c_empty_string
 * as default, so protobuf-c's own walker frees exactly our malloc'd tree. */
void evb_msg_free(ProtobufCMessage *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

void *evb_msg_new(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);

    if (m)
        d->message_init(m);
    return m;
}

Bulwark__V1__Event *evb_event_new(int64_t time_ns, Bulwark__V1__Severity sev)
{
    Bulwark__V1__Event *ev = evb_msg_new(&bulwark__v1__event__descriptor);

    if (ev) {
        ev->time_ns = time_ns;
        ev->severity = sev;
    }
    return ev;
}
