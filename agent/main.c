/* main.c - bulwark-agent: argv and config, then agent_run(); also the
 * `spool-stats` command. Nothing else. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bulwark/agent.h"
#include "bulwark/err.h"
#include "bulwark/log.h"
#include "bulwark/spool.h"

static int spool_stats_main(const struct agent_config *cfg)
{
    struct spool *sp = NULL;
    struct spool_options so = {.path = cfg->spool, .sync_full = true};
    struct spool_stats st;
    char err[512];

    if (access(cfg->spool, F_OK) != 0) {
        fprintf(stderr, "bulwark-agent: no spool at '%s'\n", cfg->spool);
        return 1;
    }
    if (spool_open(&sp, &so, err, sizeof err) < 0) {
        fprintf(stderr, "bulwark-agent: %s\n", err);
        return 1;
    }
    spool_get_stats(sp, &st);
    printf("{\"epoch\":%llu,\"last_seq\":%llu,\"acked_seq\":%llu,\"depth\":%llu,"
           "\"bytes\":%llu,\"dropped\":%llu,\"quarantined\":%llu}\n",
           (unsigned long long)st.epoch, (unsigned long long)st.last_seq,
           (unsigned long long)st.acked_seq, (unsigned long long)st.depth,
           (unsigned long long)st.bytes, (unsigned long long)st.dropped,
           (unsigned long long)st.quarantined);
    spool_close(sp);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bulwark-agent [--config FILE] [--KEY=VALUE ...]\n"
                 "       bulwark-agent spool-stats --spool FILE\n\n"
                 "Bulwark agent: watches this host's processes, connections, files and\n"
                 "containers, spools every event durably and ships it to bulwarkd over\n"
                 "mutually authenticated TLS. --output stdout prints the events as\n"
                 "newline-delimited JSON instead; --once makes one pass and exits.\n"
                 "Options (also as 'key = value' lines in the config file):\n\n");
    config_print_help(agent_config_table, agent_config_table_len, out);
}

int main(int argc, char **argv)
{
    struct agent_config cfg;
    char err[512];
    char *pos[1];
    int npos, rc = 1;
    bool help;

    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("bulwark-agent %s\n", BULWARK_VERSION);
        return 0;
    }
    memset(&cfg, 0, sizeof cfg);
    signal(SIGPIPE, SIG_IGN);
    config_defaults(agent_config_table, agent_config_table_len, &cfg);
    if (config_parse_args(agent_config_table, agent_config_table_len, &cfg, argc, argv, &help, pos,
                          &npos, 1, err, sizeof err) < 0) {
        fprintf(stderr, "bulwark-agent: %s\n", err);
        goto out;
    }
    if (help) {
        usage(stdout);
        rc = 0;
        goto out;
    }
    if (npos == 1) {
        if (strcmp(pos[0], "spool-stats") != 0) {
            fprintf(stderr, "bulwark-agent: unknown command '%s' (see --help)\n", pos[0]);
            goto out;
        }
        rc = spool_stats_main(&cfg);
        goto out;
    }
    if (agent_config_check(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "bulwark-agent: %s\n", err);
        goto out;
    }
    log_set_level((enum log_level)cfg.log_level);
    rc = agent_run(&cfg);
out:
    config_release(agent_config_table, agent_config_table_len, &cfg);
    return rc;
}
