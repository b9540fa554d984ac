/**
 * What a handler is: api A's checked request (api-table.ts) in, A's response out. Its own
 * file so that handler files can declare themselves `Handler<A>` without importing
 * dispatch.ts, which imports them all.
 */
import type { Api, ApiKey } from '../protocol/api.js';
import type { RequestOf, ResponseOf } from '../protocol/api-table.js';
import type { BrokerContext, RequestScope } from './context.js';

/** Only Produce may answer nothing (acks 0). */
export type Answer<A extends ApiKey> = A extends typeof Api.Produce ? ResponseOf<A> | undefined : ResponseOf<A>;

/**
 * `scope` is the connection the request came on; dispatch always passes it. It is optional
 * because a handler must also run without one (tests and benches call handlers directly):
 * then nothing is held for output back-pressure and no connection is bound.
 */
export type Handler<A extends ApiKey> = (ctx: BrokerContext, req: RequestOf<A>, scope?: RequestScope) => Promise<Answer<A>>;
