import { SluiceError } from '../errors.js';

/** A setting is unknown or ill-typed; start-up stops with this message. Not a wire error. */
export class ConfigError extends SluiceError {
  constructor(message: string) {
    super('INVALID_CONFIG', message);
  }
}
