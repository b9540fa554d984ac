// `sluice topic describe` and `topic create --replication-factor` against a fake broker (an
// in-process WebSocket server speaking the frame codec) that answers Metadata as a cluster
// member does (partitionInfo) or as a single broker does (none): the CLI's output per case.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.js';
import { Api, type DescribeTopicsResponse, type MetadataResponse, type PartitionMetadata } from '../../src/protocol/api.js';
import { runCli } from '../integration/cli-process.js';

const described: DescribeTopicsResponse['topics'][number]['partitions'] = [
  { partition: 0, logStartOffset: 0, highWatermark: 120, sizeBytes: 4096, segmentCount: 1 },
  { partition: 1, logStartOffset: 10, highWatermark: 110, sizeBytes: 2048, segmentCount: 2 },
];
// Partition 2 is not on the answering broker; partition 1 lost its leader.
const clusterInfo: PartitionMetadata[] = [
  { partition: 0, leader: 2, leaderEpoch: 4, replicas: [2, 0, 1], isr: [2, 0, 1] },
  { partition: 1, leader: -1, leaderEpoch: 7, replicas: [0, 1, 2], isr: [0] },
  { partition: 2, leader: 1, leaderEpoch: 0, replicas: [1, 2, 3], isr: [1, 2] },
];

/** What the fake answers Metadata with for topic 'orders' (set per test). */
let partitionInfo: PartitionMetadata[] | undefined;
const createRequests: Record<string, unknown>[] = [];
let wss: WebSocketServer;
let url = '';

before(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
  wss.on('connection', (ws) => ws.on('message', (d: Buffer) => {
    const m = decodeFrame(d);
    const id = m.id as number;
    if (m.api === Api.DescribeTopics) {
      const res: DescribeTopicsResponse = { id, topics: [{ name: 'orders', config: { retentionMs: 1000 }, partitions: described }] };
      ws.send(encodeFrame(res));
    } else if (m.api === Api.Metadata) {
      const cluster = partitionInfo !== undefined ? { brokers: [{ nodeId: 0, url }], controllerId: 0 } : {};
      const topic = { name: 'orders', partitions: 3, config: {}, ...(partitionInfo !== undefined ? { partitionInfo } : {}) };
      const res: MetadataResponse = { id, brokerVersion: 'fake', topics: [topic], ...cluster };
      ws.send(encodeFrame(res));
    } else if (m.api === Api.CreateTopics) {
      const topics = m.topics as Record<string, unknown>[];
      createRequests.push(...topics);
      ws.send(encodeFrame({ id, topics: topics.map((t) => ({ name: t.name })) }));
    } else {
      ws.send(encodeFrame({ id, error: { code: 35, message: `the fake does not answer api ${String(m.api)}` } }));
    }
  }));
});
after(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise((r) => wss.close(r));
});

test('in cluster mode topic describe shows leader, epoch, replicas and ISR per partition', async () => {
  partitionInfo = clusterInfo;
  const r = await runCli(url, ['topic', 'describe', 'orders']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [
    'Topic: orders  Partitions: 3  ReplicationFactor: 3  Config: retentionMs=1000',
    'PARTITION  LEADER  EPOCH  REPLICAS  ISR    LOG-START  HIGH-WATERMARK  MESSAGES  SIZE     SEGMENTS',
    '        0  2           4  2,0,1     2,0,1  0          120             120       4.0 KiB  1',
    '        1  none        7  0,1,2     0      10         110             100       2.0 KiB  2',
    '        2  1           0  1,2,3     1,2    -          -               -         -        -',
    '',
  ].join('\n'));
});

test('on a single broker topic describe prints the log figures only, as before cluster mode', async () => {
  partitionInfo = undefined;
  const r = await runCli(url, ['topic', 'describe', 'orders']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [
    'Topic: orders  Partitions: 2  Config: retentionMs=1000',
    'PARTITION  LOG-START  HIGH-WATERMARK  MESSAGES  SIZE     SEGMENTS',
    '        0          0             120       120  4.0 KiB         1',
    '        1         10             110       100  2.0 KiB         2',
    '',
  ].join('\n'));
});

test('topic create --replication-factor sends it; without the flag the broker picks', async () => {
  createRequests.length = 0;
  const r = await runCli(url, ['topic', 'create', 'orders', '--partitions', '3', '--replication-factor', '3']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /created topic 'orders' with 3 partitions, replication factor 3/);
  const plain = await runCli(url, ['topic', 'create', 'plain']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.deepEqual(createRequests, [{ name: 'orders', partitions: 3, replicationFactor: 3 }, { name: 'plain', partitions: 1 }]);
  const bad = await runCli(url, ['topic', 'create', 'x', '--replication-factor', '0']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--replication-factor must be an integer >= 1, not '0'/);
});
