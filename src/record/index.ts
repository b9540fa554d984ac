export * from './batch-header.js';
export * from './encoder.js';
export * from './decoder.js';
export { varintSize, writeVarint, readVarint } from './varint.js';
