#!/usr/bin/env python3
"""Issue 9 item 8: the Hello's host name is not tied to the certificate, so
an agent could file its events under another host's name. Now the agent id
(the certificate's CN) is the identity and the host name a claim: the first
agent to claim a name holds it; another agent claiming it is logged and its
events are filed under "NAME (unverified, claimed by AGENT)", kept but never
mixed with the real host's."""
import harness

OWNER = "claim-owner"
IMPOSTOR = "claim-impostor"
EVENTS = 3000
HOST = "web-01.example"
FLAGGED = f"{HOST} (unverified, claimed by {IMPOSTOR})"

HOST_COUNTS_SQL = ("SELECT a.agent_id, h.hostname, count(*) FROM events e "
                   "JOIN agents a ON a.id = e.agent JOIN hosts h ON h.id = e.host "
                   "GROUP BY a.agent_id, h.hostname ORDER BY a.agent_id")


class HostnameClaimTest(harness.BulwarkTest):
    def run_agent(self, certs, server, agent_id, **opts):
        a = self.start_agent(certs, server, agent_id, hostname=HOST, synthetic_rate=0,
                             synthetic_count=EVENTS, exit_when_drained="true", **opts)
        self.wait_drained(a, events=EVENTS)
        return a

    def impostor_then_owner(self, certs, server):
        """The impostor claims HOST and is flagged; the owner comes back (a
        new spool: a reinstall) and is not. Stops the server; checks the rows."""
        self.run_agent(certs, server, IMPOSTOR)
        server.proc.wait_for(rf" warn conn: \S+ {IMPOSTOR}: hello claims hostname '{HOST}', "
                             rf"which belongs to agent '{OWNER}'", timeout=15)
        self.run_agent(certs, server, OWNER, spool=self.path("spool-owner-2.db"))
        self.assertEqual(len(server.proc.find(rf"{OWNER}: hello claims hostname")), 0)
        self.stop_server(server)
        rows = harness.db_query(server.db, HOST_COUNTS_SQL)
        self.assertEqual(rows, [(IMPOSTOR, FLAGGED, EVENTS), (OWNER, HOST, 2 * EVENTS)])
        agents = dict(harness.db_query(server.db, "SELECT agent_id, hostname FROM agents"))
        self.assertEqual(agents, {OWNER: HOST, IMPOSTOR: FLAGGED})

    def test_second_claim_is_flagged(self):
        certs = self.certs(OWNER, IMPOSTOR)
        server = self.start_server(certs)
        self.run_agent(certs, server, OWNER)
        self.impostor_then_owner(certs, server)

    def test_claim_survives_restart(self):
        """The bindings are kept in the store (host_bindings): after a
        restart the impostor, connecting first, still does not get the
        owner's name."""
        certs = self.certs(OWNER, IMPOSTOR)
        server = self.start_server(certs)
        self.run_agent(certs, server, OWNER)
        self.stop_server(server)
        bindings = "SELECT hostname, agent_id FROM host_bindings"
        self.assertEqual(harness.db_query(server.db, bindings), [(HOST, OWNER)])

        server = self.start_server(certs, port=server.port, db=server.db)
        server.proc.wait_for(r" info server: 1 host name binding\(s\) loaded", timeout=15)
        self.impostor_then_owner(certs, server)
        self.assertEqual(harness.db_query(server.db, bindings), [(HOST, OWNER)])

if __name__ == "__main__":
    harness.main()
