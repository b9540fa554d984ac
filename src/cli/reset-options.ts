/**
 * The target options that `sluice group reset-offsets` and `sluice queue reset-offsets`
 * share (Kafka's tools spell them the same way): exactly one of --to-earliest,
 * --to-latest, --to-offset, --to-datetime, and for consumer groups --shift-by.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { InvalidArgumentError as ClientArgError } from '../client/errors.js';
import type { ResetSpec } from '../client/group-admin.js';

export interface ResetTargetOpts {
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  toDatetime?: number;
  shiftBy?: number;
}

export function anyInt(name: string) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError(`${name} must be an integer, not '${v}'`);
    return Number(v);
  };
}

function parseDate(v: string): number {
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new InvalidArgumentError(`--to-datetime takes an ISO date (2024-05-01T12:00:00Z) or ms since epoch, not '${v}'`);
  return t;
}

export function addResetTargetOptions(cmd: Command, opts: { shiftBy: boolean }): Command {
  cmd
    .option('--to-earliest', 'the oldest retained offset')
    .option('--to-latest', 'the log end (skip everything)')
    .option('--to-offset <n>', 'this offset (>= 0) in every partition, clamped to what the log holds', anyInt('--to-offset'))
    .option('--to-datetime <time>', 'the first message at or after this time (ISO 8601 or ms)', parseDate);
  if (opts.shiftBy) cmd.option('--shift-by <n>', 'move each committed offset by n (negative = replay)', anyInt('--shift-by'));
  return cmd;
}

/** The one target the options name; a usage error unless exactly one was given. */
export function resetTarget(o: ResetTargetOpts, opts: { shiftBy: boolean }): ResetSpec {
  const given = [o.toEarliest, o.toLatest, o.toOffset !== undefined, o.toDatetime !== undefined, o.shiftBy !== undefined].filter(Boolean).length;
  if (given !== 1) {
    throw new ClientArgError(`give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime${opts.shiftBy ? ', --shift-by' : ''}`);
  }
  return o.toEarliest ? 'earliest' : o.toLatest ? 'latest'
    : o.toOffset !== undefined ? { offset: o.toOffset }
    : o.toDatetime !== undefined ? { timestamp: o.toDatetime }
    : { shiftBy: o.shiftBy! };
}
