/* wirecheck.h - bulwark.v1 messages checked on their wire bytes against the
 * one table of limits (bulwark/limits.h): strings within their limit, valid
 * UTF-8 without NUL; repeated fields and maps within theirs; enums one of
 * their declared values. Shared by the server (every frame it receives) and
 * the agent (every event before it sends it). Pure: no logging. */
#ifndef BULWARK_WIRECHECK_H
#define BULWARK_WIRECHECK_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/v1/bulwark.pb-c.h"

/* Checks a decoded frame f on raw/len, the bytes it was decoded from.
 * Returns 0 or BW_EPROTO with a reason naming the field (and the event's seq
 * inside a batch: "event seq N: ...") in why. */
int wirecheck_frame(const Bulwark__V1__Frame *f, const uint8_t *raw, size_t len, char *why,
                    size_t whylen);

/* Checks one packed bulwark.v1.Event that must carry seq (an agent's spool
 * row): also refuses bytes that are no Event or say another seq. 0 or
 * BW_EPROTO with "event seq N: ..." in why. */
int wirecheck_event(const uint8_t *raw, size_t len, uint64_t seq, char *why, size_t whylen);

/* The N of a reason starting "event seq N:" (a refusal about one event), or 0. */
uint64_t wirecheck_why_seq(const char *why);

#endif
