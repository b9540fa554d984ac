/**
 * fast-check values of the shape a request schema (src/protocol/schema.ts) describes, so a
 * generator exists for every api of the table without writing one by hand (the wire fuzz
 * uses it for apis that have no hand-made template). Values fit the shape; rules across
 * fields (refine) are not known here, so a few generated values are refused, which the
 * fuzz accepts as long as the refusal is a coded error.
 */
import fc from 'fast-check';
import type { Schema } from '../../src/protocol/schema.js';

export interface Leaves {
  /** Strings to use; default short random strings within the schema's length bounds. */
  str?: fc.Arbitrary<string>;
}

export function arbitraryOf(s: Schema<unknown>, leaves: Leaves = {}): fc.Arbitrary<unknown> {
  const sh = s.shape;
  switch (sh.kind) {
    case 'str':
      return leaves.str ?? fc.string({ minLength: sh.min, maxLength: Math.min(sh.max, sh.min + 12) });
    case 'int': {
      // The bounds and small values: where off-by-ones live, and nothing huge (a partition count of 2^31).
      // A range wholly above 3 (SCRAM iterations start at 4096) takes its first few values instead.
      const lo = Math.max(sh.min, -3);
      const small = fc.integer({ min: lo, max: Math.min(sh.max, lo > 3 ? lo + 6 : 3) });
      return fc.oneof(small, fc.constantFrom(sh.min, sh.max));
    }
    case 'bool':
      return fc.boolean();
    case 'bytes':
      return fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b));
    case 'enum':
      return fc.constantFrom(...sh.values);
    case 'array':
      return fc.array(arbitraryOf(sh.of, leaves), { minLength: sh.min, maxLength: Math.min(sh.max, sh.min + 3) });
    case 'struct': {
      const fields = Object.fromEntries(Object.entries(sh.fields).map(([k, f]) => [k, arbitraryOf(f, leaves)]));
      const required = Object.entries(sh.fields).filter(([, f]) => !f.optional).map(([k]) => k);
      return fc.record(fields, { requiredKeys: required });
    }
    case 'map':
      return fc.constant({});
    case 'union':
      return fc.oneof(...sh.of.map((o) => arbitraryOf(o, leaves)));
  }
}
