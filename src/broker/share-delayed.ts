/**
 * Delayed and scheduled jobs on the acquire path (docs/queue.md, "Delayed and scheduled
 * jobs"). The coordinator does not see record bytes, so it hands out by offset; the acquire
 * handler reads the batches covering what it took anyway, and here looks in them for
 * `sluice.deliver.at` headers (record/delivery-time.ts). Records not yet due are given back to
 * the coordinator as never taken (they wait for their time in the share group's state) and
 * left out of the worker's answer. The header is read again whenever a record is taken, so
 * a restart or a coordinator move, which forget the waiting times, finds them again in the
 * log. Without a header in the bytes this is one native byte search per answer.
 */
import { findDeliveryTimes } from '../record/index.js';
import type { AcquiredRange } from '../queue/types.js';
import type { ShareCoordinator } from '../queue/share-coordinator.js';

/**
 * Gives back the records of `ranges` (just acquired by `workerId` on topic/partition, their
 * stored batches in `records`) whose delivery time is after `now`. Returns the ranges the
 * worker keeps (the same array when none was delayed).
 */
export function holdBackDelayed(coord: ShareCoordinator, groupId: string, workerId: string, topic: string, partition: number,
  ranges: AcquiredRange[], records: Buffer, now: number): AcquiredRange[] {
  if (ranges.length === 0) return ranges;
  const due = findDeliveryTimes(records, ranges[0].firstOffset, ranges[ranges.length - 1].lastOffset, now);
  if (due.length === 0) return ranges;
  const held = due.filter(([off]) => ranges.some((r) => off >= r.firstOffset && off <= r.lastOffset));
  coord.delay(groupId, workerId, topic, partition, held);
  const later = new Set(held.map(([off]) => off));
  const out: AcquiredRange[] = [];
  for (const r of ranges) {
    let first = -1;
    for (let off = r.firstOffset; off <= r.lastOffset + 1; off++) {
      const keep = off <= r.lastOffset && !later.has(off);
      if (keep && first < 0) first = off;
      else if (!keep && first >= 0) {
        out.push({ firstOffset: first, lastOffset: off - 1, deliveryCount: r.deliveryCount });
        first = -1;
      }
    }
  }
  return out;
}
