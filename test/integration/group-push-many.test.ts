// Many members joining one group on a real broker: the rebalance push goes only to members
// whose assignment changed, so the frames sent grow about linearly with the members, not as
// n(n-1)/2 (each join used to push every earlier member: 490,000 frames for 1,000 members).
// Members are bare wire connections (one member each, as a push names only the group) that
// heartbeat when pushed and while their answer gives the short reconcile interval, owning
// exactly what they were last given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '../../src/client/connection.js';
import { Api } from '../../src/protocol/api.js';
import { brokerForFile, waitFor } from './group-helpers.js';

// Long intervals: only pushes and the reconcile interval make members heartbeat.
const HEARTBEAT_MS = 60_000;
const env = brokerForFile(['--group-heartbeat-interval-ms', String(HEARTBEAT_MS), '--group-session-timeout-ms', '120000']);

type Assignment = { topic: string; partitions: number[] }[];
type Hb = { memberId: string; memberEpoch: number; heartbeatIntervalMs: number; assignment?: Assignment; error?: { message: string } };

class Member {
  readonly conn: Connection;
  id = '';
  epoch = 0;
  owned: Assignment = [];
  pushes = 0;
  private busy: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(url: string, readonly group: string, readonly topic: string) {
    this.conn = new Connection(url);
    this.conn.onPush(() => { this.pushes++; void this.beat(); });
  }

  /** One heartbeat at a time; a request to beat while one is in flight sends one more after it. */
  beat(): Promise<void> {
    if (this.busy) { this.again = true; return this.busy; }
    clearTimeout(this.timer);
    this.busy = (async () => {
      do {
        this.again = false;
        const res = await this.conn.request(Api.ConsumerGroupHeartbeat, {
          groupId: this.group, memberId: this.id, memberEpoch: this.epoch, ownedPartitions: this.owned,
          ...(this.epoch === 0 ? { subscribedTopics: [this.topic] } : {}),
        });
        if (res.error) throw new Error(`heartbeat refused: ${res.error.message}`);
        this.id = res.memberId;
        this.epoch = res.memberEpoch;
        this.owned = res.assignment ?? [];
        if (res.heartbeatIntervalMs < HEARTBEAT_MS) this.timer = setTimeout(() => void this.beat(), res.heartbeatIntervalMs);
      } while (this.again);
    })().finally(() => { this.busy = null; });
    return this.busy;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.conn.close();
  }
}

test('150 members joining one group one after another: push frames stay about linear, members end complete and disjoint', async () => {
  const N = 150;
  const P = 300;
  await env.admin.createTopic('many', P);
  const members: Member[] = [];
  try {
    for (let i = 0; i < N; i++) {
      const m = new Member(env.broker.url, 'g-many', 'many');
      members.push(m);
      await m.conn.connect();
      await m.beat();
    }
    await waitFor('group Stable with every partition owned once', async () => {
      const d = await env.admin.describeGroup('g-many');
      return d.state === 'Stable' && d.members.length === N;
    }, 60_000, 50);
    // What the members themselves hold (the describe above is the broker's view).
    await waitFor('members hold a complete, non-overlapping assignment', () => {
      const seen = new Set<number>();
      for (const m of members) for (const t of m.owned) for (const p of t.partitions) {
        if (seen.has(p)) return false;
        seen.add(p);
      }
      return seen.size === P;
    }, 30_000, 20);
    const counts = members.map((m) => m.owned.reduce((n, t) => n + t.partitions.length, 0));
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `unbalanced: ${counts.join(',')}`);
    const frames = members.reduce((n, m) => n + m.pushes, 0);
    console.log(`${N} members joining one group on ${P} partitions: ${frames} push frames (pushing every earlier member: ${N * (N - 1) / 2})`);
    // Join k takes about P/k partitions from as many members: about n log n in all
    // (the unit test measured 4.6 frames per member at this shape); quadratic is 75 per member.
    assert.ok(frames <= 10 * N, `${frames} push frames for ${N} members`);
  } finally {
    await Promise.all(members.map((m) => m.close()));
  }
});
