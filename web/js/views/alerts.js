// alerts.js - the alerts list (every API filter, keyset-paged) and an
// alert's page: its rendered output, its evidence on a timeline with the
// container's processes, connections and file writes around it, the
// container's configuration posture, and acknowledge / resolve with a note
// for the roles allowed to (the buttons are not even built for a viewer).
import * as api from '../api.js';
import { h, clear, fmtTime, fmtAgo, fmtNum, sevBadge, table, kv, notice, shortId, SEVERITIES, append } from '../dom.js';
import { timeline } from '../chart.js';
import { filterForm, pager } from './common.js';
import { eventSummary, posturePanel } from './events.js';

const CONTEXT_MS = 5 * 60e3;  // the container's events shown around an alert

function alertRow(ctx, a) {
  return h('tr', { 'data-id': a.id },
    h('td', {}, sevBadge(a.severity)),
    h('td', {}, h('a', { href: ctx.link('alert', String(a.id)) }, a.rule)),
    h('td', {}, a.hostname || '—'),
    h('td', { class: 'mono' }, a.image || '—'),
    h('td', { class: 'num' }, fmtNum(a.count)),
    h('td', { title: fmtTime(a.last_seen) }, fmtAgo(a.last_seen)),
    h('td', {}, h('span', { class: ['status', `status-${a.status}`] }, a.status)));
}

export async function alertsList(root, ctx) {
  const q = ctx.query;
  const params = {
    since: q.get('since') || ctx.since(), until: q.get('until') || undefined,
    min_severity: q.get('min_severity') || undefined, rule: q.get('rule') || undefined,
    host: q.get('host') || undefined, container: q.get('container') || undefined,
    status: q.get('status') || undefined,
  };
  const image = q.get('image') || '';
  const form = filterForm(ctx, 'alerts', [
    ['min_severity', 'Severity at least', 'select', ['', ...SEVERITIES]],
    ['status', 'Status', 'select', ['', 'open', 'acknowledged', 'resolved']],
    ['rule', 'Rule', 'text'], ['host', 'Host', 'text'], ['container', 'Container id', 'text'],
    ['image', 'Image contains', 'text'],
    ['since', 'Since (RFC 3339)', 'text'], ['until', 'Until', 'text'],
  ]);
  form.elements.since.placeholder = params.since;
  const tbody = h('tbody', {});
  const head = ['Severity', 'Rule', 'Host', 'Image', 'Count', 'Last seen', 'Status'];
  const tbl = h('div', { class: 'table-wrap' }, h('table', { class: 'grid', 'data-testid': 'alerts-table' },
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), tbody));
  const count = h('span', { class: 'count', 'data-testid': 'alerts-count' });
  append(root, h('div', { class: 'view-head' }, h('h1', { text: 'Alerts' }), count), form, tbl);
  let shown = 0;
  await pager(root, ctx, '/api/v1/alerts', params, (items) => {
    for (const a of items) {
      if (image && !(a.image || '').includes(image)) continue;
      tbody.append(alertRow(ctx, a));
      shown++;
    }
    count.textContent = `${fmtNum(shown)} shown`;
    if (!shown) tbody.replaceChildren(h('tr', {}, h('td', { colspan: head.length, class: 'empty' }, 'No alert matches.')));
  });
  root.dataset.loaded = String(Date.now());
}

function triage(ctx, a, onDone) {
  if (!ctx.canTriage) {
    return h('p', { class: 'hint', 'data-testid': 'triage-readonly' },
      `Your role (${ctx.who.role}) can read alerts; an analyst or admin acknowledges and resolves them.`);
  }
  const note = h('textarea', { id: 'note', rows: 2, placeholder: 'What was done, by whom, ticket…' });
  const err = h('p', { class: 'error', role: 'alert' });
  const act = (status) => async () => {
    err.textContent = '';
    try {
      const updated = await api.patch(`/api/v1/alerts/${a.id}`, { status, note: note.value || null });
      onDone(updated);
    } catch (e) {
      err.textContent = e.message;
    }
  };
  const buttons = [];
  if (a.status !== 'acknowledged') buttons.push(h('button', { type: 'button', 'data-testid': 'ack', onclick: act('acknowledged') }, 'Acknowledge'));
  if (a.status !== 'resolved') buttons.push(h('button', { type: 'button', 'data-testid': 'resolve', onclick: act('resolved') }, 'Resolve'));
  if (a.status !== 'open') buttons.push(h('button', { type: 'button', class: 'secondary', 'data-testid': 'reopen', onclick: act('open') }, 'Reopen'));
  return h('div', { class: 'triage' }, h('label', { for: 'note', text: 'Note' }), note,
    h('div', { class: 'buttons' }, buttons), err);
}

// The process ancestry of the container's exec events: pid -> children.
function ancestry(execs) {
  const byPid = new Map();
  for (const e of execs) if (e.process) byPid.set(e.process.pid, e);
  const roots = [], kids = new Map();
  for (const e of byPid.values()) {
    const pp = e.process.ppid;
    if (byPid.has(pp) && pp !== e.process.pid) {
      if (!kids.has(pp)) kids.set(pp, []);
      kids.get(pp).push(e);
    } else {
      roots.push(e);
    }
  }
  const li = (e, depth) => h('li', {},
    h('span', { class: 'mono' }, `${e.process.name || '?'} [${e.process.pid}]`), ' ',
    h('span', { class: 'cmd mono' }, e.process.cmdline || e.process.exe || ''),
    e.process.parent_name && !byPid.has(e.process.ppid) ? h('span', { class: 'hint' }, ` ← ${e.process.parent_name}`) : null,
    depth < 20 && kids.has(e.process.pid) ? h('ul', {}, kids.get(e.process.pid).map((k) => li(k, depth + 1))) : null);
  return h('ul', { class: 'tree', 'data-testid': 'ancestry' }, roots.map((r) => li(r, 0)));
}

export async function alertPage(root, ctx) {
  const id = ctx.param;
  if (!/^\d+$/.test(id)) throw new api.ApiError(400, 'an alert id is a number');
  const a = await api.get(`/api/v1/alerts/${id}`);
  const first = Date.parse(a.first_seen), last = Date.parse(a.last_seen);
  const evidence = (a.evidence || []).filter((e) => !e.missing);
  const missing = (a.evidence || []).length - evidence.length;
  const eids = new Set(evidence.map((e) => e.id));

  let around = [], posture = null;
  if (a.container_id) {
    const win = { container: a.container_id, since: new Date(first - CONTEXT_MS).toISOString(),
      until: new Date(last + CONTEXT_MS).toISOString() };
    [around, posture] = await Promise.all([
      api.getAll('/api/v1/events', win, 1000).then((r) => r.items),
      api.get('/api/v1/events', { container: a.container_id, kind: 'config', page_size: 1 }).then((r) => r.items[0] || null),
    ]);
  }
  const merged = new Map();
  for (const e of [...evidence, ...around]) merged.set(e.id, e);
  const evs = [...merged.values()].sort((x, y) => Date.parse(x.time) - Date.parse(y.time));
  const ts = evs.map((e) => Date.parse(e.time)).filter((t) => !Number.isNaN(t));
  const t0 = Math.min(first - 60e3, ...ts), t1 = Math.max(last + 60e3, ...ts);

  const statusEl = h('span', { class: ['status', `status-${a.status}`], 'data-testid': 'alert-status' }, a.status);
  const triageBox = h('div', {});
  const meta = h('div', {});
  const renderMeta = (x) => meta.replaceChildren(kv([
    ['Status', statusEl], ['Severity', sevBadge(x.severity)], ['Rule', h('a', { href: ctx.link('rule', x.rule) }, x.rule)],
    ['Source', x.source], ['Host', x.hostname ? h('a', { href: ctx.link('host', x.agent_id || '') }, x.hostname) : '—'],
    ['Container', x.container_id ? h('a', { class: 'mono', href: ctx.link('container', x.container_id) }, shortId(x.container_id)) : '—'],
    ['Image', x.image || '—'], ['First seen', fmtTime(x.first_seen)], ['Last seen', fmtTime(x.last_seen)],
    ['Count', fmtNum(x.count)], ['Tags', (x.tags || []).join(', ') || '—'],
    x.status_by ? ['Changed by', `${x.status_by}, ${fmtTime(x.status_changed)}`] : null,
    x.status_note ? ['Note', x.status_note] : null,
  ]));
  const onDone = (updated) => {
    statusEl.textContent = updated.status;
    statusEl.setAttribute('class', `status status-${['open', 'acknowledged', 'resolved'].includes(updated.status) ? updated.status : 'open'}`);
    Object.assign(a, updated);
    renderMeta(a);
    triageBox.replaceChildren(h('p', { class: 'ok', role: 'status', 'data-testid': 'triage-done' }, `Marked ${updated.status}.`), triage(ctx, a, onDone));
  };
  renderMeta(a);
  triageBox.append(triage(ctx, a, onDone));

  const evRows = evs.filter((e) => eids.has(e.id) || e.kind !== 'resource').map((e) => h('tr', { class: eids.has(e.id) ? 'evidence' : null, 'data-id': e.id },
    h('td', {}, fmtTime(e.time)), h('td', {}, eids.has(e.id) ? 'evidence' : ''),
    h('td', {}, e.kind), h('td', {}, h('a', { href: ctx.link('events', '', { id: e.id, container: e.container_id || undefined }) }, `#${e.id}`)),
    h('td', { class: 'mono wrap' }, eventSummary(e))));

  append(root, 
    h('div', { class: 'view-head' }, h('h1', {}, `Alert #${a.id}: `, a.rule), sevBadge(a.severity)),
    h('div', { class: 'cols two' },
      h('section', { class: 'panel' }, h('h2', { text: 'What happened' }),
        h('pre', { class: 'output', 'data-testid': 'alert-output' }, a.output), meta),
      h('section', { class: 'panel' }, h('h2', { text: 'Triage' }), triageBox,
        h('h2', { text: 'Container posture' }), posturePanel(posture))),
    h('section', { class: 'panel', 'data-testid': 'evidence' },
      h('h2', {}, `Evidence (${evidence.length})`, missing ? ` and ${missing} no longer stored` : ''),
      timeline('Evidence and the container around it', evs.map((e) => ({ t: Date.parse(e.time), kind: e.kind,
        evidence: eids.has(e.id), label: `${fmtTime(e.time)} ${e.kind}: ${eventSummary(e)}` })), t0, t1, first),
      h('p', { class: 'hint' }, 'Resource samples are on the timeline only; the table lists the evidence and the container\'s processes, connections and file writes within 5 minutes of it.'),
      table(['Time', '', 'Kind', 'Event', 'What'], evRows, { testid: 'evidence-table' })),
    h('section', { class: 'panel' }, h('h2', { text: 'Process ancestry in the container' }),
      ancestry(evs.filter((e) => e.kind === 'exec'))));
  root.dataset.loaded = String(Date.now());
}
