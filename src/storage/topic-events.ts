/**
 * Topic lifecycle as events: what changed in the topic metadata (metadata-store.ts), told to
 * whoever depends on the topic list (the group coordinator's partition counts, share groups'
 * per-partition state, parked long polls) instead of each admin path calling each of them by
 * hand. A path that forgot one call was how share groups missed a deleted and re-created
 * topic and delivered nothing until the new log passed the old position.
 *
 * Delivery is synchronous, in subscription order, once the change is durable and the local
 * logs match it (see log-manager.ts): a listener may read `topic()` and `log()` and sees the
 * new state. Events describe changes after load; a subscriber reads the current list once
 * when it subscribes. Internal topics (`__` prefix) emit events too; subscribers that do not
 * care filter them. A listener that throws does not stop the others nor undo the change: it
 * is reported to `onListenerError`.
 */
import type { LogConfig } from './types.js';

export interface TopicCreated {
  topic: string;
  partitions: number;
  /** The overrides given at creation (broker defaults apply under them). */
  config: Partial<LogConfig>;
}

export interface TopicDeleted {
  topic: string;
  /** How many partitions the topic had. */
  partitions: number;
}

export interface PartitionsAdded {
  topic: string;
  /** Partition count before; the new partitions are [from, to). */
  from: number;
  to: number;
}

export interface TopicEventMap {
  topicCreated: TopicCreated;
  topicDeleted: TopicDeleted;
  partitionsAdded: PartitionsAdded;
}

export type TopicEventName = keyof TopicEventMap;
export type TopicListener<E extends TopicEventName> = (event: TopicEventMap[E]) => void;

export class TopicEvents {
  private readonly listeners: { [E in TopicEventName]: TopicListener<E>[] } = { topicCreated: [], topicDeleted: [], partitionsAdded: [] };

  /** Where a throwing listener is reported; by default nowhere (storage is silent unless given a logger). */
  onListenerError: (event: TopicEventName, err: unknown) => void = () => {};

  /** Subscribes; returns the function that unsubscribes. */
  on<E extends TopicEventName>(event: E, fn: TopicListener<E>): () => void {
    const list = this.listeners[event] as TopicListener<E>[];
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  emit<E extends TopicEventName>(event: E, e: TopicEventMap[E]): void {
    for (const fn of [...(this.listeners[event] as TopicListener<E>[])]) {
      try {
        fn(e);
      } catch (err) {
        this.onListenerError(event, err);
      }
    }
  }
}
