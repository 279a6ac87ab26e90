/* net.c - address parsing and formatting (see bulwark/net.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/net.h"

int net_split_host_port(const char *s, char *host, size_t hostlen, unsigned *port)
{
    const char *colon, *hs = s, *he;
    char *end;
    unsigned long p;

    if (*s == '[') {
        he = strchr(s, ']');
        if (!he || he[1] != ':')
            return BW_EINVAL;
        hs = s + 1;
        colon = he + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon)
            return BW_EINVAL;
        he = colon;
    }
    if ((size_t)(he - hs) >= hostlen || he == hs)
        return BW_EINVAL;
    p = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || p > 65535)
        return BW_EINVAL;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    *port = (unsigned)p;
    return 0;
}

int net_addr_parse(const char *s, struct sockaddr_storage *out)
{
    char host[256];
    unsigned port;
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;

    if (net_split_host_port(s, host, sizeof host, &port) < 0)
        return BW_EINVAL;
    memset(out, 0, sizeof *out);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return BW_EINVAL;
}

void net_addr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        snprintf(out, outlen, "%s:%u", ip, ntohs(v4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(v6->sin6_port));
    } else {
        snprintf(out, outlen, "?");
    }
}
