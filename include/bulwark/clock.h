/* clock.h - the two clocks Bulwark reads: wall time for event and receive
 * times (Unix ns), monotonic time for intervals and latencies. */
#ifndef BULWARK_CLOCK_H
#define BULWARK_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
