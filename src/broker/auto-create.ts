/**
 * Creating a topic on first produce (only when autoCreateTopics is on). Concurrent
 * produces to the same new topic share one creation instead of racing to
 * TOPIC_ALREADY_EXISTS. In cluster mode other brokers may create it at the same moment (each
 * forwards to the controller, which creates it once): TOPIC_ALREADY_EXISTS then means the
 * topic exists, which is what the produce wanted; if this broker's view does not show it
 * yet, the produce answers a retriable error and the client retries.
 */
import { SluiceError } from '../errors.js';
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
      try {
        await ctx.logs.createTopic(topic, ctx.config.defaultPartitions);
      } catch (err) {
        if (err instanceof SluiceError && err.code === 'TOPIC_ALREADY_EXISTS') return;
        throw err;
      }
      ctx.log.info('topic created', { topic, partitions: ctx.config.defaultPartitions, auto: true });
    } finally {
      byName.delete(topic);
    }
  })();
  byName.set(topic, p);
  return p;
}
