// The service images, built and run: `./parley images` builds all seven from the one Dockerfile (--build-arg SERVICE) with
// podman (no Docker, no registry), then the whole mesh (six services, two gateways) runs from those
// images on the host network against the local servers of `./parley infra`, and the smoke test (two
// users, one message across both gateways) passes through it. Also checks what the images promise:
// non-root, read-only root filesystem, tini as PID 1 (SIGTERM stops a container at once), one shared
// base layer (distroless-style: node, its libraries and tini; no shell), at most 150 MB an image.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startMesh, repoRoot, type Mesh } from '@parley/testing';
import { connect, ParleyHttp, randomUsername, type Message, type ServerEvent } from '@parley/client';

jest.setTimeout(180_000);

const ROOT = repoRoot();
const IMAGES = join(ROOT, 'infra', 'images', 'parley-images');
const SERVICES = ['gateway', 'session', 'group', 'message', 'presence', 'media', 'push'];
// podman's env: the project's containers.conf and the store under the Parley cache (`parley-images env`).
const podmanEnv: Record<string, string> = {};

function podman(args: string[]): string {
  return execFileSync('podman', args, { env: { ...process.env, ...podmanEnv }, encoding: 'utf8' });
}
interface ImageInfo {
  Config: { User?: string; Entrypoint?: string[]; Env?: string[] };
  RootFS: { Layers: string[] };
  Size: number;
}
const inspectImage = (s: string): ImageInfo => (JSON.parse(podman(['image', 'inspect', `localhost/parley/${s}:dev`])) as ImageInfo[])[0]!;

let mesh: Mesh | undefined;

beforeAll(() => {
  // Builds on the first run (base rootfs + seven images, several minutes); afterwards only what changed.
  const r = spawnSync(IMAGES, ['build'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`./parley images failed:\n${r.stderr.slice(-4000)}`);
  for (const line of execFileSync(IMAGES, ['env'], { encoding: 'utf8' }).trim().split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line);
    if (m) podmanEnv[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
}, 3_600_000);

afterAll(async () => {
  await mesh?.stop();
});

test('seven images: non-root, tini as PID 1, production Node, one base layer shared by all, ≤ 150 MB each', () => {
  const infos = SERVICES.map(inspectImage);
  const base = infos[0]!.RootFS.Layers[0];
  for (const [i, info] of infos.entries()) {
    expect({ s: SERVICES[i], user: info.Config.User }).toEqual({ s: SERVICES[i], user: '1000:1000' });
    expect(info.Config.Entrypoint?.slice(0, 3)).toEqual(['/usr/bin/tini', '--', 'node']);
    expect(info.Config.Entrypoint).toContain('dist/main.js');
    expect(info.Config.Env).toContain('NODE_ENV=production');
    // Two layers: the shared root filesystem, then the service.
    expect({ s: SERVICES[i], layers: info.RootFS.Layers.length, base: info.RootFS.Layers[0] === base }).toEqual({ s: SERVICES[i], layers: 2, base: true });
    expect({ s: SERVICES[i], mb: Math.round(info.Size / 1e6), small: info.Size <= 150e6 }).toEqual({ s: SERVICES[i], mb: Math.round(info.Size / 1e6), small: true });
  }
  // No shell and no package manager in a runtime image: node looks for them itself.
  const probe = `const fs=require('node:fs');const os=require('node:os');
const tools=['sh','bash','dash','busybox','npm','npx','pnpm','yarn','corepack','apt-get','dpkg'];
const dirs=['/bin','/sbin','/usr/bin','/usr/sbin','/usr/local/bin','/usr/local/sbin'];
const found=tools.filter(t=>dirs.some(d=>fs.existsSync(d+'/'+t)));
console.log(JSON.stringify({uid:process.getuid(),user:os.userInfo().username,version:process.version,found,usrBin:fs.readdirSync('/usr/bin')}));`;
  const out = JSON.parse(podman(['run', '--rm', '--network', 'none', '--entrypoint', 'node', 'localhost/parley/push:dev', '-e', probe]).trim()) as {
    uid: number; user: string; version: string; found: string[]; usrBin: string[];
  };
  expect(out).toEqual({ uid: 1000, user: 'parley', version: expect.stringMatching(/^v20\./), found: [], usrBin: ['tini'] });
  const sizes = infos.map((info, i) => `${SERVICES[i]} ${(info.Size / 1e6).toFixed(0)} MB`).join(', ');
  console.log(`[images] ${sizes}`);
});

test('the gateway image carries the built web client (node_modules/@parley/web/dist); no other image does', () => {
  // (node, not a shell: it is in every runtime image)
  const ls = (s: string) => JSON.parse(podman(['run', '--rm', '--network', 'none', '--entrypoint', 'node', `localhost/parley/${s}:dev`, '-e',
    "const fs = require('fs'); const ls = (d) => (fs.existsSync(d) ? fs.readdirSync(d) : []);" +
    "console.log(JSON.stringify([...ls('node_modules/@parley/web'), ...ls('node_modules/@parley/web/dist/assets')]))"]).trim()) as string[];
  const gw = ls('gateway');
  // the package holds only its manifest and dist (no sources, no tests); the bundle is one hashed JS and CSS
  expect(gw.filter((f) => !/^(README\.md|package\.json|dist)$/.test(f) && !/^index-[\w-]+\.(js|css)$/.test(f))).toEqual([]);
  expect(gw).toContain('dist');
  expect(gw.filter((f) => /^index-[\w-]+\.js$/.test(f))).toHaveLength(1);
  expect(ls('push')).toEqual([]);
});

test('the whole mesh runs from the images and every process reaches ready', async () => {
  // One keyspace for every run of this suite (users are random, so runs do not collide): creating a fresh
  // keyspace and its tables is the slowest step on a busy shared Cassandra, and is not what is under test.
  const start = () => startMesh({
    gateways: 2,
    images: { env: podmanEnv },
    env: { PARLEY_LOG_LEVEL: 'warn', SESSION_SCRYPT_COST: '1024', PARLEY_CASSANDRA_KEYSPACE: 'e2e_images' },
    readyTimeoutMs: 150_000,
  });
  mesh = await start().catch(() => start()); // once more if the first start's schema DDL timed out
  expect(mesh.names()).toHaveLength(8);
  for (const name of mesh.names()) {
    const c = mesh.container(name)!;
    expect(c).toMatch(/^parley-/);
    const [info] = JSON.parse(podman(['container', 'inspect', c])) as {
      State: { Running: boolean }; HostConfig: { ReadonlyRootfs: boolean; NetworkMode: string }; ImageName: string;
    }[];
    expect({ name, running: info!.State.Running, ro: info!.HostConfig.ReadonlyRootfs, net: info!.HostConfig.NetworkMode })
      .toEqual({ name, running: true, ro: true, net: 'host' });
    // PID 1 is tini, the service is its child, run as uid 1000.
    const top = podman(['top', c, 'pid', 'user', 'comm']).trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    expect(top.find((r) => r[0] === '1')?.[2]).toBe('tini');
    expect(top.find((r) => r[2] === 'node')?.[1]).toMatch(/^(1000|parley)$/);
    // Ready again after any consumer-group rebalance that a later process's join caused (a member that is
    // rebalancing reports 503 for a moment): the process must reach ready, not stay there through others' start.
    let last = { status: 0, body: '' };
    for (const t0 = Date.now(); Date.now() - t0 < 60_000; await new Promise((r) => setTimeout(r, 500))) {
      const res = await fetch(mesh.readyUrl(name)!).catch(() => undefined);
      last = { status: res?.status ?? 0, body: (await res?.text().catch(() => '')) ?? '' };
      if (last.status === 200) break;
    }
    expect({ name, ...last, body: last.status === 200 ? '' : last.body }).toEqual({ name, status: 200, body: '' });
  }
}, 300_000);

test('smoke through the images: two users on different gateways, one message delivered', async () => {
  const m = mesh!;
  const http = new ParleyHttp(m.gatewayUrls[0]!);
  const password = 'correct horse battery';
  const [alice, bob] = [randomUsername('img'), randomUsername('img')];
  await http.createAccount({ username: alice, password });
  const bobAccount = await http.createAccount({ username: bob, password });
  const ta = await http.login({ username: alice, password, deviceName: 'a' });
  const tb = await new ParleyHttp(m.gatewayUrls[1]!).login({ username: bob, password, deviceName: 'b' });
  const a = await connect(m.wsUrls[0]!, ta.accessToken, { requestTimeoutMs: 15_000 });
  const b = await connect(m.wsUrls[1]!, tb.accessToken, { requestTimeoutMs: 15_000 });
  const got = new Promise<Message>((resolve) => {
    const seen = (ev: ServerEvent) => {
      const m = ev.event === 'message.new' ? (ev.data as { message: Message }).message : undefined;
      if (m?.body.text === 'hello from an image') resolve(m); // (seq 1 is the chat's system message)
    };
    b.events.forEach(seen);
    b.on('*', (_d, ev) => seen(ev));
  });
  const { chat } = await a.request('chat.create', { type: 'direct', userId: bobAccount.userId });
  const reply = await a.request('message.send', { chatId: chat.chatId, clientMsgId: `img-smoke-${Date.now()}`, body: { text: 'hello from an image' } });
  const msg = await Promise.race([got, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no message.new at bob')), 20_000))]);
  expect(msg).toMatchObject({ chatId: chat.chatId, seq: reply.seq, body: { text: 'hello from an image' } });
  await a.close();
  await b.close();
});

test('the gateway image serves the web client at /, its hashed assets and /config.json', async () => {
  const m = mesh!;
  const res = await fetch(`${m.gatewayUrls[0]}/`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await res.text();
  expect(html).toContain('<div id="app">');
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((x) => x[1]!);
  expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
  for (const a of assets) {
    const r = await fetch(`${m.gatewayUrls[1]}${a}`);
    expect({ a, status: r.status, cache: r.headers.get('cache-control') }).toEqual({ a, status: 200, cache: 'public, max-age=31536000, immutable' });
    expect((await r.arrayBuffer()).byteLength).toBeGreaterThan(100);
  }
  const cfg = (await (await fetch(`${m.gatewayUrls[0]}/config.json`)).json()) as { gateways: string[] };
  expect(cfg.gateways).toEqual(m.gatewayUrls);
});

test('SIGTERM stops a service container promptly (tini forwards it; no 10 s kill timeout)', async () => {
  const m = mesh!;
  const c = m.container('presence')!;
  const t0 = Date.now();
  podman(['stop', '--time', '10', c]);
  const took = Date.now() - t0;
  expect(took).toBeLessThan(5000);
  await m.kill('presence'); // already gone: only reaps the podman client
});
