import { Admin } from '../client/admin.js';
import { clientSecurity } from './client-security.js';

/** Runs `fn` with a connected Admin and closes it whatever happens (one per CLI command). */
export async function withAdmin<T>(brokers: readonly string[], fn: (a: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ brokers, ...clientSecurity() });
  try {
    await admin.connect();
    return await fn(admin);
  } finally {
    await admin.close();
  }
}
