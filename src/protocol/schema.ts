/**
 * A tiny set of schema combinators for request bodies: each schema checks a decoded
 * msgpack value at run time and carries its TypeScript type (`Infer<typeof s>`), so the
 * api table (api-table.ts) is the one source of both, as Kafka generates its message
 * classes from JSON specs.
 *
 * Why our own and not zod/typebox: a request check sits on the produce and fetch hot path
 * and must not copy (a produce body is checked in place and returned), the rules we need
 * fit in this file, and the error must name the field (`partitions[2].offset must be in
 * 0..2147483647, got -1`) without building any string for a valid request.
 *
 * Rules, the same for every api:
 *  - A struct checks the fields it lists and ignores extra ones (unless `exact`).
 *  - An optional field that is missing or `null` counts as absent; `null` is deleted, so
 *    handlers see `undefined`.
 *  - A map is a plain object (msgpack map), never an array, a Buffer or a class instance.
 *  - Messages print only numbers from the input: String() of a hostile map such as
 *    { toString: 1 } throws.
 *
 * A failure throws SchemaError with the path relative to the value checked; struct and
 * array prepend their part while the error travels up (try/catch costs nothing until a
 * throw, so a valid request pays for no path work).
 */

/** The wire codes a schema may ask for; every other failure is INVALID_REQUEST. */
export type SchemaErrorCode = 'INVALID_REQUEST' | 'INVALID_REQUIRED_ACKS';

export class SchemaError extends Error {
  constructor(public path: string, readonly problem: string, readonly code: SchemaErrorCode = 'INVALID_REQUEST') {
    super(problem);
  }

  /** `key` or `[3]` goes in front of the path so far. */
  prepend(part: string): this {
    const p = this.path;
    this.path = p === '' ? part : p.charCodeAt(0) === 91 /* [ */ ? part + p : `${part}.${p}`;
    return this;
  }

  /** The whole message: `partitions[2].offset must be in 0..2147483647, got -1`. */
  get text(): string {
    return this.path === '' ? this.problem : `${this.path} ${this.problem}`;
  }
}

/** What a schema looks like to tools (docs, the fuzz test's generators); `refined`: refine() adds rules the shape does not show. */
export type Shape = { refined?: boolean } & (
  | { kind: 'str'; min: number; max: number }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'bool' }
  | { kind: 'bytes' }
  | { kind: 'enum'; values: readonly (string | number)[] }
  | { kind: 'array'; of: Schema<unknown>; min: number; max: number }
  | { kind: 'struct'; fields: Readonly<Record<string, Schema<unknown>>>; exact: boolean }
  | { kind: 'map' }
  | { kind: 'union'; of: readonly Schema<unknown>[] });

export interface Schema<T> {
  /** Checks `v` and returns it (a Uint8Array comes back as a Buffer view); throws SchemaError. */
  readonly check: (v: unknown) => T;
  readonly shape: Shape;
  /** Set by optional(): a struct may lack the field. */
  readonly optional: boolean;
  /** Type-only: never set at run time. */
  readonly _type?: T;
}

interface OptionalSchema<T> extends Schema<T> {
  readonly optional: true;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Obj = Record<string, unknown>;

export function isMap(v: unknown): v is Obj {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function schema<T>(shape: Shape, check: (v: unknown) => T): Schema<T> {
  return { check, shape, optional: false };
}

/** A number from the input, or its type: never String() of a map (see the file comment). */
function shown(v: unknown): string {
  return typeof v === 'number' ? String(v) : typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v) : v === null ? 'null' : typeof v;
}

export function str(o: { min?: number; max?: number } = {}): Schema<string> {
  const min = o.min ?? 0;
  const max = o.max ?? Infinity;
  const problem = max === Infinity ? (min === 0 ? 'must be a string' : `must be a string of at least ${min} characters`)
    : `must be a string of ${min}..${max} characters`;
  return schema({ kind: 'str', min, max }, (v) => {
    if (typeof v !== 'string' || v.length < min || v.length > max) throw new SchemaError('', problem);
    return v;
  });
}

export function int(o: { min: number; max: number }): Schema<number> {
  const { min, max } = o;
  return schema({ kind: 'int', min, max }, (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new SchemaError('', `must be an integer in ${min}..${max}`);
    if (v < min || v > max) throw new SchemaError('', `must be in ${min}..${max}, got ${v}`);
    return v;
  });
}

export function bool(): Schema<boolean> {
  return schema({ kind: 'bool' }, (v) => {
    if (typeof v !== 'boolean') throw new SchemaError('', 'must be a boolean');
    return v;
  });
}

/** msgpack bin. A plain Uint8Array becomes a Buffer view of the same bytes (no copy). */
export function bytes(): Schema<Buffer> {
  return schema({ kind: 'bytes' }, (v) => {
    if (Buffer.isBuffer(v)) return v;
    if (!(v instanceof Uint8Array)) throw new SchemaError('', 'must be binary (msgpack bin)');
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  });
}

/** One of a few literal values. `code` replaces INVALID_REQUEST where the wire has a more precise one (acks). */
export function oneOf<const V extends readonly (string | number)[]>(values: V, o: { code?: SchemaErrorCode } = {}): Schema<V[number]> {
  const set = new Set<unknown>(values);
  const list = values.join(', ');
  return schema({ kind: 'enum', values }, (v) => {
    if (!set.has(v)) throw new SchemaError('', `must be one of ${list}, got ${shown(v)}`, o.code);
    return v as V[number];
  });
}

export function array<T>(of: Schema<T>, o: { min?: number; max?: number } = {}): Schema<T[]> {
  const min = o.min ?? 0;
  const max = o.max ?? Infinity;
  const sh = of.shape;
  const noun = sh.kind === 'enum' ? (typeof sh.values[0] === 'string' ? 'strings' : 'integers')
    : ({ str: 'strings', int: 'integers', bool: 'booleans', bytes: 'binaries', array: 'arrays', struct: 'maps', map: 'maps', union: 'values' } as const)[sh.kind];
  const check = of.check;
  return schema({ kind: 'array', of, min, max }, (v) => {
    if (!Array.isArray(v)) throw new SchemaError('', `must be an array of ${noun}`);
    if (v.length < min) throw new SchemaError('', `must have at least ${min} item${min === 1 ? '' : 's'}`);
    if (v.length > max) throw new SchemaError('', `must have at most ${max} items, got ${v.length}`);
    let i = 0;
    try {
      for (; i < v.length; i++) {
        const item: unknown = v[i];
        const out = check(item);
        if (out !== item) v[i] = out;
      }
    } catch (e) {
      if (e instanceof SchemaError) e.prepend(`[${i}]`);
      throw e;
    }
    return v as T[];
  });
}

type Fields = Record<string, Schema<unknown>>;
type OptionalKeys<F extends Fields> = { [K in keyof F]: F[K] extends OptionalSchema<unknown> ? K : never }[keyof F];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type InferStruct<F extends Fields> = Simplify<
  { [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Infer<F[K]> }
>;

/**
 * A map with these fields, checked in place. `exact`: other keys are refused (for maps
 * that are one of several shapes, such as ShareReset's `to`).
 */
export function struct<F extends Fields>(fields: F, o: { exact?: boolean } = {}): Schema<InferStruct<F>> {
  const keys = Object.keys(fields);
  const checks = keys.map((k) => fields[k].check);
  const optional = keys.map((k) => fields[k].optional);
  const exact = o.exact ?? false;
  /** Any field the inline test did not accept: an absent optional, a converted value, or the error. */
  const slow = (i: number, v: Obj, x: unknown): void => {
    if (x == null && optional[i]) {
      if (x === null) delete v[keys[i]];
      return;
    }
    try {
      const out = checks[i](x);
      if (out !== x) v[keys[i]] = out;
    } catch (e) {
      if (e instanceof SchemaError) e.prepend(keys[i]);
      throw e;
    }
  };
  const checkFields = compileFields(keys.map((k) => fields[k].shape), keys, slow);
  return schema({ kind: 'struct', fields, exact }, (v) => {
    if (!isMap(v)) throw new SchemaError('', 'must be a map');
    checkFields(v);
    if (exact) {
      for (const k in v) if (!Object.hasOwn(fields, k)) throw new SchemaError('', `must have only the keys ${keys.join(', ')}`);
    }
    return v as InferStruct<F>;
  });
}

/**
 * The field loop of a struct, generated once per struct with its keys as literals (as ajv
 * and typebox compile their schemas): V8 then reads each field with a monomorphic named
 * load and tests valid ints, strings and Buffers inline. A loop over `v[keys[i]]` calling
 * each field's check was a megamorphic keyed load plus a call per field, and made the
 * produce check 2-3x slower per request than the hand-written one it replaced (bench in
 * the commit message). Only our own table's keys (quoted by JSON.stringify) and bounds go
 * into the source; a field the inline test does not accept goes to `slow`, which runs its
 * full check and words the error.
 */
function compileFields(shapes: Shape[], keys: string[], slow: (i: number, v: Obj, x: unknown) => void): (v: Obj) => void {
  const lines = shapes.map((sh, i) => {
    const x = `x${i}`;
    let ok = 'false';
    if (!sh.refined && sh.kind === 'int') ok = `typeof ${x} === 'number' && Number.isInteger(${x}) && ${x} >= ${sh.min} && ${x} <= ${sh.max}`;
    else if (!sh.refined && sh.kind === 'str') ok = `typeof ${x} === 'string'${sh.min > 0 ? ` && ${x}.length >= ${sh.min}` : ''}${sh.max !== Infinity ? ` && ${x}.length <= ${sh.max}` : ''}`;
    else if (!sh.refined && sh.kind === 'bytes') ok = `Buffer.isBuffer(${x})`;
    else if (!sh.refined && sh.kind === 'enum' && sh.values.every((e) => typeof e === 'number')) ok = sh.values.map((e) => `${x} === ${e}`).join(' || ');
    return `const ${x} = v[${JSON.stringify(keys[i])}]; if (!(${ok})) slow(${i}, v, ${x});`;
  });
  const make = new Function('slow', 'Buffer', `return function checkFields(v) {\n${lines.join('\n')}\n};`) as
    (s: typeof slow, b: typeof Buffer) => (v: Obj) => void;
  return make(slow, Buffer);
}

/** A map whose values are checked elsewhere (topic configs, share-group settings: their own rules and error codes). */
export function map<T extends object>(): Schema<T> {
  return schema({ kind: 'map' }, (v) => {
    if (!isMap(v)) throw new SchemaError('', 'must be a map');
    return v as T;
  });
}

/** The field may be missing or null (see the file comment). */
export function optional<T>(s: Schema<T>): OptionalSchema<T> {
  return { ...s, optional: true };
}

/** One of several shapes, tried in order; `problem` names them all when none fits. */
export function union<S extends readonly Schema<unknown>[]>(of: S, problem: string): Schema<Infer<S[number]>> {
  return schema({ kind: 'union', of }, (v) => {
    for (const s of of) {
      try {
        return s.check(v) as Infer<S[number]>;
      } catch (e) {
        if (!(e instanceof SchemaError)) throw e;
      }
    }
    throw new SchemaError('', problem);
  });
}

/**
 * A rule across fields (a total, a combination) after `s` passed: `rule` returns the
 * field and the problem, or undefined when the value is fine.
 */
export function refine<T>(s: Schema<T>, rule: (v: T) => [field: string, problem: string] | undefined): Schema<T> {
  const check = s.check;
  return {
    ...s,
    shape: { ...s.shape, refined: true },
    check: (v) => {
      const out = check(v);
      const bad = rule(out);
      if (bad) throw new SchemaError(bad[0], bad[1]);
      return out;
    },
  };
}

/** Type-only marker for a response type in the api table (responses are built by the broker, not checked). */
export interface Responds<T> {
  readonly _response?: T;
}
export function responds<T>(): Responds<T> {
  return {};
}
