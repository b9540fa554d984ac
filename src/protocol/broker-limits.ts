/**
 * The size limits a broker announces to its clients, one HTTP header each on the response
 * to the WebSocket upgrade (docs/protocol.md, "Limits announced on connect"):
 *
 *   sluice-max-frame-bytes: 17825792             maxFrameBytes: a bigger frame is closed with 1009
 *   sluice-max-batch-bytes: 16777216             maxBatchBytes: a bigger record set is MESSAGE_TOO_LARGE
 *   sluice-max-request-msgpack-bytes: 1048576    maxRequestMsgpackBytes: msgpack besides bin fields
 *
 * Headers rather than a request: they arrive with the connection, before the first request
 * could break a limit, cost no round trip, and need no api version. A client checks its
 * requests against them and refuses at once what the broker would refuse by closing the
 * connection. A client of a broker that announces nothing (older) learns nothing here and
 * falls back on its own settings. The values themselves are broker settings
 * (src/config/settings.ts); this file only names and parses them.
 */

/**
 * On the upgrade response of a connection refused for a connection limit (docs/security.md):
 * the broker closes it at once with CLOSE_TRY_AGAIN_LATER and a reason naming the limit; the
 * client, told by this header, waits for that close instead of taking the connection as open.
 */
export const REFUSED_HEADER = 'sluice-refused';

export interface BrokerLimits {
  maxFrameBytes: number;
  maxBatchBytes: number;
  maxRequestMsgpackBytes: number;
}

/** Header name per limit (lower case, as Node reports response headers). */
export const LIMIT_HEADERS: Readonly<Record<keyof BrokerLimits, string>> = Object.freeze({
  maxFrameBytes: 'sluice-max-frame-bytes',
  maxBatchBytes: 'sluice-max-batch-bytes',
  maxRequestMsgpackBytes: 'sluice-max-request-msgpack-bytes',
});

const KEYS = Object.keys(LIMIT_HEADERS) as (keyof BrokerLimits)[];

/** `name: value` header lines announcing `limits` (what ws's `headers` event takes). */
export function limitHeaderLines(limits: BrokerLimits): string[] {
  return KEYS.map((k) => `${LIMIT_HEADERS[k]}: ${limits[k]}`);
}

/**
 * The limits announced in `headers` (an upgrade response's), or undefined unless all three
 * are there as positive integers: a partial or garbled announcement is treated as none.
 */
export function readLimitHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): BrokerLimits | undefined {
  const out = {} as BrokerLimits;
  for (const k of KEYS) {
    const v = headers[LIMIT_HEADERS[k]];
    const n = typeof v === 'string' && /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) return undefined;
    out[k] = n;
  }
  return out;
}
