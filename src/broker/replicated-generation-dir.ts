/**
 * Cluster mode: a state log (src/state-log/) on one partition of a replicated internal topic,
 * as its leader sees it. There is one generation, the partition itself: an append is an
 * acks=all produce through the replica manager (produce-as-leader.ts), so it resolves only
 * once every in-sync replica holds it and the ISR has at least minInsyncReplicas members;
 * reads are of the local replica up to its log end (a new leader's whole log is the truth its
 * followers truncate to).
 *
 * Every write is pinned to the leader epoch the coordinator loaded under (Kafka's coordinators
 * write with the partition leader epoch they loaded): a write issued by a coordinator loaded
 * at epoch E is refused with NOT_COORDINATOR once this broker leads at any other epoch, also
 * when it leads again (E+2, after another broker's E+1): the coordinator loaded at E+2 replayed
 * state the one at E never saw, and a delta from E's memory appended after it would undo it
 * on the next replay (an acked job coming back).
 *
 * Compaction by generations (create g+1, drop g) would create and drop topics through the
 * controller; here the snapshot is written into the partition itself and then the leader's
 * log start moves to its first record (`advanceLogStart`, Kafka's DeleteRecords), which
 * followers copy from the fetch responses (leader-fetch-loop.ts). `remove` refuses
 * (docs/cluster.md, "Coordinators").
 */
import { SluiceError } from '../errors.js';
import { readBatchHeader } from '../record/index.js';
import { errorName } from '../protocol/errors.js';
import { Leadership, type ReplicaManager } from '../replication/replica-manager.js';
import type { GenerationDir, GenerationLog } from '../state-log/generation-log.js';
import type { BrokerContext } from './context.js';
import { produceAsLeader } from './produce-as-leader.js';

/** Errors of the leader's produce that mean "this broker no longer coordinates": the client finds the coordinator again. */
const MOVED = new Set(['NOT_LEADER_OR_FOLLOWER', 'FENCED_LEADER_EPOCH', 'UNKNOWN_TOPIC_OR_PARTITION']);

/**
 * The state log of coordinator partition `topic`-`partition` for a coordinator loaded as its
 * leader at `leaderEpoch`: appends and log start moves only while this broker still leads it
 * at that epoch with a trusted session (ReplicaManager.leaderFor's write check).
 */
export function replicatedGenerationDir(ctx: BrokerContext, rm: ReplicaManager, topic: string, partition: number, leaderEpoch: number): GenerationDir {
  const local = () => {
    const log = ctx.logs.log(topic, partition);
    if (!log) throw new SluiceError('NOT_COORDINATOR', `${topic}-${partition} has no replica on this broker`);
    return log;
  };
  /** The leadership at the load's epoch, or NOT_COORDINATOR naming why not. */
  const pinned = (what: string): Leadership => {
    const l = rm.leaderFor(topic, partition, leaderEpoch, true);
    if (!(l instanceof Leadership)) throw new SluiceError('NOT_COORDINATOR', `${what} ${topic}-${partition} (loaded at leader epoch ${leaderEpoch}): ${l.message}`);
    if (l.leaderEpoch !== leaderEpoch) throw new SluiceError('NOT_COORDINATOR', `${what} ${topic}-${partition}: loaded at leader epoch ${leaderEpoch}, this broker leads at ${l.leaderEpoch}`);
    return l;
  };
  const log: GenerationLog = {
    get logStartOffset() { return local().logStartOffset; },
    get logEndOffset() { return local().logEndOffset; },
    read: (offset, maxBytes) => local().read(offset, maxBytes),
    async append(batch) {
      // Checked in the same tick as produceAsLeader's own leadership check (it reads the
      // leadership before its first await), so the epoch cannot change in between.
      pinned('writing coordinator state to');
      const r = await produceAsLeader(ctx, rm, topic, partition, batch, -1, undefined, undefined);
      if (r.error) {
        const code = errorName(r.error.code);
        const name = MOVED.has(code) ? 'NOT_COORDINATOR' : code;
        throw new SluiceError(name, `writing coordinator state to ${topic}-${partition}: ${r.error.message}`);
      }
      return { lastOffset: r.baseOffset! + readBatchHeader(batch, 0).lastOffsetDelta };
    },
  };
  return {
    async generations() { return [0]; },
    async open(gen) {
      if (gen !== 0) throw new SluiceError('UNKNOWN_SERVER_ERROR', `a replicated coordinator partition has only generation 0, asked for ${gen}`);
      return log;
    },
    async advanceLogStart(_gen, offset) {
      // Only while leading at the load's epoch: a deposed leader's log is its new leader's to shape.
      pinned('moving the log start of');
      await local().advanceLogStartOffset(offset);
    },
    async remove(gen) {
      throw new SluiceError('UNKNOWN_SERVER_ERROR', `generation ${gen} of ${topic}-${partition} cannot be removed: compaction of replicated coordinator partitions is not built`);
    },
  };
}
