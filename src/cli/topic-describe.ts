/**
 * The text of `sluice topic describe`: a header line, then one row per partition. On a
 * single broker: log start, high watermark, messages, size, segments (as always). In cluster
 * mode (the partitions carry replication state) the rows start with LEADER, EPOCH, REPLICAS
 * and ISR, as kafka-topics --describe shows them, and the header names the replication
 * factor; log figures are the answering broker's replica's, `-` where it holds none.
 */
import type { TopicDescription } from '../client/admin.js';
import { formatBytes, table } from './format.js';

export function formatTopicDescription(d: TopicDescription): string {
  const cfg = Object.entries(d.config).map(([k, v]) => `${k}=${v}`).join(' ');
  const clustered = d.partitions.some((p) => p.leader !== undefined);
  const rf = clustered ? `  ReplicationFactor: ${Math.max(...d.partitions.map((p) => p.replicas?.length ?? 0))}` : '';
  const head = `Topic: ${d.name}  Partitions: ${d.partitions.length}${rf}${cfg ? `  Config: ${cfg}` : ''}\n`;
  const logHeaders = ['LOG-START', 'HIGH-WATERMARK', 'MESSAGES', 'SIZE', 'SEGMENTS'];
  if (!clustered) {
    return head + table(['PARTITION', ...logHeaders], d.partitions.map((p) => [
      p.partition, p.logStartOffset, p.highWatermark, p.highWatermark - p.logStartOffset, formatBytes(p.sizeBytes), p.segmentCount,
    ]));
  }
  const ids = (xs: number[] | undefined) => (xs && xs.length > 0 ? xs.join(',') : '-');
  // A REASSIGNING column only while some partition is being moved: the common listing stays as it was.
  const moving = d.partitions.some((p) => p.addingReplicas !== undefined || p.removingReplicas !== undefined);
  return head + table(['PARTITION', 'LEADER', 'EPOCH', 'REPLICAS', 'ISR', ...(moving ? ['REASSIGNING'] : []), ...logHeaders], d.partitions.map((p) => {
    const local = p.segmentCount >= 0;
    return [
      p.partition, p.leader === -1 ? 'none' : (p.leader ?? '-'), p.leaderEpoch ?? '-', ids(p.replicas), ids(p.isr),
      ...(moving ? [reassigningText(p)] : []),
      ...(local ? [p.logStartOffset, p.highWatermark, p.highWatermark - p.logStartOffset, formatBytes(p.sizeBytes), p.segmentCount] : ['-', '-', '-', '-', '-']),
    ];
  }));
}

/** `adding 4 removing 3` for a partition being reassigned, `-` for the others. */
function reassigningText(p: TopicDescription['partitions'][number]): string {
  if (p.addingReplicas === undefined && p.removingReplicas === undefined) return '-';
  const parts = [];
  if (p.addingReplicas && p.addingReplicas.length > 0) parts.push(`adding ${p.addingReplicas.join(',')}`);
  if (p.removingReplicas && p.removingReplicas.length > 0) parts.push(`removing ${p.removingReplicas.join(',')}`);
  return parts.join(' ') || 'reordering';
}
