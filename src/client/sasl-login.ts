/**
 * The client's side of a login (docs/security.md): SaslHandshake, then the two SCRAM rounds
 * of SaslAuthenticate (protocol/scram.ts), run by `Connection` on every new socket before
 * anything else is sent, so every client class (Producer, Consumer, Admin, QueueConsumer,
 * QueueAdmin) logs in the same way from its `sasl` option. The password stays in this
 * process: only the proof crosses the wire, and the broker's final message is checked, so a
 * broker that does not hold the user's credential is not trusted either.
 */
import { Api } from '../protocol/api.js';
import type { BodyOf, ResponseOf } from '../protocol/api-table.js';
import { SCRAM_SHA_256, ScramClient, ScramError } from '../protocol/scram.js';
import { SluiceError } from '../errors.js';

/** A user's login: what `sasl` holds. */
export interface SaslCredentials {
  username: string;
  password: string;
}

export type LoginSend = <A extends typeof Api.SaslHandshake | typeof Api.SaslAuthenticate>(api: A, body: BodyOf<A>) => Promise<ResponseOf<A>>;

/** Runs one SCRAM-SHA-256 exchange over `send`; rejects with the broker's error or SASL_AUTHENTICATION_FAILED. */
export async function scramLogin(send: LoginSend, creds: SaslCredentials): Promise<void> {
  await send(Api.SaslHandshake, { mechanism: SCRAM_SHA_256 });
  const scram = new ScramClient(creds.username, creds.password);
  try {
    const first = await send(Api.SaslAuthenticate, { authBytes: scram.first() });
    const final = await send(Api.SaslAuthenticate, { authBytes: await scram.final(Buffer.from(first.authBytes)) });
    scram.verify(Buffer.from(final.authBytes));
  } catch (err) {
    if (err instanceof ScramError) throw new SluiceError('SASL_AUTHENTICATION_FAILED', `login as ${JSON.stringify(creds.username)} failed: ${err.message}`, { cause: err });
    throw err;
  }
}
