// main.js - the dashboard's shell: sign-in, the role from whoami, the one
// time-range picker, the theme, and a hash router. The URL carries the
// whole state of a view (#/alerts?status=open&range=24h), so a link shows
// the same thing to whoever opens it (after signing in with their token).
import * as api from './api.js';
import { h, clear, notice } from './dom.js';
import { overview } from './views/overview.js';
import { alertsList, alertPage } from './views/alerts.js';
import { events } from './views/events.js';
import { hosts, hostPage, containers, containerPage } from './views/fleet.js';
import { network } from './views/network.js';
import { rules, rulePage } from './views/rules.js';

const VIEWS = {
  overview: { nav: 'overview', fn: overview, title: 'Overview' },
  alerts: { nav: 'alerts', fn: alertsList, title: 'Alerts' },
  alert: { nav: 'alerts', fn: alertPage, title: 'Alert' },
  events: { nav: 'events', fn: events, title: 'Events' },
  hosts: { nav: 'hosts', fn: hosts, title: 'Hosts' },
  host: { nav: 'hosts', fn: hostPage, title: 'Host' },
  containers: { nav: 'containers', fn: containers, title: 'Containers' },
  container: { nav: 'containers', fn: containerPage, title: 'Container' },
  network: { nav: 'network', fn: network, title: 'Network' },
  rules: { nav: 'rules', fn: rules, title: 'Rules' },
  rule: { nav: 'rules', fn: rulePage, title: 'Rule' },
};

const RANGES = { '15m': 15 * 60e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 86400e3,
  '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
const DEFAULT_RANGE = '24h';

const $ = (id) => document.getElementById(id);
let who = null;
let current = null;  // {abort: AbortController, timers: []}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  const [view, ...rest] = path.split('/');
  let param = rest.join('/');
  try { param = decodeURIComponent(param); } catch { param = ''; }
  return { view: VIEWS[view] ? view : 'overview', param, query };
}

function rangeKey(query) {
  const r = query.get('range');
  return RANGES[r] ? r : DEFAULT_RANGE;
}

// '#/view/param?k=v' keeping the time range.
export function link(view, param, params) {
  const q = new URLSearchParams();
  const cur = parseHash();
  const r = (params && params.range) || rangeKey(cur.query);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '' && k !== 'range') q.set(k, String(v));
  }
  if (r !== DEFAULT_RANGE) q.set('range', r);
  const s = q.toString();
  return `#/${view}${param ? '/' + encodeURIComponent(param) : ''}${s ? '?' + s : ''}`;
}

function stop() {
  if (!current) return;
  current.abort.abort();
  current.timers.forEach(clearTimeout);
  current = null;
}

async function route() {
  stop();
  const { view, param, query } = parseHash();
  const v = VIEWS[view];
  const range = rangeKey(query);
  $('range').value = range;
  document.querySelectorAll('.nav a').forEach((a) => {
    if (a.dataset.view === v.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
    a.setAttribute('href', link(a.dataset.view));
  });
  document.title = `${v.title} · Bulwark`;
  const root = clear($('view'));
  delete root.dataset.loaded;  // set again once this view has rendered
  root.setAttribute('aria-busy', 'true');
  const me = { abort: new AbortController(), timers: [] };
  current = me;
  const ctx = {
    param, query, range, who,
    rangeMs: RANGES[range],
    // The range as API parameters, computed now (live views call it again).
    since: () => new Date(Date.now() - RANGES[range]).toISOString(),
    link,
    go: (hash) => { location.hash = hash; },
    live: () => current === me,
    // Calls fn every ms while this view is shown and the tab is visible.
    every(ms, fn) {
      const tick = async () => {
        if (current !== me) return;
        if (document.visibilityState === 'visible') {
          try { await fn(); } catch (e) { /* the next tick retries */ }
        }
        if (current === me) me.timers.push(setTimeout(tick, ms));
      };
      me.timers.push(setTimeout(tick, ms));
    },
    canTriage: who && (who.role === 'analyst' || who.role === 'admin'),
  };
  try {
    await v.fn(root, ctx);
  } catch (e) {
    if (current !== me) return;
    if (e instanceof api.NotAvailable) {
      root.append(notice('Not available on this server',
        `This bulwarkd has no ${e.path} route yet; the view appears once the server is upgraded.`,
        'notice unavailable'));
    } else {
      root.append(notice('This view could not be loaded', e.message, 'notice error'));
    }
  } finally {
    if (current === me) {
      root.setAttribute('aria-busy', 'false');
      if (!root.dataset.loaded) root.dataset.loaded = String(Date.now());
    }
  }
}

function showSignin(msg) {
  stop();
  who = null;
  document.body.classList.remove('role-viewer', 'role-analyst', 'role-admin');
  document.querySelector('header.top').hidden = true;
  clear($('view'));
  $('signin').hidden = false;
  $('signin-error').textContent = msg || '';
  $('token').focus();
}

async function signedIn() {
  who = await api.get('/api/v1/whoami');
  $('signin').hidden = true;
  document.querySelector('header.top').hidden = false;
  document.body.classList.add(`role-${['viewer', 'analyst', 'admin'].includes(who.role) ? who.role : 'viewer'}`);
  $('who').textContent = `${who.actor} (${who.role})`;
  await route();
}

function applyTheme(t) {
  const dark = t === 'dark' || (!t && matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.classList.toggle('theme-dark', dark);
  document.documentElement.classList.toggle('theme-light', !dark);
  $('theme').setAttribute('aria-pressed', String(dark));
  $('theme').textContent = dark ? 'Light theme' : 'Dark theme';
}

function init() {
  applyTheme(localStorage.getItem('bulwark.theme'));
  $('theme').addEventListener('click', () => {
    const t = document.documentElement.classList.contains('theme-dark') ? 'light' : 'dark';
    localStorage.setItem('bulwark.theme', t);
    applyTheme(t);
  });
  $('range').addEventListener('change', () => {
    const { view, param, query } = parseHash();
    query.set('range', $('range').value);
    if ($('range').value === DEFAULT_RANGE) query.delete('range');
    query.delete('since');
    query.delete('until');
    const s = query.toString();
    location.hash = `#/${view}${param ? '/' + encodeURIComponent(param) : ''}${s ? '?' + s : ''}`;
  });
  $('signout').addEventListener('click', () => { api.setToken(null); showSignin('Signed out.'); });
  api.setUnauthorizedHandler((detail) => {
    api.setToken(null);
    showSignin(`Signed out: ${detail}`);
  });
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    $('signin-error').textContent = '';
    try {
      await api.get('/api/v1/whoami', null, t);
    } catch (e) {
      $('signin-error').textContent = e.status === 401 ? 'That token is not valid, or was revoked.'
        : e.message;
      return;
    }
    $('token').value = '';
    api.setToken(t);
    await signedIn();
  });
  window.addEventListener('hashchange', () => { if (who) route(); });
  if (api.token()) {
    signedIn().catch((e) => showSignin(e.message));
  } else {
    showSignin();
  }
}

init();
