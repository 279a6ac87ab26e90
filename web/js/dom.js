// dom.js - the only way the dashboard builds its page. Every string that
// comes from the server is attacker-controlled (command lines, file and
// container names): it is put in the page as a text node or an attribute
// value, never parsed as HTML. Nothing here uses innerHTML, and styles are
// classes, so the page runs under `default-src 'self'` without exceptions.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Attributes h() accepts besides class/text/on*: a fixed list, so a caller
// cannot set "style" (blocked by the CSP) or an event-handler attribute.
const ATTRS = new Set(['href', 'id', 'type', 'name', 'value', 'placeholder', 'title', 'role',
  'for', 'tabindex', 'disabled', 'selected', 'checked', 'rows', 'min', 'max', 'step',
  'autocomplete', 'spellcheck', 'scope', 'colspan', 'lang', 'hidden', 'required', 'size',
  'aria-label', 'aria-live', 'aria-current', 'aria-pressed', 'aria-busy', 'aria-sort',
  'aria-describedby', 'aria-expanded', 'aria-controls', 'aria-hidden', 'data-id', 'data-kind',
  'data-sev', 'data-view', 'data-testid', 'viewBox', 'x', 'y', 'x1', 'x2', 'y1', 'y2', 'cx',
  'cy', 'r', 'width', 'height', 'd', 'points', 'text-anchor', 'dominant-baseline',
  'preserveAspectRatio', 'focusable']);

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : String(v));
    } else if (k === 'text') {
      el.textContent = String(v);
    } else if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'href') {
      // Only our own hash routes and relative API paths are ever linked.
      const s = String(v);
      if (!s.startsWith('#') && !s.startsWith('/')) throw new Error('refusing link ' + s);
      el.setAttribute('href', s);
    } else if (ATTRS.has(k)) {
      el.setAttribute(k, v === true ? '' : String(v));
    } else {
      throw new Error('attribute not allowed: ' + k);
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h('a', {href: '#/x', class: 'y'}, 'text', child...): an element; strings
// become text nodes.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// A time for people: local, to the second. t is an RFC 3339 string or ms.
export function fmtTime(t) {
  if (t === null || t === undefined || t === '') return '—';
  const d = typeof t === 'number' ? new Date(t) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtAgo(t) {
  if (!t) return '—';
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (Number.isNaN(s)) return String(t);
  if (s < 0) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits });
}

export function fmtBytes(n) {
  if (!n && n !== 0) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert',
  'emergency'];

export function sevRank(s) {
  const i = SEVERITIES.indexOf(s);
  return i < 0 ? (typeof s === 'number' ? s : 0) : i;
}

// A severity badge; the class comes from a fixed list, never from the data.
export function sevBadge(s) {
  const known = SEVERITIES.includes(s) ? s : 'unknown';
  return h('span', { class: ['badge', `sev-${known}`], 'data-sev': known }, String(s));
}

export function shortId(id, n = 12) {
  if (!id) return '—';
  return id.length > n ? id.slice(0, n) : id;
}

// A panel saying why a view cannot be shown (a route this server lacks, an
// error): the text is ours or the server's, shown as text.
export function notice(title, detail, cls = 'notice') {
  return h('section', { class: ['panel', cls], role: 'status' },
    h('h2', { text: title }), detail ? h('p', { text: detail }) : null);
}

export function table(head, rows, opts = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: ['grid', opts.class], 'data-testid': opts.testid },
      opts.caption ? h('caption', { text: opts.caption }) : null,
      h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)));
}

export function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v]) =>
    [h('dt', { text: k }), h('dd', {}, v instanceof Node ? v : String(v ?? '—'))]));
}

// el.append(...) without the "null" text node DOM's append makes of a null
// child (views pass null for a panel they leave out).
export function append(el, ...children) {
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}
