/**
 * `sluice group list|describe|reset-offsets|delete`: consumer group administration.
 * Tables go to stdout, confirmations and errors to stderr.
 */
import type { Command } from 'commander';
import type { ResetSpec } from '../client/group-admin.js';
import { brokerOption } from './broker-url.js';
import { table } from './format.js';
import { addResetTargetOptions, resetTarget, type ResetTargetOpts } from './reset-options.js';
import { withAdmin } from './with-admin.js';

const parts = (list: { topic: string; partitions: number[] }[]) =>
  list.map((t) => `${t.topic}:${t.partitions.join(',')}`).join(' ') || '-';

interface ResetOpts extends ResetTargetOpts {
  broker: string[];
  topic: string;
  dryRun?: boolean;
}

export function registerGroupCommand(program: Command): void {
  const group = program.command('group').description('list, describe, reset offsets of and delete consumer groups');

  group.command('list').description('every group with its state and member count').addOption(brokerOption())
    .action(async (o: { broker: string[] }) => {
      const gs = await withAdmin(o.broker, (a) => a.listGroups());
      process.stdout.write(table(['GROUP', 'STATE', 'EPOCH', 'MEMBERS'], gs.map((g) => [g.groupId, g.state, g.groupEpoch, g.members])));
    });

  group.command('describe').description('state, epoch, members with partitions, committed offsets, log end and lag')
    .argument('<group>').addOption(brokerOption())
    .action(async (id: string, o: { broker: string[] }) => {
      const g = await withAdmin(o.broker, (a) => a.describeGroup(id));
      let out = `group ${g.groupId}  state ${g.state}  epoch ${g.groupEpoch}  assignor ${g.assignor}  members ${g.members.length}\n`;
      out += `COORDINATOR  ${g.coordinator === undefined || g.coordinator < 0 ? 'this broker (single node)' : `broker ${g.coordinator}`}\n\n`;
      if (g.members.length) {
        out += table(['MEMBER', 'EPOCH', 'STATE', 'PARTITIONS', 'REVOKING'],
          g.members.map((m) => [m.memberId, m.memberEpoch, m.state, parts(m.assignment), parts(m.revoking)])) + '\n';
      }
      const offs = [...(g.offsets ?? [])].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
      const owner = new Map<string, string>();
      for (const m of g.members) for (const t of m.assignment) for (const p of t.partitions) owner.set(`${t.topic}/${p}`, m.memberId);
      out += table(['TOPIC', 'PARTITION', 'COMMITTED', 'LOG-END', 'LAG', 'MEMBER'],
        offs.map((x) => [x.topic, x.partition, x.offset, x.logEndOffset ?? -1, x.lag ?? -1, owner.get(`${x.topic}/${x.partition}`) ?? '-']));
      const total = offs.reduce((s, x) => s + Math.max(0, x.lag ?? 0), 0);
      out += `\ntotal lag ${total}\n`;
      process.stdout.write(out);
    });

  // As with Kafka's kafka-consumer-groups --reset-offsets, a group that does not exist yet is
  // created with the offsets given (a way to set where a new group starts); the CLI says so.
  const reset = group.command('reset-offsets').description("move a group's committed offsets of a topic (only while the group has no members; a group that does not exist yet is created with them)")
    .argument('<group>')
    .requiredOption('--topic <topic>', 'topic whose partitions are reset');
  addResetTargetOptions(reset, { shiftBy: true })
    .option('--dry-run', 'print the plan without changing anything')
    .addOption(brokerOption())
    .addHelpText('after', '\nExamples:\n  sluice group reset-offsets billing --topic orders --to-earliest --dry-run\n  sluice group reset-offsets billing --topic orders --shift-by -100')
    .action(async (id: string, o: ResetOpts) => {
      const spec: ResetSpec = resetTarget(o, { shiftBy: true });
      const { plan, existed } = await withAdmin(o.broker, async (a) => {
        const existed = (await a.listGroups()).some((g) => g.groupId === id);
        return { existed, plan: await a.resetOffsets(id, o.topic, spec, { dryRun: o.dryRun === true }) };
      });
      process.stdout.write(table(['TOPIC', 'PARTITION', 'FROM', 'TO'], plan.map((p) => [p.topic, p.partition, p.from, p.to])));
      process.stderr.write(
        o.dryRun ? `dry run: nothing changed${existed ? '' : ` (group '${id}' does not exist yet; without --dry-run it is created with these offsets)`}\n`
        : existed ? `reset ${plan.length} partition(s) of group '${id}'\n`
        : `group '${id}' did not exist: created it with committed offsets for ${plan.length} partition(s)\n`);
    });

  group.command('delete').description('delete a group and its committed offsets (only while it has no members)')
    .argument('<group>').addOption(brokerOption())
    .action(async (id: string, o: { broker: string[] }) => {
      await withAdmin(o.broker, (a) => a.deleteGroup(id));
      process.stderr.write(`deleted group '${id}'\n`);
    });
}
