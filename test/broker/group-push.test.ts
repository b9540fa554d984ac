// GroupPush: who gets a rebalance push, batching per group, and that nothing is kept for
// closed connections, departed members or timed-out members.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupPush } from '../../src/broker/group-push.js';

class FakeConn {
  closed = false;
  frames: object[] = [];
  private hooks = new Set<() => void>();
  onClose(fn: () => void): () => void {
    this.hooks.add(fn);
    return () => this.hooks.delete(fn);
  }
  push(msg: object): void {
    this.frames.push(msg);
  }
  close(): void {
    this.closed = true;
    for (const fn of [...this.hooks]) fn();
  }
  get hookCount(): number {
    return this.hooks.size;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

test('a bump pushes once per member of that group, skipping the connection whose heartbeat caused it', async () => {
  const live = new Set(['g/a', 'g/b', 'g/c', 'h/x']);
  const push = new GroupPush((g, m) => live.has(`${g}/${m}`));
  const [a, b, c, x] = [new FakeConn(), new FakeConn(), new FakeConn(), new FakeConn()];
  push.track('g', 'a', a);
  push.track('g', 'b', b);
  push.track('h', 'x', x);
  push.during(c, () => {
    push.epochBumped('g');
    push.epochBumped('g'); // a second bump in the same turn: still one frame each
  });
  push.track('g', 'c', c);
  await tick();
  assert.deepEqual(a.frames, [{ id: 0, push: 'group', groupId: 'g' }]);
  assert.equal(b.frames.length, 1);
  assert.equal(c.frames.length, 0, 'the requester learns from its own answer');
  assert.equal(x.frames.length, 0, 'other groups are not told');
});

test('entries go with the connection, the member, or the coordinator forgetting it; re-tracking moves the close hook', async () => {
  const live = new Set(['g/a', 'g/b']);
  const push = new GroupPush((g, m) => live.has(`${g}/${m}`));
  const [a1, a2, b] = [new FakeConn(), new FakeConn(), new FakeConn()];
  push.track('g', 'a', a1);
  push.track('g', 'a', a2); // reconnected: the old connection's hook is removed
  assert.equal(a1.hookCount, 0);
  push.track('g', 'b', b);
  assert.equal(push.size, 2);
  a2.close();
  assert.equal(push.size, 1);
  assert.equal(a2.hookCount, 0);
  live.delete('g/b'); // timed out on the broker while its socket stays open
  push.sweep();
  assert.equal(push.size, 0);
  assert.equal(b.hookCount, 0);
  push.track('g', 'b', b);
  push.untrack('g', 'b'); // left
  assert.equal(push.size, 0);
  push.epochBumped('g');
  await tick();
  assert.equal(b.frames.length, 0);
});

test('a push finds a member the coordinator no longer has and drops it instead of sending', async () => {
  const live = new Set(['g/a']);
  const push = new GroupPush((g, m) => live.has(`${g}/${m}`));
  const a = new FakeConn();
  push.track('g', 'a', a);
  live.clear();
  push.epochBumped('g');
  await tick();
  assert.equal(a.frames.length, 0);
  assert.equal(push.size, 0);
});
