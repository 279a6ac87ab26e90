// chart.js - the dashboard's charts, drawn as SVG by hand: stacked bars
// over time and lines. Why not a library: the charts are few and small
// (at most a few hundred buckets), SVG text is inert and themed by CSS
// classes, and nothing has to be vendored or kept up to date. Colours come
// from classes (series-N, sev-*) so both themes and the CSP are respected.
import { svg, h, fmtNum } from './dom.js';

const W = 640, H = 200, PAD_L = 44, PAD_R = 8, PAD_T = 8, PAD_B = 22;

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function timeLabel(ms, spanMs) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  if (spanMs > 3 * 86400e3) return `${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  return `${p(d.getHours())}:${p(d.getMinutes())}`;
}

function frame(yMax, t0, t1) {
  const g = svg('g', { class: 'axes' });
  // Enough decimals that the five ticks differ (0.0025 steps need 4).
  const digits = yMax >= 4 ? 2 : Math.min(6, Math.max(1, 1 - Math.floor(Math.log10(yMax / 4))));
  for (let i = 0; i <= 4; i++) {
    const y = PAD_T + (H - PAD_T - PAD_B) * (1 - i / 4);
    g.append(svg('line', { class: 'grid-line', x1: PAD_L, x2: W - PAD_R, y1: y, y2: y }),
      svg('text', { class: 'tick', x: PAD_L - 4, y, 'text-anchor': 'end',
        'dominant-baseline': 'middle' }, fmtNum(yMax * i / 4, digits)));
  }
  for (let i = 0; i <= 4; i++) {
    const x = PAD_L + (W - PAD_L - PAD_R) * i / 4;
    g.append(svg('text', { class: 'tick', x, y: H - 6, 'text-anchor': 'middle' },
      timeLabel(t0 + (t1 - t0) * i / 4, t1 - t0)));
  }
  return g;
}

function wrap(title, s, legend) {
  return h('figure', { class: 'chart' },
    h('figcaption', { text: title }), s,
    legend && legend.length ? h('ul', { class: 'legend' }, legend.map(([cls, name]) =>
      h('li', {}, h('span', { class: ['swatch', cls], 'aria-hidden': 'true' }), name))) : null);
}

// buckets: [{t: ms, values: {key: n}}], keys: [[key, cssClass, label]].
export function stackedBars(title, buckets, keys, t0, t1, opts = {}) {
  const n = Math.max(buckets.length, 1);
  const totals = buckets.map((b) => keys.reduce((s, [k]) => s + (b.values[k] || 0), 0));
  const yMax = niceMax(Math.max(0, ...totals));
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img',
    'aria-label': `${title}: ${fmtNum(totals.reduce((a, b) => a + b, 0))} in all`,
    preserveAspectRatio: 'none' });
  s.append(frame(yMax, t0, t1));
  // A bar spans its bucket (opts.bucketMs), or an equal share without one.
  const bw = opts.bucketMs ? (opts.bucketMs / (t1 - t0 || 1)) * (W - PAD_L - PAD_R) : (W - PAD_L - PAD_R) / n;
  const ph = H - PAD_T - PAD_B;
  buckets.forEach((b, i) => {
    let y = PAD_T + ph;
    const x = Math.max(PAD_L, Math.min(W - PAD_R - bw, PAD_L + ((b.t - t0) / (t1 - t0 || 1)) * (W - PAD_L - PAD_R)));
    for (const [k, cls, label] of keys) {
      const v = b.values[k] || 0;
      if (!v) continue;
      const hgt = (v / yMax) * ph;
      y -= hgt;
      s.append(svg('rect', { class: ['bar', cls], x: x + 0.5, y, width: Math.max(bw - 1, 1),
        height: hgt }, svg('title', {}, `${new Date(b.t).toLocaleString()}: ${fmtNum(v)} ${label}`)));
    }
  });
  if (opts.empty && !totals.some(Boolean)) {
    s.append(svg('text', { class: 'empty', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, opts.empty));
  }
  return wrap(title, s, keys.map(([, cls, label]) => [cls, label]));
}

// series: [[cssClass, label, [[ms, value], ...]]].
export function lines(title, series, t0, t1, opts = {}) {
  const all = series.flatMap(([, , pts]) => pts.map((p) => p[1]));
  const yMax = opts.yMax || niceMax(Math.max(0, ...all));
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img',
    'aria-label': title, preserveAspectRatio: 'none' });
  s.append(frame(yMax, t0, t1));
  const ph = H - PAD_T - PAD_B;
  const X = (t) => PAD_L + ((t - t0) / (t1 - t0 || 1)) * (W - PAD_L - PAD_R);
  const Y = (v) => PAD_T + ph * (1 - v / yMax);
  for (const [cls, label, pts] of series) {
    if (!pts.length) continue;
    s.append(svg('polyline', { class: ['line', cls],
      points: pts.map(([t, v]) => `${X(t).toFixed(1)},${Y(v).toFixed(1)}`).join(' ') },
    svg('title', {}, label)));
    if (pts.length < 60) {
      for (const [t, v] of pts) {
        s.append(svg('circle', { class: ['dot', cls], cx: X(t), cy: Y(v), r: 2.5 },
          svg('title', {}, `${new Date(t).toLocaleString()}: ${fmtNum(v, 3)} ${label}`)));
      }
    }
  }
  if (!all.length && opts.empty) {
    s.append(svg('text', { class: 'empty', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, opts.empty));
  }
  return wrap(title, s, series.map(([cls, label]) => [cls, label]));
}

// Events at times on one axis (an alert's evidence): dots by kind, labelled.
export function timeline(title, items, t0, t1, mark) {
  const HH = 70;
  const s = svg('svg', { viewBox: `0 0 ${W} ${HH}`, class: 'chart-svg timeline', role: 'img',
    'aria-label': `${title}: ${items.length} events`, preserveAspectRatio: 'none' });
  const X = (t) => PAD_L + ((t - t0) / (t1 - t0 || 1)) * (W - PAD_L - PAD_R);
  s.append(svg('line', { class: 'grid-line', x1: PAD_L, x2: W - PAD_R, y1: 35, y2: 35 }));
  for (let i = 0; i <= 4; i++) {
    s.append(svg('text', { class: 'tick', x: PAD_L + (W - PAD_L - PAD_R) * i / 4, y: HH - 4,
      'text-anchor': 'middle' }, timeLabel(t0 + (t1 - t0) * i / 4, 0)));
  }
  if (mark) s.append(svg('line', { class: 'mark', x1: X(mark), x2: X(mark), y1: 5, y2: 55 }));
  const lanes = { exec: 15, net: 28, file: 41, resource: 54, config: 22, vuln: 48, external: 35 };
  for (const it of items) {
    s.append(svg('circle', { class: ['dot', `kind-${it.kind in lanes ? it.kind : 'other'}`],
      cx: X(it.t), cy: lanes[it.kind] || 35, r: it.evidence ? 5 : 3 },
    svg('title', {}, it.label)));
  }
  return wrap(title, s, Object.keys(lanes).map((k) => [`kind-${k}`, k]));
}
