/**
 * Programs that some tests need from outside the repository (Prometheus and promtool now,
 * etcd for cluster tests, openssl for TLS tests), found on PATH or through an env override.
 *
 * A developer machine without one skips those tests, loudly. Under CI (the `CI` env var,
 * which .ci/run sets) a missing tool is a failure, never a skip: .ci/run installs what the
 * machine lacks, so a skip there would only hide that the check did not run.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Each tool: the env var that overrides its path, and the Debian package that ships it. */
const TOOLS = {
  prometheus: { env: 'SLUICE_PROMETHEUS', pkg: 'prometheus' },
  promtool: { env: 'SLUICE_PROMTOOL', pkg: 'prometheus' },
  // Not SLUICE_ETCD: that is the broker's 'etcd' setting (its endpoints), and a spawned broker would read it.
  etcd: { env: 'SLUICE_ETCD_BIN', pkg: 'etcd-server' },
  // The TLS tests make a throwaway CA and certificates with it.
  openssl: { env: 'SLUICE_OPENSSL_BIN', pkg: 'openssl' },
} as const;

export type ToolName = keyof typeof TOOLS;

export interface ExternalTool {
  /** The test option: a reason to skip on a machine without the tool, false otherwise and always under CI. */
  readonly skip: string | false;
  /** The tool's absolute path; throws, naming the package to install, when it is missing. */
  path(): string;
}

/** Absolute path of an executable from the env override or PATH, or undefined. */
export function findBinary(name: ToolName): string | undefined {
  const override = process.env[TOOLS[name].env];
  const candidates = override ? [override] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here; try the next directory
    }
  }
  return undefined;
}

export function externalTool(name: ToolName): ExternalTool {
  const found = findBinary(name);
  const missing = `${name} is not installed (apt-get install ${TOOLS[name].pkg}, or set ${TOOLS[name].env})`;
  const underCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
  return {
    skip: found === undefined && !underCi ? missing : false,
    path() {
      if (found === undefined) throw new Error(`${missing}; under CI a missing tool fails the test`);
      return found;
    },
  };
}
