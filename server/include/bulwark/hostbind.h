/* hostbind.h - which agent a host name belongs to (pure: no loop, no I/O).
 *
 * An agent's identity is its certificate's CN (the agent id); the host name
 * in its Hello is only a claim. The first agent id that claims a host name
 * holds it; a claim of a held name by another agent id is a conflict the
 * caller flags. An agent that claims a new name gives up its old one, so
 * the registry holds at most one name per agent id: it is bounded by the
 * certificates issued, not by what agents send. */
#ifndef BULWARK_HOSTBIND_H
#define BULWARK_HOSTBIND_H

#include <stddef.h>

struct hostbind;

struct hostbind *hostbind_new(void);
void hostbind_free(struct hostbind *hb);
/* agent_id claims hostname. Returns 0 when agent_id holds it now (or did
 * already), BW_EAUTH when another agent holds it (*owner then points at that
 * agent's id, valid until the next claim), BW_ENOMEM. */
int hostbind_claim(struct hostbind *hb, const char *hostname, const char *agent_id,
                   const char **owner);
/* Number of names held. */
size_t hostbind_count(const struct hostbind *hb);

#endif
