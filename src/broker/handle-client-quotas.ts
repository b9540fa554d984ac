/**
 * DescribeClientQuotas (48) and AlterClientQuotas (49): `sluice quota list|set` through the
 * broker (docs/security.md, "Quotas and limits"). With `auth: scram` only a user named in
 * `superUsers` (or the inter-broker user) may; others get CLUSTER_AUTHORIZATION_FAILED. With
 * `auth: none` anyone who reaches the port may, as with users. A change applies at once (and
 * in a cluster at every broker, through etcd): client-quotas.ts rebuilds its tables.
 */
import type { Api, AlterClientQuotasResponse } from '../protocol/api.js';
import { SluiceError } from '../errors.js';
import { InvalidQuotaError, type QuotaStore } from '../auth/quota-store.js';
import { quotaEntityKey } from '../protocol/client-quota.js';
import type { BrokerContext, RequestScope } from './context.js';
import type { Handler } from './handler.js';
import { checkSuperUser } from './handle-user-scram-credentials.js';
import { errorOf } from './wire-error.js';

/** The quota store, if the principal may manage quotas; throws SluiceError otherwise. */
function quotasFor(ctx: BrokerContext, scope: RequestScope | undefined): QuotaStore {
  const store = ctx.quotas?.store;
  if (store === undefined) throw new SluiceError('INVALID_REQUEST', 'this broker has no quota store');
  checkSuperUser(ctx, scope, 'quotas');
  return store;
}

export const handleDescribeClientQuotas: Handler<typeof Api.DescribeClientQuotas> = (ctx, req, scope) =>
  Promise.resolve({ id: req.id, entries: quotasFor(ctx, scope).entries() });

export const handleAlterClientQuotas: Handler<typeof Api.AlterClientQuotas> = async (ctx, req, scope) => {
  const store = quotasFor(ctx, scope);
  const results: AlterClientQuotasResponse['results'] = [];
  for (const e of req.entries) {
    const entity = { type: e.entityType, ...(e.name !== undefined && { name: e.name }) };
    const named = { entityType: e.entityType, ...(e.name !== undefined && { name: e.name }) };
    const set = { ...(e.producerByteRate !== undefined && { producerByteRate: e.producerByteRate }), ...(e.consumerByteRate !== undefined && { consumerByteRate: e.consumerByteRate }) };
    try {
      await store.alter(entity, set, e.remove ?? []);
      ctx.log.info('quota.altered', { entity: quotaEntityKey(entity), ...set, removed: e.remove, by: scope?.principal });
      results.push(named);
    } catch (err) {
      if (!(err instanceof InvalidQuotaError)) throw err;
      results.push({ ...named, error: errorOf('INVALID_REQUEST', err.message) });
    }
  }
  return { id: req.id, results };
};
