/**
 * An ACL binding as it crosses the wire and sits in a store (docs/security.md,
 * "Authorization"): the vocabulary, and the check of one binding's fields. Pure; the matcher
 * is auth/acl.ts, the apis CreateAcls / DeleteAcls / DescribeAcls (api-table.ts).
 */
export const ACL_OPERATIONS = ['read', 'write', 'create', 'delete', 'describe', 'alter', 'all'] as const;
export type AclOperation = (typeof ACL_OPERATIONS)[number];
/** What a request needs: an operation (a binding's `all` matches each). */
export type Operation = Exclude<AclOperation, 'all'>;
export const RESOURCE_TYPES = ['topic', 'group', 'cluster'] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];
export const PATTERN_TYPES = ['literal', 'prefixed'] as const;
export type PatternType = (typeof PATTERN_TYPES)[number];
export const PERMISSIONS = ['allow', 'deny'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** The principal of a binding that applies to every authenticated user. */
export const ANY_PRINCIPAL = '*';
/** A literal resource name that names every resource of its type. */
export const ANY_RESOURCE = '*';
/** Longest principal or resource name a binding may carry (a group id or topic name is shorter). */
export const MAX_ACL_NAME_CHARS = 1024;

export interface AclBinding {
  principal: string;
  resourceType: ResourceType;
  /** Empty for the cluster. */
  resourceName: string;
  /** Always literal for the cluster. */
  patternType: PatternType;
  operation: AclOperation;
  permission: Permission;
}

/** A field of a binding a store or request refuses, named; undefined when `b` is a binding. */
export function aclProblem(b: unknown): string | undefined {
  const o = b as Partial<Record<keyof AclBinding, unknown>> | null;
  if (o === null || typeof o !== 'object') return 'an ACL binding must be an object';
  if (typeof o.principal !== 'string' || o.principal.length === 0 || o.principal.length > MAX_ACL_NAME_CHARS) {
    return `principal must be a user name (1-${MAX_ACL_NAME_CHARS} characters) or '${ANY_PRINCIPAL}'`;
  }
  if (!oneOf(RESOURCE_TYPES, o.resourceType)) return `resourceType must be one of ${RESOURCE_TYPES.join(', ')}`;
  if (!oneOf(PATTERN_TYPES, o.patternType)) return `patternType must be one of ${PATTERN_TYPES.join(', ')}`;
  if (!oneOf(ACL_OPERATIONS, o.operation)) return `operation must be one of ${ACL_OPERATIONS.join(', ')}`;
  if (!oneOf(PERMISSIONS, o.permission)) return `permission must be one of ${PERMISSIONS.join(', ')}`;
  if (typeof o.resourceName !== 'string' || o.resourceName.length > MAX_ACL_NAME_CHARS) return `resourceName must be a string of at most ${MAX_ACL_NAME_CHARS} characters`;
  if (o.resourceType === 'cluster') {
    if (o.resourceName !== '' || o.patternType !== 'literal') return 'a cluster binding has no resource name and a literal pattern';
  } else if (o.resourceName.length === 0) return `a ${o.resourceType} binding needs a resource name (or prefix)`;
  return undefined;
}

function oneOf<T extends string>(all: readonly T[], v: unknown): v is T {
  return typeof v === 'string' && (all as readonly string[]).includes(v);
}

