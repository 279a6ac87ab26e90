// api.js - the REST API from the browser. The token lives in sessionStorage
// only: it is gone when the tab closes and is never written to the URL or
// to localStorage. A 404 on a route another release adds (stats, network,
// containers) is reported as NotAvailable so a view can say so plainly.

const TOKEN_KEY = 'bulwark.token';

export class ApiError extends Error {
  constructor(status, detail, path) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.path = path;
  }
}

export class NotAvailable extends ApiError {}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// path with query: '/api/v1/events' and {kind: 'exec'}; empty values are left out.
export function url(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function request(method, path, params, body, tok) {
  const headers = { Accept: 'application/json' };
  const t = tok || token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const u = url(path, params);
  let r;
  try {
    r = await fetch(u, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw new ApiError(0, `the server cannot be reached (${e.message})`, path);
  }
  const type = r.headers.get('Content-Type') || '';
  let data = null;
  if (type.includes('json')) {
    try { data = await r.json(); } catch { data = null; }
  } else {
    data = await r.text();
  }
  if (r.ok) return data;
  const detail = data && typeof data === 'object' && data.detail ? data.detail : `HTTP ${r.status}`;
  if (r.status === 401 && !tok) onUnauthorized(detail);
  if (r.status === 404 && data && typeof data === 'object' && /no such API route/.test(detail)) {
    throw new NotAvailable(404, detail, path);
  }
  throw new ApiError(r.status, detail, path);
}

export const get = (path, params, tok) => request('GET', path, params, undefined, tok);
export const patch = (path, body) => request('PATCH', path, undefined, body);

// Every page of a list, up to max rows.
export async function getAll(path, params, max = 2000) {
  const out = [];
  let pageToken = null;
  do {
    const page = await get(path, { ...params, page_size: Math.min(500, max - out.length),
      page_token: pageToken });
    out.push(...(page.items || []));
    pageToken = page.next_page_token;
  } while (pageToken && out.length < max);
  return { items: out, truncated: !!pageToken };
}

// Prometheus text -> {name: value} for metrics without labels.
export function parseMetrics(text) {
  const m = {};
  for (const line of String(text).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    const name = line.slice(0, sp);
    if (!name.includes('{')) m[name] = Number(line.slice(sp + 1));
  }
  return m;
}
