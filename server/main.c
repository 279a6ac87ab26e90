/* main.c - bulwarkd: argv and config, the subcommands, then server_run();
 * nothing else. The lifecycle is server/server.c. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/api.h"
#include "bulwark/log.h"
#include "bulwark/rules.h"
#include "bulwark/server.h"
#include "cmd/cmd.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bulwarkd [--config FILE] [--KEY=VALUE ...]\n"
            "       bulwarkd rules check FILE...\n"
            "       bulwarkd rules test DIR [--rules FILE...]\n"
            "       bulwarkd rules hunt FILE... --since DURATION [--db PATH]\n"
            "       bulwarkd token create --role viewer|analyst|admin --name NAME [--db PATH]\n"
            "       bulwarkd token list [--db PATH]\n"
            "       bulwarkd token revoke ID [--db PATH]\n"
            "       bulwarkd enroll-token create --max-uses N --expires DURATION [--db PATH]\n"
            "       bulwarkd enroll-token list|revoke ID [--db PATH]\n"
            "       bulwarkd agent revoke ID [--db PATH]\n"
            "       bulwarkd --version\n"
            "\n"
            "Bulwark server: takes mutually authenticated TLS event streams from\n"
            "bulwark-agent, stores them in SQLite and acknowledges only what is\n"
            "committed, and serves the REST API and the dashboard. Options:\n\n");
    config_print_help(server_config_table, server_config_table_len, out);
}

int main(int argc, char **argv)
{
    struct server_config cfg;
    char err[512];
    bool help;
    char *pos[1];
    int npos, rc = 1;

    if (argc >= 2 && strcmp(argv[1], "rules") == 0)
        return rules_cli_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "token") == 0)
        return api_token_cli(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "enroll-token") == 0)
        return enroll_token_cli(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "agent") == 0)
        return enroll_agent_cli(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("bulwarkd %s\n", BULWARK_VERSION);
        return 0;
    }
    memset(&cfg, 0, sizeof cfg);
    signal(SIGPIPE, SIG_IGN);
    config_defaults(server_config_table, server_config_table_len, &cfg);
    if (config_parse_args(server_config_table, server_config_table_len, &cfg, argc, argv, &help,
                          pos, &npos, 0, err, sizeof err) < 0) {
        fprintf(stderr, "bulwarkd: %s\n", err);
        goto out;
    }
    if (help) {
        usage(stdout);
        rc = 0;
        goto out;
    }
    if (server_config_check(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "bulwarkd: %s\n", err);
        goto out;
    }
    log_set_level((enum log_level)cfg.log_level);
    rc = server_run(&cfg);
out:
    config_release(server_config_table, server_config_table_len, &cfg);
    return rc;
}
