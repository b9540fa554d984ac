// Finding etcd for `sluice cluster dev`: PATH first, then Debian's /usr/bin/etcd, else an
// error that says which package to install.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findEtcd } from '../../src/cli/cluster-dev.js';

test('findEtcd takes etcd from PATH before the Debian path, and names the package when there is none', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-find-etcd-'));
  t.after(() => { rmSync(dir, { recursive: true, force: true }); });
  const onPath = join(dir, 'etcd');
  writeFileSync(onPath, '#!/bin/sh\n');
  chmodSync(onPath, 0o755);
  const fallback = join(dir, 'fallback-etcd');
  writeFileSync(fallback, '#!/bin/sh\n');
  chmodSync(fallback, 0o755);

  assert.equal(findEtcd(undefined, `/nonexistent:${dir}`, fallback), onPath);
  assert.equal(findEtcd(undefined, '/nonexistent', fallback), fallback);
  assert.equal(findEtcd(fallback, dir, '/nonexistent/etcd'), fallback, 'an explicit path wins');
  assert.throws(() => findEtcd(undefined, '/nonexistent', join(dir, 'missing')), /etcd not found on PATH or at .*missing: install it \(apt-get install etcd-server/);
  assert.throws(() => findEtcd(join(dir, 'missing'), dir), /etcd executable '.*missing' \(--etcd-bin \/ SLUICE_ETCD_BIN\) does not exist or is not executable/);
});
