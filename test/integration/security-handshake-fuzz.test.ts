/**
 * The SASL/SCRAM handshake's fuzz template (docs/security.md): against a real broker with
 * auth scram, fast-check (fixed seed) drives a few hundred login attempts, each on a fresh
 * connection: SaslHandshake with the mechanism or a random one, then a client-first and a
 * client-final message that are valid (computed by ScramClient for the existing user or a
 * missing one, with its password or a wrong one) and then mutated: bits flipped, bytes cut,
 * spliced-in SCRAM syntax (',', '=', 'p=', 'r=', '=2C', 'm=', a GS2 header), random text,
 * random bytes, or a value that is not bytes at all; sometimes one message too many.
 *
 * What must hold for every attempt: each request is answered (an auth error from the wire
 * table: never UNKNOWN_SERVER_ERROR) or the connection is closed with a code and reason,
 * within a bound; the broker never exits; a login succeeds only for the user with its right
 * password (a mutation may keep the proof intact, never forge one), and the unmutated
 * exchange with the right password always succeeds; after a failure nothing but the login
 * is served. Afterwards no password (the real one or any generated wrong one) is in the
 * broker's log, and the log has no internal error.
 *
 * Failures print the seed and the attempt; rerun with SLUICE_FUZZ_SEED=<seed> (and
 * SLUICE_FUZZ_RUNS=<n>).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Api } from '../../src/protocol/api.js';
import { ERRORS } from '../../src/errors.js';
import { SCRAM_SHA_256, ScramClient, ScramError } from '../../src/protocol/scram.js';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { runCli } from './security-cli.js';

const SEED = Number(process.env.SLUICE_FUZZ_SEED ?? 0x5c4a);
const RUNS = Number(process.env.SLUICE_FUZZ_RUNS ?? 200);
const TIMEOUT_MS = 15_000;
const USER = 'fuzz-admin';
const PASSWORD = 'fuzz-admin-Pa55-7q';
const dataDir = mkdtempSync(join(tmpdir(), 'sluice-scram-fuzz-'));
let broker: BrokerHandle;
/** Every password the fuzz typed: none may reach the log. */
const typed = new Set<string>([PASSWORD]);

before(async () => {
  const made = await runCli(['user', 'add', USER, '--password-stdin', '--data-dir', dataDir], { stdin: `${PASSWORD}\n` });
  assert.equal(made.code, 0, made.stderr);
  // No failure delay: a fuzz makes hundreds of failed logins from one address.
  broker = await startBroker({ dataDir, args: ['--auth', 'scram', '--auth-failure-delay-max-ms', '0', '--log-level', 'debug'] });
});
after(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

// --- the template and its mutations -------------------------------------------------------------

type Mutation =
  | { kind: 'none' }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'cut'; at: number }
  | { kind: 'splice'; at: number; del: number; insert: string }
  | { kind: 'text'; text: string }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'not-bytes'; value: unknown };

const SCRAM_SYNTAX = [',', '=', ',,', 'p=', ',p=', 'r=', ',r=', 'n=', 's=', 'i=', 'c=biws', 'c=eSws', '=2C', '=3D', '=ZZ', 'm=ext,', 'y,,', 'p=tls-unique,,', 'n,,', '\0', '\uFFFD', '=='];
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), del: fc.integer({ min: 0, max: 8 }), insert: fc.oneof(fc.constantFrom(...SCRAM_SYNTAX), fc.string({ maxLength: 6 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('text' as const), text: fc.oneof(fc.string({ maxLength: 40 }), fc.string({ minLength: 2000, maxLength: 5000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 200 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('not-bytes' as const), value: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.nat(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.nat())) }) },
);

function mutate(msg: Buffer, m: Mutation): unknown {
  const at = (n: number) => (msg.length === 0 ? 0 : n % (msg.length + 1));
  switch (m.kind) {
    case 'none': return msg;
    case 'flip': {
      if (msg.length === 0) return msg;
      const out = Buffer.from(msg);
      out[m.at % out.length] ^= 1 << m.bit;
      return out;
    }
    case 'cut': return msg.subarray(0, at(m.at));
    case 'splice': {
      const i = at(m.at);
      return Buffer.concat([msg.subarray(0, i), Buffer.from(m.insert), msg.subarray(Math.min(msg.length, i + m.del))]);
    }
    case 'text': return Buffer.from(m.text);
    case 'bytes': return Buffer.from(m.bytes);
    case 'not-bytes': return m.value;
  }
}

interface Attempt {
  mechanism: string;
  user: string;
  /** The user's own password, or a wrong one. */
  right: boolean;
  wrong: string;
  first: Mutation;
  final: Mutation;
  /** One SaslAuthenticate more after the exchange. */
  extra: boolean;
}

const attempt: fc.Arbitrary<Attempt> = fc.record({
  mechanism: fc.oneof({ weight: 8, arbitrary: fc.constant(SCRAM_SHA_256) }, { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('PLAIN', 'SCRAM-SHA-512', 'scram-sha-256', '')) }),
  user: fc.oneof({ weight: 6, arbitrary: fc.constant(USER) }, { weight: 2, arbitrary: fc.constantFrom('ghost', 'a,b=c', '=', ',', '', 'x'.repeat(300), 'bad/name', 'ctl\u0001') }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }),
  right: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  wrong: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 8, maxLength: 16 }).map((h) => `wrong-${h}`),
  first: mutation,
  final: mutation,
  extra: fc.boolean(),
});

// --- one attempt -----------------------------------------------------------------------------------

const ALLOWED = new Set<number>([
  ERRORS.SASL_AUTHENTICATION_FAILED.code, ERRORS.ILLEGAL_SASL_STATE.code, ERRORS.UNSUPPORTED_SASL_MECHANISM.code,
  ERRORS.INVALID_REQUEST.code, ERRORS.AUTHENTICATION_REQUIRED.code,
]);
const NAMES = new Map<number, string>(Object.entries(ERRORS).map(([name, e]) => [e.code, name]));

type Answer = { ok: true; body: Record<string, unknown> } | { ok: false; code: number } | { closed: number; reason: string };

/** Sends one request and waits for its answer or the connection's close. */
async function send(c: RawClient, req: Record<string, unknown>, what: string): Promise<Answer> {
  const answered = c.request(req, TIMEOUT_MS).then((r): Answer => {
    const e = r.error as { code: number } | undefined;
    return e ? { ok: false, code: e.code } : { ok: true, body: r };
  });
  const closed = c.closed.then((cl): Answer => ({ closed: cl.code, reason: cl.reason }));
  const a = await Promise.race([answered, closed]).catch((err: Error) => assert.fail(`${what}: ${err.message}`));
  if ('closed' in a) assert.ok(a.closed === 1007 || a.closed === 1008, `${what}: closed with ${a.closed} (${a.reason})`);
  else if (!a.ok) assert.ok(ALLOWED.has(a.code), `${what}: answered ${NAMES.get(a.code) ?? a.code}, not an auth error`);
  return a;
}

async function run(a: Attempt, tally: Record<string, number>): Promise<void> {
  const password = a.right ? PASSWORD : a.wrong;
  typed.add(password);
  const count = (k: string) => { tally[k] = (tally[k] ?? 0) + 1; };
  const c = await RawClient.connect(broker.url);
  try {
    const hs = await send(c, { api: Api.SaslHandshake, mechanism: a.mechanism }, 'SaslHandshake');
    if (!('ok' in hs) || !hs.ok) return count('handshake refused');
    const scram = new ScramClient(a.user, password);
    const first = await send(c, { api: Api.SaslAuthenticate, authBytes: mutate(scram.first(), a.first) }, 'client-first');
    if (!('ok' in first) || !first.ok) return count('client-first refused');
    const serverFirst = Buffer.from(first.body.authBytes as Uint8Array);
    const valid = await scram.final(serverFirst).catch((err: unknown) => {
      if (!(err instanceof ScramError)) throw err;
      // The mutated client-first changed the nonce: the client cannot compute a proof; send one anyway.
      return Buffer.from(`c=biws,r=${/r=([^,]*)/.exec(serverFirst.toString())?.[1] ?? ''},p=${Buffer.alloc(32, 7).toString('base64')}`);
    });
    const final = await send(c, { api: Api.SaslAuthenticate, authBytes: mutate(valid, a.final) }, 'client-final');
    const knows = a.mechanism === SCRAM_SHA_256 && a.user === USER && a.right;
    const pristine = knows && a.first.kind === 'none' && a.final.kind === 'none';
    const ok = 'ok' in final && final.ok;
    assert.ok(!ok || knows, 'logged in without knowing the password');
    assert.ok(ok || !pristine, `the valid exchange with the right password failed: ${JSON.stringify(final)}`);
    count(ok ? 'logged in' : 'client-final refused');
    if (a.extra && !('closed' in final)) await send(c, { api: Api.SaslAuthenticate, authBytes: valid }, 'a third SaslAuthenticate');
    const after = await send(c, { api: Api.Metadata, topics: [] }, 'Metadata after the exchange');
    if (ok) assert.ok('ok' in after && after.ok, `Metadata refused after a login: ${JSON.stringify(after)}`);
    else assert.ok('closed' in after || (!after.ok && after.code === ERRORS.AUTHENTICATION_REQUIRED.code), `served before a login: ${JSON.stringify(after)}`);
  } finally {
    c.close();
  }
}

test(`fuzzed SCRAM handshakes get an auth error or a close, never a crash, a forged login or a logged secret (seed ${SEED}, ${RUNS} runs)`, { timeout: 600_000 }, async () => {
  const tally: Record<string, number> = {};
  await fc.assert(fc.asyncProperty(attempt, async (a) => {
    await run(a, tally);
    assert.equal(broker.proc.exitCode, null, `the broker exited:\n${broker.logs().slice(-3000)}`);
  }), { seed: SEED, numRuns: RUNS, endOnFailure: true });
  console.log(`scram-fuzz seed ${SEED}: ${JSON.stringify(tally)}`);
  // The fuzz reached every step: refusals at each one, and logins.
  for (const k of ['handshake refused', 'client-first refused', 'client-final refused', 'logged in']) assert.ok((tally[k] ?? 0) > 0, `no attempt ended "${k}": ${JSON.stringify(tally)}`);
  const logs = broker.logs();
  for (const pw of typed) assert.ok(!logs.includes(pw), `the log holds the password ${pw}`);
  assert.ok(!/"level":"error"/.test(logs), `an error was logged:\n${logs.split('\n').filter((l) => l.includes('"level":"error"')).join('\n')}`);
  assert.match(logs, /"event":"auth.failed"/);
});
