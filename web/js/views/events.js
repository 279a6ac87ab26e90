// events.js - the events explorer: every filter the API takes, keyset-paged
// scrolling, an event's full detail, and the equivalent API query as a curl
// command to copy, so an analyst can script what they just found.
import * as api from '../api.js';
import { h, fmtTime, fmtNum, fmtBytes, sevBadge, kv, shortId, SEVERITIES, append } from '../dom.js';
import { filterForm, pager } from './common.js';

const KINDS = ['exec', 'net', 'file', 'resource', 'config', 'vuln', 'external'];
const FILTERS = ['since', 'until', 'agent', 'host', 'container', 'kind', 'min_severity'];

// One line saying what an event is about (text, never markup).
export function eventSummary(e) {
  const p = e.process || {};
  switch (e.kind) {
    case 'exec': return `${p.name || '?'}: ${p.cmdline || p.exe || ''}`;
    case 'net': {
      const n = e.net || {};
      return `${p.name ? p.name + ' ' : ''}${n.direction || ''} ${n.protocol || ''} ${n.local_addr || ''}:${n.local_port || ''} → ` +
        `${n.remote_name ? n.remote_name + ' ' : ''}${n.remote_addr || ''}:${n.remote_port || ''}`;
    }
    case 'file': { const f = e.file || {}; return `${f.op || ''} ${f.path || ''}${f.new_path ? ' → ' + f.new_path : ''}${p.name ? ' by ' + p.name : ''}`; }
    case 'resource': { const r = e.resource || {}; return `cpu ${fmtNum(r.cpu_cores, 3)} cores, memory ${fmtBytes(r.memory_bytes)} (${r.scope || ''})`; }
    case 'config': { const c = e.config || {}; return `privileged=${!!c.privileged} uid=${c.user_uid ?? 0}${c.host_network ? ' host_network' : ''}${c.host_pid ? ' host_pid' : ''}`; }
    case 'vuln': { const v = e.vuln || {}; return `${v.vuln_id || ''} ${v.package || ''} ${v.installed_version || ''} (${v.vuln_severity || ''}${v.fixed_version ? ', fixed in ' + v.fixed_version : ''})`; }
    case 'external': { const x = e.external || {}; return `${x.source || ''} ${x.rule || ''}: ${x.output || ''}`; }
    default: return '';
  }
}

const SENSITIVE = ['/etc', '/root', '/proc', '/var/run/docker.sock', '/run/containerd', '/var/lib/kubelet', '/boot', '/sys', '/dev'];

// A container's configuration posture from its latest config event.
export function posturePanel(ev) {
  if (!ev || !ev.config) return h('p', { class: 'empty', 'data-testid': 'posture' }, 'No configuration event stored for this container.');
  const c = ev.config;
  const mounts = (c.mounts || []).filter((m) => SENSITIVE.some((s) => (m.source || '') === s || (m.source || '').startsWith(s + '/')) || m.source === '/');
  const flag = (bad, yes, no) => h('span', { class: ['flag', bad ? 'bad' : 'ok'] }, bad ? yes : no);
  return h('div', { 'data-testid': 'posture' }, kv([
    ['Privileged', flag(c.privileged, 'privileged', 'no')],
    ['User', flag((c.user_uid || 0) === 0, 'root (uid 0)', `uid ${c.user_uid}`)],
    ['Host namespaces', flag(c.host_network || c.host_pid || c.host_ipc,
      ['network', 'pid', 'ipc'].filter((n) => c[`host_${n}`]).join(', ') || 'shared', 'none')],
    ['Sensitive mounts', mounts.length ? h('ul', {}, mounts.map((m) => h('li', { class: 'mono' }, `${m.source} → ${m.target}${m.read_only ? ' (ro)' : ''}`))) : flag(false, '', 'none')],
    ['Added capabilities', (c.cap_add || []).join(', ') || 'none'],
    ['Read-only root', c.read_only_rootfs ? 'yes' : 'no'],
    ['As of', fmtTime(ev.time)],
  ]));
}

function curlFor(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const u = `${location.origin}/api/v1/events${q.toString() ? '?' + q : ''}`;
  // Single quotes around the URL; a quote inside cannot occur (it is %27).
  return `curl -sS -H "Authorization: Bearer $BULWARK_TOKEN" '${u.replace(/'/g, '%27')}'`;
}

async function detail(ctx, id) {
  const e = await api.get(`/api/v1/events/${encodeURIComponent(id)}`);
  return h('section', { class: 'panel detail', 'data-testid': 'event-detail' },
    h('h2', {}, `Event #${e.id}`),
    kv([['Time', fmtTime(e.time)], ['Received', fmtTime(e.received)], ['Kind', e.kind], ['Severity', sevBadge(e.severity)],
      ['Host', e.hostname], ['Agent', e.agent_id],
      ['Container', e.container_id ? h('a', { class: 'mono', href: ctx.link('container', e.container_id) }, shortId(e.container_id)) : '—'],
      e.container ? ['Container name', e.container.name || '—'] : null,
      e.container ? ['Image', e.container.image || '—'] : null,
      ['Summary', h('span', { class: 'mono wrap' }, eventSummary(e))]]),
    h('h3', { text: 'Full event (JSON)' }),
    h('pre', { class: 'json', 'data-testid': 'event-json' }, JSON.stringify(e, null, 2)));
}

export async function events(root, ctx) {
  const q = ctx.query;
  const params = {};
  for (const k of FILTERS) if (q.get(k)) params[k] = q.get(k);
  if (!params.since) params.since = ctx.since();
  const form = filterForm(ctx, 'events', [
    ['since', 'Since (RFC 3339)', 'text'], ['until', 'Until', 'text'],
    ['agent', 'Agent', 'text'], ['host', 'Host', 'text'], ['container', 'Container id', 'text'],
    ['kind', 'Kind', 'select', ['', ...KINDS]], ['min_severity', 'Severity at least', 'select', ['', ...SEVERITIES]],
  ]);
  form.elements.since.placeholder = params.since;
  const curl = curlFor(params);
  const curlCode = h('code', { class: 'curl', 'data-testid': 'curl' }, curl);
  const copied = h('span', { class: 'hint', role: 'status' });
  const copyBtn = h('button', { type: 'button', class: 'secondary', 'data-testid': 'copy-curl',
    onclick: async () => {
      try { await navigator.clipboard.writeText(curl); copied.textContent = 'Copied.'; } catch {
        const r = document.createRange(); r.selectNodeContents(curlCode);
        const s = getSelection(); s.removeAllRanges(); s.addRange(r);
        copied.textContent = 'Selected: press Ctrl+C to copy.';
      }
    } }, 'Copy as curl');
  const tbody = h('tbody', {});
  const head = ['Time', 'Kind', 'Severity', 'Host', 'Container', 'What'];
  const detailBox = h('div', { class: 'detail-box' });
  const layout = h('div', { class: 'explorer' },
    h('div', { class: 'table-wrap' }, h('table', { class: 'grid', 'data-testid': 'events-table' },
      h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), tbody)), detailBox);
  append(root, h('div', { class: 'view-head' }, h('h1', { text: 'Events' })), form,
    h('div', { class: 'curlbar' }, curlCode, copyBtn, copied), layout);
  const show = async (id) => {
    try { detailBox.replaceChildren(await detail(ctx, id)); } catch (e) {
      detailBox.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  };
  let n = 0;
  await pager(root, ctx, '/api/v1/events', params, (items) => {
    for (const e of items) {
      n++;
      const link = h('a', { href: ctx.link('events', '', { ...Object.fromEntries(q), id: e.id }) }, fmtTime(e.time));
      tbody.append(h('tr', { 'data-id': e.id, 'data-kind': e.kind }, h('td', {}, link), h('td', {}, e.kind),
        h('td', {}, sevBadge(e.severity)), h('td', {}, e.hostname),
        h('td', { class: 'mono' }, e.container ? (e.container.name || shortId(e.container_id)) : '—'),
        h('td', { class: 'mono wrap' }, eventSummary(e))));
    }
    if (!n) tbody.replaceChildren(h('tr', {}, h('td', { colspan: head.length, class: 'empty' }, 'No event matches.')));
  });
  if (q.get('id')) await show(q.get('id'));
  root.dataset.loaded = String(Date.now());
}
