// fleet.js - hosts (the agents: health, last seen, version, drops) and
// containers (from /api/v1/containers when the server has it; a
// container's page works from its events either way: CPU and memory from
// resource samples, posture from its config, vulnerabilities from scans).
import * as api from '../api.js';
import { h, fmtTime, fmtAgo, fmtNum, fmtBytes, sevBadge, table, kv, notice, shortId, append } from '../dom.js';
import { lines } from '../chart.js';
import { agentCounts } from './overview.js';
import { eventSummary, posturePanel } from './events.js';

function agentState(a) {
  const c = agentCounts([a]);
  return c.connected ? 'connected' : 'silent';
}

export async function hosts(root, ctx) {
  const want = ctx.query.get('state') || '';
  const { items } = await api.getAll('/api/v1/agents', {}, 100000);
  const rows = items.filter((a) => !want || (want === 'dropping' ? a.health && a.health.spool_dropped > 0 : agentState(a) === want))
    .map((a) => {
      const hl = a.health || {};
      const st = agentState(a);
      return h('tr', { 'data-id': a.agent_id },
        h('td', {}, h('a', { href: ctx.link('host', a.agent_id) }, a.hostname || a.agent_id)),
        h('td', { class: 'mono' }, a.agent_id),
        h('td', {}, h('span', { class: ['status', `agent-${st}`] }, st)),
        h('td', { title: fmtTime(a.last_seen) }, fmtAgo(a.last_seen)),
        h('td', {}, a.version || '—'),
        h('td', { class: 'num' }, fmtNum(hl.events_total)),
        h('td', { class: 'num' }, fmtNum(hl.spool_depth)),
        h('td', { class: ['num', hl.spool_dropped > 0 ? 'bad' : null] }, fmtNum(hl.spool_dropped)),
        h('td', { class: 'num' }, fmtNum(hl.source_errors)));
    });
  const filters = h('p', { class: 'chips' }, ['', 'connected', 'silent', 'dropping'].map((s) =>
    h('a', { href: ctx.link('hosts', '', { state: s }), class: ['chip', s === want ? 'on' : null], 'aria-current': s === want ? 'true' : null }, s || 'all')));
  append(root, h('div', { class: 'view-head' }, h('h1', { text: 'Hosts' }), h('span', { class: 'count' }, `${fmtNum(rows.length)} agents`)),
    filters,
    table(['Host', 'Agent', 'State', 'Last seen', 'Version', 'Events sent', 'Spooled', 'Dropped', 'Source errors'], rows, { testid: 'hosts-table' }));
  root.dataset.loaded = String(Date.now());
}

export async function hostPage(root, ctx) {
  const a = await api.get(`/api/v1/agents/${encodeURIComponent(ctx.param)}`);
  const since = ctx.since();
  const alerts = await api.get('/api/v1/alerts', { host: a.hostname, since, page_size: 20 });
  const hl = a.health || {};
  append(root, h('div', { class: 'view-head' }, h('h1', {}, 'Host ', a.hostname || a.agent_id)),
    h('div', { class: 'cols two' },
      h('section', { class: 'panel' }, h('h2', { text: 'Agent' }), kv([
        ['Agent id', a.agent_id], ['State', agentState(a)], ['Version', a.version], ['First seen', fmtTime(a.first_seen)],
        ['Last seen', fmtTime(a.last_seen)], ['Peer', a.stream ? a.stream.peer : '—'],
        ['Last heartbeat', a.stream ? fmtTime(a.stream.last_heartbeat) : '—'],
        ['Events sent', fmtNum(hl.events_total)], ['Spooled', fmtNum(hl.spool_depth)], ['Dropped', fmtNum(hl.spool_dropped)],
        ['Source errors', fmtNum(hl.source_errors)],
        ['Events by kind', Object.entries(hl.events_by_kind || {}).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(', ') || '—'],
      ])),
      h('section', { class: 'panel' }, h('h2', { text: 'Recent alerts' }),
        table(['Severity', 'Rule', 'Last seen', 'Status'], alerts.items.map((x) => h('tr', {},
          h('td', {}, sevBadge(x.severity)), h('td', {}, h('a', { href: ctx.link('alert', String(x.id)) }, x.rule)),
          h('td', {}, fmtAgo(x.last_seen)), h('td', {}, x.status)))),
        h('p', {}, h('a', { href: ctx.link('events', '', { host: a.hostname }) }, 'This host\'s events')))));
  root.dataset.loaded = String(Date.now());
}

export async function containers(root, ctx) {
  append(root, h('div', { class: 'view-head' }, h('h1', { text: 'Containers' })));
  let list;
  try {
    list = await api.get('/api/v1/containers', { page_size: 500 });
  } catch (e) {
    if (!(e instanceof api.NotAvailable)) throw e;
    append(root, notice('Not available on this server',
      'This bulwarkd has no /api/v1/containers route yet. A container\'s own page still works from its events: open one from an alert or an event.',
      'notice unavailable'));
    root.dataset.loaded = String(Date.now());
    return;
  }
  const items = list.items || [];
  const rows = items.map((c) => {
    const id = c.container_id || '';
    const p = c.posture || {};
    const flags = [p.privileged && 'privileged', c.posture && (p.user_uid || 0) === 0 && 'root',
      (p.host_network || p.host_pid || p.host_ipc) && 'host namespaces',
      (p.sensitive_mounts || []).length && 'sensitive mounts'].filter(Boolean).join(', ');
    const v = c.vulnerabilities || {};
    return h('tr', { 'data-id': id },
      h('td', {}, h('a', { href: ctx.link('container', id) }, c.name || shortId(id))),
      h('td', { class: 'mono' }, c.image || '—'), h('td', {}, c.hostname || '—'),
      h('td', {}, fmtAgo(c.last_seen)), h('td', { class: flags ? 'bad' : null }, flags || (c.posture ? 'ok' : '—')),
      h('td', { class: 'num' }, v.total ? `${fmtNum(v.total)} (${fmtNum((v.by_severity || {}).critical || 0)} critical, ${fmtNum(v.fixable || 0)} fixable)` : '0'),
      h('td', { class: 'num' }, fmtNum(c.open_alerts)));
  });
  append(root, table(['Name', 'Image', 'Host', 'Last seen', 'Posture', 'Vulnerabilities', 'Open alerts'], rows, { testid: 'containers-table' }),
    list.next_page_token ? h('p', { class: 'hint' }, `The first ${items.length} containers by id are shown.`) : null);
  root.dataset.loaded = String(Date.now());
}

export async function containerPage(root, ctx) {
  const id = ctx.param;
  const since = ctx.since();
  const [info, res, cfg, vulns, alerts, recent] = await Promise.all([
    api.get(`/api/v1/containers/${encodeURIComponent(id)}`).catch(() => null),
    api.getAll('/api/v1/events', { container: id, kind: 'resource', since }, 2000),
    api.get('/api/v1/events', { container: id, kind: 'config', page_size: 1 }),
    api.getAll('/api/v1/events', { container: id, kind: 'vuln' }, 1000),
    api.get('/api/v1/alerts', { container: id, since, page_size: 20 }),
    api.get('/api/v1/events', { container: id, page_size: 1 }),
  ]);
  const anyEv = recent.items[0] || cfg.items[0];
  const c = (anyEv && anyEv.container) || {};
  const samples = res.items.filter((e) => e.resource).map((e) => [Date.parse(e.time), e.resource]).sort((x, y) => x[0] - y[0]);
  const t1 = Date.now(), t0 = samples.length ? Math.min(samples[0][0], t1 - 60e3) : t1 - ctx.rangeMs;
  const cpu = lines('CPU (cores)', [['series-0', 'cores', samples.map(([t, r]) => [t, r.cpu_cores || 0])]], t0, t1, { empty: 'no samples in this range' });
  const mem = lines('Memory (MiB)', [['series-1', 'MiB', samples.map(([t, r]) => [t, (r.memory_bytes || 0) / 1048576])]], t0, t1, { empty: 'no samples in this range' });
  const vrows = vulns.items.filter((e) => e.vuln).map((e) => e.vuln)
    .sort((a, b) => (b.cvss_score || 0) - (a.cvss_score || 0))
    .map((v) => h('tr', {}, h('td', { class: 'mono' }, v.vuln_id || ''), h('td', {}, v.vuln_severity || ''),
      h('td', { class: 'num' }, v.cvss_score ? fmtNum(v.cvss_score, 1) : '—'), h('td', { class: 'mono' }, v.package || ''),
      h('td', { class: 'mono' }, v.installed_version || ''), h('td', { class: 'mono' }, v.fixed_version || 'no fix')));
  append(root, 
    h('div', { class: 'view-head' }, h('h1', {}, 'Container ', h('span', { 'data-testid': 'container-name' }, c.name || (info && info.name) || shortId(id)))),
    h('div', { class: 'cols two' },
      h('section', { class: 'panel' }, h('h2', { text: 'Container' }), kv([
        ['Id', h('span', { class: 'mono wrap' }, id)], ['Image', c.image || (info && info.image) || '—'],
        ['Digest', c.image_digest || '—'], ['Runtime', c.runtime || '—'],
        ['Kubernetes', c.k8s_namespace ? `${c.k8s_namespace}/${c.k8s_pod || ''}` : '—'],
        ['Host', anyEv ? anyEv.hostname : '—'], ['Last event', anyEv ? fmtTime(anyEv.time) : '—'],
        anyEv ? null : ['Note', 'no event of this container is stored'],
      ]), h('p', {}, h('a', { href: ctx.link('events', '', { container: id }) }, 'This container\'s events'))),
      h('section', { class: 'panel' }, h('h2', { text: 'Posture' }), posturePanel(cfg.items[0] || null))),
    h('div', { class: 'charts' }, h('section', { class: 'panel' }, cpu), h('section', { class: 'panel' }, mem)),
    h('section', { class: 'panel' }, h('h2', {}, `Vulnerabilities (${vrows.length})`),
      vrows.length ? table(['Id', 'Severity', 'CVSS', 'Package', 'Installed', 'Fixed in'], vrows) : h('p', { class: 'empty', text: 'No scan results stored.' })),
    h('section', { class: 'panel' }, h('h2', { text: 'Alerts' }),
      table(['Severity', 'Rule', 'Last seen', 'Status', 'What'], alerts.items.map((x) => h('tr', {},
        h('td', {}, sevBadge(x.severity)), h('td', {}, h('a', { href: ctx.link('alert', String(x.id)) }, x.rule)),
        h('td', {}, fmtAgo(x.last_seen)), h('td', {}, x.status), h('td', { class: 'wrap' }, x.output))))),
    recent.items[0] ? h('p', { class: 'hint' }, 'Latest: ', eventSummary(recent.items[0])) : null);
  root.dataset.loaded = String(Date.now());
}
