// Summarizes V8 .cpuprofile files (from `--cpu-prof`): self time by function and by module/package.
// usage: node bench/scripts/prof-summary.mjs <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';
const [file, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 25);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = p.timeDeltas;
for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (dt[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const fn = new Map();
const mod = new Map();
const modOf = (url) => {
  if (!url) return '(native/gc)';
  const m = url.match(/node_modules\/(?:\.pnpm\/)?((?:@[^/]+\/)?[^/@]+)/);
  if (m) return m[1];
  if (url.startsWith('node:')) return url.split('/')[0];
  const s = url.match(/(services|packages)\/([^/]+)/);
  return s ? `${s[1]}/${s[2]}` : url.slice(-40);
};
for (const [id, t] of self) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const k = `${cf.functionName || '(anon)'} ${cf.url ? cf.url.split('/').slice(-2).join('/') : ''}:${cf.lineNumber}`;
  fn.set(k, (fn.get(k) ?? 0) + t);
  const mk = cf.url ? modOf(cf.url) : cf.functionName.startsWith('(') ? cf.functionName : '(native)';
  mod.set(mk, (mod.get(mk) ?? 0) + t);
}
const pct = (t) => ((100 * t) / total).toFixed(1).padStart(5) + '%';
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
console.log('-- by module');
for (const [k, t] of [...mod].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(pct(t), k);
console.log('-- by function');
for (const [k, t] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(pct(t), k);
