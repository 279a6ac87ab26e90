// overview.js - the wall screen: agents connected / silent / dropping,
// events per second now and over time, alerts by severity over time, top
// firing rules, riskiest images and recent critical alerts. It refreshes
// itself every few seconds without reloading the page.
import * as api from '../api.js';
import { h, clear, fmtNum, fmtTime, fmtAgo, sevBadge, sevRank, table, notice, SEVERITIES, append } from '../dom.js';
import { stackedBars, lines } from '../chart.js';

const REFRESH_MS = 5000;
const SILENT_MS = 90e3;      // connected but no heartbeat for this long
const ALERTS_MAX = 5000;     // alerts fetched for the range's charts
const SEV_SHOWN = ['notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
const SEV_WEIGHT = { emergency: 100, alert: 50, critical: 25, error: 8, warning: 3, notice: 1 };

// events_stored_total samples, kept across visits while the tab lives, so
// the events-per-second line has a history even without /api/v1/stats.
const rateSamples = [];
let statsMissing = false;
let containersMissing = false;

export function agentCounts(agents, now = Date.now()) {
  let connected = 0, silent = 0, dropping = 0;
  for (const a of agents) {
    const hb = a.stream && a.stream.last_heartbeat ? Date.parse(a.stream.last_heartbeat) : 0;
    if (a.connected && hb && now - hb < SILENT_MS) connected++;
    else if (a.connected && !hb) connected++;
    else silent++;
    if (a.health && a.health.spool_dropped > 0) dropping++;
  }
  return { connected, silent, dropping, total: agents.length };
}

function bucketMs(rangeMs) {
  const target = rangeMs / 48;
  const steps = [60e3, 5 * 60e3, 15 * 60e3, 30 * 60e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 86400e3];
  return steps.find((s) => s >= target) || 86400e3;
}

function tile(label, value, testid, cls, hint, href) {
  const v = h('span', { class: 'value', 'data-testid': testid }, value);
  return h('div', { class: ['tile', cls] }, href ? h('a', { href }, h('span', { class: 'label', text: label }), v)
    : [h('span', { class: 'label', text: label }), v], hint ? h('span', { class: 'hint', text: hint }) : null);
}

// /api/v1/stats's bucket for a range: at most a few hundred bars.
function statsBucket(rangeMs) {
  if (rangeMs <= 3600e3) return ['1m', 60e3];
  if (rangeMs <= 6 * 3600e3) return ['5m', 5 * 60e3];
  if (rangeMs <= 7 * 86400e3) return ['1h', 3600e3];
  return ['1d', 86400e3];
}

// The series of /api/v1/stats (docs/api.md), or null when it cannot be read.
function statsSeries(st) {
  const ev = st && st.events && st.events.series, al = st && st.alerts && st.alerts.series;
  if (!Array.isArray(ev) || !Array.isArray(al)) return null;
  const t = (b) => Date.parse(b.time);
  return { events: ev.map((b) => ({ t: t(b), total: b.total || 0 })),
    alerts: al.map((b) => ({ t: t(b), values: b.by_severity || {} })) };
}

async function load(ctx) {
  const since = ctx.since();
  const [agents, metrics, alerts, critical, stats, containers] = await Promise.all([
    api.getAll('/api/v1/agents', {}, 100000),
    api.get('/metrics'),
    api.getAll('/api/v1/alerts', { since }, ALERTS_MAX),
    api.get('/api/v1/alerts', { since, min_severity: 'critical', page_size: 8 }),
    statsMissing ? Promise.resolve(null)
      : api.get('/api/v1/stats', { since, bucket: statsBucket(ctx.rangeMs)[0], top: 10 }).catch((e) => {
        if (e instanceof api.NotAvailable) statsMissing = true;
        return null;
      }),
    containersMissing ? Promise.resolve(null)
      : api.get('/api/v1/containers', { page_size: 500 }).catch((e) => {
        if (e instanceof api.NotAvailable) containersMissing = true;
        return null;
      }),
  ]);
  const m = api.parseMetrics(metrics);
  const now = Date.now();
  const stored = m.bulwark_events_stored_total;
  if (Number.isFinite(stored)) {
    const last = rateSamples[rateSamples.length - 1];
    if (!last || now - last.t >= 1000) rateSamples.push({ t: now, n: stored });
    while (rateSamples.length > 2000 || (rateSamples.length && now - rateSamples[0].t > 86400e3)) rateSamples.shift();
  }
  return { agents: agents.items, metrics: m, alerts: alerts.items, alertsTruncated: alerts.truncated,
    critical: critical.items, stats: statsSeries(stats), since: Date.parse(since), now,
    containers: containers && Array.isArray(containers.items) ? containers.items : null };
}

function rates() {
  const pts = [];
  for (let i = 1; i < rateSamples.length; i++) {
    const a = rateSamples[i - 1], b = rateSamples[i];
    pts.push([b.t, Math.max(0, (b.n - a.n) / ((b.t - a.t) / 1000))]);
  }
  return pts;
}

function imageRow(byImage, image) {
  let im = byImage.get(image);
  if (!im) {
    im = { image, open: 0, critical: 0, privileged: 0, vulns: 0, score: 0, containers: new Set() };
    byImage.set(image, im);
  }
  return im;
}

// containers (from /api/v1/containers, or null): privileged containers and
// critical vulnerabilities per image; without them a privileged-container
// alert marks its image.
export function summarize(alerts, containers) {
  const byRule = new Map(), byImage = new Map();
  let open = 0, openCritical = 0;
  for (const a of alerts) {
    const isOpen = a.status === 'open';
    const crit = sevRank(a.severity) >= sevRank('critical');
    if (isOpen) open++;
    if (isOpen && crit) openCritical++;
    const r = byRule.get(a.rule) || { rule: a.rule, alerts: 0, open: 0, worst: a.severity };
    r.alerts++;
    if (isOpen) r.open++;
    if (sevRank(a.severity) > sevRank(r.worst)) r.worst = a.severity;
    byRule.set(a.rule, r);
    if (a.image) {
      const im = imageRow(byImage, a.image);
      if (isOpen) {
        im.open++;
        im.score += SEV_WEIGHT[a.severity] || 0;
        if (crit) im.critical++;
      }
      if (!containers && /privileged/i.test(a.rule) && a.container_id && !im.containers.has(a.container_id)) im.privileged++;
      if (a.container_id) im.containers.add(a.container_id);
    }
  }
  for (const c of containers || []) {
    if (!c.image) continue;
    const im = imageRow(byImage, c.image);
    im.containers.add(c.container_id);
    if (c.posture && c.posture.privileged) { im.privileged++; im.score += 10; }
    const v = c.vulnerabilities && c.vulnerabilities.by_severity;
    if (v && v.critical) { im.vulns = Math.max(im.vulns, v.critical); }
  }
  for (const im of byImage.values()) im.score += im.vulns * 5;
  const rules = [...byRule.values()].sort((x, y) => y.alerts - x.alerts || x.rule.localeCompare(y.rule));
  const images = [...byImage.values()].filter((i) => i.open > 0 || i.privileged || i.vulns)
    .sort((x, y) => y.score - x.score || y.open - x.open || x.image.localeCompare(y.image));
  return { open, openCritical, rules, images };
}

function render(root, ctx, d) {
  const ac = agentCounts(d.agents, d.now);
  const s = summarize(d.alerts, d.containers);
  const pts = rates();
  const rateNow = pts.length ? pts[pts.length - 1][1] : null;
  const t0 = d.since, t1 = d.now;
  const bms = bucketMs(ctx.rangeMs);

  // Alerts by severity: /stats when there is one, else the range's alerts.
  let alertBuckets = [];
  let eventChart;
  let bucket = bms;
  d.rateShown = rateNow;
  if (d.stats) {
    bucket = statsBucket(ctx.rangeMs)[1];
    alertBuckets = d.stats.alerts;
    eventChart = lines('Events per second', [['series-0', 'events/s',
      d.stats.events.map((b) => [b.t, b.total / (bucket / 1000)])]], t0, t1, { empty: 'no events in this range' });
  } else {
    const bm = new Map();
    for (const a of d.alerts) {
      const t = Date.parse(a.first_seen);
      const k = Math.floor(t / bms) * bms;
      const b = bm.get(k) || { t: k, values: {} };
      b.values[a.severity] = (b.values[a.severity] || 0) + 1;
      bm.set(k, b);
    }
    alertBuckets = [...bm.values()].sort((a, b) => a.t - b.t);
    const since = pts.length ? pts[0][0] : t1 - 60e3;
    eventChart = lines('Events per second (since this page opened)', [['series-0', 'events/s', pts]],
      Math.min(since, t1 - 60e3), t1, { empty: 'measuring…' });
  }
  const sevKeys = SEV_SHOWN.map((s) => [s, `sev-${s}`, s]);

  const tiles = h('div', { class: 'tiles' },
    tile('Agents connected', fmtNum(ac.connected), 'agents-connected', 'ok', `of ${fmtNum(ac.total)} known`,
      ctx.link('hosts')),
    tile('Agents silent', fmtNum(ac.silent), 'agents-silent', ac.silent ? 'warn' : 'ok',
      'disconnected or no heartbeat for 90 s', ctx.link('hosts', '', { state: 'silent' })),
    tile('Agents dropping events', fmtNum(ac.dropping), 'agents-dropping', ac.dropping ? 'bad' : 'ok',
      'spool full: events lost at the agent', ctx.link('hosts', '', { state: 'dropping' })),
    tile('Events per second', d.rateShown === null || d.rateShown === undefined ? '…' : fmtNum(d.rateShown, 1),
      'events-rate', '', `stored: ${fmtNum(d.metrics.bulwark_events_stored_total)} in all`),
    tile('Open alerts', fmtNum(s.open) + (d.alertsTruncated ? '+' : ''), 'alerts-open', s.open ? 'warn' : 'ok',
      'in the time range', ctx.link('alerts', '', { status: 'open' })),
    tile('Open critical', fmtNum(s.openCritical) + (d.alertsTruncated ? '+' : ''), 'alerts-critical',
      s.openCritical ? 'bad' : 'ok', 'critical or worse', ctx.link('alerts', '', { status: 'open', min_severity: 'critical' })));

  const charts = h('div', { class: 'charts' },
    h('section', { class: 'panel', 'data-testid': 'events-chart' }, eventChart),
    h('section', { class: 'panel', 'data-testid': 'alerts-chart' },
      stackedBars('Alerts by severity', alertBuckets, sevKeys, t0, t1, { empty: 'no alerts in this range', bucketMs: bucket })));

  const rulesTable = table(['Rule', 'Alerts', 'Open', 'Worst'], s.rules.slice(0, 8).map((r) =>
    h('tr', { 'data-id': r.rule }, h('td', {}, h('a', { href: ctx.link('alerts', '', { rule: r.rule }) }, r.rule)),
      h('td', { class: 'num' }, fmtNum(r.alerts)), h('td', { class: 'num' }, fmtNum(r.open)),
      h('td', {}, sevBadge(r.worst)))), { testid: 'top-rules' });

  const imagesTable = table(['Image', 'Open alerts', 'Critical', 'Privileged', 'Critical vulns', 'Containers'],
    s.images.slice(0, 8).map((i) => h('tr', { 'data-id': i.image },
      h('td', { class: 'mono' }, i.image), h('td', { class: 'num' }, fmtNum(i.open)),
      h('td', { class: 'num' }, fmtNum(i.critical)), h('td', { class: 'num' }, fmtNum(i.privileged)),
      h('td', { class: 'num' }, d.containers ? fmtNum(i.vulns) : '—'),
      h('td', { class: 'num' }, fmtNum(i.containers.size)))), { testid: 'risky-images' });

  const critTable = table(['When', 'Rule', 'Host', 'Status'], d.critical.map((a) =>
    h('tr', { 'data-id': a.id }, h('td', {}, fmtAgo(a.last_seen)),
      h('td', {}, h('a', { href: ctx.link('alert', String(a.id)) }, a.rule)),
      h('td', {}, a.hostname || '—'), h('td', {}, h('span', { class: ['status', `status-${a.status}`] }, a.status)))),
  { testid: 'recent-critical' });

  const grid = h('div', { class: 'cols' },
    h('section', { class: 'panel' }, h('h2', { text: 'Top firing rules' }),
      s.rules.length ? rulesTable : h('p', { class: 'empty', text: 'No alerts in this range.' })),
    h('section', { class: 'panel' }, h('h2', { text: 'Riskiest images' }),
      h('p', { class: 'hint', text: d.containers ? 'By open alerts weighted by severity, privileged containers and critical vulnerabilities.'
        : 'By open alerts weighted by severity; privileged: containers a privileged-container rule fired for.' }),
      s.images.length ? imagesTable : h('p', { class: 'empty', text: 'No image has open alerts.' })),
    h('section', { class: 'panel' }, h('h2', { text: 'Recent critical alerts' }),
      d.critical.length ? critTable : h('p', { class: 'empty', text: 'None in this range.' })));

  append(clear(root), 
    h('div', { class: 'view-head' }, h('h1', { text: 'Overview' }),
      h('span', { class: 'updated', 'data-testid': 'updated' }, `updated ${fmtTime(d.now)}`)),
    tiles, charts, grid,
    d.alertsTruncated ? notice('Partial', `Only the newest ${ALERTS_MAX} alerts of the range are counted.`) : null);
  root.dataset.loaded = String(d.now);
}

export async function overview(root, ctx) {
  const refresh = async () => {
    const d = await load(ctx);
    if (ctx.live()) render(root, ctx, d);
  };
  await refresh();
  ctx.every(REFRESH_MS, refresh);
  // A second sample soon, so events per second shows without waiting.
  if (rateSamples.length < 2) setTimeout(() => { if (ctx.live()) refresh().catch(() => {}); }, 1500);
}

export { SEVERITIES };
