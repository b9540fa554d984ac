/**
 * A topic-partition as one string key, `topic + '\0' + partition`, for Maps and Sets (topic
 * names cannot contain NUL: topic-name.ts). Used by the coordinators, the broker and the
 * client alike, so it lives in the pure protocol layer that all of them may import.
 */

export interface TopicPartition {
  topic: string;
  partition: number;
}

export function tpKey(topic: string, partition: number): string {
  return topic + '\0' + partition;
}

export function parseTpKey(key: string): TopicPartition {
  const i = key.lastIndexOf('\0');
  return { topic: key.slice(0, i), partition: Number(key.slice(i + 1)) };
}

/** Orders keys by topic, then partition number (not string order: 10 after 9). */
export function compareTpKeys(a: string, b: string): number {
  const x = parseTpKey(a);
  const y = parseTpKey(b);
  return x.topic < y.topic ? -1 : x.topic > y.topic ? 1 : x.partition - y.partition;
}
