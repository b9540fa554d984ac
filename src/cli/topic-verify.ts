/**
 * `sluice topic verify [TOPIC]`: checks every stored batch (CRC, length, magic, counts,
 * offset continuity; src/storage/verify.ts) of one topic or all of them, either through the
 * broker (VerifyTopic api, one request per partition) or offline with `--data-dir` (no
 * broker needed, files opened read-only). One line per partition on stdout, then each
 * problem; a summary on stderr. Exit 0 when all is well, 2 when something is corrupt, 1 when
 * the check itself could not run (broker unreachable, unknown topic, unreadable data dir).
 */
import { verifyDataDir } from '../storage/verify-data-dir.js';
import type { VerifyPartitionResult } from '../protocol/api.js';
import { withAdmin } from './with-admin.js';
import { formatBytes } from './format.js';

export const EXIT_CORRUPT = 2;

interface Report {
  topic: string;
  partitions: (Omit<VerifyPartitionResult, 'error'> & { error?: string })[];
}

export async function verifyTopics(topic: string | undefined, o: { dataDir?: string; broker: string[] }): Promise<void> {
  const reports: Report[] = o.dataDir !== undefined ? await verifyDataDir(o.dataDir, topic) : await viaBroker(o.broker, topic);
  let out = '';
  let partitions = 0;
  let bad = 0;
  let problems = 0;
  for (const t of reports) {
    for (const p of t.partitions) {
      partitions++;
      const name = `${t.topic}/${p.partition}`;
      if (p.error !== undefined) {
        bad++;
        out += `${name}  ERROR  ${p.error}\n`;
        continue;
      }
      const sizes = `${p.segments} segment${p.segments === 1 ? '' : 's'}, ${p.batches} batches, ${p.records} records, ${formatBytes(p.bytes)}`;
      if (p.problemCount === 0) {
        out += `${name}  OK  ${sizes}\n`;
        continue;
      }
      bad++;
      problems += p.problemCount;
      out += `${name}  CORRUPT  ${p.problemCount} problem${p.problemCount === 1 ? '' : 's'} (${sizes})\n`;
      for (const x of p.problems) out += `  offset ${x.offset}: segment ${x.segment}, byte ${x.position}: ${x.reason}\n`;
      if (p.problemCount > p.problems.length) out += `  ... and ${p.problemCount - p.problems.length} more\n`;
    }
  }
  process.stdout.write(out);
  const where = o.dataDir !== undefined ? `in ${o.dataDir}` : `through ${o.broker}`;
  process.stderr.write(`verified ${partitions} partition${partitions === 1 ? '' : 's'} of ${reports.length} topic${reports.length === 1 ? '' : 's'} ${where}: `
    + (bad === 0 ? 'no problems\n' : `${bad} partition${bad === 1 ? '' : 's'} not intact (${problems} problem${problems === 1 ? '' : 's'})\n`));
  if (bad > 0) process.exitCode = EXIT_CORRUPT;
}

async function viaBroker(brokers: readonly string[], topic: string | undefined): Promise<Report[]> {
  return withAdmin(brokers, async (a) => {
    const names = topic !== undefined ? [topic] : (await a.listTopics()).map((t) => t.name);
    const out: Report[] = [];
    for (const name of names) {
      const { partitions } = await a.describeTopic(name);
      const report: Report = { topic: name, partitions: [] };
      // One request per partition: each is bounded by one partition's size, not the topic's.
      // In cluster mode the broker checks only the replicas it holds (the others have no log figures).
      for (const { partition } of partitions.filter((p) => p.segmentCount >= 0)) {
        for (const { error, ...r } of await a.verifyTopic(name, [partition])) {
          report.partitions.push({ ...r, ...(error && error.code !== 0 && { error: error.message }) });
        }
      }
      out.push(report);
    }
    return out;
  });
}
