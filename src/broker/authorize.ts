/**
 * The broker's side of authorization (docs/security.md, "Authorization"): what each handler
 * calls to check the principal of its request against the ACLs (auth/acl.ts decides). With
 * `auth: none` a request has no principal and every check passes at the cost of one field
 * read, so the default path does not slow down; with `auth: scram` each check is one
 * in-memory decision over the current AclSet (no store read, no allocation when allowed).
 *
 * Refusals are TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED and
 * CLUSTER_AUTHORIZATION_FAILED (not retriable). A topic the principal may not describe is
 * answered by the describe-like apis (Metadata, DescribeTopics, ...) exactly as a missing one:
 * they call `mayDescribeTopic` first, so the answer cannot tell whether it exists.
 */
import { authorize, CLUSTER, superUserSet, type Operation, type Privileged, type Resource } from '../auth/acl.js';
import type { AclStore } from '../auth/acl-store.js';
import { SluiceError } from '../errors.js';
import type { WireError } from '../protocol/errors.js';
import type { BrokerConfig } from '../config/settings.js';
import type { BrokerContext, RequestScope } from './context.js';
import { errorOf } from './wire-error.js';

/** The ACLs and who bypasses them: one per broker (server.ts), in the context as `authorizer`. */
export class Authorizer {
  readonly who: Privileged;

  constructor(readonly store: AclStore, config: Pick<BrokerConfig, 'superUsers' | 'interBrokerUser'>) {
    this.who = { superUsers: superUserSet(config.superUsers), brokerUser: config.interBrokerUser };
  }

  allows(principal: string, op: Operation, resource: Resource, alsoCluster = false): boolean {
    return authorize(this.store.current, this.who, principal, op, resource, alsoCluster);
  }

  /** Whether some ACL allows `op` on some resource of `type` (InitProducerId: write on any topic). */
  allowsSome(principal: string, op: Operation, type: Resource['type']): boolean {
    if (principal === this.who.brokerUser || this.who.superUsers.has(principal)) return true;
    return this.store.current.allowsSome(principal, op, type);
  }
}

type Ctx = Pick<BrokerContext, 'authorizer'>;

/** The principal to check, or undefined when nothing is checked (auth: none, or a handler called without a connection). */
function principalOf(ctx: Ctx, scope: RequestScope | undefined): string | undefined {
  const p = scope?.principal;
  return p === undefined || ctx.authorizer === undefined ? undefined : p;
}

/**
 * TOPIC_AUTHORIZATION_FAILED when the principal may not do `op` on `topic`, else undefined.
 * `alsoCluster`: the same operation on the cluster also grants it (create, delete, alter).
 */
export function topicRefusal(ctx: Ctx, scope: RequestScope | undefined, op: Operation, topic: string, alsoCluster = false): WireError | undefined {
  const p = principalOf(ctx, scope);
  if (p === undefined || ctx.authorizer!.allows(p, op, { type: 'topic', name: topic }, alsoCluster)) return undefined;
  return errorOf('TOPIC_AUTHORIZATION_FAILED', `user ${JSON.stringify(p)} may not ${op} topic ${JSON.stringify(topic)}`);
}

/** Whether the principal may see `topic` at all; when not, describe-like answers treat it as missing. */
export function mayDescribeTopic(ctx: Ctx, scope: RequestScope | undefined, topic: string): boolean {
  const p = principalOf(ctx, scope);
  return p === undefined || ctx.authorizer!.allows(p, 'describe', { type: 'topic', name: topic });
}

/** GROUP_AUTHORIZATION_FAILED when the principal may not do `op` on group `group`, else undefined. */
export function groupRefusal(ctx: Ctx, scope: RequestScope | undefined, op: Operation, group: string): WireError | undefined {
  const p = principalOf(ctx, scope);
  if (p === undefined || ctx.authorizer!.allows(p, op, { type: 'group', name: group })) return undefined;
  return errorOf('GROUP_AUTHORIZATION_FAILED', `user ${JSON.stringify(p)} may not ${op} group ${JSON.stringify(group)}`);
}

/** Throws GROUP_AUTHORIZATION_FAILED (the whole request) when the principal may not do `op` on the group. */
export function requireGroup(ctx: Ctx, scope: RequestScope | undefined, op: Operation, group: string): void {
  const refused = groupRefusal(ctx, scope, op, group);
  if (refused !== undefined) throw new SluiceError('GROUP_AUTHORIZATION_FAILED', refused.message);
}

/** Throws TOPIC_AUTHORIZATION_FAILED (the whole request) when the principal may not do `op` on the topic. */
export function requireTopic(ctx: Ctx, scope: RequestScope | undefined, op: Operation, topic: string): void {
  const refused = topicRefusal(ctx, scope, op, topic);
  if (refused !== undefined) throw new SluiceError('TOPIC_AUTHORIZATION_FAILED', refused.message);
}

/** Throws CLUSTER_AUTHORIZATION_FAILED when the principal may not do `op` on the cluster. */
export function requireCluster(ctx: Ctx, scope: RequestScope | undefined, op: Operation): void {
  const p = principalOf(ctx, scope);
  if (p === undefined || ctx.authorizer!.allows(p, op, CLUSTER)) return;
  throw new SluiceError('CLUSTER_AUTHORIZATION_FAILED', `user ${JSON.stringify(p)} may not ${op} the cluster`);
}
