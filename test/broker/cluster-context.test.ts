// startCluster for a Broker built in code (no loadConfig in front of it): a bad `etcd` value is
// refused before anything is dialled, with the same coded error the CLI's config check gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load-config.js';
import { startCluster } from '../../src/broker/cluster-context.js';
import { createLogger } from '../../src/broker/logger.js';
import { SluiceError } from '../../src/errors.js';

test('startCluster refuses an etcd value that is not host:port at once with INVALID_CONFIG, naming the setting', async () => {
  const config = { ...loadConfig().config, nodeId: 1, etcd: 'etcd-1,http://127.0.0.1:70000' };
  const began = performance.now();
  await assert.rejects(startCluster(config, 9400, createLogger('error', () => {})), (err: unknown) => {
    assert.ok(err instanceof SluiceError, String(err));
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.equal(err.retriable, false);
    assert.match(err.message, /setting 'etcd' \(flag --etcd\) endpoint "etcd-1" is not host:port/);
    return true;
  });
  // Without the check it dials and gives up only after etcdConnectWaitMs (10 s or more).
  assert.ok(performance.now() - began < 5000, 'refused before dialling');
});
