/**
 * Topic names become directory names (`<topic>-<partition>`), so storage checks each one
 * before it builds a path, with the one rule of legal names (src/topic-name.ts: Kafka's
 * [A-Za-z0-9._-], 1..249 characters, never `.` or `..`), as a typed storage error.
 */
import { InvalidTopicError } from '../errors.js';
import { topicNameProblem } from '../topic-name.js';

export function validateTopicName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new InvalidTopicError('topic name must be a string');
  const problem = topicNameProblem(name);
  if (problem !== undefined) throw new InvalidTopicError(problem);
}
