// rules.js - the loaded rules: enabled or why not, alerts and hits; a
// rule's page charts its alerts over the time range.
import * as api from '../api.js';
import { h, fmtNum, fmtAgo, fmtTime, sevBadge, table, append } from '../dom.js';
import { stackedBars } from '../chart.js';

export async function rules(root, ctx) {
  const { items } = await api.get('/api/v1/rules');
  items.sort((a, b) => (b.alerts || 0) - (a.alerts || 0) || a.name.localeCompare(b.name));
  const rows = items.map((r) => h('tr', { 'data-id': r.name, class: r.enabled ? null : 'disabled' },
    h('td', {}, h('a', { href: ctx.link('rule', r.name) }, r.name)),
    h('td', {}, r.enabled ? h('span', { class: 'flag ok' }, 'enabled') : h('span', { class: 'flag bad' }, 'disabled')),
    h('td', { class: 'wrap' }, r.disabled_reason || ''),
    h('td', { class: 'num' }, fmtNum(r.alerts)), h('td', { class: 'num' }, fmtNum(r.open_alerts)),
    h('td', { class: 'num' }, fmtNum(r.hits)), h('td', { title: fmtTime(r.last_alert) }, fmtAgo(r.last_alert)),
    h('td', { class: 'mono' }, `${r.file}:${r.line}`)));
  const enabled = items.filter((r) => r.enabled).length;
  append(root, h('div', { class: 'view-head' }, h('h1', { text: 'Rules' }),
    h('span', { class: 'count', 'data-testid': 'rules-count' }, `${enabled} of ${items.length} enabled`)),
  table(['Rule', 'State', 'Why not', 'Alerts', 'Open', 'Hits', 'Last alert', 'Where'], rows, { testid: 'rules-table' }));
  root.dataset.loaded = String(Date.now());
}

export async function rulePage(root, ctx) {
  const name = ctx.param;
  const since = ctx.since();
  const [all, alerts] = await Promise.all([api.get('/api/v1/rules'),
    api.getAll('/api/v1/alerts', { rule: name, since }, 2000)]);
  const r = all.items.find((x) => x.name === name);
  const t1 = Date.now(), t0 = t1 - ctx.rangeMs;
  const bms = Math.max(60e3, ctx.rangeMs / 48);
  const bm = new Map();
  for (const a of alerts.items) {
    const k = Math.floor(Date.parse(a.first_seen) / bms) * bms;
    const b = bm.get(k) || { t: k, values: { hits: 0 } };
    b.values.hits += a.count || 1;
    bm.set(k, b);
  }
  append(root, h('div', { class: 'view-head' }, h('h1', {}, 'Rule ', name)),
    r ? h('p', {}, r.enabled ? 'Enabled' : `Disabled: ${r.disabled_reason || ''}`, ` · ${r.file}:${r.line} · ${fmtNum(r.alerts)} alerts, ${fmtNum(r.hits)} hits in all`) : h('p', { class: 'error' }, 'This rule is not loaded now.'),
    h('section', { class: 'panel' }, stackedBars('Hits over time', [...bm.values()], [['hits', 'series-0', 'hits']], t0, t1, { empty: 'no hits in this range', bucketMs: bms })),
    h('section', { class: 'panel' }, h('h2', { text: 'Alerts in the range' }),
      table(['Severity', 'Alert', 'Host', 'Last seen', 'Status'], alerts.items.slice(0, 200).map((a) => h('tr', {},
        h('td', {}, sevBadge(a.severity)), h('td', {}, h('a', { href: ctx.link('alert', String(a.id)) }, `#${a.id}`)),
        h('td', {}, a.hostname || '—'), h('td', {}, fmtAgo(a.last_seen)), h('td', {}, a.status))))));
  root.dataset.loaded = String(Date.now());
}
