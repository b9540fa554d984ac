/**
 * DescribeUserScramCredentials (50) and AlterUserScramCredentials (51): `sluice user
 * list|add|delete` through the broker (docs/security.md). With `auth: scram` only a principal
 * with describe (list) or alter (add, delete) on the cluster may: a `superUsers` user, the
 * inter-broker user, or one an ACL allows; others get CLUSTER_AUTHORIZATION_FAILED.
 * With `auth: none` anyone who reaches the port may (as with every other request), so users
 * can be prepared before auth is turned on. The client computes the credential: the
 * password never reaches the broker.
 */
import type { Api, AlterUserScramCredentialsResponse } from '../protocol/api.js';
import { SCRAM_SHA_256 } from '../protocol/scram.js';
import { SluiceError } from '../errors.js';
import { InvalidCredentialError, type UserStore } from '../auth/user-store.js';
import type { BrokerContext, RequestScope } from './context.js';
import type { Handler } from './handler.js';
import { errorOf } from './wire-error.js';
import { requireCluster } from './authorize.js';
import { superUserSet } from '../auth/acl.js';

/** The user store, if the principal may `op` on the cluster; throws SluiceError otherwise. */
function usersFor(ctx: BrokerContext, scope: RequestScope | undefined, op: 'alter' | 'describe'): UserStore {
  const users = ctx.users;
  if (users === undefined) throw new SluiceError('INVALID_REQUEST', 'this broker has no user store');
  requireCluster(ctx, scope, op);
  return users;
}

/**
 * Throws CLUSTER_AUTHORIZATION_FAILED unless the principal may manage `what` (users, quotas):
 * anyone with `auth: none`, else a `superUsers` user or the inter-broker user.
 */
export function checkSuperUser(ctx: BrokerContext, scope: RequestScope | undefined, what: string): void {
  if (ctx.config.auth === 'none') return;
  const p = scope?.principal;
  if (p === undefined || !(superUserSet(ctx.config.superUsers).has(p) || p === ctx.config.interBrokerUser)) {
    throw new SluiceError('CLUSTER_AUTHORIZATION_FAILED', `user ${JSON.stringify(p ?? '')} may not manage ${what}: only the superUsers setting's users may`);
  }
}

export const handleDescribeUserScramCredentials: Handler<typeof Api.DescribeUserScramCredentials> = async (ctx, req, scope) => {
  const all = await usersFor(ctx, scope, 'describe').list();
  const want = req.users === undefined ? undefined : new Set(req.users);
  return { id: req.id, users: want === undefined ? all : all.filter((u) => want.has(u.name)) };
};

export const handleAlterUserScramCredentials: Handler<typeof Api.AlterUserScramCredentials> = async (ctx, req, scope) => {
  const users = usersFor(ctx, scope, 'alter');
  const results: AlterUserScramCredentialsResponse['results'] = [];
  for (const u of req.upsertions) {
    try {
      await users.upsert(u.name, { mechanism: SCRAM_SHA_256, iterations: u.iterations, salt: u.salt, storedKey: u.storedKey, serverKey: u.serverKey });
      ctx.log.info('auth.user.upserted', { user: u.name, by: scope?.principal });
      results.push({ user: u.name });
    } catch (err) {
      if (!(err instanceof InvalidCredentialError)) throw err;
      results.push({ user: u.name, error: errorOf('UNACCEPTABLE_CREDENTIAL', err.message) });
    }
  }
  for (const d of req.deletions) {
    if (await users.delete(d.name)) {
      ctx.log.info('auth.user.deleted', { user: d.name, by: scope?.principal });
      results.push({ user: d.name });
    } else results.push({ user: d.name, error: errorOf('RESOURCE_NOT_FOUND', `no user ${JSON.stringify(d.name)}`) });
  }
  return { id: req.id, results };
};
