/**
 * The history of a chaos run, as Jepsen keeps one: every operation a workload or the nemesis
 * performs is an `invoke` followed by exactly one completion, `ok` (it happened), `fail` (it
 * certainly did not happen) or `info` (unknown: a timeout or a dropped connection, so it may
 * have happened). Times are ms since the history began (monotonic clock). The checker reads
 * only this and the replicas' logs, so a saved report can be checked again by hand.
 */
import { performance } from 'node:perf_hooks';

export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

export interface Op {
  /** Position in the history. */
  readonly index: number;
  /** Who performed it: `producer-1`, `consumer-2`, `worker-1`, `nemesis`, ... */
  readonly process: string;
  /** What: `produce`, `commit`, `read-offsets`, `enqueue`, `deliver`, `ack`, `fault`, `heal`, ... */
  readonly f: string;
  readonly type: OpType;
  readonly time: number;
  readonly value?: unknown;
  /** The error (its name and message) of a fail or info. */
  readonly error?: string;
  /** For a completion: the index of its invoke. */
  readonly invokeIndex?: number;
}

/** The completion of one invoked operation; the first call wins, later ones are ignored. */
export interface Pending {
  readonly invoke: Op;
  ok(value?: unknown): Op;
  fail(error: unknown): Op;
  info(error: unknown): Op;
}

export class History {
  readonly ops: Op[] = [];
  private readonly t0 = performance.now();

  /** `onOp` sees every op as it is added (progress output). */
  constructor(private readonly onOp?: (op: Op) => void) {}

  now(): number {
    return Math.round((performance.now() - this.t0) * 10) / 10;
  }

  invoke(process: string, f: string, value?: unknown): Pending {
    const inv = this.add({ process, f, type: 'invoke', value });
    let done: Op | undefined;
    const complete = (type: OpType, v: unknown, error?: unknown): Op => {
      done ??= this.add({
        process, f, type, invokeIndex: inv.index,
        ...(v === undefined ? {} : { value: v }),
        ...(error === undefined ? {} : { error: errorText(error) }),
      });
      return done;
    };
    return {
      invoke: inv,
      ok: (v) => complete('ok', v ?? inv.value),
      fail: (e) => complete('fail', inv.value, e),
      info: (e) => complete('info', inv.value, e),
    };
  }

  /** Something observed at one instant (a delivery handed to a worker): an invoke and its ok together. */
  event(process: string, f: string, value: unknown): Op {
    return this.invoke(process, f, value).ok();
  }

  /** Completions of `f` of one type. */
  completed(f: string, type: OpType = 'ok'): Op[] {
    return this.ops.filter((o) => o.f === f && o.type === type);
  }

  private add(o: { process: string; f: string; type: OpType; value?: unknown; error?: string; invokeIndex?: number }): Op {
    const op: Op = { index: this.ops.length, time: this.now(), ...stripUndefined(o) };
    this.ops.push(op);
    this.onOp?.(op);
    return op;
  }
}

/** Name and message of an error (SluiceError names carry the wire code), for the history. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${typeof code === 'string' ? code : e.name}: ${e.message}`;
  }
  return String(e);
}

function stripUndefined<T extends object>(o: T): T {
  const out = {} as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}
