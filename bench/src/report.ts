// Result files: one markdown table per scenario in bench/results/<YYYY-MM-DD>-<scenario>.md.
import { cpus, totalmem } from 'node:os';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Machine {
  nproc: number;
  memoryGiB: string;
  cpuModel: string;
  node: string;
}

export function machine(): Machine {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) cpuModel = line.split(':')[1]!.trim();
  } catch {
    /* not Linux */
  }
  return { nproc: cpus().length, memoryGiB: (totalmem() / 2 ** 30).toFixed(1), cpuModel, node: process.version };
}

export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function writeResult(outDir: string, scenario: string, date: string, body: string): string {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${date}-${scenario}.md`);
  writeFileSync(file, body);
  return file;
}
