// Measures the web client's bundle and first load on the local stack (bench/README.md "Web client"):
// starts a mesh (free ports, own keyspace), then in Debian's Chromium (headless, fresh profile each run)
// loads / cold N times and reports medians of: HTML response end, DOMContentLoaded, load, and the login
// form visible; then, signed in, a reload until the chat list is shown and the WebSocket is online.
//   node web/scripts/first-load.mjs [runs=7]
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startMesh, repoRoot } from '@parley/testing';

const runs = Number(process.argv[2] ?? 7);
const root = repoRoot();
const dist = join(root, 'web', 'dist');
const files = [];
const walk = (d) => readdirSync(d).forEach((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : files.push(join(d, n))));
walk(dist);
console.log('file | bytes | gzip');
for (const f of files) {
  const b = readFileSync(f);
  console.log(`${f.slice(dist.length + 1)} | ${b.length} | ${gzipSync(b, { level: 9 }).length}`);
}

const exe = execFileSync('bash', [join(root, 'web', 'scripts', 'ensure-chromium.sh')], { encoding: 'utf8' }).trim();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mesh = await startMesh({ gateways: 1 });
const browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
try {
  const url = `${mesh.gatewayUrls[0]}/`;
  const cold = { responseEnd: [], dcl: [], load: [], loginVisible: [] };
  for (let i = 0; i < runs; i++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const t0 = Date.now();
    await page.goto(url);
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    cold.loginVisible.push(Date.now() - t0);
    const nav = await page.evaluate(() => performance.getEntriesByType('navigation')[0].toJSON());
    cold.responseEnd.push(nav.responseEnd);
    cold.dcl.push(nav.domContentLoadedEventEnd);
    cold.load.push(nav.loadEventEnd);
    await ctx.close();
  }
  // signed in: reload until the chat list shows and the socket is online
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(url);
  const username = `load${Date.now().toString(36)}`;
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.locator('.conn-banner[data-state="online"]').waitFor({ state: 'attached' });
  const warm = [];
  for (let i = 0; i < runs; i++) {
    const t0 = Date.now();
    await page.reload();
    await page.locator('.conn-banner[data-state="online"]').waitFor({ state: 'attached' });
    warm.push(Date.now() - t0);
  }
  await ctx.close();
  console.log(`runs: ${runs}`);
  for (const [k, v] of Object.entries(cold)) console.log(`cold ${k}: median ${median(v).toFixed(0)} ms (min ${Math.min(...v).toFixed(0)}, max ${Math.max(...v).toFixed(0)})`);
  console.log(`signed-in reload to online: median ${median(warm)} ms (min ${Math.min(...warm)}, max ${Math.max(...warm)})`);
} finally {
  await browser.close();
  await mesh.stop();
}
