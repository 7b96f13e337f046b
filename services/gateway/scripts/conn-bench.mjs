#!/usr/bin/env node
// Gateway connection benchmark: memory per idle authenticated WebSocket and handshake rate.
//
//   pnpm exec tsc --build && node services/gateway/scripts/conn-bench.mjs [connections=10000] [clientProcs=2] [concurrency=200]
//
// Starts a mesh (session, presence, group, message + ONE gateway) on the real local servers, creates accounts and devices, records
// the gateway's RSS with no connections, opens the connections from separate client processes (loopback,
// spread so no process nears the fd limit), waits until idle, records the RSS again and prints
// (after - before) / connections and upgrades/s. Not a test: numbers go to docs/protocol.md §F.
// CONN_BENCH_HEAP=1 also writes a V8 heap snapshot of the gateway before and after (SIGPWR, into a temp dir)
// and prints what one idle connection holds, by constructor (bench/scripts/heap-diff.mjs).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const { connect, ParleyHttp, randomUsername } = await import(join(root, 'packages/client/dist/index.js'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The session service's hash pool answers a burst beyond its queue with rate_limited + retryAfterMs: wait and retry (bounded). */
async function retrying(fn) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= 20 || !['rate_limited', 'unavailable'].includes(e.code)) throw e;
      await sleep(e.retryAfterMs ?? e.body?.error?.retryAfterMs ?? 500);
    }
  }
}

async function pool(items, concurrency, fn) {
  let i = 0;
  const out = new Array(items.length);
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (i < items.length) {
        const k = i++;
        out[k] = await fn(items[k], k);
      }
    }),
  );
  return out;
}

// ---- child: open connections and hold them ----
if (process.argv[2] === '--child') {
  const [, , , tokensFile, wsUrl, concurrencyRaw] = process.argv;
  const tokens = JSON.parse(readFileSync(tokensFile, 'utf8'));
  const conns = [];
  let failures = 0;
  const t0 = performance.now();
  await pool(tokens, Number(concurrencyRaw), async (t) => {
    try {
      conns.push(await connect(wsUrl, t, { recordEvents: false, timeoutMs: 60_000 }));
    } catch (e) {
      failures++;
      if (failures <= 3) process.stderr.write(`connect failed: ${e.message}\n`);
    }
  });
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ opened: conns.length, failures, ms }) + '\n');
  createInterface({ input: process.stdin }).on('line', async (l) => {
    if (l.trim() === 'count') {
      process.stdout.write(JSON.stringify({ open: conns.filter((c) => c.isOpen).length }) + '\n');
    } else if (l.trim() === 'close') {
      for (const c of conns) c.terminate();
      process.exit(0);
    }
  });
  await new Promise(() => {});
}

// ---- parent ----
const N = Number(process.argv[2] ?? 10_000);
const PROCS = Number(process.argv[3] ?? 2);
const CONCURRENCY = Number(process.argv[4] ?? 200);
const DEVICES_PER_USER = 10;

const { startMesh } = await import(join(root, 'packages/testing/dist/index.js'));
const HEAP = process.env.CONN_BENCH_HEAP === '1';
const heapDir = HEAP ? mkdtempSync(join(tmpdir(), 'conn-bench-heap-')) : '';

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

console.log(`conn-bench: ${N} connections, ${PROCS} client processes, concurrency ${CONCURRENCY} per process`);
const mesh = await startMesh({
  gateways: 1,
  services: ['session', 'presence', 'group', 'message'],
  env: {
    PARLEY_LOG_LEVEL: 'warn',
    SESSION_SCRYPT_COST: '1024', // account setup speed only; the gateway never hashes
    GATEWAY_REGISTRY_HEARTBEAT_MS: '20000',
    // --expose-gc lets SIGUSR2 run a full GC in the gateway (see main.ts) before each measurement.
    NODE_OPTIONS: HEAP ? `--expose-gc --heapsnapshot-signal=SIGPWR --diagnostic-dir=${heapDir}` : '--expose-gc',
  },
});
let children = [];
try {
  const base = mesh.gatewayUrls[0];
  const wsUrl = mesh.wsUrls[0];
  const gwPid = mesh.pid('gateway-0');
  const http = new ParleyHttp(base);

  // Accounts and devices.
  const t0 = performance.now();
  const users = await pool(Array.from({ length: Math.ceil(N / DEVICES_PER_USER) }), 50, async () => {
    const username = randomUsername('b');
    const password = 'bench-password';
    await retrying(() => http.createAccount({ username, password }));
    return { username, password };
  });
  const tokens = (
    await pool(Array.from({ length: N }, (_, i) => users[Math.floor(i / DEVICES_PER_USER)]), 50, (u) => retrying(() => http.login(u)))
  ).map((t) => t.accessToken);
  console.log(`setup: ${users.length} accounts, ${tokens.length} devices in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Warm the gateway a little (JIT, pools), then let it settle.
  const warm = await pool(Array.from({ length: 50 }), 10, (_, i) => connect(wsUrl, tokens[i], { recordEvents: false }));
  for (const c of warm) await c.close();
  await sleep(3000);
  const fullGc = async () => {
    process.kill(gwPid, 'SIGUSR2');
    await sleep(2000);
  };
  await fullGc();
  const snapshot = async () => {
    const n0 = readdirSync(heapDir).length;
    process.kill(gwPid, 'SIGPWR');
    // Written when complete; wait for the file to appear and stop growing.
    let last = -1;
    for (let i = 0; i < 600; i++) {
      await sleep(500);
      const files = readdirSync(heapDir).filter((f) => f.endsWith('.heapsnapshot')).sort();
      if (files.length <= n0) continue;
      const size = statSync(join(heapDir, files.at(-1))).size;
      if (size > 0 && size === last) return join(heapDir, files.at(-1));
      last = size;
    }
    throw new Error('no heap snapshot');
  };
  const snapBefore = HEAP ? await snapshot() : undefined;
  const rssBefore = rssKiB(gwPid);
  const heapBefore = await metric(base, 'nodejs_heap_size_used_bytes');

  // Open the connections from PROCS client processes.
  const dir = mkdtempSync(join(tmpdir(), 'conn-bench-'));
  const per = Math.ceil(N / PROCS);
  const tOpen = performance.now();
  children = Array.from({ length: PROCS }, (_, p) => {
    const file = join(dir, `tokens-${p}.json`);
    writeFileSync(file, JSON.stringify(tokens.slice(p * per, (p + 1) * per)));
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', file, wsUrl, String(CONCURRENCY)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout });
    const queue = [];
    let waiter;
    lines.on('line', (l) => {
      if (waiter) {
        const w = waiter;
        waiter = undefined;
        w(JSON.parse(l));
      } else queue.push(JSON.parse(l));
    });
    child.nextLine = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => (waiter = r)));
    return child;
  });
  const results = await Promise.all(children.map((c) => c.nextLine()));
  const openMs = performance.now() - tOpen;
  const opened = results.reduce((s, r) => s + r.opened, 0);
  const failures = results.reduce((s, r) => s + r.failures, 0);
  console.log(`opened ${opened} (failures ${failures}) in ${(openMs / 1000).toFixed(1)} s → ${(opened / (openMs / 1000)).toFixed(0)} upgrades/s (incl. process start)`);
  for (const [i, r] of results.entries()) console.log(`  client ${i}: ${r.opened} in ${(r.ms / 1000).toFixed(1)} s → ${(r.opened / (r.ms / 1000)).toFixed(0)}/s`);

  // Idle: let a couple of sweeps, pings and a registry heartbeat pass.
  await sleep(25_000);
  for (const c of children) c.stdin.write('count\n');
  const still = (await Promise.all(children.map((c) => c.nextLine()))).reduce((s, r) => s + r.open, 0);
  const rssNoGc = rssKiB(gwPid);
  const heapNoGc = await metric(base, 'nodejs_heap_size_used_bytes');
  await fullGc();
  const rssAfter = rssKiB(gwPid);
  const snapAfter = HEAP ? await snapshot() : undefined;
  const heapAfter = await metric(base, 'nodejs_heap_size_used_bytes');
  const gauge = await metric(base, 'parley_gateway_connections');
  const hsSum = await metric(base, 'parley_gateway_handshake_seconds_sum');
  const hsCount = await metric(base, 'parley_gateway_handshake_seconds_count');
  const perConnRss = ((rssAfter - rssBefore) * 1024) / opened;
  const perConnHeap = (heapAfter - heapBefore) / opened;
  console.log(`gateway connections gauge: ${gauge}; client-side open after 25 s idle: ${still}`);
  console.log(`before full GC: RSS ${(rssNoGc / 1024).toFixed(1)} MiB, heap used ${(heapNoGc / 1048576).toFixed(1)} MiB`);
  console.log(`gateway RSS: ${(rssBefore / 1024).toFixed(1)} MiB → ${(rssAfter / 1024).toFixed(1)} MiB`);
  console.log(`per idle authenticated connection: ${(perConnRss / 1024).toFixed(1)} KiB RSS, ${(perConnHeap / 1024).toFixed(1)} KiB JS heap`);
  console.log(`mean handshake (upgrade request → session.ready sent): ${((hsSum / hsCount) * 1000).toFixed(1)} ms over ${hsCount}`);
  if (HEAP) {
    const r = spawnSync(process.execPath, ['--max-old-space-size=12288', join(root, 'bench/scripts/heap-diff.mjs'), snapBefore, snapAfter, String(opened), '30'], { encoding: 'utf8' });
    console.log(`what one idle connection holds on the gateway's JS heap (snapshots in ${heapDir}):\n${r.stdout}${r.stderr}`);
  }
  console.log(JSON.stringify({ connections: opened, failures, openSeconds: openMs / 1000, upgradesPerSecond: opened / (openMs / 1000), rssBeforeKiB: rssBefore, rssAfterKiB: rssAfter, perConnRssBytes: Math.round(perConnRss), perConnHeapBytes: Math.round(perConnHeap), meanHandshakeMs: (hsSum / hsCount) * 1000 }));
} catch (err) {
  console.error('conn-bench failed:', err);
  process.exitCode = 1;
} finally {
  for (const c of children) {
    try {
      c.stdin.write('close\n');
    } catch {}
  }
  await sleep(1000);
  await mesh.stop();
  process.exit(process.exitCode ?? 0);
}
