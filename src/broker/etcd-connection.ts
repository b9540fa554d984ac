/**
 * How a broker connects to etcd (docs/security.md, "etcd"): the endpoints of the `etcd`
 * setting, TLS (`etcdCaFile`: the CA etcd's certificate must chain to; `etcdCertFile` and
 * `etcdKeyFile`: the client certificate etcd's --client-cert-auth asks for) and etcd's own
 * login (`etcdUser`, `etcdPassword`), handed to the etcd3 client as its `credentials` and
 * `auth` options.
 *
 * And what a failed first contact means, as a start-up error naming etcd and the setting to
 * fix: the etcd3 client reports a certificate that does not verify only as "UNAVAILABLE: No
 * connection established. Last error: null" (grpc hides the TLS error), so `etcdTlsProblem`
 * dials the first endpoint with Node's TLS and the same material to find out why; a refused
 * login or a role without the cluster's prefix is an answer, not silence, and stops start-up
 * at once rather than after etcdConnectWaitMs.
 *
 * `sluice cluster status` (cli/cluster-command.ts) reads etcd directly with the same settings,
 * so these take only the etcd settings and name who is connecting (`who`).
 *
 * The password goes to etcd3 only (which sends it in etcd's Authenticate call); it is never
 * part of an error message or a log line.
 */
import { connect as tlsConnect } from 'node:tls';
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError, GRPCInvalidArgumentError, type IOptions } from 'etcd3';
import { flagName, type BrokerConfig } from '../config/settings.js';
import { SluiceError } from '../errors.js';
import { etcdEndpoints, etcdUsesTls } from '../cluster/etcd-endpoints.js';
import { readSettingFile } from './tls-files.js';

/** The settings of a connection to etcd: a broker's, or a CLI's given as the same flags and environment. */
export type EtcdSettings = Pick<BrokerConfig, 'etcd' | 'etcdCaFile' | 'etcdCertFile' | 'etcdKeyFile' | 'etcdUser' | 'etcdPassword'>;

/** The connection's TLS material, read from the files the settings name; undefined when TLS is off. */
interface EtcdTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

async function etcdTls(config: EtcdSettings): Promise<EtcdTls | undefined> {
  if (!etcdUsesTls(config.etcd!, config.etcdCaFile, config.etcdCertFile)) return undefined;
  const out: EtcdTls = {};
  if (config.etcdCaFile !== undefined) out.ca = await readSettingFile('etcdCaFile', config.etcdCaFile);
  if (config.etcdCertFile !== undefined) out.cert = await readSettingFile('etcdCertFile', config.etcdCertFile);
  if (config.etcdKeyFile !== undefined) out.key = await readSettingFile('etcdKeyFile', config.etcdKeyFile);
  return out;
}

/** The etcd3 client options of this broker; throws INVALID_CONFIG naming the setting whose file cannot be read. */
export async function etcdClientOptions(config: EtcdSettings): Promise<IOptions> {
  const out: IOptions = { hosts: etcdEndpoints(config.etcd!), dialTimeout: 5000 };
  const tls = await etcdTls(config);
  if (tls !== undefined) {
    // etcd3 types the CA as required; grpc takes none (null: the system's CAs), as with https:// endpoints alone.
    out.credentials = { rootCertificate: tls.ca as Buffer, ...(tls.cert !== undefined && { certChain: tls.cert, privateKey: tls.key }) };
  }
  if (config.etcdUser !== undefined) out.auth = { username: config.etcdUser, password: config.etcdPassword! };
  return out;
}

const named = (key: string): string => `'${key}' (flag --${flagName(key)})`;

/**
 * The start-up error for an answer of etcd that no retry changes: the login refused, no login
 * given to an etcd with auth on, or a role without the cluster's keys. Undefined for anything
 * else (silence is waited on).
 */
export function etcdAnswerProblem(err: unknown, config: EtcdSettings, prefix: string, who = 'this broker'): SluiceError | undefined {
  const at = `etcd at ${config.etcd}`;
  if (err instanceof EtcdAuthenticationFailedError) {
    return new SluiceError('INVALID_CONFIG', `${at} refused the login of user ${JSON.stringify(config.etcdUser)}: wrong user or password (settings ${named('etcdUser')}, ${named('etcdPassword')}): ${err.message}`, { cause: err });
  }
  if (err instanceof GRPCInvalidArgumentError && /user name is empty/.test(err.message)) {
    return new SluiceError('INVALID_CONFIG', `${at} has authentication on and ${who} gave no user: set ${named('etcdUser')} and ${named('etcdPassword')} (${err.message})`, { cause: err });
  }
  if (err instanceof EtcdPermissionDeniedError) {
    return new SluiceError('INVALID_CONFIG', `${at} denied ${config.etcdUser === undefined ? who : `etcd user ${JSON.stringify(config.etcdUser)}`} access to the cluster's keys: its role needs readwrite on the prefix ${prefix} (setting 'clusterName'): ${err.message}`, { cause: err });
  }
  return undefined;
}

/**
 * Why a TLS connection to etcd's first endpoint fails with this broker's TLS settings: the
 * certificate does not verify against etcdCaFile, etcd wants a client certificate, or etcd
 * does not speak TLS at all. Undefined when the handshake succeeds (or the endpoint does not
 * answer: that is silence, not a TLS problem). With TLS off, says so if etcd speaks TLS.
 */
export async function etcdTlsProblem(config: EtcdSettings, timeoutMs = 5000, who = 'this broker'): Promise<string | undefined> {
  const endpoint = etcdEndpoints(config.etcd!)[0];
  const m = /^(?:https?:\/\/)?(\[[^\]]+\]|[^:]+):(\d+)$/.exec(endpoint);
  if (m === null) return undefined;
  const host = m[1].replace(/^\[|\]$/g, '');
  const port = Number(m[2]);
  const tls = await etcdTls(config);
  const isIp = /^[\d.]+$|:/.test(host);
  return new Promise((resolve) => {
    let settled = false;
    const done = (v: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const socket = tlsConnect({
      host, port, ...(isIp ? {} : { servername: host }), rejectUnauthorized: tls !== undefined, ALPNProtocols: ['h2'],
      ...(tls?.ca !== undefined && { ca: tls.ca }), ...(tls?.cert !== undefined && { cert: tls.cert, key: tls.key }),
    }, () => {
      // TLS off and the handshake worked: etcd serves TLS and this broker dials it in plaintext.
      if (tls === undefined) done(`etcd at ${endpoint} serves TLS: give the endpoints as https:// and set ${named('etcdCaFile')} to the CA that signed its certificate`);
      // etcd with --client-cert-auth refuses a missing certificate after the handshake: one round trip tells.
      else socket.once('data', () => done(undefined));
    });
    const timer = setTimeout(() => done(undefined), timeoutMs);
    timer.unref();
    socket.on('error', (err: Error & { code?: string }) => {
      const code = err.code ?? '';
      if (tls === undefined || code === 'ECONNREFUSED') return done(undefined); // plaintext etcd, as configured; or nobody there
      // An alert is etcd's verdict on this broker's certificate; a code is Node's on etcd's.
      if (/alert (bad certificate|certificate required|unknown ca|certificate unknown|handshake failure)/.test(err.message)) {
        return done(`etcd at ${endpoint} refused ${who}'s client certificate (${config.etcdCertFile === undefined ? `none given: set ${named('etcdCertFile')} and ${named('etcdKeyFile')}` : `${config.etcdCertFile}, setting ${named('etcdCertFile')}`}): ${err.message.trim()}`);
      }
      if (/CERT|SELF_SIGNED|VERIFY|ISSUER|ALTNAME|SIGNATURE/.test(code)) {
        return done(`etcd's TLS certificate at ${endpoint} does not verify against ${config.etcdCaFile === undefined ? 'the system\'s CAs' : `${config.etcdCaFile} (setting ${named('etcdCaFile')})`}: ${err.message} (${code})`);
      }
      if (/wrong version number|packet length too long|unknown protocol/.test(err.message)) {
        return done(`etcd at ${endpoint} does not speak TLS, but ${who} dials it with TLS (${config.etcdCaFile !== undefined ? `setting ${named('etcdCaFile')}` : 'an https:// endpoint'}): ${err.message}`);
      }
      done(undefined);
    });
  });
}
