import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Api } from '../../src/protocol/api.js';
import { apiName } from '../../src/protocol/api-table.js';

test('apiName: every api by its key, nothing for a number that is no api (the broker labels those "unknown")', () => {
  for (const [name, key] of Object.entries(Api)) assert.equal(apiName(key), name);
  for (const key of [-1, 4, 1.5, 1199, 1201, 99_999, NaN, Infinity]) assert.equal(apiName(key), undefined, String(key));
});
