/**
 * SaslHandshake (17) and SaslAuthenticate (36): the login exchange of a connection
 * (connection-auth.ts does the work; docs/security.md). On a broker with `auth: none` there
 * is nothing to log in to: the handshake is refused with UNSUPPORTED_SASL_MECHANISM saying
 * so, and a client configured with credentials fails to connect rather than believe its
 * traffic is authenticated.
 */
import type { Api } from '../protocol/api.js';
import { SluiceError } from '../errors.js';
import type { Handler } from './handler.js';
import { errorOf } from './wire-error.js';

const AUTH_OFF = 'this broker does not authenticate (auth: none); connect without sasl credentials, or turn auth on';

export const handleSaslHandshake: Handler<typeof Api.SaslHandshake> = async (_ctx, req, scope) => {
  const auth = scope?.auth;
  if (auth === undefined) return { id: req.id, mechanisms: [], error: errorOf('UNSUPPORTED_SASL_MECHANISM', AUTH_OFF) };
  return { id: req.id, ...auth.handshake(req.mechanism) };
};

export const handleSaslAuthenticate: Handler<typeof Api.SaslAuthenticate> = async (_ctx, req, scope) => {
  const auth = scope?.auth;
  if (auth === undefined) throw new SluiceError('ILLEGAL_SASL_STATE', AUTH_OFF);
  return { id: req.id, authBytes: await auth.authenticate(req.authBytes) };
};
