// What a heap test measures (test/client/producer-heap, queue-consumer-heap, integration/
// connection-heap): bytes allocated in the young generation and bytes the scavenges moved into
// the old one while `fn` ran (v8.GCProfiler). Both follow from allocation, not from time, so a
// loaded machine does not change them.
import v8 from 'node:v8';

export interface HeapUse { allocated: number; promoted: number }

type HeapAt = v8.GCProfilerResult['statistics'][number]['afterGC'];
const used = (h: HeapAt, space: string) => h.heapSpaceStatistics.find((s) => s.spaceName === space)!.spaceUsedSize;
const newSpaceNow = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;

export async function heapWhile(fn: () => Promise<void>): Promise<HeapUse> {
  const profiler = new v8.GCProfiler();
  profiler.start();
  const start = newSpaceNow();
  await fn();
  const end = newSpaceNow();
  const { statistics } = profiler.stop();
  let allocated = 0;
  let promoted = 0;
  let after = start;
  for (const gc of statistics) {
    allocated += used(gc.beforeGC, 'new_space') - after;
    after = used(gc.afterGC, 'new_space');
    if (gc.gcType === 'Scavenge') promoted += used(gc.afterGC, 'old_space') - used(gc.beforeGC, 'old_space');
  }
  allocated += end - after;
  return { allocated, promoted };
}

/** Bytes the scavenges moved into the old generation while `fn` ran. */
export async function promotedWhile(fn: () => Promise<void>): Promise<number> {
  return (await heapWhile(fn)).promoted;
}
