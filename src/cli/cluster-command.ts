/**
 * `sluice cluster status`: the cluster as etcd records it (brokers, controller, offline and
 * under-replicated partitions, running reassignments), read from etcd directly so that it works when brokers do not.
 * Exit status 2 when any partition is offline, so scripts and probes can alert on it.
 *
 * `sluice cluster dev`: etcd and N brokers on this machine, stopped together (cluster-dev.ts).
 *
 * `sluice cluster drain|rebalance`: reassignments planned from a broker's Metadata (cluster-moves.ts);
 * `sluice cluster elect-leaders`: preferred-leader elections (ElectLeaders).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { readClusterStatus } from '../cluster/cluster-status.js';
import { ClusterKeys } from '../cluster/keys.js';
import { table } from './format.js';
import { brokerOption, intOption } from './broker-url.js';
import { drain, electLeaders, rebalance } from './cluster-moves.js';
import { withAdmin } from './with-admin.js';
import { runDevCluster } from './cluster-dev.js';
import { addEtcdOptions, etcdFailure, etcdSettings, openEtcd, type EtcdFlags } from './etcd-options.js';

export const EXIT_OFFLINE_PARTITIONS = 2;

export function registerClusterCommand(program: Command): void {
  const cluster = program.command('cluster').description('cluster mode: brokers, controller and partition health (read from etcd)');
  cluster
    .command('dev')
    .description('start etcd and N brokers on this machine (broker i: node id i, port base+i) for trying cluster mode; Ctrl-C stops them all')
    .option('--brokers <n>', 'how many brokers', intOption('--brokers', 1), 3)
    .option('--base-port <port>', 'broker i listens on this port + i', intOption('--base-port', 1), 9400)
    .option('--data-dir <dir>', 'etcd\'s and the brokers\' data and logs (kept between runs)', './data-cluster')
    .option('--etcd-port <port>', 'etcd\'s client port (default: a free port)', intOption('--etcd-port', 1))
    .addOption(new Option('--etcd-bin <path>', 'the etcd executable (default: etcd on PATH, then /usr/bin/etcd)').env('SLUICE_ETCD_BIN'))
    .addOption(new Option('--cluster-name <name>', 'the etcd key prefix of the cluster').env('SLUICE_CLUSTER_NAME').default('sluice'))
    .action(async (o: { brokers: number; basePort: number; dataDir: string; etcdPort?: number; etcdBin?: string; clusterName: string }) => {
      process.exitCode = await runDevCluster(o, {
        out: (line) => { process.stdout.write(`${line}\n`); },
        err: (line) => { process.stderr.write(`${line}\n`); },
      });
    });

  const moveOptions = (c: Command): Command => c
    .option('--wait', 'wait until every move is done')
    .option('--timeout-ms <ms>', 'with --wait: give up after this long', intOption('--timeout-ms', 1), 3_600_000)
    .addOption(brokerOption());
  moveOptions(cluster
    .command('drain')
    .description('move every replica off a broker (to the least loaded live brokers), e.g. before decommissioning it')
    .argument('<node>', 'the node id to empty', intOption('<node>', 0)))
    .action(async (node: number, o: { wait?: boolean; timeoutMs: number; broker: string[] }) => {
      await withAdmin(o.broker, (a) => drain(a, node, { ...o, out: (l) => { process.stderr.write(`${l}\n`); } }));
    });
  moveOptions(cluster
    .command('rebalance')
    .description('even out replicas over the live brokers (after brokers were added), then leaders (preferred-leader elections; with --wait after the moves)'))
    .action(async (o: { wait?: boolean; timeoutMs: number; broker: string[] }) => {
      await withAdmin(o.broker, (a) => rebalance(a, { ...o, out: (l) => { process.stderr.write(`${l}\n`); } }));
    });
  cluster
    .command('elect-leaders')
    .description('move each partition\'s leadership to its preferred (first) replica when that is alive and in sync; all partitions, or --topic and --partition; exits 1 when one could not be elected')
    .option('--topic <name>', 'only this topic (with --partition)')
    .option('--partition <p>', 'only this partition of --topic', intOption('--partition', 0))
    .addOption(brokerOption())
    .action(async (o: { topic?: string; partition?: number; broker: string[] }) => {
      if ((o.topic === undefined) !== (o.partition === undefined)) throw new InvalidArgumentError('--topic and --partition go together (or neither, for every partition)');
      const only = o.topic !== undefined && o.partition !== undefined ? [{ topic: o.topic, partition: o.partition }] : undefined;
      const failed = await withAdmin(o.broker, (a) => electLeaders(a, only, (l) => { process.stderr.write(`${l}\n`); }));
      if (failed > 0) process.exitCode = 1;
    });

  addEtcdOptions(cluster
    .command('status')
    .description('list brokers (alive or not), the controller, and offline or under-replicated partitions; exits 2 when any partition is offline'))
    .addOption(new Option('--cluster-name <name>', 'the etcd key prefix of the cluster').env('SLUICE_CLUSTER_NAME').default('sluice'))
    .option('--json', 'print the status as JSON')
    .action(async (o: EtcdFlags & { clusterName: string; json?: boolean }) => {
      const settings = etcdSettings(o);
      const keys = new ClusterKeys(o.clusterName);
      const client = await openEtcd(settings);
      try {
        const s = await readClusterStatus(client, keys).catch(async (err: unknown) => { throw await etcdFailure(err, settings, keys.root); });
        if (o.json) {
          process.stdout.write(`${JSON.stringify(s)}\n`);
        } else {
          process.stdout.write(table(['BROKER', 'URL', 'STATE', 'ROLE'], s.brokers.map((b) => [b.nodeId, b.url, b.alive ? 'alive' : 'dead', b.nodeId === s.controller ? 'controller' : ''])));
          process.stdout.write(`\ncontroller: ${s.controller ?? 'none'}; partitions: ${s.partitions}, offline: ${s.offline.length}, under-replicated: ${s.underReplicated.length}\n`);
          const rows = [...s.offline.map((p) => ['offline', p] as const), ...s.underReplicated.map((p) => ['under-replicated', p] as const)];
          if (rows.length > 0) {
            process.stdout.write(`\n${table(['TOPIC', 'PARTITION', 'STATE', 'LEADER', 'EPOCH', 'REPLICAS', 'ISR'], rows.map(([what, p]) => [
              p.topic, p.partition, what, p.state.leader, p.state.leaderEpoch, p.state.replicas.join(','), p.state.isr.join(','),
            ]))}`);
          }
          if (s.reassigning.length > 0) {
            process.stdout.write(`\nREASSIGNING\n${table(['TOPIC', 'PARTITION', 'FROM', 'TO', 'NOT-IN-SYNC'], s.reassigning.map((r) => [
              r.topic, r.partition, r.from.join(','), r.to.join(','), r.notInSync.join(',') || '-',
            ]))}`);
          }
        }
        if (s.offline.length > 0) process.exitCode = EXIT_OFFLINE_PARTITIONS;
      } finally {
        client.close();
      }
    });
}
