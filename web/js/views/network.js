// network.js - who talks to whom, from /api/v1/network (edges over the time
// range): images and containers as nodes on a circle, connections as
// edges; edges first seen recently and edges to external addresses are
// highlighted; choosing an edge lists its connections (net events).
import * as api from '../api.js';
import { h, svg, fmtNum, fmtTime, fmtAgo, table, notice, shortId, append } from '../dom.js';
import { eventSummary } from './events.js';

const RECENT_MS = 3600e3;
const W = 640, H = 420;

// A node's label from an edge end (docs/api.md: container, host or external).
function nodeName(n) {
  if (!n) return '?';
  if (n.type === 'container') return `${n.image || 'container'} ${shortId(n.container_id || '', 8)}`;
  if (n.type === 'host') return `host ${n.hostname || '?'}`;
  if (n.type === 'external') return n.name ? `${n.name} (${n.address || ''})` : (n.address || '?');
  return String(n.hostname || n.address || n.container_id || '?');
}

export async function network(root, ctx) {
  append(root, h('div', { class: 'view-head' }, h('h1', { text: 'Network' })));
  const data = await api.get('/api/v1/network', { since: ctx.since(), limit: 300 });
  const edges = (data.edges || []).map((e) => ({
    src: nodeName(e.source), dst: nodeName(e.destination), source: e.source || {},
    destination: e.destination || {}, protocol: e.protocol || '',
    port: e.port ?? '', count: e.count ?? 1, first: e.first_seen, last: e.last_seen,
    external: !!(e.destination && e.destination.type === 'external'),
  }));
  const now = Date.now();
  for (const e of edges) e.recent = e.first && now - Date.parse(e.first) < RECENT_MS;
  const names = [...new Set(edges.flatMap((e) => [e.src, e.dst]))];
  const pos = new Map(names.map((n, i) => {
    const a = (2 * Math.PI * i) / Math.max(names.length, 1);
    return [n, [W / 2 + Math.cos(a) * (W / 2 - 110), H / 2 + Math.sin(a) * (H / 2 - 40)]];
  }));
  const list = h('div', { class: 'detail-box', 'data-testid': 'edge-detail' });
  const pick = async (e) => {
    list.replaceChildren(h('p', { class: 'hint' }, 'Loading…'));
    // The connections are the net events of the source side to the
    // destination's port (docs/api.md: the service port of the edge).
    const params = { kind: 'net', since: ctx.since(), page_size: 500 };
    if (e.source.container_id) params.container = e.source.container_id;
    else if (e.source.hostname) params.host = e.source.hostname;
    const r = await api.get('/api/v1/events', params);
    const rows = r.items.filter((x) => x.net && (x.net.remote_port === e.port || x.net.local_port === e.port))
      .map((x) => h('tr', {}, h('td', {}, fmtTime(x.time)), h('td', { class: 'mono wrap' }, eventSummary(x))));
    list.replaceChildren(h('h2', {}, `${e.src} → ${e.dst}`), rows.length ? table(['Time', 'Connection'], rows) : h('p', { class: 'empty' }, 'No connection events found for this edge in the range.'));
  };
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg graph', role: 'img', 'aria-label': `${names.length} nodes, ${edges.length} edges` });
  for (const e of edges) {
    const [x1, y1] = pos.get(e.src), [x2, y2] = pos.get(e.dst);
    s.append(svg('line', { class: ['edge', e.external ? 'external' : null, e.recent ? 'recent' : null], x1, y1, x2, y2,
      onclick: () => pick(e) },
      svg('title', {}, `${e.src} → ${e.dst}${e.port ? ':' + e.port : ''}: ${e.count} connections`)));
  }
  for (const n of names) {
    const [x, y] = pos.get(n);
    s.append(svg('circle', { class: 'node', cx: x, cy: y, r: 6 }, svg('title', {}, n)),
      svg('text', { class: 'node-label', x, y: y - 10, 'text-anchor': 'middle' }, n.length > 32 ? n.slice(0, 31) + '…' : n));
  }
  const rows = edges.sort((a, b) => (b.external - a.external) || (b.recent - a.recent) || b.count - a.count).map((e) =>
    h('tr', { class: [e.external ? 'external' : null, e.recent ? 'recent' : null] },
      h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => pick(e) }, e.src)),
      h('td', { class: 'mono' }, `${e.dst}${e.port ? ':' + e.port : ''}${e.protocol ? '/' + e.protocol : ''}`), h('td', { class: 'num' }, fmtNum(e.count)),
      h('td', {}, fmtAgo(e.first)), h('td', {}, [e.external && 'external', e.recent && 'new'].filter(Boolean).join(', '))));
  append(root, 
    data.truncated ? notice('Partial', `The ${edges.length} busiest of ${data.total_edges} edges are shown.`) : null,
    edges.length ? h('section', { class: 'panel' }, s, h('p', { class: 'hint' }, 'Red: to an external address. Thick: first seen in the last hour.')) :
      notice('No connections', 'No connection was seen in this time range.'),
    h('div', { class: 'explorer' }, h('section', { class: 'panel' }, h('h2', { text: 'Edges' }),
      table(['From', 'To', 'Connections', 'First seen', ''], rows, { testid: 'edges-table' })), list));
  root.dataset.loaded = String(Date.now());
}
