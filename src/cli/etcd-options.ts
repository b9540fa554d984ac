/**
 * The etcd connection of CLI commands that read etcd directly (`sluice cluster status`), with
 * the broker's own settings as flags and environment (docs/security.md, "etcd"): endpoints
 * (`--etcd`, SLUICE_ETCD), TLS (`--etcd-ca-file`, `--etcd-cert-file`, `--etcd-key-file`, or
 * SLUICE_ETCD_CA_FILE, ...) and etcd's own login (`--etcd-user` or SLUICE_ETCD_USER; the
 * password from SLUICE_ETCD_PASSWORD, or `--etcd-password` as the broker has it, though a flag
 * shows in `ps`). The same
 * checks as the broker's (load-config.ts) and, when etcd refuses, the same diagnosis
 * (broker/etcd-connection.ts), naming etcd and the flag to fix.
 */
import { Option, type Command } from 'commander';
import type { Etcd3 } from 'etcd3';
import { envName } from '../config/settings.js';
import { checkEtcdSecurity } from '../config/load-config.js';
import type { EtcdSettings } from '../broker/etcd-connection.js';

/** What commander parses from addEtcdOptions' flags. */
export interface EtcdFlags {
  etcd: string;
  etcdCaFile?: string;
  etcdCertFile?: string;
  etcdKeyFile?: string;
  etcdUser?: string;
  etcdPassword?: string;
}

const WHO = 'sluice';

/** Adds the connection flags (each also read from the broker's environment variable). */
export function addEtcdOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--etcd <urls>', 'etcd endpoints, comma-separated (https:// when etcd serves TLS)').env(envName('etcd')).makeOptionMandatory())
    .addOption(new Option('--etcd-ca-file <file>', 'PEM CA bundle etcd\'s certificate must chain to').env(envName('etcdCaFile')))
    .addOption(new Option('--etcd-cert-file <file>', 'PEM client certificate for etcd --client-cert-auth').env(envName('etcdCertFile')))
    .addOption(new Option('--etcd-key-file <file>', 'PEM key of --etcd-cert-file').env(envName('etcdKeyFile')))
    .addOption(new Option('--etcd-user <name>', `etcd's own user (etcd auth enabled); the password from ${envName('etcdPassword')}`).env(envName('etcdUser')))
    .addOption(new Option('--etcd-password <password>', `that user's password (prefer ${envName('etcdPassword')}: a flag shows in ps)`).env(envName('etcdPassword')));
}

/** The settings the flags (or their variables) give; throws a ConfigError naming the flag for a contradiction. */
export function etcdSettings(o: EtcdFlags): EtcdSettings {
  const s: EtcdSettings = {
    etcd: o.etcd,
    ...(o.etcdCaFile !== undefined && { etcdCaFile: o.etcdCaFile }),
    ...(o.etcdCertFile !== undefined && { etcdCertFile: o.etcdCertFile }),
    ...(o.etcdKeyFile !== undefined && { etcdKeyFile: o.etcdKeyFile }),
    ...(o.etcdUser !== undefined && { etcdUser: o.etcdUser }),
    ...(o.etcdPassword !== undefined && o.etcdPassword !== '' && { etcdPassword: o.etcdPassword }),
  };
  checkEtcdSecurity(s);
  return s;
}

/** A client of etcd with these settings (a short dial timeout: an unreachable etcd is reported, not waited on). */
export async function openEtcd(s: EtcdSettings): Promise<Etcd3> {
  // etcd3 (and grpc under it) is loaded by the commands that read etcd, not by every command
  // at the CLI's start, where it cost ~0.17 s of CPU (src/cli/main.ts says why that matters).
  const [{ Etcd3: Client }, { etcdClientOptions }] = await Promise.all([import('etcd3'), import('../broker/etcd-connection.js')]);
  return new Client({ ...await etcdClientOptions(s), dialTimeout: 5000 });
}

/**
 * What to tell the user when a read of etcd failed: the login refused, no login given, a role
 * without the cluster's prefix, a TLS mismatch (found by one TLS dial: grpc hides the reason),
 * or else etcd's own message.
 */
export async function etcdFailure(err: unknown, s: EtcdSettings, prefix: string): Promise<Error> {
  const { etcdAnswerProblem, etcdTlsProblem } = await import('../broker/etcd-connection.js');
  const answered = etcdAnswerProblem(err, s, prefix, WHO);
  if (answered !== undefined) return new Error(answered.message, { cause: err });
  const tls = await etcdTlsProblem(s, 5000, WHO);
  if (tls !== undefined) return new Error(`cannot read the cluster from etcd: ${tls}`, { cause: err });
  const detail = (err as Error).message.replace(/\s*Resolution note:\s*$/, '');
  return new Error(`cannot read the cluster from etcd at ${s.etcd}: ${detail}`, { cause: err });
}
