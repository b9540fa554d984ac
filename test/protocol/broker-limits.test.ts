import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMIT_HEADERS, limitHeaderLines, readLimitHeaders } from '../../src/protocol/broker-limits.js';

const limits = { maxFrameBytes: 17825792, maxBatchBytes: 16777216, maxRequestMsgpackBytes: 1048576 };

/** Header lines as Node's http client reports them: lower-case names, trimmed values. */
function parse(lines: string[]): Record<string, string> {
  return Object.fromEntries(lines.map((l) => { const i = l.indexOf(':'); return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()]; }));
}

test('the limits survive their header lines', () => {
  assert.deepEqual(readLimitHeaders(parse(limitHeaderLines(limits))), limits);
});

test('a partial or garbled announcement counts as none', () => {
  const h = parse(limitHeaderLines(limits));
  for (const [name, value] of [[LIMIT_HEADERS.maxFrameBytes, undefined], [LIMIT_HEADERS.maxBatchBytes, '0'], [LIMIT_HEADERS.maxBatchBytes, '12abc'],
    [LIMIT_HEADERS.maxRequestMsgpackBytes, '-5'], [LIMIT_HEADERS.maxFrameBytes, '99999999999999999999']] as [string, string | undefined][]) {
    assert.equal(readLimitHeaders({ ...h, [name]: value }), undefined, `${name}: ${value}`);
  }
  assert.equal(readLimitHeaders({}), undefined);
});
