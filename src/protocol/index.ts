export * from './api.js';
export * from './errors.js';
export * from './codec.js';
export * from './frame-error.js';
export * from './request-error.js';
export * from './parse-request.js';
export * from '../topic-name.js';
export * from './topic-config.js';
