import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Purgatory, type DelayedOperation, type CloseSignal } from '../../src/broker/purgatory.js';

/** An operation whose tries and expiry the test answers one by one. */
class Scripted implements DelayedOperation<string> {
  /** 'try' or 'expire', in call order. */
  readonly calls: ('try' | 'expire')[] = [];
  readonly discarded: string[] = [];
  private pending: { resolve: (v: string | undefined) => void; reject: (e: Error) => void }[] = [];
  running = 0;
  maxRunning = 0;

  tryComplete(): Promise<string | undefined> {
    return this.call('try');
  }

  onExpire(): Promise<string> {
    return this.call('expire') as Promise<string>;
  }

  private call(kind: 'try' | 'expire'): Promise<string | undefined> {
    this.calls.push(kind);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    return new Promise((resolve, reject) => this.pending.push({
      resolve: (v) => { this.running--; resolve(v); },
      reject: (e) => { this.running--; reject(e); },
    }));
  }

  discard(answer: string): void {
    this.discarded.push(answer);
  }

  /** Answers the oldest call still open, and lets the purgatory react. */
  async answer(v: string | undefined): Promise<void> {
    const p = this.pending.shift();
    assert.ok(p, 'a call is open');
    p.resolve(v);
    await flush();
  }

  async fail(e: Error): Promise<void> {
    this.pending.shift()!.reject(e);
    await flush();
  }

  get open(): number {
    return this.pending.length;
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

class Conn implements CloseSignal {
  closed = false;
  private fns = new Set<() => void>();
  onClose(fn: () => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  close(): void {
    this.closed = true;
    for (const f of [...this.fns]) f();
  }
  get hooks(): number {
    return this.fns.size;
  }
}

/** Runs `body` with setTimeout under test control, resetting it after the body has finished. */
async function withMockTimers(body: () => Promise<void>): Promise<void> {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    await body();
  } finally {
    mock.timers.reset();
  }
}

function settled<T>(p: Promise<T>): { value?: T; error?: unknown; done: boolean } {
  const s: { value?: T; error?: unknown; done: boolean } = { done: false };
  p.then((v) => { s.value = v; s.done = true; }, (e: unknown) => { s.error = e; s.done = true; });
  return s;
}

test('a wake tries to complete; a try that answers completes the wait and removes its watches', async () => {
  const pg = new Purgatory();
  const op = new Scripted();
  const s = settled(pg.watch(op, { kind: 'fetch', keys: ['a', 'b'], timeoutMs: 60_000 }));
  assert.equal(pg.size, 1);
  pg.wake('other');
  assert.equal(op.calls.length, 0, 'a key it does not watch does not wake it');
  pg.wake('b');
  assert.deepEqual(op.calls, ['try']);
  await op.answer(undefined);
  assert.equal(s.done, false, 'no answer: keeps waiting');
  pg.wake('a');
  await op.answer('data');
  assert.equal(s.value, 'data');
  assert.equal(pg.size, 0);
  pg.wake('a');
  assert.equal(op.calls.length, 2, 'a completed operation is no longer woken');
});

test('tries never overlap, and a wake during a try is not lost', async () => {
  const pg = new Purgatory();
  const op = new Scripted();
  const s = settled(pg.watch(op, { kind: 'fetch', keys: ['k'], timeoutMs: 60_000 }));
  pg.wake('k');
  pg.wake('k');
  pg.wake('k');
  assert.equal(op.open, 1);
  await op.answer(undefined);
  assert.equal(op.open, 1, 'one more try for the wakes that came during the first');
  await op.answer(undefined);
  assert.equal(op.open, 0, 'three wakes during one try make one more try, not three');
  assert.equal(op.maxRunning, 1);
  assert.equal(s.done, false);
  pg.finishAll();
  await op.answer('final');
  assert.equal(s.value, 'final');
});

test('the wait running out expires the operation, whose onExpire answer is sent', () => withMockTimers(async () => {
  const pg = new Purgatory();
  const op = new Scripted();
  const s = settled(pg.watch(op, { kind: 'fetch', keys: ['k'], timeoutMs: 500 }));
  mock.timers.tick(499);
  assert.equal(op.calls.length, 0);
  mock.timers.tick(1);
  assert.deepEqual(op.calls, ['expire']);
  await op.answer('whatever there is');
  assert.equal(s.value, 'whatever there is');
}));

test('the wait running out during a try answers with that try\'s result, without expiring (stall race)', () => withMockTimers(async () => {
  const pg = new Purgatory();
  const op = new Scripted();
  const s = settled(pg.watch(op, { kind: 'fetch', keys: ['k'], timeoutMs: 500 }));
  // After a stall the wake and the timer fire in the same turn.
  pg.wake('k');
  mock.timers.tick(500);
  assert.deepEqual(op.calls, ['try'], 'no expiry while a try runs');
  await op.answer('records locked for this worker');
  assert.equal(s.value, 'records locked for this worker');
  assert.deepEqual(op.discarded, []);
}));

test('the wait running out during a try that found nothing expires once that try is over', () => withMockTimers(async () => {
  const pg = new Purgatory();
  const op = new Scripted();
  const s = settled(pg.watch(op, { kind: 'fetch', keys: ['k'], timeoutMs: 500 }));
  pg.wake('k');
  mock.timers.tick(500);
  pg.wake('k'); // ignored: the operation is expiring
  await op.answer(undefined);
  assert.deepEqual(op.calls, ['try', 'expire']);
  await op.answer('empty');
  assert.equal(s.value, 'empty');
}));

test('a closed connection ends the wait at once, and a result that arrives after is discarded', async () => {
  const pg = new Purgatory();
  const op = new Scripted();
  const conn = new Conn();
  const s = settled(pg.watch(op, { kind: 'fetch', keys: ['k'], timeoutMs: 60_000, scope: conn }));
  pg.wake('k');
  conn.close();
  await flush();
  assert.equal(s.done, true);
  assert.equal(s.value, undefined);
  assert.equal(pg.size, 0);
  await op.answer('late');
  assert.deepEqual(op.discarded, ['late'], 'the late answer gives back what it holds');
});

test('a connection closed before the watch is not waited on', async () => {
  const pg = new Purgatory();
  const op = new Scripted();
  const conn = new Conn();
  conn.close();
  const v = await pg.watch(op, { kind: 'fetch', keys: ['k'], timeoutMs: 60_000, scope: conn });
  assert.equal(v, undefined);
  assert.equal(pg.size, 0);
  assert.equal(op.calls.length, 0);
});

test('a try that throws rejects the wait and cleans up (timer, close hook, watches)', async () => {
  const pg = new Purgatory();
  const op = new Scripted();
  const conn = new Conn();
  const s = settled(pg.watch(op, { kind: 'fetch', keys: ['k'], timeoutMs: 60_000, scope: conn }));
  assert.equal(conn.hooks, 1);
  pg.wake('k');
  await op.fail(new Error('disk gone'));
  assert.equal((s.error as Error).message, 'disk gone');
  assert.equal(pg.size, 0);
  assert.equal(conn.hooks, 0);
});

test('finish(key) answers only the operations watching that key', async () => {
  const pg = new Purgatory();
  const a = new Scripted();
  const b = new Scripted();
  const sa = settled(pg.watch(a, { kind: 'fetch', keys: ['topic:x'], timeoutMs: 60_000 }));
  const sb = settled(pg.watch(b, { kind: 'fetch', keys: ['topic:y'], timeoutMs: 60_000 }));
  pg.finish('topic:x');
  assert.deepEqual(a.calls, ['expire']);
  assert.deepEqual(b.calls, []);
  await a.answer('x gone');
  assert.equal(sa.value, 'x gone');
  assert.equal(sb.done, false);
  assert.equal(pg.size, 1);
  pg.finishAll();
  await b.answer('shutdown');
  assert.equal(sb.value, 'shutdown');
});

test('an expiry that throws rejects the wait', async () => {
  const pg = new Purgatory();
  const op = new Scripted();
  const s = settled(pg.watch(op, { kind: 'fetch', keys: ['k'], timeoutMs: 60_000 }));
  pg.finishAll();
  await op.fail(new Error('read failed'));
  assert.equal((s.error as Error).message, 'read failed');
  assert.equal(pg.size, 0);
});

test('a connection closing during the expiry ends the wait, and the expiry\'s answer is discarded', async () => {
  const pg = new Purgatory();
  const op = new Scripted();
  const conn = new Conn();
  const s = settled(pg.watch(op, { kind: 'fetch', keys: ['k'], timeoutMs: 60_000, scope: conn }));
  pg.finishAll();
  await flush();
  assert.deepEqual(op.calls, ['expire']);
  conn.close();
  await flush();
  assert.equal(s.done, true);
  assert.equal(s.value, undefined);
  await op.answer('read buffers');
  assert.deepEqual(op.discarded, ['read buffers']);
});

test('sizes() counts the waiting operations by kind, every declared kind from 0', async () => {
  const pg = new Purgatory(['fetch', 'share_acquire']);
  assert.deepEqual([...pg.sizes()], [['fetch', 0], ['share_acquire', 0]]);
  const f1 = new Scripted();
  const f2 = new Scripted();
  const q = new Scripted();
  const sf1 = settled(pg.watch(f1, { kind: 'fetch', keys: ['p:0:t'], timeoutMs: 60_000 }));
  settled(pg.watch(f2, { kind: 'fetch', keys: ['p:1:t'], timeoutMs: 60_000 }));
  settled(pg.watch(q, { kind: 'share_acquire', keys: ['p:0:t', 'share-group:g'], timeoutMs: 60_000 }));
  assert.deepEqual([...pg.sizes()], [['fetch', 2], ['share_acquire', 1]]);
  pg.wakePartition('t', 0);
  assert.deepEqual([f1.calls, f2.calls, q.calls], [['try'], [], ['try']], 'wakePartition wakes the watchers of partitionKey(t, 0)');
  await f1.answer('data');
  assert.equal(sf1.value, 'data');
  await q.answer(undefined);
  assert.deepEqual([...pg.sizes()], [['fetch', 1], ['share_acquire', 1]]);
  pg.finishAll();
  await f2.answer('empty');
  await q.answer('empty');
  assert.deepEqual([...pg.sizes()], [['fetch', 0], ['share_acquire', 0]]);
});
