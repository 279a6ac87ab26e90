/* cmd.h - bulwarkd's command-line tools, linked only into the binary (and
 * the tests that drive them), never into the server's libraries: they print,
 * read files by glob and exit, which library code must not do. Each returns
 * the process exit status (0 ok, 1 failure, 2 usage).
 *
 *   bulwarkd rules check FILE...            validate, list disabled rules and why
 *   bulwarkd rules test DIR [--rules FILE]  fixtures: events in, expected alerts out
 *   bulwarkd rules fields                   the field table
 *   bulwarkd rules hunt FILE... --since DURATION [--db PATH] [--max-events N]
 *   bulwarkd token create|list|revoke ...   the REST API's tokens
 *   bulwarkd enroll-token create|list|revoke ...; bulwarkd agent revoke ID
 *
 * hunt (retro-hunt) runs rules over the stored history and stores what they
 * find as alerts marked retrospective. DURATION is the one duration grammar
 * (90m, 7d). Events are read through the store's reader and fed to a fresh
 * engine oldest first, so windows and detectors behave as live; each chunk
 * of 1,000 events is evaluated with no lock held and its alerts stored in
 * one short transaction, so a live bulwarkd beside it keeps committing. The
 * events of the window are held packed (~300 bytes each) and decoded one at
 * a time; --max-events (default 5,000,000) bounds them, keeping the newest. */
#ifndef BULWARK_SERVER_CMD_H
#define BULWARK_SERVER_CMD_H

/* The option parsing of the admin subcommands (`bulwarkd token ...`,
 * `enroll-token ...`, `agent ...`): argv[first..] holds "--NAME VALUE" or
 * "--NAME=VALUE" for each name in names (NULL-terminated; each value goes
 * to the same index of vals) and at most one positional argument (*pos).
 * Prints "PROG: reason" and returns 2 on a bad argument, else 0. */
int cmd_args(const char *prog, int argc, char **argv, int first, const char *const *names,
             const char **vals, const char **pos);

/* `bulwarkd token create|list|revoke ...` (the REST API's tokens). */
int api_token_cli(int argc, char **argv);
/* `bulwarkd enroll-token create|list|revoke ...`, `bulwarkd agent revoke ID`. */
int enroll_token_cli(int argc, char **argv);
int enroll_agent_cli(int argc, char **argv);

/* argv[0] is "rules"; "rules hunt" goes to hunt_main. */
int rules_cli_main(int argc, char **argv);
/* argv[0] is "hunt". */
int hunt_main(int argc, char **argv);

#endif
