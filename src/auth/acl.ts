/**
 * Access control lists (docs/security.md, "Authorization"): the rules and the one decision
 * every request's check comes down to, `authorize(acls, who, principal, op, resource)`. Pure:
 * no I/O, no clock; the stores (acl-store.ts) hold bindings, the broker (broker/authorize.ts)
 * asks here.
 *
 * A binding: principal (a user, or `*` for every authenticated user) may (allow) or may not
 * (deny) do `operation` on a resource: a topic or a group (consumer and share groups share
 * one namespace of names here) named exactly (literal; the literal name `*` is every such
 * resource) or by prefix, or the cluster. The decision, for a principal that is neither a
 * super user nor the broker's own:
 *   - any matching deny (its operation is the one asked, or `all`) refuses: deny wins;
 *   - else any matching allow (the operation asked, or `all`) admits; and an allow of any
 *     operation on a resource also admits `describe` of it (as Kafka: who may read a topic
 *     may see it in metadata);
 *   - else refused: what no ACL allows is denied.
 * Super users may do everything, and the broker's own principal (the inter-broker user)
 * too, except that the records of internal topics (`__*`) are the broker's alone: no client
 * principal, super users included, reads or writes them, whatever the ACLs. Describing them
 * (their placement: drain and rebalance need it) follows the rules like any topic.
 *
 * Cost: one Map lookup per principal (the user's and `*`), then the bindings of the asked
 * resource type only: a literal name is one more Map lookup, prefixes a scan of that
 * principal's prefixed bindings of the type (few per user in practice).
 */
import { isInternalTopicName } from '../topic-name.js';
import { ANY_PRINCIPAL, ANY_RESOURCE, type AclBinding, type AclOperation, type Operation, type ResourceType } from '../protocol/acl-binding.js';

export * from '../protocol/acl-binding.js';

/** What a request acts on. The cluster's name is ''. */
export interface Resource {
  readonly type: ResourceType;
  readonly name: string;
}

export const CLUSTER: Resource = Object.freeze({ type: 'cluster', name: '' });

/** Who bypasses the ACLs: the `superUsers` setting, and the broker's own (inter-broker) user. */
export interface Privileged {
  readonly superUsers: ReadonlySet<string>;
  readonly brokerUser: string | undefined;
}

/** A binding's identity: two bindings with the same key are the same rule (stores keep one). */
export function aclKey(b: AclBinding): string {
  return JSON.stringify([b.principal, b.resourceType, b.patternType, b.resourceName, b.operation, b.permission]);
}

/** The fields of a binding only, in their fixed order (what stores and answers carry). */
export function binding(b: AclBinding): AclBinding {
  return { principal: b.principal, resourceType: b.resourceType, resourceName: b.resourceName, patternType: b.patternType, operation: b.operation, permission: b.permission };
}

/** Which bindings a listing shows: each given field must equal the binding's. */
export type AclFilter = Partial<AclBinding>;

export function matchesFilter(b: AclBinding, f: AclFilter): boolean {
  for (const k of Object.keys(f) as (keyof AclBinding)[]) {
    const v = f[k];
    if (v !== undefined && b[k] !== v) return false;
  }
  return true;
}

/** A rule as the matcher keeps it. */
interface Rule {
  readonly operation: AclOperation;
  readonly deny: boolean;
}

/** One principal's rules of one resource type. */
interface TypeRules {
  readonly literal: Map<string, Rule[]>;
  readonly prefixed: { prefix: string; rule: Rule }[];
}

type PrincipalRules = Partial<Record<ResourceType, TypeRules>>;

/** An immutable set of bindings, indexed for `authorize`. */
export class AclSet {
  static readonly EMPTY = new AclSet([]);
  private readonly byPrincipal = new Map<string, PrincipalRules>();
  /** The rules of `*` (every principal), looked up once. */
  private readonly any: PrincipalRules | undefined;
  private readonly all: AclBinding[] = [];

  constructor(bindings: Iterable<AclBinding>) {
    const seen = new Set<string>();
    for (const b of bindings) {
      const key = aclKey(b);
      if (seen.has(key)) continue;
      seen.add(key);
      this.all.push(binding(b));
      let p = this.byPrincipal.get(b.principal);
      if (p === undefined) this.byPrincipal.set(b.principal, (p = {}));
      const t = (p[b.resourceType] ??= { literal: new Map(), prefixed: [] });
      const rule: Rule = { operation: b.operation, deny: b.permission === 'deny' };
      if (b.patternType === 'prefixed') t.prefixed.push({ prefix: b.resourceName, rule });
      else {
        const list = t.literal.get(b.resourceName);
        if (list === undefined) t.literal.set(b.resourceName, [rule]);
        else list.push(rule);
      }
    }
    this.any = this.byPrincipal.get(ANY_PRINCIPAL);
  }

  get size(): number {
    return this.all.length;
  }

  /** The bindings matching `filter` (all when empty), in a stable order. */
  list(filter: AclFilter = {}): AclBinding[] {
    return this.all.filter((b) => matchesFilter(b, filter)).sort((a, b) => cmp(aclKey(a), aclKey(b)));
  }

  /**
   * The bindings' verdict alone (no super users, no internal topics): 'deny' when a deny
   * matches on any of `resources`, else 'allow' when an allow does, else 'none'.
   */
  verdict(principal: string, op: Operation, resources: readonly Resource[]): 'allow' | 'deny' | 'none' {
    let v = NONE;
    for (const r of resources) {
      const one = this.verdictOf(principal, op, r);
      if (one === DENY) return 'deny';
      if (one === ALLOW) v = ALLOW;
    }
    return v === ALLOW ? 'allow' : 'none';
  }

  /** One resource's verdict (NONE, ALLOW or DENY), the principal's own bindings and those of `*`; allocates nothing. */
  verdictOf(principal: string, op: Operation, r: Resource): number {
    const mine = this.byPrincipal.get(principal)?.[r.type];
    const v = mine === undefined ? NONE : typeVerdict(mine, op, r.name);
    if (v === DENY || principal === ANY_PRINCIPAL) return v;
    const all = this.any?.[r.type];
    if (all === undefined) return v;
    const w = typeVerdict(all, op, r.name);
    return w === NONE ? v : w === DENY ? DENY : ALLOW;
  }

  /** Whether some binding allows `op` (or `all`) on some resource of `type` to `principal` (Kafka's authorizeByResourceType, less its deny pass). */
  allowsSome(principal: string, op: Operation, type: ResourceType): boolean {
    for (const who of [principal, ANY_PRINCIPAL]) {
      const t = this.byPrincipal.get(who)?.[type];
      if (t === undefined) continue;
      for (const rules of t.literal.values()) if (rules.some((r) => !r.deny && grants(r.operation, op))) return true;
      if (t.prefixed.some((e) => !e.rule.deny && grants(e.rule.operation, op))) return true;
    }
    return false;
  }
}

const NONE = 0;
const ALLOW = 1;
const DENY = 2;

function typeVerdict(t: TypeRules, op: Operation, name: string): number {
  let v = scan(t.literal.get(name), op, NONE);
  if (v === DENY) return v;
  if (name !== ANY_RESOURCE) {
    v = scan(t.literal.get(ANY_RESOURCE), op, v);
    if (v === DENY) return v;
  }
  const prefixed = t.prefixed;
  for (let i = 0; i < prefixed.length; i++) {
    const e = prefixed[i];
    if (!name.startsWith(e.prefix)) continue;
    const r = e.rule;
    if (r.deny) {
      if (r.operation === op || r.operation === 'all') return DENY;
    } else if (grants(r.operation, op)) v = ALLOW;
  }
  return v;
}

/** `v` updated by `rules`: DENY on a matching deny, ALLOW on a matching allow. */
function scan(rules: readonly Rule[] | undefined, op: Operation, v: number): number {
  if (rules === undefined) return v;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    if (r.deny) {
      if (r.operation === op || r.operation === 'all') return DENY;
    } else if (grants(r.operation, op)) v = ALLOW;
  }
  return v;
}

/** Whether an allow of `granted` admits `op`: the same operation, `all`, or any operation admits describe. */
function grants(granted: AclOperation, op: Operation): boolean {
  return granted === op || granted === 'all' || op === 'describe';
}

/**
 * Whether `principal` may do `op` on `resource`. `alsoCluster`: a binding on the cluster
 * counts as well (creating, deleting or altering any topic is granted by the same operation
 * on the cluster, as Kafka's create on the cluster creates any topic); a deny on either wins.
 */
export function authorize(acls: AclSet, who: Privileged, principal: string, op: Operation, resource: Resource, alsoCluster = false): boolean {
  if (principal === who.brokerUser) return true;
  if ((op === 'read' || op === 'write') && resource.type === 'topic' && isInternalTopicName(resource.name)) return false;
  if (who.superUsers.has(principal)) return true;
  const v = acls.verdictOf(principal, op, resource);
  if (!alsoCluster || v === DENY) return v === ALLOW;
  const c = acls.verdictOf(principal, op, CLUSTER);
  return c !== DENY && (v === ALLOW || c === ALLOW);
}

/** `a,b, c` -> {a, b, c}: the superUsers setting's users. */
export function superUserSet(setting: string | undefined): ReadonlySet<string> {
  return new Set((setting ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
