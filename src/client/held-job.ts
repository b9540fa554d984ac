/**
 * What a queue worker (QueueConsumer) keeps about each job it holds, on the job itself, and
 * the sets of jobs it keeps them in.
 *
 * Why not a WeakMap from job to holder token and Sets of jobs: a worker adds and removes
 * every job it is handed once per job, and those tables are made with the worker, so they
 * live in the old generation. Their entries pointing at young jobs went through the write
 * barrier and remembered set on every add, and their backing stores were reallocated as
 * they grew and shrank with the jobs held (Set `add`/`delete` and WeakMap `set` were
 * ~250 bytes of the ~4.9 KB allocated per job, docs/queue-performance.md "The workers'
 * side"). A field per fact and an array whose members know their index allocate nothing
 * per job.
 */
import { Job } from './queue-job.js';

export class HeldJob extends Job {
  /** The holder token the job was acquired under (ShareAcquire's `holder`; see QueueConsumer.heard). */
  holder = '';
  /** Where it is in the worker's set of handed-out jobs (`active`), -1 when not in it. */
  activeAt = -1;
  /** Where it is in the set of jobs whose locks run() extends (`extending`), -1 when not in it. */
  extendingAt = -1;
  /** run() with extendLocks: when its lock is next extended (Date.now() clock); Infinity while an extend is out. */
  extendAt = Infinity;
}

/** Which index field of HeldJob a JobSet keeps its place in. */
type IndexField = 'activeAt' | 'extendingAt';

/**
 * A set of held jobs as an array: add, delete and has are O(1) and allocate nothing once the
 * array has grown to the most jobs held (delete moves the last job into the hole, so the
 * order is not kept). Each job is in at most one JobSet per index field.
 */
export class JobSet {
  private readonly items: HeldJob[] = [];

  constructor(private readonly at: IndexField) {}

  get size(): number {
    return this.items.length;
  }

  has(job: HeldJob): boolean {
    return job[this.at] >= 0;
  }

  add(job: HeldJob): void {
    if (job[this.at] >= 0) return;
    job[this.at] = this.items.length;
    this.items.push(job);
  }

  /** True when `job` was in the set. */
  delete(job: HeldJob): boolean {
    const i = job[this.at];
    if (i < 0) return false;
    const last = this.items.pop()!;
    if (last !== job) {
      this.items[i] = last;
      last[this.at] = i;
    }
    job[this.at] = -1;
    return true;
  }

  /** The jobs now in the set (a copy: the caller may delete while it walks it). */
  toArray(): HeldJob[] {
    return this.items.slice();
  }
}
