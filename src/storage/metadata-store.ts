/**
 * The topic metadata contract: which topics exist, their partition counts and config
 * overrides (and, with cluster mode, replica placement). It is apart from the local
 * partition logs (local-logs.ts) because in cluster mode the two stop being the same thing:
 * metadata lives in etcd and is shared by every broker (docs/cluster.md), while each broker
 * holds logs only for the replicas placed on it. `file-metadata-store.ts` implements it on
 * the data directory (`topics.json`) for the single broker; an etcd implementation will sit in
 * src/cluster/ and implement this same interface.
 *
 * Every change is durable before it is visible to subscribers: the store records it, makes it
 * durable, and only then emits its event (topic-events.ts). A change that could not be made
 * durable is undone in memory and throws; no event is emitted for it.
 */
import type { TopicEvents } from './topic-events.js';
import type { CreateTopicOptions, TopicInfo } from './types.js';

export interface MetadataStore {
  /** topicCreated / topicDeleted / partitionsAdded, after each change is durable. */
  readonly events: TopicEvents;
  topic(name: string): TopicInfo | undefined;
  topics(): TopicInfo[];
  /** Records a new, already validated topic. TopicExistsError when the name is taken. `opts` matter in cluster mode only. */
  createTopic(info: TopicInfo, opts?: CreateTopicOptions): Promise<void>;
  /** Removes a topic and returns what it was. UnknownTopicError when absent. */
  deleteTopic(name: string): Promise<TopicInfo>;
  /** Raises a topic's partition count (never lowers: InvalidPartitionsError). UnknownTopicError when absent. */
  addPartitions(name: string, totalPartitions: number): Promise<TopicInfo>;
}
