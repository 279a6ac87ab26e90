/* listener.c - the listening sockets: accept -> conn_new() -> conn_start(),
 * refusing beyond max_connections. The agent listener prints the ready line
 * tests wait for; the enrollment listener (when enroll_listen is set) makes
 * enrollment connections, counted in the same limit. */
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
    c = conn_new(srv, ls == (uv_stream_t *)&srv->enroll_listener);
    if (!c) {
        log_msg(LOG_ERROR, "listener", "out of memory for a new connection");
        return;
    }
    srv->stats.accepted++;
    if (uv_accept(ls, (uv_stream_t *)conn_tcp(c)) < 0 || conn_start(c) < 0)
        conn_close(c, "accept failed");
}

/* Binds h to addr and listens; logs "<module>: listening HOST:PORT". */
static int listener_bind(struct server *srv, uv_tcp_t *h, const char *addr, const char *module)
{
    struct sockaddr_storage ss;
    int len = sizeof ss, rc;
    char name[INET6_ADDRSTRLEN + 8];

    rc = net_addr_parse(addr, &ss);
    if (rc < 0) {
        log_msg(LOG_ERROR, module, "'%s' is not an address:port", addr);
        return BW_ECONFIG;
    }
    uv_tcp_init(srv->loop, h);
    h->data = srv;
    rc = uv_tcp_bind(h, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)h, 1024, on_connection);
    if (rc < 0) {
        log_msg(LOG_ERROR, module, "cannot listen on '%s': %s", addr, uv_strerror(rc));
        uv_close((uv_handle_t *)h, NULL);
        return BW_EIO;
    }
    uv_tcp_getsockname(h, (struct sockaddr *)&ss, &len);
    net_addr_format((struct sockaddr *)&ss, name, sizeof name);
    log_msg(LOG_INFO, module, "listening %s", name);
    return 0;
}

int listener_start(struct server *srv)
{
    int rc;

    if (*srv->cfg->enroll_listen) {
        if ((rc = listener_bind(srv, &srv->enroll_listener, srv->cfg->enroll_listen,
                                "enroll")) < 0)
            return rc;
        srv->enroll_listening = true;
    }
    if ((rc = listener_bind(srv, &srv->listener, srv->cfg->listen, "listener")) < 0)
        return rc;
    srv->listening = true;
    return 0;
}

void listener_stop(struct server *srv)
{
    if (srv->listening) {
        srv->listening = false;
        uv_close((uv_handle_t *)&srv->listener, NULL);
    }
    if (srv->enroll_listening) {
        srv->enroll_listening = false;
        uv_close((uv_handle_t *)&srv->enroll_listener, NULL);
    }
}
