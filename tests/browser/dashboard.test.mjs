// dashboard.test.mjs - drives Debian's Chromium (puppeteer-core) through the
// dashboard served by a real bulwarkd that test_dashboard.py started and
// filled through real agents. Every step asserts what a user relies on;
// screenshots of every view go to BW_ARTIFACTS. Exits non-zero on failure.
//
// Environment: BW_URL, BW_TOKEN_ANALYST, BW_TOKEN_VIEWER, BW_ARTIFACTS,
// BW_NODE_MODULES (where npm ci put puppeteer-core), CHROMIUM.
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(path.join(process.env.BW_NODE_MODULES, 'package.json'));
const puppeteer = require('puppeteer-core');

const URL0 = process.env.BW_URL;
const ANALYST = process.env.BW_TOKEN_ANALYST;
const VIEWER = process.env.BW_TOKEN_VIEWER;
const OUT = process.env.BW_ARTIFACTS;
const HOSTILE_CMD = '<img src=x onerror=alert(1)>';
const HOSTILE_NAME = '<script>alert(1)</script>';
fs.mkdirSync(OUT, { recursive: true });
for (const f of fs.readdirSync(OUT)) if (f.endsWith('.png')) fs.rmSync(path.join(OUT, f));  // no stale shots

const T0 = Date.now();
const log = (...a) => console.log(`dashboard: +${((Date.now() - T0) / 1000).toFixed(1)} s`, ...a);

async function apiGet(p, token = ANALYST) {
  const r = await fetch(new URL(p, URL0), { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, `GET ${p}: ${r.status}`);
  return r.json();
}

async function apiAll(p, params, token = ANALYST) {
  const out = [];
  let tok = null;
  do {
    const q = new URLSearchParams({ ...params, page_size: '500' });
    if (tok) q.set('page_token', tok);
    const page = await apiGet(`${p}?${q}`, token);
    out.push(...page.items);
    tok = page.next_page_token;
  } while (tok);
  return out;
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-chromium-'));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: false,  // the flags below say --headless themselves
  userDataDir,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
    '--window-size=1280,720'],
  defaultViewport: { width: 1280, height: 720 },
});

const problems = [];  // dialogs, CSP violations, console errors, page errors

async function newPage(ctxName, context) {
  const page = await (context || browser).newPage();
  await page.setViewport({ width: 1280, height: 720 });
  page.on('dialog', async (d) => { problems.push(`${ctxName}: dialog "${d.message()}"`); await d.dismiss(); });
  page.on('pageerror', (e) => problems.push(`${ctxName}: page error ${e.message}`));
  // 401 (the wrong token on purpose), 403 (the viewer's forced PATCH) and
  // 404 (a route this server lacks) are expected; any other error is not.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[0134]/.test(m.text())) problems.push(`${ctxName}: console error ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && ![401, 403, 404].includes(r.status())) problems.push(`${ctxName}: ${r.status()} for ${r.url()}`);
  });
  await page.evaluateOnNewDocument(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return page;
}

async function shot(page, name, opts = {}) {
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: !!opts.full });
}

// Waits for the view to have rendered (data-loaded set after nav).
async function loaded(page, hash, sel) {
  const before = Date.now();
  if (hash !== undefined) {
    await page.evaluate((h) => { document.getElementById('view').removeAttribute('data-loaded'); location.hash = h; }, hash);
  }
  await page.waitForSelector(`#view[data-loaded]${sel ? ' ' + sel : ''}`, { timeout: 20000 });
  const took = Date.now() - before;
  // No view shows a missing value as code would print it (the JSON of an
  // event's detail may say null: it is the API's own text).
  const leak = await page.evaluate(() => {
    const v = document.getElementById('view').cloneNode(true);
    v.querySelectorAll('pre.json').forEach((e) => e.remove());
    return (v.textContent.match(/\b(null|undefined|NaN)\b|\[object Object\]/) || [null])[0];
  });
  assert.equal(leak, null, `the view at ${hash} shows "${leak}"`);
  return took;
}

async function text(page, sel) {
  return page.$eval(sel, (e) => e.textContent.trim());
}

async function injected(page) {
  return page.evaluate(() => ({
    scripts: [...document.scripts].filter((s) => !s.src).length,
    imgs: document.querySelectorAll('img').length,
    handlers: [...document.querySelectorAll('*')].filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length,
    csp: window.__csp,
  }));
}

let failed = false;
try {
  // ---------------------------------------------------------- sign in
  const page = await newPage('analyst');
  await page.goto(URL0, { waitUntil: 'load' });
  await page.waitForSelector('#signin:not([hidden]) #token');
  await shot(page, '01-signin');
  const stored = await page.evaluate(() => Object.keys(localStorage).concat(Object.keys(sessionStorage)));
  assert.deepEqual(stored, [], 'nothing stored before sign-in');
  await page.type('#token', 'bwk_not_a_token');
  await page.click('#signin-form button');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0);
  await page.$eval('#token', (e) => { e.value = ''; });
  const t0 = Date.now();
  await page.type('#token', ANALYST);
  await page.click('#signin-form button');
  await page.waitForSelector('#view[data-loaded] [data-testid=agents-connected]', { timeout: 20000 });
  log(`overview shown ${Date.now() - t0} ms after sign-in`);
  const where = await page.evaluate(() => ({ s: sessionStorage.getItem('bulwark.token'), l: Object.keys(localStorage), url: location.href }));
  assert.equal(where.s, ANALYST, 'the token is kept in sessionStorage');
  assert.ok(!where.l.some((k) => /token/.test(k)), 'no token in localStorage');
  assert.ok(!where.url.includes(ANALYST), 'no token in the URL');
  assert.match(await text(page, '#who'), /\(analyst\)/);

  // ------------------------------------------- overview equals the API
  // The rate tile needs two samples of the counter; wait for a refresh.
  await page.waitForFunction(() => document.querySelector('[data-testid=events-rate]').textContent !== '…', { timeout: 15000 });
  const since = new Date(Date.now() - 86400e3).toISOString();
  const [agents, alerts, crit] = await Promise.all([apiAll('/api/v1/agents', {}), apiAll('/api/v1/alerts', { since }),
    apiGet(`/api/v1/alerts?${new URLSearchParams({ since, min_severity: 'critical', page_size: '8' })}`)]);
  const now = Date.now();
  const connected = agents.filter((a) => a.connected && now - Date.parse(a.stream.last_heartbeat) < 90e3).length;
  const dropping = agents.filter((a) => a.health && a.health.spool_dropped > 0).length;
  const open = alerts.filter((a) => a.status === 'open');
  const sev = ['critical', 'alert', 'emergency'];
  const tiles = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.tile .value')]
    .map((e) => [e.dataset.testid, e.textContent.trim()])));
  log('tiles', JSON.stringify(tiles));
  assert.equal(tiles['agents-connected'], String(connected));
  assert.equal(tiles['agents-silent'], String(agents.length - connected));
  assert.equal(tiles['agents-dropping'], String(dropping));
  assert.equal(tiles['alerts-open'], String(open.length));
  assert.equal(tiles['alerts-critical'], String(open.filter((a) => sev.includes(a.severity)).length));
  assert.ok(open.length >= 5, `the scenario raised alerts (${open.length})`);
  const critIds = await page.$$eval('[data-testid=recent-critical] tbody tr', (rs) => rs.map((r) => Number(r.dataset.id)));
  assert.deepEqual(critIds, crit.items.map((a) => a.id), 'recent critical alerts are the API\'s');
  assert.ok(critIds.length >= 2, 'the miner gave critical alerts');
  const topRules = await page.$$eval('[data-testid=top-rules] tbody tr', (rs) => rs.map((r) => [r.dataset.id, Number(r.cells[1].textContent.replace(/,/g, ''))]));
  for (const [rule, n] of topRules) assert.equal(n, alerts.filter((a) => a.rule === rule).length, `alerts of rule ${rule}`);
  assert.ok(await page.$('[data-testid=alerts-chart] rect.bar'), 'the severity chart has bars');
  assert.ok((await page.$$eval('[data-testid=risky-images] tbody tr', (r) => r.map((x) => x.dataset.id))).includes('registry.example.com/shop/web:2.3.1'));
  await shot(page, '02-overview');
  // Live refresh without reload: the "updated" stamp moves on its own.
  const stamp = await text(page, '[data-testid=updated]');
  await page.waitForFunction((s) => document.querySelector('[data-testid=updated]').textContent !== s, { timeout: 15000 }, stamp);
  await page.click('#theme');
  await shot(page, '03-overview-dark');
  await page.click('#theme');

  // ---------------------- a critical alert: evidence, then acknowledge
  const cj = alerts.find((a) => a.rule === 'Probable cryptojacking');
  assert.ok(cj, 'the correlation alert exists');
  await page.$eval(`[data-testid=recent-critical] tr[data-id="${cj.id}"] a`, (a) => a.click());
  await page.waitForSelector('#view[data-loaded] [data-testid=evidence-table]');
  const detailApi = await apiGet(`/api/v1/alerts/${cj.id}`);
  const evIds = await page.$$eval('[data-testid=evidence-table] tr.evidence', (rs) => rs.map((r) => Number(r.dataset.id)));
  assert.deepEqual(evIds.sort(), detailApi.evidence.map((e) => e.id).sort(), 'evidence rows are the alert\'s evidence');
  assert.ok(evIds.length >= 2);
  assert.equal(await text(page, '[data-testid=alert-output]'), detailApi.output);
  assert.match(await text(page, '[data-testid=ancestry]'), /kworkerd \[4388\]/);
  await shot(page, '04-alert', { full: true });
  await page.type('#note', 'miner container isolated; ticket SEC-1');
  await page.click('[data-testid=ack]');
  await page.waitForSelector('[data-testid=triage-done]');
  assert.equal(await text(page, '[data-testid=alert-status]'), 'acknowledged');
  const after = await apiGet(`/api/v1/alerts/${cj.id}`);
  assert.equal(after.status, 'acknowledged');
  assert.equal(after.status_note, 'miner container isolated; ticket SEC-1');
  assert.ok(!(await page.$('[data-testid=ack]')), 'no second acknowledge');
  await shot(page, '05-alert-acknowledged');

  // --------------------------------------------- alerts list, filtered
  let ms = await loaded(page, '#/alerts?min_severity=critical');
  log(`alerts list (critical) ${ms} ms`);
  const listIds = await page.$$eval('[data-testid=alerts-table] tbody tr[data-id]', (rs) => rs.map((r) => Number(r.dataset.id)));
  const critAll = alerts.filter((a) => sev.includes(a.severity)).map((a) => a.id);
  assert.deepEqual(listIds, critAll);
  await loaded(page, '#/alerts');
  await shot(page, '06-alerts');

  // --------------------------------------------- find an event by filter
  await loaded(page, '#/events');
  await page.select('#f-kind', 'exec');
  await page.type('#f-host', 'host-miner1');
  await page.evaluate(() => document.getElementById('view').removeAttribute('data-loaded'));
  await page.click('[data-testid=events-filters] button[type=submit]');
  await page.waitForSelector('#view[data-loaded] [data-testid=events-table] tbody tr[data-id]');
  const rows = await page.$$eval('[data-testid=events-table] tbody tr[data-id]', (rs) => rs.map((r) => [Number(r.dataset.id), r.dataset.kind, r.textContent]));
  assert.ok(rows.length >= 1 && rows.every(([, k]) => k === 'exec'));
  const minerRow = rows.find(([, , t]) => t.includes('stratum+tcp://pool.supportxmr.com:3333'));
  assert.ok(minerRow, 'the miner exec is found');
  const curl = await text(page, '[data-testid=curl]');
  assert.match(curl, /^curl -sS -H "Authorization: Bearer \$BULWARK_TOKEN" '.*\/api\/v1\/events\?/);
  const curlUrl = new URL(curl.match(/'([^']+)'/)[1]);
  assert.equal(curlUrl.searchParams.get('kind'), 'exec');
  assert.equal(curlUrl.searchParams.get('host'), 'host-miner1');
  const viaCurl = await apiGet(curlUrl.pathname + curlUrl.search);
  assert.deepEqual(viaCurl.items.map((e) => e.id), rows.map(([id]) => id), 'the curl query answers the same rows');
  await page.$eval(`tr[data-id="${minerRow[0]}"] a`, (a) => a.click());
  await page.waitForSelector('[data-testid=event-detail]');
  const js = JSON.parse(await text(page, '[data-testid=event-json]'));
  assert.equal(js.id, minerRow[0]);
  assert.equal(js.process.name, 'kworkerd');
  await page.click('[data-testid=copy-curl]');
  await shot(page, '07-events');

  log('events done');
  // ----------------------------------------- hostile strings stay text
  await loaded(page, '#/events?host=host-hostile1', '[data-testid=events-table] tbody tr[data-id]');
  let body = await page.evaluate(() => document.getElementById('view').textContent);
  assert.ok(body.includes(HOSTILE_CMD), 'the command line shows as text');
  assert.ok(body.includes(HOSTILE_NAME), 'the container name shows as text');
  const hostileExec = await page.$eval('[data-testid=events-table] tr[data-kind=exec]', (r) => r.dataset.id);
  await loaded(page, `#/events?host=host-hostile1&id=${hostileExec}`, '[data-testid=event-detail]');
  await shot(page, '08-hostile-event');
  const shell = alerts.find((a) => a.rule === 'Shell spawned in a container');
  assert.ok(shell, 'the hostile exec raised an alert');
  await loaded(page, `#/alert/${shell.id}`, '[data-testid=evidence-table]');
  assert.ok((await text(page, '[data-testid=alert-output]')).includes(HOSTILE_NAME));
  assert.match(await text(page, '[data-testid=posture]'), /privileged/);
  await shot(page, '09-hostile-alert', { full: true });
  await loaded(page, `#/container/${shell.container_id}`, '[data-testid=container-name]');
  assert.equal(await text(page, '[data-testid=container-name]'), HOSTILE_NAME);
  await loaded(page, '#/alerts?host=host-hostile1');
  await loaded(page, '#/overview');
  const inj = await injected(page);
  log('injection check', JSON.stringify(inj));
  assert.equal(inj.scripts, 0, 'no inline script element');
  assert.equal(inj.imgs, 0, 'no img element');
  assert.equal(inj.handlers, 0, 'no event-handler attribute');
  assert.deepEqual(inj.csp, [], 'no CSP violation');

  // ------------------------------------------------- every other view
  await loaded(page, '#/hosts', '[data-testid=hosts-table]');
  const hostRows = await page.$$eval('[data-testid=hosts-table] tbody tr', (r) => r.length);
  assert.equal(hostRows, agents.length);
  await shot(page, '10-hosts');
  await loaded(page, '#/host/miner1');
  await shot(page, '11-host');
  await loaded(page, '#/containers');
  if (await page.$('[data-testid=containers-table]')) {
    assert.match(await text(page, '[data-testid=containers-table]'), /privileged/);
  } else {
    assert.match(await text(page, '#view'), /Not available on this server/);
  }
  await shot(page, '12-containers');
  await loaded(page, `#/container/${cj.container_id}`, '[data-testid=posture]');
  assert.ok(await page.$('figure.chart polyline.line'), 'the CPU chart has a line');
  await shot(page, '13-container', { full: true });
  await loaded(page, '#/network');
  if (await page.$('[data-testid=edges-table] button')) {
    // A server with /network: the miner's pool connection is an external edge.
    assert.match(await text(page, '[data-testid=edges-table]'), /pool\.supportxmr\.com/);
    await page.click('[data-testid=edges-table] tr.external button');
    await page.waitForSelector('[data-testid=edge-detail] table');
    assert.match(await text(page, '[data-testid=edge-detail]'), /198\.51\.100\.7:3333/);
  } else {
    assert.match(await text(page, '#view'), /Not available on this server/);
  }
  await shot(page, '14-network');
  await loaded(page, '#/rules', '[data-testid=rules-table]');
  const rulesApi = await apiGet('/api/v1/rules');
  assert.equal(await page.$$eval('[data-testid=rules-table] tbody tr', (r) => r.length), rulesApi.items.length);
  await shot(page, '15-rules');
  await loaded(page, `#/rule/${encodeURIComponent('Crypto miner process')}`);
  await shot(page, '16-rule');

  // The URL carries the state: a fresh tab on the same link shows the same.
  await loaded(page, '#/alerts?status=acknowledged&range=7d');
  const shared = page.url();
  const p2 = await newPage('shared');
  await p2.goto(URL0, { waitUntil: 'load' });  // same session: the token is in this tab only
  await p2.waitForSelector('#signin:not([hidden])');
  await p2.type('#token', ANALYST);
  await p2.keyboard.press('Enter');  // the form submits from the keyboard
  await p2.waitForSelector('#view[data-loaded]');
  // Keyboard: from the skip link, Tab reaches the brand, then the views.
  await p2.focus('.skip');
  await p2.keyboard.press('Tab');
  assert.equal(await p2.evaluate(() => document.activeElement.textContent), 'Bulwark');
  await p2.keyboard.press('Tab');
  await p2.keyboard.press('Tab');
  assert.equal(await p2.evaluate(() => document.activeElement.textContent), 'Alerts');
  await p2.keyboard.press('Enter');
  await p2.waitForFunction(() => location.hash.startsWith('#/alerts'));
  await p2.goto(shared);
  await loaded(p2, undefined, '[data-testid=alerts-table]');
  assert.equal(await p2.$eval('#range', (s) => s.value), '7d');
  assert.deepEqual(await p2.$$eval('[data-testid=alerts-table] tbody tr[data-id]', (r) => r.map((x) => Number(x.dataset.id))), [cj.id]);
  await p2.close();

  // A 4K wall screen.
  await page.setViewport({ width: 3840, height: 2160 });
  await loaded(page, '#/overview');
  await shot(page, '17-overview-4k');
  await page.setViewport({ width: 1280, height: 720 });

  log('views done');
  // ------------------------------------------------------ viewer role
  const vctx = await browser.createBrowserContext();
  const vp = await newPage('viewer', vctx);
  await vp.goto(URL0, { waitUntil: 'load' });
  await vp.waitForSelector('#signin:not([hidden]) #token');
  await vp.type('#token', VIEWER);
  await vp.click('#signin-form button');
  await vp.waitForSelector('#view[data-loaded]');
  await loaded(vp, `#/alert/${shell.id}`, '[data-testid=evidence-table]');
  assert.equal(await vp.$('[data-testid=ack]'), null, 'a viewer sees no acknowledge button');
  assert.equal(await vp.$('[data-testid=resolve]'), null, 'a viewer sees no resolve button');
  assert.ok(await vp.$('[data-testid=triage-readonly]'));
  await shot(vp, '18-viewer-alert');
  const forced = await vp.evaluate(async (id) => {
    const r = await fetch(`/api/v1/alerts/${id}`, { method: 'PATCH', headers: {
      Authorization: `Bearer ${sessionStorage.getItem('bulwark.token')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ status: 'resolved' }) });
    return r.status;
  }, shell.id);
  assert.equal(forced, 403, 'the API refuses a viewer\'s PATCH');
  assert.equal((await apiGet(`/api/v1/alerts/${shell.id}`)).status, 'open');
  const vinj = await injected(vp);
  assert.deepEqual(vinj.csp, []);
  await vctx.close();

  assert.deepEqual(problems, [], 'no dialog, page error, console error or CSP report');
  log('all checks passed');
} catch (e) {
  failed = true;
  console.error('dashboard: FAILED:', e && e.stack ? e.stack : e);
  if (problems.length) console.error('problems seen:', problems.join('\n'));
  // Best effort, bounded: a page stuck in the failure must not hang the test.
  const bounded = (p, ms) => Promise.race([p, new Promise((r) => setTimeout(r, ms))]);
  try {
    for (const [i, p] of (await bounded(browser.pages(), 5000) || []).entries()) {
      await bounded(p.screenshot({ path: path.join(OUT, `failure-${i}.png`) }), 5000);
    }
  } catch { /* best effort */ }
} finally {
  await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 10000))]);
  browser.process()?.kill('SIGKILL');
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
