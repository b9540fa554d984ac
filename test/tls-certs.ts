/**
 * Throwaway TLS material for tests, made with `openssl` (test/external-tool.ts: a missing
 * openssl fails under CI): a CA, and certificates it signs for localhost / 127.0.0.1 (valid
 * for a server and for a client). EC P-256 keys, one day of validity, in a temp directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { externalTool } from './external-tool.js';

export const openssl = externalTool('openssl');

export interface Pki {
  dir: string;
  /** Makes a CA; returns the paths of its certificate and key. */
  ca(name: string): { cert: string; key: string };
  /** A certificate for localhost and 127.0.0.1 signed by `ca`; `name` names the files and the CN. */
  leaf(name: string, ca: { cert: string; key: string }): { cert: string; key: string };
  /** The serial number of a certificate file (hex, as openssl prints it). */
  serial(certFile: string): string;
  remove(): void;
}

export function makePki(): Pki {
  const bin = openssl.path();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pki-'));
  const run = (args: string[]) => execFileSync(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  return {
    dir,
    ca(name) {
      const cert = join(dir, `${name}.crt`);
      const key = join(dir, `${name}.key`);
      run(['req', '-x509', ...ec, '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=Sluice test CA ${name}`]);
      return { cert, key };
    },
    leaf(name, ca) {
      const cert = join(dir, `${name}.crt`);
      const key = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
      run(['req', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
      run(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${Date.now().toString(16)}${Math.floor(Math.random() * 4096).toString(16)}`, '-out', cert, '-days', '1', '-extfile', ext]);
      return { cert, key };
    },
    serial(certFile) {
      return run(['x509', '-in', certFile, '-noout', '-serial']).toString().trim().replace(/^serial=/, '').toUpperCase();
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function pem(path: string): Buffer {
  return readFileSync(path);
}
