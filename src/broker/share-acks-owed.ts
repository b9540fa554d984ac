/**
 * Outcomes of settles carried by ShareAcquires (`acks`) that are durable and not yet told,
 * per connection. They ride on the next ShareAcquire or ShareAck answer of their group on
 * that connection (`acked`). A request that asked for a push (`acks.later` unset: someone
 * awaits them) gets one when no answer took them within OWED_PUSH_MS; one that set
 * `later` (run()'s own acks, which nobody awaits) within OWED_LATER_PUSH_MS (a worker whose
 * handlers run long, or whose coordinator moved and who speaks to another broker now). A
 * ShareAck, even with no entries, waits for every outcome pending on its connection before
 * it answers (the client's way to collect them when it stops asking: a drain, close).
 *
 * Why not a push each: a push is a frame of its own, and the broker's cost is per frame
 * (docs/queue-performance.md, step 12: a push per cycle cost the broker about what the
 * ShareAck it replaced did, the socket write of each frame being the largest item of its
 * profile). A busy worker sends its next acquire within a cycle, and its answer brings the
 * outcomes of the acks the one before carried, at no cost. An acquire that fails after
 * taking settles has their outcome pushed before its error answer (handle-share-acquire.ts),
 * so an error answer with no outcome means "not taken" to the client.
 */
import type { CarriedAcksResult, ShareAcksPush } from '../protocol/api.js';
import type { RequestScope } from './context.js';

/**
 * Longest wait for an answer to take an outcome someone awaits before it is pushed: a few
 * cycles of a busy worker (about 2.5 ms each at 100 K jobs/s over 4 workers), and what a
 * worker that stopped asking waits for its confirmation beyond the fsync.
 */
export const OWED_PUSH_MS = 10;
/** The same for outcomes nobody awaits (`acks.later`): only stragglers are pushed. */
export const OWED_LATER_PUSH_MS = 1000;

interface Owed {
  results: CarriedAcksResult[];
  timer: NodeJS.Timeout | undefined;
  /** When the timer fires (Date.now() ms). */
  timerAt: number;
  /** Carried settles taken on this connection whose commit has not ended. */
  pending: Set<Promise<void>>;
}

const owed = new WeakMap<RequestScope, Owed>();

function owedOn(scope: RequestScope): Owed {
  let o = owed.get(scope);
  if (!o) owed.set(scope, (o = { results: [], timer: undefined, timerAt: Infinity, pending: new Set() }));
  return o;
}

/** `done` resolves once the outcome of settles taken on `scope` is owed (ShareAck waits for it: outcomesOwed). */
export function taken(scope: RequestScope | undefined, done: Promise<void>): void {
  if (!scope) return;
  const set = owedOn(scope).pending;
  set.add(done);
  void done.finally(() => set.delete(done));
}

/** `r` is durable: told with the next answer of its group on `scope`, else pushed after OWED_PUSH_MS (`later`: OWED_LATER_PUSH_MS). */
export function owe(scope: RequestScope | undefined, r: CarriedAcksResult, later: boolean): void {
  if (!scope || scope.closed) return; // the client fails them with the connection
  const o = owedOn(scope);
  o.results.push(r);
  const ms = later ? OWED_LATER_PUSH_MS : OWED_PUSH_MS;
  const at = Date.now() + ms;
  if (at >= o.timerAt) return;
  clearTimeout(o.timer);
  o.timerAt = at;
  o.timer = setTimeout(() => pushOwed(scope), ms);
  o.timer.unref();
}

/** Resolves once every carried settle taken on `scope` so far has its outcome owed. */
export async function outcomesOwed(scope: RequestScope | undefined): Promise<void> {
  const o = scope && owed.get(scope);
  if (o && o.pending.size > 0) await Promise.all(o.pending);
}

/** The outcomes owed to `groupId` on `scope`, for an answer about to leave (undefined: none). */
export function takeOwed(scope: RequestScope | undefined, groupId: string): CarriedAcksResult[] | undefined {
  const o = scope && owed.get(scope);
  if (!o || o.results.length === 0) return undefined;
  const mine = o.results.filter((r) => r.groupId === groupId);
  if (mine.length === 0) return undefined;
  o.results = mine.length === o.results.length ? [] : o.results.filter((r) => r.groupId !== groupId);
  if (o.results.length === 0) {
    clearTimeout(o.timer);
    o.timer = undefined;
    o.timerAt = Infinity;
  }
  return mine;
}

/** Pushes every outcome owed on `scope` now. */
export function pushOwed(scope: RequestScope): void {
  const o = owed.get(scope);
  if (!o) return;
  clearTimeout(o.timer);
  o.timer = undefined;
  o.timerAt = Infinity;
  if (o.results.length === 0) return;
  const acked = o.results;
  o.results = [];
  if (!scope.closed) scope.push({ id: 0, push: 'share-acks', acked } satisfies ShareAcksPush);
}
