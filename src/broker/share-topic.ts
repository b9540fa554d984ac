/**
 * The topic check of the share admin requests that name one topic (ShareReset, ShareCancel):
 * an internal topic is refused as invalid, a name that is not legal says why, and a legal name
 * with no topic is unknown. One rule, so the two answer the same for the same name.
 */
import { InvalidTopicError } from '../errors.js';
import { isInternalTopicName, topicNameProblem } from '../topic-name.js';
import { UnknownTopicError } from '../storage/errors.js';
import type { BrokerContext } from './context.js';

/** `topic`'s partition count, or the error a share admin request answers with. */
export function shareTopicPartitions(ctx: BrokerContext, topic: string): number {
  if (isInternalTopicName(topic)) throw new InvalidTopicError(`'${topic}' is an internal topic`);
  const info = ctx.logs.topic(topic);
  if (!info) {
    const problem = topicNameProblem(topic);
    throw problem ? new InvalidTopicError(problem) : new UnknownTopicError(topic);
  }
  return info.partitions;
}
