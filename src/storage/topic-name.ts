/**
 * Topic names become directory names (`<topic>-<partition>`), so they are checked before
 * any path is built: only [A-Za-z0-9._-], 1..249 characters (Kafka's rule), and never `.`
 * or `..`. The broker reuses this to reject bad names before they reach storage.
 */
import { InvalidTopicError } from '../errors.js';

const LEGAL = /^[A-Za-z0-9._-]{1,249}$/;

export function validateTopicName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new InvalidTopicError('topic name must be a string');
  if (name === '.' || name === '..') throw new InvalidTopicError(`topic name '${name}' is not allowed`);
  if (!LEGAL.test(name)) {
    throw new InvalidTopicError(name.length === 0 || name.length > 249
      ? `topic name must be 1 to 249 characters, got ${name.length}`
      : `topic name '${name}' may only contain ASCII letters, digits, '.', '_' and '-'`);
  }
}
