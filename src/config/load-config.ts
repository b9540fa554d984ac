/**
 * Builds the broker config from four layers, later ones winning:
 *   defaults (config/default.json) < config file < SLUICE_* environment < CLI flags.
 * Every value is checked against SETTINGS; an unknown key in a file or an ill-typed value
 * anywhere throws ConfigError naming the setting and where it came from. Unknown SLUICE_*
 * variables only produce a warning: other tools (the client CLI) read their own SLUICE_*
 * names from the same environment.
 *
 * Runs once at start-up, so the synchronous file reads here are deliberate.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SHARE_GROUP_CONFIG, resolveShareConfig } from '../queue/share-config.js';
import { InvalidShareConfigError } from '../queue/errors.js';
import { etcdEndpoints, etcdEndpointsProblem, etcdUsesTls } from '../cluster/etcd-endpoints.js';
import { ConfigError } from './config-error.js';
import { SETTINGS, SETTINGS_BY_KEY, describeType, envName, flagName, type BrokerConfig, type Setting } from './settings.js';

/** src/config/ and dist/config/ both sit two levels below the package root. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../config/default.json', import.meta.url));

/** Environment names that are not settings but are read by the broker or its tools. */
// Read by the `sluice` command itself, not broker settings: no warning for them.
const ENV_NOT_SETTINGS = new Set(['SLUICE_CONFIG', 'SLUICE_BROKER', 'SLUICE_GC_TUNING']);

export interface ConfigSources {
  /** JSON config file (`--config`); missing file is an error. */
  file?: string;
  env?: Record<string, string | undefined>;
  /** Values by setting key (`log.segmentBytes`); strings are parsed like env values. Errors name the flag (`--log-segment-bytes`). */
  flags?: Record<string, unknown>;
  defaultsFile?: string;
}

export interface LoadedConfig {
  config: BrokerConfig;
  warnings: string[];
}

type Flat = Map<string, unknown>;

export function loadConfig(src: ConfigSources = {}): LoadedConfig {
  const warnings: string[] = [];
  const values: Flat = new Map();
  const defaultsFile = src.defaultsFile ?? DEFAULT_CONFIG_PATH;
  for (const s of SETTINGS) if (s.default !== undefined) values.set(s.key, s.default);
  applyFile(values, defaultsFile, 'defaults file');
  if (src.file !== undefined) applyFile(values, src.file, 'config file');
  const env = src.env ?? {};
  const envByName = new Map(SETTINGS.map((s) => [envName(s.key), s]));
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('SLUICE_') || raw === undefined) continue;
    const setting = envByName.get(name);
    if (!setting) {
      if (!ENV_NOT_SETTINGS.has(name)) warnings.push(`ignoring unknown environment variable ${name}`);
      continue;
    }
    values.set(setting.key, parseText(setting, raw, `environment variable ${name}`));
  }
  for (const [key, raw] of Object.entries(src.flags ?? {})) {
    if (raw === undefined) continue;
    const setting = SETTINGS_BY_KEY.get(key);
    if (!setting) throw new ConfigError(`unknown flag --${flagName(key)}`);
    // Named as typed on the command line (--log-segment-bytes), not as the setting's path.
    const where = `flag --${flagName(key)}`;
    values.set(key, typeof raw === 'string' ? parseText(setting, raw, where) : checkValue(setting, raw, where));
  }
  for (const s of SETTINGS) if (!values.has(s.key) && s.optional !== true) throw new ConfigError(`setting '${s.key}' has no value (is ${defaultsFile} complete?)`);
  const config = unflatten(values) as unknown as BrokerConfig;
  checkShareDefaults(config);
  checkCluster(config);
  checkSecurity(config);
  checkEtcdSecurity(config);
  return { config, warnings };
}

/** `setting 'x' (flag --x, env SLUICE_X)`: how an error names a setting. */
function named(key: string): string {
  return `setting '${key}' (flag --${flagName(key)}, env ${envName(key)})`;
}

/**
 * TLS needs a certificate and its key together; a CA or required client certificates only
 * make sense with TLS on. Cluster mode with auth needs the credential brokers log in to each
 * other with. Checked before the broker listens (docs/security.md).
 */
function checkSecurity(config: BrokerConfig): void {
  const tls = config.tls;
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new ConfigError(`${named(tls.certFile === undefined ? 'tls.certFile' : 'tls.keyFile')} is required with ${named(tls.certFile === undefined ? 'tls.keyFile' : 'tls.certFile')}: TLS needs both`);
  }
  if (tls.certFile === undefined && tls.caFile !== undefined) throw new ConfigError(`${named('tls.caFile')} needs TLS on: set tls.certFile and tls.keyFile too`);
  if (tls.requireClientCert && tls.caFile === undefined) throw new ConfigError(`${named('tls.requireClientCert')} needs tls.caFile: the CA client certificates must be signed by`);
  if (tls.metricsPort && tls.certFile === undefined) throw new ConfigError(`${named('tls.metricsPort')} needs TLS on: set tls.certFile and tls.keyFile too`);
  if (tls.metricsPort && config.metricsPort < 0) throw new ConfigError(`${named('tls.metricsPort')} needs ${named('metricsPort')}: it chooses TLS for that port`);
  if (config.auth === 'scram' && config.etcd !== undefined && (config.interBrokerUser === undefined || config.interBrokerPassword === undefined)) {
    throw new ConfigError(`${named('interBrokerUser')} and ${named('interBrokerPassword')} are required in cluster mode with auth scram: brokers log in to each other with them`);
  }
}

/**
 * The etcd connection's TLS and login (docs/security.md, "etcd") come in pairs (a certificate
 * with its key, a user with a password), only in cluster mode, and TLS means every endpoint
 * is dialled with TLS: an http:// endpoint beside them is a contradiction, not a choice.
 */
export function checkEtcdSecurity(config: Pick<BrokerConfig, 'etcd' | 'etcdCaFile' | 'etcdCertFile' | 'etcdKeyFile' | 'etcdUser' | 'etcdPassword'>): void {
  const keys = ['etcdCaFile', 'etcdCertFile', 'etcdKeyFile', 'etcdUser', 'etcdPassword'] as const;
  const set = keys.filter((k) => config[k] !== undefined);
  if (set.length === 0) return;
  if (config.etcd === undefined) throw new ConfigError(`${named(set[0])} needs cluster mode: it configures the connection to etcd (setting 'etcd')`);
  const pair = (a: (typeof keys)[number], b: (typeof keys)[number], why: string): void => {
    if ((config[a] === undefined) !== (config[b] === undefined)) throw new ConfigError(`${named(config[a] === undefined ? a : b)} is required with ${named(config[a] === undefined ? b : a)}: ${why}`);
  };
  pair('etcdCertFile', 'etcdKeyFile', 'a client certificate needs its key');
  pair('etcdUser', 'etcdPassword', 'etcd\'s login needs both');
  const plain = etcdEndpoints(config.etcd).find((h) => h.startsWith('http://'));
  if (plain !== undefined && etcdUsesTls(config.etcd, config.etcdCaFile, config.etcdCertFile)) {
    throw new ConfigError(`${named('etcd')} endpoint ${JSON.stringify(plain)} is plaintext (http://) while the etcd connection uses TLS (etcdCaFile, etcdCertFile or an https:// endpoint): write it https://`);
  }
}

/**
 * Cluster mode needs to know who this broker is (an id no other broker has: etcd refuses a live
 * duplicate), where etcd is, and a URL the others can dial: checked before the broker listens.
 */
function checkCluster(config: BrokerConfig): void {
  if (config.etcd === undefined) return;
  if (config.nodeId === undefined) {
    throw new ConfigError(`setting 'nodeId' (flag --${flagName('nodeId')}, env ${envName('nodeId')}) is required when 'etcd' is set (cluster mode)`);
  }
  const etcd = etcdEndpointsProblem(config.etcd);
  if (etcd !== undefined) throw new ConfigError(`setting 'etcd' (flag --${flagName('etcd')}, env ${envName('etcd')}) ${etcd}`);
  const url = config.advertisedUrl;
  if (url !== undefined && !isWsUrl(url)) {
    throw new ConfigError(`setting 'advertisedUrl' (flag --${flagName('advertisedUrl')}, env ${envName('advertisedUrl')}) must be a ws:// or wss:// URL other brokers and clients can dial, got ${JSON.stringify(url)}`);
  }
}

function isWsUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'ws:' || u.protocol === 'wss:') && u.hostname !== '';
  } catch {
    return false; // not a URL at all: the caller names the setting
  }
}

/**
 * The share.* defaults are a share group config, with rules between fields (the backoff cap
 * is at least the first backoff): checked here with the queue's own check, so a broker whose
 * defaults no group could have stops before it listens, naming the setting.
 */
function checkShareDefaults(config: BrokerConfig): void {
  try {
    resolveShareConfig(DEFAULT_SHARE_GROUP_CONFIG, config.share);
  } catch (err) {
    if (!(err instanceof InvalidShareConfigError)) throw err;
    const key = `share.${err.field}`;
    throw new ConfigError(`setting '${key}' (flag --${flagName(key)}, env ${envName(key)}) ${err.detail}`);
  }
}

function applyFile(values: Flat, path: string, what: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${what} ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(json)) throw new ConfigError(`${what} ${path} must hold a JSON object`);
  walk(json, '', (key, value) => {
    const setting = SETTINGS_BY_KEY.get(key);
    if (setting?.default !== undefined && what === 'defaults file') {
      throw new ConfigError(`${what} ${path} sets '${key}', whose default the code owns (src/config/settings.ts names it): remove it there`);
    }
    if (!setting) throw new ConfigError(`unknown setting '${key}' in ${what} ${path}`);
    values.set(key, checkValue(setting, value, `${what} ${path}`));
  });
}

/** Calls `fn` for every leaf; descends only into objects that group settings (`log`). */
function walk(obj: Record<string, unknown>, prefix: string, fn: (key: string, value: unknown) => void): void {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix + k;
    if (isObject(v) && SETTINGS.some((s) => s.key.startsWith(`${key}.`))) walk(v, `${key}.`, fn);
    else fn(key, v);
  }
}

function checkValue(s: Setting, v: unknown, where: string): unknown {
  const t = s.type;
  const ok =
    t.kind === 'string' ? typeof v === 'string' && v.length > 0
    : t.kind === 'bool' ? typeof v === 'boolean'
    : t.kind === 'enum' ? typeof v === 'string' && t.values.includes(v)
    : typeof v === 'number' && Number.isSafeInteger(v) && v >= t.min && v <= t.max;
  if (!ok) throw new ConfigError(`setting '${s.key}' (${where}) must be ${describeType(t)}, got ${s.secret ? 'another value (not shown: a secret)' : JSON.stringify(v)}`);
  return v;
}

/** Env and flag values arrive as text. */
function parseText(s: Setting, raw: string, where: string): unknown {
  const t = s.type;
  let v: unknown = raw;
  if (t.kind === 'int' && /^\s*-?\d+\s*$/.test(raw)) v = Number(raw);
  else if (t.kind === 'bool') v = raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
  return checkValue(s, v, where);
}

function unflatten(values: Flat): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of values) {
    const parts = key.split('.');
    let o = out;
    for (let i = 0; i < parts.length - 1; i++) o = (o[parts[i]] ??= {}) as Record<string, unknown>;
    o[parts[parts.length - 1]] = v;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
