import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/config/config-error.js';
import { SETTINGS, envName, flagName } from '../../src/config/settings.js';
import { DEFAULT_SHARE_GROUP_CONFIG, SHARE_CONFIG_RANGES } from '../../src/queue/share-config.js';
import { MAX_PARTITIONS } from '../../src/storage/log-manager.js';
import { DEFAULT_LOG_CONFIG } from '../../src/storage/types.js';
import { DEFAULT_PRODUCER_ID_EXPIRATION_MS } from '../../src/storage/partition-log.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
function file(obj: unknown, name = `c${Math.random()}.json`): string {
  const p = join(dir, name);
  writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return p;
}

test('embedded defaults', () => {
  const { config, warnings } = loadConfig();
  assert.equal(config.port, 9400);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.dataDir, './data');
  assert.equal(config.autoCreateTopics, false);
  assert.equal(config.defaultPartitions, 1);
  // A produce of maxBatchBytes plus its request fields fits one frame, and not much more.
  assert.equal(config.maxFrameBytes, config.maxBatchBytes + config.maxRequestMsgpackBytes);
  assert.equal(config.maxFrameBytes, 17 * 1024 * 1024);
  assert.equal(config.log.flushMs, 1000);
  assert.equal(config.log.retentionBytes, -1);
  assert.deepEqual(warnings, []);
});

test('precedence: flag > env > file > defaults, per setting', () => {
  const f = file({ port: 1111, host: '0.0.0.0', dataDir: '/from-file', log: { flushMs: 5 } });
  const env = { SLUICE_PORT: '2222', SLUICE_HOST: '10.0.0.1', SLUICE_LOG_SEGMENT_BYTES: '4096' };
  const { config } = loadConfig({ file: f, env, flags: { port: '3333' } });
  assert.equal(config.port, 3333); //                 flag
  assert.equal(config.host, '10.0.0.1'); //           env over file
  assert.equal(config.dataDir, '/from-file'); //      file over default
  assert.equal(config.log.flushMs, 5); //             nested file value
  assert.equal(config.log.segmentBytes, 4096); //     nested env value
  assert.equal(config.log.retentionMs, 604800000); // default kept beside overridden siblings
  assert.equal(loadConfig({ file: f, env }).config.port, 2222);
  assert.equal(loadConfig({ file: f }).config.port, 1111);
});

test('booleans and enums from text', () => {
  assert.equal(loadConfig({ env: { SLUICE_AUTO_CREATE_TOPICS: 'true' } }).config.autoCreateTopics, true);
  assert.equal(loadConfig({ flags: { autoCreateTopics: true } }).config.autoCreateTopics, true);
  assert.equal(loadConfig({ env: { SLUICE_LOG_LEVEL: 'debug' } }).config.logLevel, 'debug');
});

function fails(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ConfigError && re.test(e.message), String(re));
}

test('unknown or ill-typed settings stop start-up naming the setting', () => {
  fails(() => loadConfig({ file: file({ prot: 1 }) }), /unknown setting 'prot' in config file/);
  fails(() => loadConfig({ file: file({ log: { segmentByte: 1 } }) }), /unknown setting 'log.segmentByte'/);
  fails(() => loadConfig({ file: file({ port: '9400' }) }), /setting 'port' .*must be an integer/);
  fails(() => loadConfig({ file: file({ port: 70000 }) }), /setting 'port'/);
  fails(() => loadConfig({ file: file({ autoCreateTopics: 'yes' }) }), /autoCreateTopics/);
  fails(() => loadConfig({ file: file({ log: 5 }) }), /setting 'log'/);
  fails(() => loadConfig({ env: { SLUICE_PORT: 'abc' } }), /setting 'port' \(environment variable SLUICE_PORT\)/);
  fails(() => loadConfig({ env: { SLUICE_MAX_FRAME_BYTES: '1.5' } }), /maxFrameBytes/);
  fails(() => loadConfig({ env: { SLUICE_LOG_LEVEL: 'loud' } }), /logLevel.*one of debug, info, warn, error/);
  fails(() => loadConfig({ flags: { port: '-1' } }), /setting 'port' \(flag --port\)/);
  // Flags are named as typed (kebab-case), not by the setting's path.
  fails(() => loadConfig({ flags: { 'log.segmentBytes': 'big' } }), /setting 'log.segmentBytes' \(flag --log-segment-bytes\) must be an integer/);
  fails(() => loadConfig({ flags: { metricsPort: '-5' } }), /\(flag --metrics-port\)/);
  fails(() => loadConfig({ flags: { nope: '1' } }), /unknown flag --nope/);
  // The storage layer's limit (each partition keeps three files open), not a second number.
  fails(() => loadConfig({ flags: { defaultPartitions: String(MAX_PARTITIONS + 1) } }), new RegExp(`defaultPartitions.*1\\.\\.${MAX_PARTITIONS}`));
  fails(() => loadConfig({ file: join(dir, 'missing.json') }), /cannot read config file/);
  fails(() => loadConfig({ file: file('{ not json') }), /not valid JSON/);
  fails(() => loadConfig({ file: file('[1]') }), /JSON object/);
});

test('a share.* default is held to the range a share group holds it to, and to the rules between them', () => {
  // Every share.* setting has exactly the range the queue enforces on a group's own config.
  for (const [field, [min, max]] of Object.entries(SHARE_CONFIG_RANGES)) {
    const s = SETTINGS.find((x) => x.key === `share.${field}`);
    if (s) assert.deepEqual(s.type, { kind: 'int', min, max }, s.key);
  }
  fails(() => loadConfig({ flags: { 'share.retryBackoffMs': '100000000' } }),
    /setting 'share.retryBackoffMs' \(flag --share-retry-backoff-ms\) must be an integer in 0\.\.86400000, got 100000000/);
  fails(() => loadConfig({ env: { SLUICE_SHARE_SESSION_TIMEOUT_MS: String(2 ** 31 - 1) } }), /share.sessionTimeoutMs.*1\.\.86400000/);
  // In range, but above the default cap of the backoff (60 s): no group could have it.
  fails(() => loadConfig({ flags: { 'share.retryBackoffMs': '80000' } }),
    /setting 'share.retryBackoffMaxMs' \(flag --share-retry-backoff-max-ms, env SLUICE_SHARE_RETRY_BACKOFF_MAX_MS\) must be >= retryBackoffMs \(80000\), got 60000/);
  assert.equal(loadConfig({ flags: { 'share.retryBackoffMs': '80000', 'share.retryBackoffMaxMs': '90000' } }).config.share.retryBackoffMs, 80000);
});

test('unknown SLUICE_* env vars warn instead of failing (other tools share the prefix); the CLI\'s own stay quiet', () => {
  const { warnings } = loadConfig({ env: { SLUICE_BROKERS: 'x', SLUICE_CONFIG: 'f', SLUICE_BROKER: 'ws://h:1', SLUICE_GC_TUNING: '0', PATH: '/bin' } });
  assert.deepEqual(warnings, ['ignoring unknown environment variable SLUICE_BROKERS']);
});

test('every setting is reachable by env and flag name', () => {
  assert.equal(envName('log.segmentBytes'), 'SLUICE_LOG_SEGMENT_BYTES');
  assert.equal(envName('dataDir'), 'SLUICE_DATA_DIR');
  assert.equal(flagName('maxInFlightPerConnection'), 'max-in-flight-per-connection');
  assert.equal(new Set(SETTINGS.map((s) => envName(s.key))).size, SETTINGS.length);
});

test('storage owns its defaults: the broker takes them from the code, and a defaults file that repeats one is refused', () => {
  const { config } = loadConfig();
  assert.deepEqual({ ...config.log }, { ...DEFAULT_LOG_CONFIG });
  assert.equal(config.producerIdExpirationMs, DEFAULT_PRODUCER_ID_EXPIRATION_MS);
  for (const [k, v] of Object.entries(config.share)) assert.equal(v, DEFAULT_SHARE_GROUP_CONFIG[k as keyof typeof DEFAULT_SHARE_GROUP_CONFIG], `share.${k}`);
  // A second copy of a code-owned default is what let the two drift: the loader says where it is.
  const defaults = JSON.parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')) as Record<string, unknown>;
  for (const extra of [{ producerIdExpirationMs: 1000 }, { log: { segmentBytes: 4096 } }, { share: { maxDeliveries: 3 } }]) {
    assert.throws(() => loadConfig({ defaultsFile: file({ ...defaults, ...extra }) }),
      (err: unknown) => err instanceof ConfigError && /sets '(producerIdExpirationMs|log\.segmentBytes|share\.maxDeliveries)', whose default the code owns/.test(err.message));
  }
  // An operator's config file still sets them.
  assert.equal(loadConfig({ file: file({ producerIdExpirationMs: 1000, log: { segmentBytes: 4096 } }) }).config.log.segmentBytes, 4096);
});

test('the etcd connection\'s TLS and login: read from env and flags, in pairs, only in cluster mode, never next to an http:// endpoint', () => {
  const cluster = { etcd: 'https://127.0.0.1:2379', nodeId: '1' };
  const { config } = loadConfig({ env: { SLUICE_ETCD_PASSWORD: 'etcd-Pa55' }, flags: { ...cluster, etcdCaFile: '/ca.pem', etcdCertFile: '/c.pem', etcdKeyFile: '/k.pem', etcdUser: 'sluice' } });
  assert.deepEqual([config.etcdCaFile, config.etcdCertFile, config.etcdKeyFile, config.etcdUser, config.etcdPassword], ['/ca.pem', '/c.pem', '/k.pem', 'sluice', 'etcd-Pa55']);
  const refused = (flags: Record<string, string>, re: RegExp) => assert.throws(() => loadConfig({ flags }), (e: unknown) => e instanceof ConfigError && re.test(e.message), String(re));
  refused({ etcdUser: 'sluice', etcdPassword: 'x' }, /'etcdUser' .* needs cluster mode/);
  refused({ ...cluster, etcdUser: 'sluice' }, /'etcdPassword' .* is required with setting 'etcdUser'/);
  refused({ ...cluster, etcdCertFile: '/c.pem', etcdCaFile: '/ca.pem' }, /'etcdKeyFile' .* is required with setting 'etcdCertFile'/);
  refused({ etcd: 'http://127.0.0.1:2379', nodeId: '1', etcdCaFile: '/ca.pem' }, /endpoint "http:\/\/127.0.0.1:2379" is plaintext/);
  // A secret in an error message is not shown. (Matched after "got": the config file's random
  // name can hold the digits too; CI failed on c0.249850844417423.json.)
  assert.throws(() => loadConfig({ file: file({ etcdPassword: 17 }) }), (e: unknown) => e instanceof ConfigError && /etcdPassword/.test(e.message) && /got another value/.test(e.message) && !/got 17/.test(e.message));
});
