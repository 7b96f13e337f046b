#!/usr/bin/env node
// What a set of objects costs on the JS heap: the difference between two V8 heap snapshots, grouped by
// constructor (objects) or node type (strings, closures, arrays, code…), divided by a count.
//
//   node --max-old-space-size=8192 bench/scripts/heap-diff.mjs before.heapsnapshot after.heapsnapshot [per=1] [top=30]
//
// Used by services/gateway/scripts/conn-bench.mjs (CONN_BENCH_HEAP=1) to show what one idle connection holds.
// Self sizes only (no retained-size graph walk): each byte is counted once, in the group of the node that owns it.
import { readFileSync } from 'node:fs';

/** Self size and count per group of one snapshot. */
export function groupSnapshot(snap) {
  const meta = snap.snapshot.meta;
  const f = meta.node_fields;
  const stride = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = meta.node_types[iType];
  const nodes = snap.nodes;
  const strings = snap.strings;
  const groups = new Map();
  for (let i = 0; i < nodes.length; i += stride) {
    const type = types[nodes[i + iType]];
    const name = strings[nodes[i + iName]];
    const key = type === 'object' || type === 'native' ? `${name}` : `(${type})`;
    const g = groups.get(key) ?? { size: 0, count: 0 };
    g.size += nodes[i + iSize];
    g.count += 1;
    groups.set(key, g);
  }
  return groups;
}

/** after − before per group, sorted by size delta, descending. */
export function diffGroups(before, after) {
  const keys = new Set([...before.keys(), ...after.keys()]);
  const out = [];
  for (const k of keys) {
    const b = before.get(k) ?? { size: 0, count: 0 };
    const a = after.get(k) ?? { size: 0, count: 0 };
    out.push({ group: k, size: a.size - b.size, count: a.count - b.count });
  }
  return out.sort((x, y) => y.size - x.size);
}

function main() {
  const [, , beforeFile, afterFile, perRaw = '1', topRaw = '30'] = process.argv;
  if (!beforeFile || !afterFile) {
    console.error('usage: heap-diff.mjs before.heapsnapshot after.heapsnapshot [per=1] [top=30]');
    process.exit(2);
  }
  const per = Number(perRaw);
  const top = Number(topRaw);
  const before = groupSnapshot(JSON.parse(readFileSync(beforeFile, 'utf8')));
  const after = groupSnapshot(JSON.parse(readFileSync(afterFile, 'utf8')));
  const rows = diffGroups(before, after);
  const total = rows.reduce((s, r) => s + r.size, 0);
  console.log(`heap diff: ${(total / 1048576).toFixed(1)} MiB in total, ${(total / per / 1024).toFixed(2)} KiB per unit (${per} units)`);
  console.log('| group | bytes per unit | objects per unit | share |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows.slice(0, top)) {
    console.log(`| ${r.group.replace(/\|/g, '\\|').slice(0, 60)} | ${(r.size / per).toFixed(0)} | ${(r.count / per).toFixed(2)} | ${((100 * r.size) / total).toFixed(1)} % |`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
