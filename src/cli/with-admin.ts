import { Admin } from '../client/admin.js';

/** Runs `fn` with a connected Admin and closes it whatever happens (one per CLI command). */
export async function withAdmin<T>(brokers: readonly string[], fn: (a: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ brokers });
  try {
    await admin.connect();
    return await fn(admin);
  } finally {
    await admin.close();
  }
}
