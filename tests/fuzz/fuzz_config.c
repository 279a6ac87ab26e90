/* fuzz_config.c - fuzz target for the configuration parser (common/config.c)
 * with the real option tables and whole-config checks of bulwarkd and the
 * agent: a config file's text and a command line.
 * Input: a selector byte (even: bulwarkd, odd: the agent), the file's text
 * up to a NUL, then up to 16 NUL-ended arguments. An argument "--config" or
 * "--config=..." names the file (no other file is read). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulwark/agent.h"
#include "bulwark/config.h"
#include "bulwark/server.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_file(void)
{
    unlink(path);
}

/* The file's text in a file of this process's own. */
static bool write_file(const char *text)
{
    FILE *fp;
    bool ok;

    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/bw-fuzz-config.%ld", (long)getpid());
        atexit(remove_file);
    }
    if (!(fp = fopen(path, "w")))
        return false;
    ok = fputs(text, fp) >= 0;
    return fclose(fp) == 0 && ok;
}

static void run(const struct config_field *table, size_t n, void *dst,
                int (*check)(const void *, char *, size_t), int argc, char **argv)
{
    char err[512], *pos[4];
    bool help;
    int npos;

    if (config_defaults(table, n, dst) == 0 &&
        config_parse_args(table, n, dst, argc, argv, &help, pos, &npos, 4, err, sizeof err) == 0)
        (void)check(dst, err, sizeof err);
    config_release(table, n, dst);
    /* The file alone, as a reload reads it. */
    if (config_defaults(table, n, dst) == 0 &&
        config_load_file(table, n, dst, path, err, sizeof err) == 0)
        (void)check(dst, err, sizeof err);
    config_release(table, n, dst);
}

static int check_server(const void *c, char *err, size_t n)
{
    return server_config_check(c, err, n);
}

static int check_agent(const void *c, char *err, size_t n)
{
    return agent_config_check(c, err, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size, {0}, 0};
    bool agent = fuzz_u64(&in, 1) & 1;
    char *argv[18], cfgopt[80];
    int argc = 0;

    if (!write_file(fuzz_str(&in)))
        goto out;
    snprintf(cfgopt, sizeof cfgopt, "--config=%s", path);
    argv[argc++] = agent ? "bulwark-agent" : "bulwarkd";
    while (in.n && argc < 17) {
        const char *a = fuzz_str(&in);
        argv[argc++] = !strncmp(a, "--config", 8) ? cfgopt : (char *)a;
    }
    argv[argc] = NULL;
    if (agent) {
        struct agent_config c = {0};
        run(agent_config_table, agent_config_table_len, &c, check_agent, argc, argv);
    } else {
        struct server_config c = {0};
        run(server_config_table, server_config_table_len, &c, check_server, argc, argv);
    }
out:
    fuzz_in_release(&in);
    return 0;
}
