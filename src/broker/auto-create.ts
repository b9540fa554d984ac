/**
 * Creating a topic on first produce (only when autoCreateTopics is on). Concurrent
 * produces to the same new topic share one creation instead of racing to
 * TOPIC_ALREADY_EXISTS.
 */
import type { BrokerContext } from './context.js';

const pending = new WeakMap<BrokerContext, Map<string, Promise<void>>>();

export function ensureTopic(ctx: BrokerContext, topic: string): Promise<void> {
  let byName = pending.get(ctx);
  if (!byName) pending.set(ctx, (byName = new Map()));
  const running = byName.get(topic);
  if (running) return running;
  const p = (async () => {
    try {
      if (ctx.logs.topic(topic)) return;
      await ctx.logs.createTopic(topic, ctx.config.defaultPartitions);
      ctx.log.info('topic created', { topic, partitions: ctx.config.defaultPartitions, auto: true });
    } finally {
      byName.delete(topic);
    }
  })();
  byName.set(topic, p);
  return p;
}
