/**
 * Topic names become directory names, so they are checked before anything touches disk:
 * Kafka's rule (1-249 chars of [a-zA-Z0-9._-], not "." or "..") rules out path separators,
 * `..` escapes, NUL bytes and names that differ only in ways a filesystem might fold.
 * Pure and imports nothing, so every layer uses this one rule: the broker checks every topic
 * name a request carries with it, storage every name it builds a path from.
 */
export const MAX_TOPIC_NAME_LENGTH = 249;
const LEGAL = /^[a-zA-Z0-9._-]+$/;

/** Why `name` is not a legal topic name, or undefined when it is. */
export function topicNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'topic name is empty';
  if (name.length > MAX_TOPIC_NAME_LENGTH) return `topic name is longer than ${MAX_TOPIC_NAME_LENGTH} characters`;
  if (name === '.' || name === '..') return `topic name '${name}' is not allowed`;
  if (!LEGAL.test(name)) return `topic name '${printable(name)}' may only hold a-z, A-Z, 0-9, '.', '_' and '-'`;
  return undefined;
}

export function isValidTopicName(name: string): boolean {
  return topicNameProblem(name) === undefined;
}

/**
 * Topics whose names start with this are the broker's own (`__consumer_offsets-<n>`,
 * `__share_state-<n>`): only the component that owns one writes it, because replaying them
 * is how the broker starts. Every name a client supplies as a topic to create, delete,
 * produce to, read as a queue or dead-letter into is refused when it has this prefix.
 */
export const INTERNAL_TOPIC_PREFIX = '__';

export function isInternalTopicName(name: string): boolean {
  return name.startsWith(INTERNAL_TOPIC_PREFIX);
}

/**
 * Cluster mode: the internal topic whose partitions are the consumer-group coordinators
 * (docs/cluster.md, "Coordinators"). Unlike the generation logs (`__consumer_offsets-<n>`,
 * kept by each broker for itself), it is placed and replicated through etcd like a user
 * topic; users still cannot create, delete or produce to it (it is internal).
 */
export const GROUP_COORDINATOR_TOPIC = '__consumer_offsets';
/**
 * Cluster mode: the replicated internal topic of the share-group (queue mode) coordinators,
 * laid out as GROUP_COORDINATOR_TOPIC (docs/cluster.md, "Coordinators"). On a single node
 * the share state lives in the local generation topics `__share_state-<n>` instead.
 */
export const SHARE_COORDINATOR_TOPIC = '__share_state';

/** Internal topics every broker keeps for itself (single node, and the generation logs): all but the replicated ones. */
export function isLocalInternalTopicName(name: string): boolean {
  return isInternalTopicName(name) && name !== GROUP_COORDINATOR_TOPIC && name !== SHARE_COORDINATOR_TOPIC;
}

function printable(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s).slice(1, -1);
}
