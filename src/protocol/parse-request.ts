/**
 * Checks that a decoded frame is a well-formed request of a known api and version, and
 * returns it typed. Pure. The header is checked here, the body against the api's schema
 * in the api table (api-table.ts): the one validator of every api.
 *
 *   no readable id (missing, not a u32)      -> FrameError 1008 (connection closed)
 *   api not in the table                     -> RequestError UNKNOWN_API
 *   version outside the api's range          -> RequestError UNSUPPORTED_VERSION naming the range
 *   acks not 0, 1 or -1                      -> RequestError INVALID_REQUIRED_ACKS
 *   any other field missing or ill-typed     -> RequestError INVALID_REQUEST naming the field
 *
 * The request object is validated in place and returned (no copy: produce requests are on
 * the hot path); extra fields are ignored. `null` counts as absent for optional fields.
 */
import { apiDefinition, type AnyRequest } from './api-table.js';
import { FrameError, CLOSE_POLICY_VIOLATION } from './frame-error.js';
import { RequestError } from './request-error.js';
import { U32_MAX } from './limits.js';
import { SchemaError } from './schema.js';

/** Any checked request; `api` tells which (narrow on it to get the body's type). */
export type Request = AnyRequest;

type Obj = Record<string, unknown>;

/** The request id when readable, else undefined. */
export function readRequestId(msg: Obj): number | undefined {
  const id = msg.id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= U32_MAX ? id : undefined;
}

export function parseRequest(msg: Obj): Request {
  const id = readRequestId(msg);
  if (id === undefined) throw new FrameError(CLOSE_POLICY_VIOLATION, 'request has no readable id (u32)');
  const api = msg.api;
  if (typeof api !== 'number' || !Number.isInteger(api)) throw new RequestError('INVALID_REQUEST', id, 'api must be an integer');
  const def = apiDefinition(api);
  if (def === undefined) throw new RequestError('UNKNOWN_API', id, `unknown api ${api}`);
  const version = msg.version;
  if (typeof version !== 'number' || !Number.isInteger(version)) throw new RequestError('INVALID_REQUEST', id, 'version must be an integer');
  if (version < def.minVersion || version > def.maxVersion) {
    throw new RequestError('UNSUPPORTED_VERSION', id,
      `${def.name} (api ${api}) version ${version} is not supported; this broker speaks versions ${def.minVersion}..${def.maxVersion}`);
  }
  try {
    def.request.check(msg);
  } catch (e) {
    if (e instanceof SchemaError) throw new RequestError(e.code, id, e.text);
    throw e;
  }
  return msg as Request;
}
