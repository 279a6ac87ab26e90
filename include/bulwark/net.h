/* net.h - "host:port" <-> socket addresses (shared by server and agent). */
#ifndef BULWARK_NET_H
#define BULWARK_NET_H

#include <stddef.h>
#include <sys/socket.h>

/* Parses "1.2.3.4:80", "[::1]:80" or "localhost:80" (localhost only, no DNS
 * on the loop). Returns 0 or BW_EINVAL. */
int net_addr_parse(const char *s, struct sockaddr_storage *out);
/* Splits "host:port" / "[v6]:port" into host (without brackets); 0 or BW_EINVAL. */
int net_split_host_port(const char *s, char *host, size_t hostlen, unsigned *port);
/* "1.2.3.4:80" or "[::1]:80". */
void net_addr_format(const struct sockaddr *sa, char *out, size_t outlen);

#endif
