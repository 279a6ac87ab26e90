#!/usr/bin/env python3
"""Writes server/api/openapi.json (the API contract bulwarkd compiles in and
serves). Edit this and run it; tests/openapi/lint.sh lints the result and
test_api.py checks every route is described."""
import json
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def pref(n): return {"$ref": f"#/components/parameters/{n}"}
def resp(n): return {"$ref": f"#/components/responses/{n}"}
def ok(schema, desc="OK", ctype="application/json"):
    return {"description": desc, "content": {ctype: {"schema": schema}}}
std = {"400": resp("BadRequest"), "401": resp("Unauthorized"), "403": resp("Forbidden"),
       "429": resp("TooManyRequests"), "503": resp("Unavailable")}
def op(opid, summary, desc, tag, params, responses, role, body=None):
    o = {"operationId": opid, "summary": summary, "description": desc + f"\n\nRole: `{role}` or above.",
         "tags": [tag], "parameters": params, "responses": dict(responses, **std)}
    if body: o["requestBody"] = body
    return o
time_p = lambda name, d: {"name": name, "in": "query", "required": False, "description": d,
                          "schema": {"type": "string", "format": "date-time"}}
def q(name, d, schema=None): return {"name": name, "in": "query", "required": False, "description": d, "schema": schema or {"type": "string", "maxLength": 256}}
sev = {"type": "string", "enum": ["unspecified","debug","info","notice","warning","error","critical","alert","emergency"]}
doc = {
 "openapi": "3.1.0",
 "info": {"title": "Bulwark REST API", "version": "1.0.0",
   "summary": "Events, alerts, agents and rules of a Bulwark fleet, and a SIEM export.",
   "description": "Every route under /api/v1 needs `Authorization: Bearer <token>` (tokens are made with `bulwarkd token create`). Errors are RFC 9457 problem documents. Times are RFC 3339 UTC. Lists are keyset-paged newest first. See docs/api.md.",
   "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
 "servers": [{"url": "/", "description": "this bulwarkd"}],
 "security": [{"bearer": []}],
 "tags": [{"name": "events", "description": "What agents collected."},
          {"name": "alerts", "description": "What the rules raised, and their triage."},
          {"name": "fleet", "description": "Agents and their health."},
          {"name": "rules", "description": "The loaded rules."},
          {"name": "export", "description": "NDJSON export by cursor for SIEMs."},
          {"name": "admin", "description": "The audit trail."},
          {"name": "operations", "description": "Probes, metrics and this document."}],
 "paths": {},
 "components": {
   "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "bwk_<id>_<secret>",
       "description": "An API token; roles viewer < analyst < admin."}},
   "parameters": {
     "since": time_p("since", "Rows at or after this time (the range is half-open: [since, until))."),
     "until": time_p("until", "Rows before this time."),
     "page_size": {"name": "page_size", "in": "query", "required": False, "description": "Rows per page (default 100).",
                   "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
     "page_token": {"name": "page_token", "in": "query", "required": False,
                    "description": "The next_page_token of the previous page; keep the other parameters the same.",
                    "schema": {"type": "string", "maxLength": 40}},
     "min_severity": {"name": "min_severity", "in": "query", "required": False, "description": "At least this severity (a name or 0-8).",
                      "schema": {"type": "string", "maxLength": 16}},
     "host": q("host", "Host name."), "agent": q("agent", "Agent id."),
     "image": q("image", "Events of containers of this image reference."),
     "rule": q("rule", "Events that are evidence of this rule's alerts."),
     "container": q("container", "Container id; empty for host events only."),
     "kind": {"name": "kind", "in": "query", "required": False, "description": "Event kind.",
              "schema": {"type": "string", "enum": ["exec","net","file","resource","config","vuln","external","misconfig","secret"]}},
     "id": {"name": "id", "in": "path", "required": True, "description": "The row id.", "schema": {"type": "integer", "minimum": 1}},
     "cursor": {"name": "cursor", "in": "query", "required": False, "description": "The next_cursor of the previous export; absent: from the first record.",
                "schema": {"type": "string", "maxLength": 40}},
     "limit": {"name": "limit", "in": "query", "required": False, "description": "Most records in this answer (default 10,000).",
               "schema": {"type": "integer", "minimum": 1, "maximum": 10000000, "default": 10000}},
     "format": {"name": "format", "in": "query", "required": False, "description": "Record format: native (as the lists), ecs (Elastic Common Schema 8.11) or ocsf (OCSF 1.1.0).",
                "schema": {"type": "string", "enum": ["native", "ecs", "ocsf"], "default": "native"}},
   },
   "responses": {
     "BadRequest": {"description": "A parameter or body is not valid.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "Unauthorized": {"description": "No token, or one that is not valid or was revoked.",
                      "headers": {"WWW-Authenticate": {"description": "Bearer realm=\"bulwark\"", "schema": {"type": "string"}}},
                      "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "Forbidden": {"description": "The token's role does not allow this.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "NotFound": {"description": "No such row.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "TooManyRequests": {"description": "The token's (or the peer's failed-authentication) rate limit was passed.",
                         "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
                         "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "MethodNotAllowed": {"description": "This path does not take that method.",
                          "headers": {"Allow": {"description": "The methods it takes.", "schema": {"type": "string"}}},
                          "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "Unavailable": {"description": "The store is busy or the server is stopping; retry.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
   },
   "schemas": {
     "Problem": {"type": "object", "description": "RFC 9457 problem details.", "required": ["type","title","status"],
                 "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                                "detail": {"type": "string"}, "instance": {"type": "string"}}},
     "Severity": sev,
     "Event": {"type": "object", "required": ["id","time","kind","severity","agent_id","hostname","epoch","seq"],
               "description": "A stored event: its columns plus its body (exec, net, file, resource, config, vuln, external, misconfig or secret; a secret finding never holds the secret's value), process and container as the agent sent them.",
               "properties": {"id": {"type": "integer"}, "time": {"type": "string", "format": "date-time"},
                 "received": {"type": "string", "format": "date-time"}, "kind": {"type": "string"},
                 "severity": ref("Severity"), "agent_id": {"type": "string"}, "hostname": {"type": "string"},
                 "container_id": {"type": ["string","null"]}, "epoch": {"type": "integer"}, "seq": {"type": "integer"},
                 "container": {"type": "object"}, "process": {"type": "object"}},
               "additionalProperties": True},
     "Alert": {"type": "object", "required": ["id","rule","severity","output","source","status","count"],
               "properties": {"id": {"type": "integer"}, "rule": {"type": "string"}, "severity": ref("Severity"),
                 "output": {"type": "string"}, "source": {"type": "string", "enum": ["rule","correlation","anomaly","falco"]},
                 "agent_id": {"type": ["string","null"]}, "hostname": {"type": ["string","null"]},
                 "container_id": {"type": ["string","null"]}, "image": {"type": ["string","null"]},
                 "tags": {"type": "array", "items": {"type": "string"}},
                 "first_seen": {"type": "string", "format": "date-time"}, "last_seen": {"type": "string", "format": "date-time"},
                 "count": {"type": "integer"}, "retrospective": {"type": "boolean"}, "evidence_count": {"type": "integer"},
                 "status": {"type": "string", "enum": ["open","acknowledged","resolved"]},
                 "status_note": {"type": ["string","null"]}, "status_by": {"type": ["string","null"]},
                 "status_changed": {"type": ["string","null"], "format": "date-time"},
                 "evidence": {"type": "array", "items": {"type": "object"}, "description": "Only in GET /alerts/{id}: the linked events."}}},
     "AlertChange": {"type": "object", "required": ["status"], "additionalProperties": False,
                     "properties": {"status": {"type": "string", "enum": ["open","acknowledged","resolved"]},
                                    "note": {"type": ["string","null"], "maxLength": 2048}}},
     "Health": {"type": ["object","null"], "properties": {"at": {"type": ["string","null"], "format": "date-time"},
                 "spool_depth": {"type": "integer"}, "spool_dropped": {"type": "integer"},
                 "events_total": {"type": "integer"}, "source_errors": {"type": "integer"},
                 "spool_quarantined": {"type": "integer"},
                 "cert_not_after": {"type": "string", "format": "date-time", "description": "When the agent's certificate ends (agents renew at two thirds of its life)."},
                 "events_by_kind": {"type": "object", "additionalProperties": {"type": "integer"}}}},
     "Agent": {"type": "object", "required": ["agent_id","hostname","connected"],
               "properties": {"agent_id": {"type": "string"}, "hostname": {"type": "string"}, "version": {"type": "string"},
                 "labels": {"type": "object"}, "connected": {"type": "boolean"},
                 "first_seen": {"type": "string", "format": "date-time"}, "last_seen": {"type": "string", "format": "date-time"},
                 "stream": {"type": "object", "properties": {"peer": {"type": "string"},
                     "connected_since": {"type": "string", "format": "date-time"}, "last_heartbeat": {"type": ["string","null"], "format": "date-time"}}},
                 "health": ref("Health")}},
     "Rule": {"type": "object", "required": ["name","enabled"],
              "properties": {"name": {"type": "string"}, "file": {"type": "string"}, "line": {"type": "integer"},
                "enabled": {"type": "boolean"}, "disabled_reason": {"type": ["string","null"]},
                "alerts": {"type": "integer"}, "hits": {"type": "integer"}, "open_alerts": {"type": "integer"},
                "last_alert": {"type": ["string","null"], "format": "date-time"}}},
     "AuditRecord": {"type": "object", "required": ["id","time","actor","action","target"],
              "properties": {"id": {"type": "integer"}, "time": {"type": "string", "format": "date-time"}, "actor": {"type": "string"},
                "action": {"type": "string"}, "target": {"type": "string"}, "detail": {"type": ["string","null"]}}},
   }}}
def page(item): return {"type": "object", "required": ["items","next_page_token"],
                        "properties": {"items": {"type": "array", "items": ref(item)}, "next_page_token": {"type": ["string","null"]}}}
P = doc["paths"]
nf = {"404": resp("NotFound")}
P["/api/v1/events"] = {"get": op("listEvents", "List events", "Events newest first, filtered; keyset pages stay right while events are being ingested.", "events",
    [pref(x) for x in ["since","until","agent","host","container","image","rule","kind","min_severity","page_size","page_token"]], {"200": ok(page("Event"))}, "viewer")}
P["/api/v1/events/{id}"] = {"get": op("getEvent", "One event", "The whole event.", "events", [pref("id")], dict({"200": ok(ref("Event"))}, **nf), "viewer")}
P["/api/v1/alerts"] = {"get": op("listAlerts", "List alerts", "Alerts newest first.", "alerts",
    [pref("since"), pref("until"), q("rule", "Rule name."), pref("host"), pref("container"), pref("min_severity"),
     {"name": "status", "in": "query", "required": False, "description": "Triage status.", "schema": {"type": "string", "enum": ["open","acknowledged","resolved"]}},
     pref("page_size"), pref("page_token")], {"200": ok(page("Alert"))}, "viewer")}
P["/api/v1/alerts/{id}"] = {
  "get": op("getAlert", "One alert with its evidence", "The alert and the events it links to (an event no longer stored is listed with missing: true).", "alerts", [pref("id")], dict({"200": ok(ref("Alert"))}, **nf), "viewer"),
  "patch": op("changeAlert", "Acknowledge, resolve or reopen", "Sets the alert's status with a note; recorded in the audit trail.", "alerts", [pref("id")],
              dict({"200": ok(ref("Alert")), "413": {"description": "The body is too large.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
                    "415": {"description": "The body is not JSON.", "content": {"application/problem+json": {"schema": ref("Problem")}}}}, **nf), "analyst",
              body={"required": True, "content": {"application/json": {"schema": ref("AlertChange")}}})}
P["/api/v1/agents"] = {"get": op("listAgents", "List agents", "Agents by id, connected now or not, with their last heartbeat health.", "fleet",
    [pref("page_size"), {"name": "page_token", "in": "query", "required": False, "description": "The next_page_token of the previous page.", "schema": {"type": "string", "maxLength": 256}}],
    {"200": ok(page("Agent"))}, "viewer")}
P["/api/v1/agents/{agent_id}"] = {"get": op("getAgent", "One agent", "An agent by id.", "fleet",
    [{"name": "agent_id", "in": "path", "required": True, "description": "The agent id (its certificate's CN).", "schema": {"type": "string", "maxLength": 256}}],
    dict({"200": ok(ref("Agent"))}, **nf), "viewer")}
P["/api/v1/rules"] = {"get": op("listRules", "List the loaded rules", "Every loaded rule, enabled or why not, with its alert counts.", "rules", [],
    {"200": ok({"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": ref("Rule")}}})}, "viewer")}
P["/api/v1/rules/reload"] = {"post": op("reloadRules", "Reload the rules", "Reloads the rule files (and TLS files); a refused file keeps the running rules.", "rules", [],
    {"200": ok({"type": "object", "properties": {"reloaded": {"type": "boolean"}}}),
     "409": {"description": "The rule files were refused; the running rules stay.", "content": {"application/problem+json": {"schema": ref("Problem")}}}}, "admin")}
P["/api/v1/audit"] = {"get": op("listAudit", "The audit trail", "Every change (alert status, rules reload, tokens), newest first; append-only.", "admin",
    [pref("page_size"), pref("page_token")], {"200": ok(page("AuditRecord"))}, "admin")}
exp_desc = ("Records after the cursor in ascending id order as newline-delimited JSON, streamed in constant memory. The last line of a complete answer is "
            "{\"next_cursor\": \"...\", \"count\": N}; calling again with that cursor continues exactly after the last record, under ingest and across restarts. "
            "An answer without that line was cut short: repeat the same call.")
P["/api/v1/export/events"] = {"get": op("exportEvents", "Export events", exp_desc, "export",
    [pref(x) for x in ["cursor","limit","format","since","until","agent","host","container","image","rule","kind","min_severity"]],
    {"200": ok({"type": "string"}, "NDJSON records, then the cursor line.", "application/x-ndjson")}, "viewer")}
P["/api/v1/export/alerts"] = {"get": op("exportAlerts", "Export alerts", exp_desc + " Alerts are exported once, as they were when created.", "export",
    [pref(x) for x in ["cursor","limit","format"]],
    {"200": ok({"type": "string"}, "NDJSON records, then the cursor line.", "application/x-ndjson")}, "viewer")}
P["/api/v1/whoami"] = {"get": op("whoami", "The token in use", "Its name and role (the dashboard shows controls by role).", "operations", [],
    {"200": ok({"type": "object", "required": ["actor","role"], "properties": {"actor": {"type": "string"}, "role": {"type": "string", "enum": ["viewer","analyst","admin"]}}})}, "viewer")}
P["/metrics"] = {"get": op("metrics", "Prometheus metrics", "Ingest, dedup, drops, queue depth, commit latency histogram, connected agents, API requests by route and code.", "operations", [],
    {"200": ok({"type": "string"}, "Prometheus text format 0.0.4.", "text/plain")}, "viewer")}
probe = lambda opid, s, d: {"get": {"operationId": opid, "summary": s, "description": d, "tags": ["operations"], "security": [],
    "responses": {"200": ok({"type": "object", "properties": {"status": {"type": "string"}}}),
                  "405": resp("MethodNotAllowed"), "503": resp("Unavailable")}}}
P["/healthz"] = probe("healthz", "Liveness", "200 while the process answers.")
P["/readyz"] = probe("readyz", "Readiness", "200 while listening with the store open; 503 while starting or draining. integrity: the database check at start (state checking, ok, corrupt, failed or skipped; problems; checked; first_problem): a damaged file is reported here, not by a 503.")
P["/api/v1/openapi.json"] = {"get": {"operationId": "openapi", "summary": "This document", "description": "The OpenAPI 3.1 description of this API.", "tags": ["operations"], "security": [],
    "responses": {"200": ok({"type": "object"}), "405": resp("MethodNotAllowed")}}}
obj = {"type": "object", "additionalProperties": True}
strp = lambda n, d: q(n, d)
P["/api/v1/stats"] = {"get": op("getStats", "Counts for charts", "Events per bucket by kind and severity, alerts per bucket by severity, and top rules, images and hosts, answered from rollups kept with the events (see docs/api.md for precision).", "fleet",
    [pref("since"), pref("until"),
     {"name": "bucket", "in": "query", "required": False, "description": "Bucket width, UTC-aligned.", "schema": {"type": "string", "enum": ["1m","5m","1h","1d"], "default": "1h"}},
     {"name": "top", "in": "query", "required": False, "description": "Entries per top list.", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}],
    {"200": ok(obj)}, "viewer")}
P["/api/v1/network"] = {"get": op("getNetwork", "Who talks to whom", "Connections over the range aggregated into edges: source container/image or host to a fleet container (east-west) or an external address/name:port, with counts and first/last seen. A range holding too many distinct edges is refused with 400.", "fleet",
    [pref("since"), pref("until"), pref("host"), pref("container"),
     {"name": "limit", "in": "query", "required": False, "description": "Edges returned, most connections first.", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}}],
    {"200": ok(obj)}, "viewer")}
P["/api/v1/containers"] = {"get": op("listContainers", "List containers", "Containers by id with image, runtime, host, latest config posture, open alerts, and the vulnerabilities, misconfigurations and secrets scanners found in their image (each with total and by_severity).", "fleet",
    [strp("image", "Image reference."), pref("host"), strp("namespace", "Kubernetes namespace."), pref("page_size"),
     {"name": "page_token", "in": "query", "required": False, "description": "The next_page_token of the previous page.", "schema": {"type": "string", "maxLength": 256}}],
    {"200": ok({"type": "object", "required": ["items","next_page_token"], "properties": {"items": {"type": "array", "items": obj}, "next_page_token": {"type": ["string","null"]}}})}, "viewer")}
P["/api/v1/containers/{container_id}"] = {"get": op("getContainer", "One container", "A container by id.", "fleet",
    [{"name": "container_id", "in": "path", "required": True, "description": "The runtime's container id.", "schema": {"type": "string", "maxLength": 256}}],
    dict({"200": ok(obj)}, **nf), "viewer")}
P["/api/v1/hosts"] = {"get": op("listHosts", "List hosts", "Hosts by name with their agents, connected now or not, last seen and event rate.", "fleet",
    [pref("page_size"), {"name": "page_token", "in": "query", "required": False, "description": "The next_page_token of the previous page.", "schema": {"type": "string", "maxLength": 256}}],
    {"200": ok({"type": "object", "required": ["items","next_page_token"], "properties": {"items": {"type": "array", "items": obj}, "next_page_token": {"type": ["string","null"]}}})}, "viewer")}
import os, sys
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "server", "api", "openapi.json")
json.dump(doc, open(out, "w"), indent=1)
open(out, "a").write("\n")
