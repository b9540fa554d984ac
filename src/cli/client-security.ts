/**
 * TLS and login for every client command (docs/security.md): `--ca FILE` (SLUICE_CA), `--cert`
 * and `--key` (a client certificate), `--user NAME` (SLUICE_USER) with the password from
 * SLUICE_PASSWORD or `--password-stdin`. main.ts adds these options to every command that
 * takes `--broker` and resolves them before the command runs; the commands spread
 * `clientSecurity()` into the options of the clients they make.
 */
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { ClientTlsOptions, ConnectionOptions } from '../client/connection.js';

let resolved: Pick<ConnectionOptions, 'tls' | 'sasl'> = {};

/** The TLS and login options of the running command (empty until resolved, and when none were given). */
export function clientSecurity(): Pick<ConnectionOptions, 'tls' | 'sasl'> {
  return resolved;
}

/** Adds the options to `cmd` and its sub-commands that take --broker; a command's own --password-stdin is left alone. */
export function addSecurityOptions(cmd: Command): void {
  for (const sub of cmd.commands) addSecurityOptions(sub);
  if (!cmd.options.some((o) => o.long === '--broker')) return;
  cmd.addOption(new Option('--ca <file>', 'PEM CA bundle that signed the broker\'s certificate (wss://)').env('SLUICE_CA'));
  cmd.addOption(new Option('--cert <file>', 'PEM client certificate, for brokers that require one'));
  // `produce` has a --key of its own (the message key): there the certificate's key is --cert-key.
  const keyFlag = cmd.options.some((o) => o.long === '--key') ? '--cert-key' : '--key';
  cmd.addOption(new Option(`${keyFlag} <file>`, 'PEM key of --cert'));
  // `quota set` and `acl add|remove|list` have a --user of their own (whose quota, whom the ACL is for): there the login is --login-user.
  const userFlag = cmd.options.some((o) => o.long === '--user') ? '--login-user' : '--user';
  cmd.addOption(new Option(`${userFlag} <name>`, 'log in as this user (SASL/SCRAM-SHA-256); password from SLUICE_PASSWORD or --password-stdin').env('SLUICE_USER'));
  // `user add --password-stdin` reads the new user's password: there the login's comes from SLUICE_PASSWORD.
  const stdinIsLogin = !cmd.options.some((o) => o.long === '--password-stdin');
  if (stdinIsLogin) cmd.addOption(new Option('--password-stdin', 'read the --user password from the first line of stdin'));
  cmd.hook('preAction', async (_cmd, action) => {
    resolved = await resolveSecurity(action.opts(), stdinIsLogin, keyFlag === '--key' ? 'key' : 'certKey', userFlag === '--user' ? 'user' : 'loginUser');
  });
}

async function resolveSecurity(o: Record<string, unknown>, stdinIsLogin: boolean, keyOpt: 'key' | 'certKey', userOpt: 'user' | 'loginUser'): Promise<Pick<ConnectionOptions, 'tls' | 'sasl'>> {
  const out: Pick<ConnectionOptions, 'tls' | 'sasl'> = {};
  const tls: ClientTlsOptions = {};
  const key = o[keyOpt];
  const keyFlag = keyOpt === 'key' ? '--key' : '--cert-key';
  if (typeof o.ca === 'string') tls.ca = await readPem(o.ca, '--ca');
  if ((o.cert === undefined) !== (key === undefined)) throw new InvalidArgumentError(`--cert and ${keyFlag} go together`);
  if (typeof o.cert === 'string' && typeof key === 'string') {
    tls.cert = await readPem(o.cert, '--cert');
    tls.key = await readPem(key, keyFlag);
  }
  if (Object.keys(tls).length > 0) out.tls = tls;
  const user = o[userOpt];
  if (typeof user === 'string') {
    const password = stdinIsLogin && o.passwordStdin === true ? await readStdinLine() : process.env.SLUICE_PASSWORD;
    if (password === undefined || password === '') throw new InvalidArgumentError(`${userOpt === 'user' ? '--user' : '--login-user'} ${user} needs a password: set SLUICE_PASSWORD or pass --password-stdin`);
    out.sasl = { username: user, password };
  }
  return out;
}

async function readPem(path: string, option: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new InvalidArgumentError(`${option} ${path}: ${(err as Error).message}`);
  }
}

/** The first line of stdin, without its line end (a password piped in). */
export async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
}
