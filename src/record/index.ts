export * from './batch-header.js';
export * from './encoder.js';
export * from './decoder.js';
export * from './validate-records.js';
export { varintSize, writeVarint, readVarint } from './varint.js';
export * from './delivery-time.js';
export * from './batch-subset.js';
