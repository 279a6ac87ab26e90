/* hunt.h - retro-hunt: run rules over the stored history and store what
 * they find as alerts marked retrospective.
 *
 *   bulwarkd rules hunt FILE... --since DURATION [--db PATH] [--max-events N]
 *
 * DURATION is a number with s, m, h or d (e.g. 90m, 7d). Events are read
 * through the store's reader (a running bulwarkd keeps ingesting) and fed to
 * a fresh engine oldest first, so windows and detectors behave as live;
 * each chunk of 1,000 events is evaluated with no lock held and its alerts
 * stored in one short transaction, so a live bulwarkd beside it keeps
 * committing.
 * The events of the window are held packed (~300 bytes each) and decoded one
 * at a time; --max-events (default 5,000,000) bounds them, keeping the
 * newest. */
#ifndef BULWARK_HUNT_H
#define BULWARK_HUNT_H

#include <stdint.h>

/* Returns the process exit status. argv[0] is "hunt". */
int hunt_main(int argc, char **argv);
/* Parses "90s", "15m", "36h", "7d" into nanoseconds; 0 or BW_EINVAL. */
int hunt_parse_duration(const char *s, int64_t *out_ns);

#endif
