/**
 * Offline `sluice topic verify --data-dir`: runs verify.ts over the topics of a data dir
 * without a broker, reading `topics.json` and every partition's segments read-only.
 */
import { join } from 'node:path';
import { StorageError, UnknownTopicError } from './errors.js';
import { readOptionalText } from './atomic-file.js';
import { TOPICS_FILE, partitionDir } from './log-manager.js';
import { validateTopicName } from './topic-name.js';
import { verifyPartitionDir, type PartitionVerifyReport } from './verify.js';
import type { TopicInfo } from './types.js';

export interface TopicVerifyReport {
  topic: string;
  partitions: (PartitionVerifyReport & { partition: number })[];
}

/**
 * Verifies the topics of a data dir (all, or `topic`) without a broker, reading
 * `topics.json` and each partition's segments; writes nothing. A broker running on the same
 * dir may be appending meanwhile: stop it first, or verify through it.
 */
export async function verifyDataDir(dataDir: string, topic?: string): Promise<TopicVerifyReport[]> {
  const text = await readOptionalText(join(dataDir, TOPICS_FILE));
  if (text === null) throw new StorageError(`${dataDir} holds no ${TOPICS_FILE}: not a Sluice data dir`);
  let topics: TopicInfo[];
  try {
    topics = (JSON.parse(text) as { topics: TopicInfo[] }).topics;
    if (!Array.isArray(topics)) throw new Error('no topics array');
  } catch (err) {
    throw new StorageError(`${TOPICS_FILE} in ${dataDir} is unreadable: ${(err as Error).message}`, { cause: err });
  }
  const chosen = topic === undefined ? topics : topics.filter((t) => t.name === topic);
  if (topic !== undefined && chosen.length === 0) throw new UnknownTopicError(topic);
  const out: TopicVerifyReport[] = [];
  for (const t of chosen) {
    validateTopicName(t.name); // a path component: never outside the data dir
    const partitions: TopicVerifyReport['partitions'] = [];
    for (let p = 0; p < t.partitions; p++) {
      partitions.push({ partition: p, ...(await verifyPartitionDir(partitionDir(dataDir, t.name, p))) });
    }
    out.push({ topic: t.name, partitions });
  }
  return out;
}
