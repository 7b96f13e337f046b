// The generated-code check must pass on the committed tree and fail when a .proto changes
// without regeneration (a check that cannot fail proves nothing).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = join(__dirname, '..', '..', '..');
const check = join(root, 'scripts', 'check-gen.mjs');

describe('generated protobuf code check', () => {
  it('passes on the committed tree', () => {
    const out = execFileSync(process.execPath, [check], { cwd: root, encoding: 'utf8' });
    expect(out).toMatch(/generated code is current/);
  });

  it('fails when a .proto changes without regeneration', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-proto-'));
    try {
      cpSync(join(root, 'proto'), dir, { recursive: true });
      const file = join(dir, 'parley', 'message', 'v1', 'message.proto');
      const text = readFileSync(file, 'utf8').replace(
        'message SendMessageResponse {',
        'message SendMessageResponse {\n  string added_without_regen = 99;',
      );
      writeFileSync(file, text);
      const res = spawnSync(process.execPath, [check, dir], { cwd: root, encoding: 'utf8' });
      expect(res.status).toBe(1);
      expect(res.stderr).toMatch(/differs: gen\/parley\/message\/v1\/message_pb\.ts/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
