/**
 * DescribeAcls (29), CreateAcls (30), DeleteAcls (31): `sluice acl list|add|remove` through
 * the broker (docs/security.md, "Authorization"). With `auth: scram` managing ACLs needs alter
 * on the cluster and listing them describe (super users may); with `auth: none` anyone who
 * reaches the port may, as with users, so ACLs can be prepared before auth is turned on.
 * The store (file or etcd) applies a change at once on this broker, and in cluster mode at
 * the others through their watch.
 */
import type { Api } from '../protocol/api.js';
import { aclProblem, binding, type AclBinding, type AclFilter } from '../auth/acl.js';
import type { AclStore } from '../auth/acl-store.js';
import { SluiceError } from '../errors.js';
import type { BrokerContext, RequestScope } from './context.js';
import type { Handler } from './handler.js';
import { requireCluster } from './authorize.js';
import { errorOf } from './wire-error.js';

const FILTER_FIELDS = ['principal', 'resourceType', 'resourceName', 'patternType', 'operation', 'permission'] as const;

function aclsFor(ctx: BrokerContext, scope: RequestScope | undefined, op: 'alter' | 'describe'): AclStore {
  const acls = ctx.acls;
  if (acls === undefined) throw new SluiceError('INVALID_REQUEST', 'this broker has no ACL store');
  requireCluster(ctx, scope, op);
  return acls;
}

export const handleDescribeAcls: Handler<typeof Api.DescribeAcls> = async (ctx, req, scope) => {
  const filter: AclFilter = {};
  for (const k of FILTER_FIELDS) if (req[k] !== undefined) (filter as Record<string, unknown>)[k] = req[k];
  return { id: req.id, acls: aclsFor(ctx, scope, 'describe').current.list(filter) };
};

export const handleCreateAcls: Handler<typeof Api.CreateAcls> = async (ctx, req, scope) => {
  const acls = aclsFor(ctx, scope, 'alter');
  const results: { error?: ReturnType<typeof errorOf> }[] = [];
  const valid: AclBinding[] = [];
  for (const b of req.creations) {
    const problem = aclProblem(b);
    if (problem === undefined) valid.push(binding(b));
    results.push(problem === undefined ? {} : { error: errorOf('INVALID_REQUEST', `ACL binding: ${problem}`) });
  }
  await acls.add(valid);
  for (const b of valid) ctx.log.info('acl.added', { ...b, by: scope?.principal });
  return { id: req.id, results };
};

export const handleDeleteAcls: Handler<typeof Api.DeleteAcls> = async (ctx, req, scope) => {
  const acls = aclsFor(ctx, scope, 'alter');
  const removed = await acls.remove(req.deletions.map(binding));
  const results = req.deletions.map((b, i) => {
    if (!removed[i]) return { error: errorOf('RESOURCE_NOT_FOUND', 'no such ACL binding') };
    ctx.log.info('acl.removed', { ...binding(b), by: scope?.principal });
    return {};
  });
  return { id: req.id, results };
};
