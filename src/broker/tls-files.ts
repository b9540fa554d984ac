/**
 * The broker's TLS material (docs/security.md), read from the files the `tls.*` settings
 * name: what the listener serves (certificate, key, and the CA client certificates must chain
 * to), and what this broker presents and trusts when it dials other brokers (cluster mode).
 * Read at start-up and again on SIGHUP (server.ts `reloadTls`), so a renewed certificate
 * is served to new connections without a restart; connections already open keep theirs.
 */
import { readFile } from 'node:fs/promises';
import type { SecureContextOptions } from 'node:tls';
import { flagName, type BrokerConfig } from '../config/settings.js';
import { SluiceError } from '../errors.js';

/** TLS is on when the certificate and its key are set (the config check makes them come together). */
export function tlsOn(config: BrokerConfig): boolean {
  return config.tls.certFile !== undefined && config.tls.keyFile !== undefined;
}

/** The listener's secure context options; throws INVALID_CONFIG naming the setting whose file cannot be read. */
export async function serverTlsOptions(config: BrokerConfig): Promise<SecureContextOptions> {
  const t = config.tls;
  const out: SecureContextOptions = { cert: await readSettingFile('tls.certFile', t.certFile!), key: await readSettingFile('tls.keyFile', t.keyFile!) };
  if (t.caFile !== undefined) out.ca = await readSettingFile('tls.caFile', t.caFile);
  return out;
}

/**
 * What this broker's links to the others use (cluster mode): the CA it trusts (tls.caFile;
 * without it, the system's CAs), and its own certificate as a client certificate, so brokers
 * that require client certificates accept it. Undefined when TLS is off.
 */
export async function linkTlsOptions(config: BrokerConfig): Promise<{ ca?: Buffer; cert: Buffer; key: Buffer } | undefined> {
  if (!tlsOn(config)) return undefined;
  const o = await serverTlsOptions(config);
  return { cert: o.cert as Buffer, key: o.key as Buffer, ...(o.ca !== undefined && { ca: o.ca as Buffer }) };
}

/** The file a setting names; throws INVALID_CONFIG naming the setting and its flag when it cannot be read. */
export async function readSettingFile(setting: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new SluiceError('INVALID_CONFIG', `cannot read ${path} (setting '${setting}', flag --${flagName(setting)}): ${(err as Error).message}`, { cause: err });
  }
}

/** Loopback listeners are reachable only from this machine: anything else should have auth and TLS on. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
