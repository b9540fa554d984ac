// Error codes are one typed union from the error table, and `retriable` comes from the table:
// no error class states it again, and a wire error read back by a client agrees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRORS, LOCAL_ERRORS, SluiceError, InvalidTopicError, type ErrorName } from '../src/errors.js';
import { BrokerError } from '../src/protocol/errors.js';
import { StorageError, UnknownTopicError } from '../src/storage/errors.js';
import { NetworkError, ClientClosedError } from '../src/client/errors.js';
import { CoordinatorNotAvailableError } from '../src/group/errors.js';

test('a code outside the table does not compile', () => {
  // @ts-expect-error: 'NOT_A_CODE' is not an ErrorName (npx tsc checks this file)
  const e = new SluiceError('NOT_A_CODE', 'x');
  assert.equal(e.retriable, false, 'plain JavaScript that passes one gets a non-retriable error, not a crash');
  const ok: ErrorName = 'UNKNOWN_TOPIC_OR_PARTITION';
  assert.equal(new SluiceError(ok, 'x').retriable, true);
});

test('retriable is read from the table, for wire and local codes alike', () => {
  const cases: SluiceError[] = [
    new UnknownTopicError('t'), new StorageError('disk'), new InvalidTopicError('bad'), new NetworkError('ws://x', 'gone'),
    new ClientClosedError('producer'), new CoordinatorNotAvailableError('loading'),
  ];
  for (const e of cases) {
    const spec = (ERRORS as Record<string, { retriable: boolean }>)[e.code] ?? (LOCAL_ERRORS as Record<string, { retriable: boolean }>)[e.code];
    assert.ok(spec, `${e.code} is in a table`);
    assert.equal(e.retriable, spec.retriable, e.code);
  }
  for (const [name, spec] of Object.entries(ERRORS)) {
    assert.equal(new BrokerError(spec.code, '').retriable, spec.retriable, name);
    assert.equal(new BrokerError(spec.code, '').code, name);
  }
});
