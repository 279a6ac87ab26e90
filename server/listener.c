/* listener.c - the listening socket: accept -> conn_new() -> conn_start(),
 * refusing beyond max_connections. Prints the ready line tests wait for. */
#include <stdlib.h>
#include <string.h>

#include "bulwark/conn.h"
#include "bulwark/err.h"
#include "bulwark/log.h"
#include "bulwark/net.h"
#include "bulwark/server.h"

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct server *srv = ls->data;
    struct conn *c;

    if (status < 0) {
        log_msg(LOG_WARN, "listener", "accept failed: %s", uv_strerror(status));
        return;
    }
    if (srv->draining || srv->nconns >= srv->cfg->max_connections) {
        uv_tcp_t *t = malloc(sizeof *t);
        srv->stats.refused_limit++;
        if (!t)
            return;
        uv_tcp_init(srv->loop, t);
        if (uv_accept(ls, (uv_stream_t *)t) == 0 && !srv->draining)
            log_msg(LOG_WARN, "listener", "refused a connection: limit of %u connections reached",
                    srv->cfg->max_connections);
        uv_close((uv_handle_t *)t, on_refused_closed);
        return;
    }
    c = conn_new(srv);
    if (!c) {
        log_msg(LOG_ERROR, "listener", "out of memory for a new connection");
        return;
    }
    srv->stats.accepted++;
    if (uv_accept(ls, (uv_stream_t *)conn_tcp(c)) < 0 || conn_start(c) < 0)
        conn_close(c, "accept failed");
}

int listener_start(struct server *srv)
{
    struct sockaddr_storage ss;
    int len = sizeof ss, rc;
    char name[INET6_ADDRSTRLEN + 8];

    rc = net_addr_parse(srv->cfg->listen, &ss);
    if (rc < 0) {
        log_msg(LOG_ERROR, "listener", "'%s' is not an address:port", srv->cfg->listen);
        return BW_ECONFIG;
    }
    uv_tcp_init(srv->loop, &srv->listener);
    srv->listener.data = srv;
    rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 1024, on_connection);
    if (rc < 0) {
        log_msg(LOG_ERROR, "listener", "cannot listen on '%s': %s", srv->cfg->listen,
                uv_strerror(rc));
        uv_close((uv_handle_t *)&srv->listener, NULL);
        return BW_EIO;
    }
    srv->listening = true;
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len);
    net_addr_format((struct sockaddr *)&ss, name, sizeof name);
    log_msg(LOG_INFO, "listener", "listening %s", name);
    return 0;
}

void listener_stop(struct server *srv)
{
    if (srv->listening) {
        srv->listening = false;
        uv_close((uv_handle_t *)&srv->listener, NULL);
    }
}
