/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677): the credential a user store keeps, the four messages
 * of one exchange, and both sides' computations. Pure (Node's crypto only), shared by the
 * broker (which checks) and the client (which proves), as Kafka's ScramFormatter is.
 *
 * What crosses the wire (the payloads of SaslAuthenticate, docs/security.md):
 *   client-first  n,,n=<user>,r=<client nonce>
 *   server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
 *   client-final  c=biws,r=<both nonces>,p=<base64 ClientProof>
 *   server-final  v=<base64 ServerSignature>        (or e=<error>)
 * The password never does: the client proves it knows SaltedPassword = PBKDF2(password,
 * salt, i) by sending ClientKey XOR HMAC(StoredKey, AuthMessage); the broker keeps only
 * StoredKey = H(ClientKey) and ServerKey, so a stolen user store does not let anyone log
 * in (it would take the ClientKey, which is never stored). The server nonce is fresh per
 * exchange, and AuthMessage covers it: a recorded client-final proves nothing on a new
 * connection (a replay fails).
 *
 * Channel binding is not offered (gs2 header `n,,`): TLS, when on, protects the channel.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** RFC 7677 section 4: at least 4096 iterations; fewer is refused when a credential is stored. */
export const MIN_SCRAM_ITERATIONS = 4096;
/** Bounds a credential's cost: a user store entry asking for more would let one login burn seconds of CPU. */
export const MAX_SCRAM_ITERATIONS = 1_000_000;
/** Iterations of a credential `sluice user add` makes unless told otherwise. */
export const DEFAULT_SCRAM_ITERATIONS = 8192;
/** Longest user name (characters): names are keys in etcd and in the data directory's users file. */
export const MAX_USER_NAME_CHARS = 255;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const NONCE_BYTES = 18;

/** What a user store keeps of one user: never the password. */
export interface ScramCredential {
  mechanism: typeof SCRAM_SHA_256;
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** A SCRAM message that does not parse, or an exchange that fails; `message` is safe to show the peer and to log. */
export class ScramError extends Error {}

/** Why a user name is not acceptable, or undefined. The rule of every store and of the wire. */
export function userNameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'a user name must be a non-empty string';
  if (name.length > MAX_USER_NAME_CHARS) return `a user name has at most ${MAX_USER_NAME_CHARS} characters`;
  // Control characters would break log lines and etcd key listings; '/' would nest etcd keys.
  if (/[\u0000-\u001f\u007f/]/.test(name)) return `user name ${JSON.stringify(name)} holds a control character or '/'`;
  return undefined;
}

/** Why a stored credential cannot be used, or undefined (a store checks what it reads and what it is asked to write). */
export function credentialProblem(c: ScramCredential): string | undefined {
  if (c.mechanism !== SCRAM_SHA_256) return `mechanism must be ${SCRAM_SHA_256}`;
  if (!Number.isSafeInteger(c.iterations) || c.iterations < MIN_SCRAM_ITERATIONS || c.iterations > MAX_SCRAM_ITERATIONS) {
    return `iterations must be an integer in ${MIN_SCRAM_ITERATIONS}..${MAX_SCRAM_ITERATIONS}, got ${String(c.iterations)}`;
  }
  if (!Buffer.isBuffer(c.salt) || c.salt.length < 8 || c.salt.length > 128) return 'salt must be 8..128 bytes';
  if (!Buffer.isBuffer(c.storedKey) || c.storedKey.length !== KEY_BYTES) return `storedKey must be ${KEY_BYTES} bytes`;
  if (!Buffer.isBuffer(c.serverKey) || c.serverKey.length !== KEY_BYTES) return `serverKey must be ${KEY_BYTES} bytes`;
  return undefined;
}

export function saltedPassword(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return pbkdf2Async(password.normalize('NFKC'), salt, iterations, KEY_BYTES, 'sha256');
}

function hmac(key: Buffer, text: string | Buffer): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

function sha256(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

/** The credential of `password` with a fresh salt: what `user add` stores (or sends to the broker). */
export async function makeCredential(password: string, iterations = DEFAULT_SCRAM_ITERATIONS, salt: Buffer = randomBytes(SALT_BYTES)): Promise<ScramCredential> {
  if (typeof password !== 'string' || password.length === 0) throw new ScramError('the password is empty');
  const salted = await saltedPassword(password, salt, iterations);
  const c: ScramCredential = {
    mechanism: SCRAM_SHA_256, iterations, salt,
    storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key'),
  };
  const problem = credentialProblem(c);
  if (problem !== undefined) throw new ScramError(problem);
  return c;
}

/** Whether `password` is the one `c` was made from (StoredKey recomputed with the stored salt and iterations, as a login would). */
export async function passwordMatches(c: ScramCredential, password: string): Promise<boolean> {
  const salted = await saltedPassword(password, c.salt, c.iterations);
  return timingSafeEqual(sha256(hmac(salted, 'Client Key')), c.storedKey);
}

/** RFC 5802 saslname: ',' and '=' escaped. */
function escapeName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function unescapeName(s: string): string {
  if (/=(?!3D|2C)/.test(s)) throw new ScramError('malformed user name in client-first message');
  return s.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** `a=1,b=2` -> {a: '1', b: '2'}; the values may hold '=' (base64). */
function attributes(msg: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of msg.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw new ScramError(`malformed ${what} message`);
    out.set(part[0], part.slice(2));
  }
  return out;
}

function need(attrs: Map<string, string>, key: string, what: string): string {
  const v = attrs.get(key);
  if (v === undefined || v === '') throw new ScramError(`${what} message has no '${key}='`);
  return v;
}

function nonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64');
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

const GS2_HEADER = 'n,,';
const CHANNEL_BINDING = Buffer.from(GS2_HEADER).toString('base64'); // 'biws'

/** The client side of one exchange. */
export class ScramClient {
  private readonly clientNonce: string;
  private readonly firstBare: string;
  private expectedServerSignature: Buffer | undefined;

  /** `clientNonce`: for test vectors only; a fresh random one otherwise. */
  constructor(readonly user: string, private readonly password: string, clientNonce = nonce()) {
    this.clientNonce = clientNonce;
    this.firstBare = `n=${escapeName(user)},r=${this.clientNonce}`;
  }

  first(): Buffer {
    return Buffer.from(GS2_HEADER + this.firstBare);
  }

  /** The client-final message for the broker's server-first; throws ScramError on a server-first that does not fit. */
  async final(serverFirst: Buffer): Promise<Buffer> {
    const text = serverFirst.toString('utf8');
    const a = attributes(text, 'server-first');
    const combined = need(a, 'r', 'server-first');
    if (!combined.startsWith(this.clientNonce) || combined.length === this.clientNonce.length) throw new ScramError('the server nonce does not extend the client nonce');
    const iterations = Number(need(a, 'i', 'server-first'));
    if (!Number.isSafeInteger(iterations) || iterations < MIN_SCRAM_ITERATIONS || iterations > MAX_SCRAM_ITERATIONS) {
      throw new ScramError(`the broker asked for ${need(a, 'i', 'server-first')} iterations (accepted: ${MIN_SCRAM_ITERATIONS}..${MAX_SCRAM_ITERATIONS})`);
    }
    const salt = Buffer.from(need(a, 's', 'server-first'), 'base64');
    const salted = await saltedPassword(this.password, salt, iterations);
    const clientKey = hmac(salted, 'Client Key');
    const withoutProof = `c=${CHANNEL_BINDING},r=${combined}`;
    const authMessage = `${this.firstBare},${text},${withoutProof}`;
    const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
    this.expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
  }

  /** Checks the server-final message: the broker proved it holds the ServerKey (it is the broker the user was made on). */
  verify(serverFinal: Buffer): void {
    const a = attributes(serverFinal.toString('utf8'), 'server-final');
    const e = a.get('e');
    if (e !== undefined) throw new ScramError(`the broker refused the exchange: ${e}`);
    const v = Buffer.from(need(a, 'v', 'server-final'), 'base64');
    const want = this.expectedServerSignature;
    if (!want || v.length !== want.length || !timingSafeEqual(v, want)) throw new ScramError('the broker\'s server signature does not verify: it does not hold this user\'s credential');
  }
}

/**
 * The broker side of one exchange: `first` answers the client-first, `final` checks the
 * client-final and answers the server-final, or throws ScramError. An unknown user gets a
 * made-up salt derived from `fakeSaltKey` (the same for the same name, as a real one would
 * be) and fails only at `final`, so the answer does not say whether the user exists.
 */
export class ScramServer {
  private state: 'first' | 'final' | 'done' = 'first';
  private credential: ScramCredential | undefined;
  private firstBare = '';
  private serverFirst = '';
  private combinedNonce = '';
  /** The user named in the client-first message (for logs); '' before it arrived. */
  user = '';

  /** `serverNonce`: for test vectors only; a fresh random one per exchange otherwise (what defeats replays). */
  constructor(private readonly fakeSaltKey: Buffer, private readonly serverNonce = nonce()) {}

  /** `lookup` finds the user's credential (undefined: no such user). */
  async first(clientFirst: Buffer, lookup: (user: string) => Promise<ScramCredential | undefined>): Promise<Buffer> {
    if (this.state !== 'first') throw new ScramError('client-first message sent twice');
    this.state = 'final';
    const text = clientFirst.toString('utf8');
    if (!text.startsWith(GS2_HEADER)) {
      throw new ScramError(text.startsWith('p=') || text.startsWith('y,') ? 'channel binding is not supported; use the gs2 header n,,' : 'malformed client-first message (expected n,,n=<user>,r=<nonce>)');
    }
    this.firstBare = text.slice(GS2_HEADER.length);
    const a = attributes(this.firstBare, 'client-first');
    if (a.has('m')) throw new ScramError('SCRAM extensions are not supported');
    this.user = unescapeName(need(a, 'n', 'client-first'));
    const clientNonce = need(a, 'r', 'client-first');
    const problem = userNameProblem(this.user);
    this.credential = problem === undefined ? await lookup(this.user) : undefined;
    const salt = this.credential?.salt ?? hmac(this.fakeSaltKey, this.user).subarray(0, SALT_BYTES);
    const iterations = this.credential?.iterations ?? DEFAULT_SCRAM_ITERATIONS;
    this.combinedNonce = clientNonce + this.serverNonce;
    this.serverFirst = `r=${this.combinedNonce},s=${salt.toString('base64')},i=${iterations}`;
    return Buffer.from(this.serverFirst);
  }

  /** Checks the proof; returns the server-final message. Throws ScramError when it does not verify. */
  final(clientFinal: Buffer): Buffer {
    if (this.state !== 'final') throw new ScramError(this.state === 'first' ? 'client-final message before client-first' : 'the exchange is already over');
    this.state = 'done';
    const text = clientFinal.toString('utf8');
    const at = text.lastIndexOf(',p=');
    if (at < 0) throw new ScramError('client-final message has no proof');
    const withoutProof = text.slice(0, at);
    const a = attributes(withoutProof, 'client-final');
    if (need(a, 'c', 'client-final') !== CHANNEL_BINDING) throw new ScramError('client-final channel binding does not match n,,');
    // A recorded client-final carries the nonce of its own exchange, not this one's.
    if (need(a, 'r', 'client-final') !== this.combinedNonce) throw new ScramError('the nonce is not this exchange\'s (a replayed message?)');
    const proof = Buffer.from(text.slice(at + 3), 'base64');
    const c = this.credential;
    const authMessage = `${this.firstBare},${this.serverFirst},${withoutProof}`;
    if (!c || proof.length !== KEY_BYTES) throw new ScramError('unknown user or wrong password');
    const clientKey = xor(proof, hmac(c.storedKey, authMessage));
    if (!timingSafeEqual(sha256(clientKey), c.storedKey)) throw new ScramError('unknown user or wrong password');
    return Buffer.from(`v=${hmac(c.serverKey, authMessage).toString('base64')}`);
  }
}
