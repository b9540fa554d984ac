// Simple commits (no member id) of one client are ordered (group/commit-order.ts): two offset
// resets of one Admin, the first one's commit reaching the coordinator last (its link dropped
// and the coordinator route sent it again), leave the offsets of the reset called last. The
// commits go through the broker's OffsetCommit handler to a real coordinator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Api, type ApiKey, type BodyOf, type ResponseOf } from '../../src/protocol/api.js';
import type { GroupLink } from '../../src/client/coordinator-route.js';
import { resetOffsets, SimpleCommitter, type LogOffsets } from '../../src/client/group-admin.js';
import { GroupCoordinator } from '../../src/group/coordinator.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { handleOffsetCommit } from '../../src/broker/handle-group-offsets.js';
import type { GroupService } from '../../src/broker/group-service.js';
import type { BrokerContext } from '../../src/broker/context.js';
import { testContext } from '../broker/test-context.js';

/** Group requests answered by a real coordinator; `holdNextCommit` delays the next OffsetCommit before it gets there. */
class CoordinatorLink implements GroupLink {
  holdNextCommit: Promise<void> | undefined;
  commits: BodyOf<typeof Api.OffsetCommit>[] = [];
  constructor(readonly coord: GroupCoordinator, private readonly ctx: BrokerContext) {}

  async request<A extends ApiKey>(api: A, body: BodyOf<A>): Promise<ResponseOf<A>> {
    if (api === Api.ListGroups) return { id: 0, groups: this.coord.listGroups() } as ResponseOf<A>;
    if (api === Api.OffsetFetch) {
      const b = body as BodyOf<typeof Api.OffsetFetch>;
      return { id: 0, partitions: this.coord.fetchOffsets(b.groupId, b.partitions).map(({ topic, partition, offset, metadata }) => ({ topic, partition, offset, metadata })) } as ResponseOf<A>;
    }
    if (api === Api.OffsetCommit) {
      const b = body as BodyOf<typeof Api.OffsetCommit>;
      this.commits.push(b);
      const hold = this.holdNextCommit;
      this.holdNextCommit = undefined;
      await hold;
      return await handleOffsetCommit(this.ctx, { id: 0, api: Api.OffsetCommit, version: 0, ...b }) as ResponseOf<A>;
    }
    throw new Error(`unexpected api ${api}`);
  }

  onPush(): () => void {
    return () => {};
  }
}

const log: LogOffsets = {
  listOffsets: async (_topic, spec) => [{ topic: 't', partition: 0, offset: spec === 'earliest' ? 0 : 1000 }],
};

test('two offset resets of one client: the first one\'s commit arriving last does not undo the second', async (t) => {
  const tc = await testContext();
  t.after(() => tc.close());
  const clock = { now: () => Date.now() };
  const coord = new GroupCoordinator(await OffsetStore.open(new MemoryGenerationDir(), { clock }), { clock });
  coord.onTopicsChanged(new Map([['t', 1]]));
  const ctx = { ...tc.ctx, groups: { coordinatorFor: () => coord } as unknown as GroupService };
  const link = new CoordinatorLink(coord, ctx);
  const committer = new SimpleCommitter();
  const committed = () => coord.fetchOffsets('g', [{ topic: 't', partition: 0 }])[0]!.offset;

  let resend!: () => void;
  link.holdNextCommit = new Promise<void>((r) => { resend = r; });
  const first = resetOffsets(link, log, committer, 'g', 't', { offset: 100 });
  while (link.commits.length === 0) await new Promise((r) => setImmediate(r));
  await resetOffsets(link, log, committer, 'g', 't', { offset: 200 });
  assert.equal(committed(), 200);
  resend();
  await first; // resolves: the later reset stands for it
  assert.equal(committed(), 200, 'the reset called first did not overwrite the one called after it');
  assert.deepEqual(link.commits.map((c) => [c.committerId, c.commitSeq]), [[committer.id, 0], [committer.id, 1]]);
});
