// dashboard_timing.mjs - the browser half of tests/bench/dashboard.sh (a
// benchmark, not a test): opens the dashboard in Debian's headless Chromium
// with a token already in sessionStorage and times, from navigation start to
// the view's data-loaded mark, a complete overview and the alerts list.
// Prints one line per view: name, runs, median ms, max ms.
//
// Environment: BW_URL, BW_TOKEN, BW_NODE_MODULES, CHROMIUM, BENCH_RUNS.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(path.join(process.env.BW_NODE_MODULES, 'package.json'));
const puppeteer = require('puppeteer-core');
const runs = Number(process.env.BENCH_RUNS || 5);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-chromium-'));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: false, userDataDir: dir,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  defaultViewport: { width: 1280, height: 720 },
});

const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
const max = (a) => Math.max(...a);

// ms from t (epoch ms) to the view's data-loaded mark.
async function untilLoaded(page, sel) {
  await page.waitForSelector(`#view[data-loaded] ${sel}`, { timeout: 60000 });
  return page.evaluate(() => Number(document.getElementById('view').dataset.loaded));
}

// In-app navigation: the hash changes, the view fetches and renders.
async function nav(page, hash, sel) {
  const t = await page.evaluate((h) => {
    document.getElementById('view').removeAttribute('data-loaded');
    const now = Date.now();
    location.hash = h;
    return now;
  }, hash);
  return (await untilLoaded(page, sel)) - t;
}

const OVERVIEW = '[data-testid=agents-connected]';
const ALERTS = '[data-testid=alerts-table] tbody tr[data-id]';
const r = { coldOverview: [], coldAlerts: [], navOverview: [], navAlerts: [] };
try {
  for (let i = 0; i < runs + 1; i++) {
    for (const [hash, sel, key] of [['#/overview', OVERVIEW, 'coldOverview'], ['#/alerts', ALERTS, 'coldAlerts']]) {
      const page = await browser.newPage();
      await page.evaluateOnNewDocument((t) => sessionStorage.setItem('bulwark.token', t), process.env.BW_TOKEN);
      await page.goto(new URL(`/${hash}`, process.env.BW_URL).href, { waitUntil: 'domcontentloaded' });
      // From the navigation's start: HTML, modules, whoami, the view's API calls, rendering.
      const ms = (await untilLoaded(page, sel)) - (await page.evaluate(() => performance.timeOrigin));
      const a = await nav(page, key === 'coldOverview' ? '#/alerts' : '#/overview', key === 'coldOverview' ? ALERTS : OVERVIEW);
      if (i > 0) {  // the first round warms the server's caches
        r[key].push(ms);
        r[key === 'coldOverview' ? 'navAlerts' : 'navOverview'].push(a);
      }
      await page.close();
    }
  }
  const line = (name, a) => console.log(`${name} runs=${a.length} median_ms=${median(a).toFixed(0)} max_ms=${max(a).toFixed(0)}`);
  line('overview_cold_load', r.coldOverview);
  line('overview_from_another_view', r.navOverview);
  line('alerts_list_cold_load', r.coldAlerts);
  line('alerts_list_from_another_view', r.navAlerts);
} finally {
  await browser.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
