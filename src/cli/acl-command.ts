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

export function registerAclCommand(program: Command): void {
  const acl = program.command('acl').description('ACLs: who may do what on which topic, group or the cluster (auth: scram)');
  resourceOptions(acl.command('add').description('allow (or, with --deny, deny) an operation to a user'))
    .option('--user <name>', 'the user the ACL is for (* for every user)')
    .option('--operation <ops>', `comma-separated: ${ACL_OPERATIONS.join(', ')}`)
    .option('--deny', 'deny instead of allow (a deny wins over any allow)')
    .action(async (o: AclOpts) => {
      const bindings = bindingsOf(o);
      if (o.dataDir !== undefined) {
        const store = await FileAclStore.open(o.dataDir);
        await store.add(bindings);
        await store.close();
      } else await withAdmin(o.broker, (a) => a.createAcls(bindings));
      for (const b of bindings) process.stdout.write(`added\t${formatAcl(b)}\n`);
    });
  resourceOptions(acl.command('remove').description('remove ACLs, given exactly as added'))
    .option('--user <name>', 'the user the ACL is for')
    .option('--operation <ops>', `comma-separated: ${ACL_OPERATIONS.join(', ')}`)
    .option('--deny', 'remove a deny ACL (else an allow)')
    .action(async (o: AclOpts) => {
      const bindings = bindingsOf(o);
      if (o.dataDir !== undefined) {
        const store = await FileAclStore.open(o.dataDir);
        const removed = await store.remove(bindings);
        await store.close();
        const missing = bindings.filter((_, i) => !removed[i]);
        if (missing.length > 0) throw new Error(`no such ACL in ${o.dataDir}: ${missing.map(formatAcl).join('; ')}`);
      } else await withAdmin(o.broker, (a) => a.deleteAcls(bindings));
      for (const b of bindings) process.stdout.write(`removed\t${formatAcl(b)}\n`);
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
