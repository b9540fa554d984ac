/**
 * `sluice quota set|list` (docs/security.md, "Quotas and limits"): byte-rate quotas per user
 * (auth scram), per client id (auth none), or the default for everyone without their own.
 * Through a broker (`--broker`, as a super user with auth on; applies at once, in a cluster at
 * every broker), or offline against a single broker's data directory (`--data-dir`, the
 * broker not running; read at its next start).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { FileQuotaStore } from '../auth/file-quota-store.js';
import type { ClientQuotaEntry, ClientQuotaValues } from '../protocol/api.js';
import { MIN_BYTE_RATE, quotaEntityKey, quotaEntityProblem, type QuotaEntity, type QuotaName } from '../protocol/client-quota.js';
import { brokerOption } from './broker-url.js';
import { withAdmin } from './with-admin.js';

interface QuotaOpts {
  broker: string[];
  dataDir?: string;
}

interface SetOpts extends QuotaOpts {
  user?: string;
  clientId?: string;
  default?: boolean;
  producerByteRate?: number | 'none';
  consumerByteRate?: number | 'none';
}

const dataDirOption = (): Option => new Option('--data-dir <dir>', 'work on this data directory\'s quotas.json instead of through a broker (the broker must not be running)');

/** A rate in bytes per second, or `none` to remove the quota. */
function rateOption(flag: string) {
  return (value: string): number | 'none' => {
    if (value.trim() === 'none') return 'none';
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < MIN_BYTE_RATE) {
      throw new InvalidArgumentError(`${flag} must be bytes per second (an integer >= ${MIN_BYTE_RATE}) or 'none' to remove it, not '${value}'`);
    }
    return n;
  };
}

export function registerQuotaCommand(program: Command): void {
  const quota = program.command('quota').description('byte-rate quotas per user, client id or default: set, list');
  quota.command('set').description('set or remove the produce and fetch byte rates of one entity (applies at once)')
    .option('--user <name>', 'the quota of this user (brokers with auth scram)')
    .option('--client-id <id>', 'the quota of this client id (brokers with auth none)')
    .option('--default', 'the quota of every user or client id without its own')
    .option('--producer-byte-rate <n>', 'bytes per second this entity may produce, per broker (none: remove)', rateOption('--producer-byte-rate'))
    .option('--consumer-byte-rate <n>', 'bytes per second this entity may fetch, per broker (none: remove)', rateOption('--consumer-byte-rate'))
    .addOption(dataDirOption()).addOption(brokerOption())
    .action(async (o: SetOpts) => {
      const entity = entityOf(o);
      const set: ClientQuotaValues = {};
      const remove: QuotaName[] = [];
      for (const [name, v] of [['producerByteRate', o.producerByteRate], ['consumerByteRate', o.consumerByteRate]] as const) {
        if (v === 'none') remove.push(name);
        else if (v !== undefined) set[name] = v;
      }
      if (remove.length === 0 && Object.keys(set).length === 0) throw new Error('give --producer-byte-rate and/or --consumer-byte-rate (a number, or none)');
      if (o.dataDir !== undefined) {
        const store = await FileQuotaStore.open(o.dataDir);
        await store.alter(entity, set, remove);
        await store.close();
      } else {
        await withAdmin(o.broker, (a) => a.alterClientQuotas(entity, set, remove));
      }
      process.stdout.write(`quota of ${quotaEntityKey(entity)} saved\n`);
    });
  quota.command('list').description('every quota entry: entity, producer and consumer byte rates (- : none)')
    .addOption(dataDirOption()).addOption(brokerOption())
    .action(async (o: QuotaOpts) => {
      const entries = o.dataDir !== undefined ? (await FileQuotaStore.open(o.dataDir)).entries() : await withAdmin(o.broker, (a) => a.describeClientQuotas());
      for (const e of entries) process.stdout.write(`${line(e)}\n`);
    });
}

function entityOf(o: SetOpts): QuotaEntity {
  const given = [o.user !== undefined, o.clientId !== undefined, o.default === true].filter(Boolean).length;
  if (given !== 1) throw new Error('give exactly one of --user, --client-id and --default');
  const e: QuotaEntity = o.user !== undefined ? { type: 'user', name: o.user } : o.clientId !== undefined ? { type: 'client-id', name: o.clientId } : { type: 'default' };
  const problem = quotaEntityProblem(e);
  if (problem !== undefined) throw new Error(problem);
  return e;
}

function line(e: ClientQuotaEntry): string {
  const entity = quotaEntityKey({ type: e.entityType, ...(e.name !== undefined && { name: e.name }) });
  return `${entity}\tproducerByteRate=${e.producerByteRate ?? '-'}\tconsumerByteRate=${e.consumerByteRate ?? '-'}`;
}
