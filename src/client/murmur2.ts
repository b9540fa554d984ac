/**
 * Kafka's murmur2 (32-bit MurmurHash2, seed 0x9747b28c), bit for bit as
 * `org.apache.kafka.common.utils.Utils.murmur2`, so a key lands on the same partition
 * whether a Sluice or a Kafka client produced it. Java ints wrap at 32 bits; here
 * `Math.imul` and `| 0` do the same.
 */
const SEED = 0x9747b28c | 0;
const M = 0x5bd1e995;

/** Signed 32-bit hash of `data`, equal to Kafka's `Utils.murmur2(data)`. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  if (rest > 0) {
    if (rest === 3) h ^= data[tail + 2] << 16;
    if (rest >= 2) h ^= data[tail + 1] << 8;
    h ^= data[tail];
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not Math.abs, which breaks on MIN_INT). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}
