/**
 * `sluice acl add|remove|list` (docs/security.md, "Authorization"): ACL bindings, through a
 * broker (`--broker`, logged in with `--login-user` or SLUICE_USER as a user with alter on the
 * cluster) or offline against a single broker's data directory (`--data-dir`, the broker not
 * running), like `sluice user`. In cluster mode ACLs live in etcd: manage them through any broker.
 *
 *   sluice acl add --user app --topic orders --operation write
 *   sluice acl add --user app --group-prefix billing- --operation read --deny
 *   sluice acl list --user app
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ACL_OPERATIONS, type AclBinding, type AclFilter, type AclOperation } from '../auth/acl.js';
import { FileAclStore } from '../auth/file-acl-store.js';
import { brokerOption } from './broker-url.js';
import { withAdmin } from './with-admin.js';
import type { Admin } from '../client/admin.js';

interface AclOpts {
  broker: string[];
  dataDir?: string;
  user?: string;
  topic?: string;
  topicPrefix?: string;
  group?: string;
  groupPrefix?: string;
  cluster?: boolean;
  operation?: string;
  deny?: boolean;
}

const RESOURCE_FLAGS = ['--topic', '--topic-prefix', '--group', '--group-prefix', '--cluster'] as const;

function resourceOptions(cmd: Command): Command {
  return cmd
    .option('--topic <name>', 'a topic (the literal name * is every topic)')
    .option('--topic-prefix <prefix>', 'every topic whose name starts with this')
    .option('--group <id>', 'a consumer or share group (* is every group)')
    .option('--group-prefix <prefix>', 'every group whose id starts with this')
    .option('--cluster', 'the cluster (admin operations: users, ACLs, reassignments, elections)')
    .addOption(new Option('--data-dir <dir>', 'work on this data directory\'s acls.json instead of through a broker (the broker must not be running)'))
    .addOption(brokerOption());
}

/** The resource the flags name: exactly one of them, unless `optional` (list). */
function resourceOf(o: AclOpts, optional: boolean): Pick<AclBinding, 'resourceType' | 'resourceName' | 'patternType'> | undefined {
  const given: Pick<AclBinding, 'resourceType' | 'resourceName' | 'patternType'>[] = [];
  if (o.topic !== undefined) given.push({ resourceType: 'topic', resourceName: o.topic, patternType: 'literal' });
  if (o.topicPrefix !== undefined) given.push({ resourceType: 'topic', resourceName: o.topicPrefix, patternType: 'prefixed' });
  if (o.group !== undefined) given.push({ resourceType: 'group', resourceName: o.group, patternType: 'literal' });
  if (o.groupPrefix !== undefined) given.push({ resourceType: 'group', resourceName: o.groupPrefix, patternType: 'prefixed' });
  if (o.cluster === true) given.push({ resourceType: 'cluster', resourceName: '', patternType: 'literal' });
  if (given.length > 1 || (given.length === 0 && !optional)) throw new InvalidArgumentError(`give exactly one of ${RESOURCE_FLAGS.join(', ')}`);
  return given[0];
}

/** `read,write` -> the operations, each checked. */
function operationsOf(text: string | undefined): AclOperation[] {
  if (text === undefined) throw new InvalidArgumentError(`--operation is required: one or more (comma-separated) of ${ACL_OPERATIONS.join(', ')}`);
  return text.split(',').map((s) => s.trim()).map((op) => {
    if (!(ACL_OPERATIONS as readonly string[]).includes(op)) throw new InvalidArgumentError(`--operation ${JSON.stringify(op)} is not one of ${ACL_OPERATIONS.join(', ')}`);
    return op as AclOperation;
  });
}

function bindingsOf(o: AclOpts): AclBinding[] {
  if (o.user === undefined) throw new InvalidArgumentError('--user is required: the user the ACL is for (* for every user)');
  const resource = resourceOf(o, false)!;
  return operationsOf(o.operation).map((operation) => ({ principal: o.user!, ...resource, operation, permission: o.deny === true ? 'deny' : 'allow' }));
}

/** One line per binding: principal, permission, operation, resource type, pattern, name. */
export function formatAcl(b: AclBinding): string {
  return [b.principal, b.permission, b.operation, b.resourceType, b.patternType, b.resourceName].join('\t');
}

/** What `acl add` and `acl remove` differ in; flags, the offline/online choice and the output are shared. */
interface BindingChange {
  name: 'add' | 'remove';
  description: string;
  userHelp: string;
  denyHelp: string;
  /** Printed before each binding once done. */
  done: string;
  /** Against the data directory's acls.json (the broker not running). */
  offline: (store: FileAclStore, bindings: AclBinding[], dataDir: string) => Promise<void>;
  /** Through a broker. */
  online: (admin: Admin, bindings: AclBinding[]) => Promise<void>;
}

function bindingCommand(acl: Command, c: BindingChange): void {
  resourceOptions(acl.command(c.name).description(c.description))
    .option('--user <name>', c.userHelp)
    .option('--operation <ops>', `comma-separated: ${ACL_OPERATIONS.join(', ')}`)
    .option('--deny', c.denyHelp)
    .action(async (o: AclOpts) => {
      const bindings = bindingsOf(o);
      if (o.dataDir !== undefined) {
        const store = await FileAclStore.open(o.dataDir);
        try {
          await c.offline(store, bindings, o.dataDir);
        } finally {
          await store.close();
        }
      } else await withAdmin(o.broker, (a) => c.online(a, bindings));
      for (const b of bindings) process.stdout.write(`${c.done}\t${formatAcl(b)}\n`);
    });
}

export function registerAclCommand(program: Command): void {
  const acl = program.command('acl').description('ACLs: who may do what on which topic, group or the cluster (auth: scram)');
  bindingCommand(acl, {
    name: 'add', description: 'allow (or, with --deny, deny) an operation to a user', done: 'added',
    userHelp: 'the user the ACL is for (* for every user)', denyHelp: 'deny instead of allow (a deny wins over any allow)',
    offline: (store, bindings) => store.add(bindings),
    online: (a, bindings) => a.createAcls(bindings),
  });
  bindingCommand(acl, {
    name: 'remove', description: 'remove ACLs, given exactly as added', done: 'removed',
    userHelp: 'the user the ACL is for', denyHelp: 'remove a deny ACL (else an allow)',
    offline: async (store, bindings, dataDir) => {
      const removed = await store.remove(bindings);
      const missing = bindings.filter((_, i) => !removed[i]);
      if (missing.length > 0) throw new Error(`no such ACL in ${dataDir}: ${missing.map(formatAcl).join('; ')}`);
    },
    online: (a, bindings) => a.deleteAcls(bindings),
  });
  resourceOptions(acl.command('list').description('ACLs, all or those of a user and/or resource'))
    .option('--user <name>', 'only this user\'s ACLs')
    .action(async (o: AclOpts) => {
      const filter: AclFilter = { ...resourceOf(o, true) };
      if (o.user !== undefined) filter.principal = o.user;
      const acls = o.dataDir !== undefined ? (await FileAclStore.open(o.dataDir)).current.list(filter) : await withAdmin(o.broker, (a) => a.describeAcls(filter));
      for (const b of acls) process.stdout.write(`${formatAcl(b)}\n`);
    });
}
