/**
 * Producer ids for the idempotent producer (KIP-98) on a single broker: a durable counter in
 * the data directory, `producer-ids`, holding (decimal) the first id of the next block not yet
 * claimed. Ids are claimed a block at a time: the file is advanced past the block, durably
 * (writeFileAtomic: temp file, fsync, rename, directory fsync), BEFORE any id of the block is
 * handed out, so a restart (or a crash at any point) starts after every id ever handed out and
 * never reuses one; the ids of a block the broker did not use before it stopped are skipped.
 * One file write per PRODUCER_ID_BLOCK_SIZE producers.
 *
 * In cluster mode ids must be unique across brokers: ProducerIdAllocator
 * (cluster/producer-id-blocks.ts) claims blocks from etcd instead, with the same interface.
 */
import { join } from 'node:path';
import { readOptionalText, writeFileAtomic } from './atomic-file.js';
import { StorageError } from './errors.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';

export const PRODUCER_IDS_FILE = 'producer-ids';
export const PRODUCER_ID_BLOCK_SIZE = 1000;

/** Where InitProducerId takes ids from: each call a new id, never handed out before (>= 0). */
export interface ProducerIdSource {
  nextId(): Promise<number>;
}

export class ProducerIdCounter implements ProducerIdSource {
  private next = 0;
  private end = 0;
  private claiming: Promise<void> | undefined;

  constructor(private readonly dataDir: string, private readonly blockSize = PRODUCER_ID_BLOCK_SIZE, private readonly fs: FileSystem = nodeFileSystem) {}

  async nextId(): Promise<number> {
    while (this.next >= this.end) {
      // One claim at a time: concurrent callers wait for the same block.
      this.claiming ??= this.claim().finally(() => { this.claiming = undefined; });
      await this.claiming;
    }
    return this.next++;
  }

  private async claim(): Promise<void> {
    const path = join(this.dataDir, PRODUCER_IDS_FILE);
    const text = await readOptionalText(path, this.fs);
    const first = text === null ? 0 : Number(text.trim());
    if (!Number.isSafeInteger(first) || first < 0 || (text !== null && text.trim() === '')) {
      throw new StorageError(`${path} holds '${text}', not a producer id; it must hold the next free producer id (remove it only if no producer id was ever handed out)`);
    }
    const end = first + this.blockSize;
    if (!Number.isSafeInteger(end)) throw new StorageError(`${path}: producer ids are exhausted (${first})`);
    try {
      await writeFileAtomic(path, `${end}\n`, this.fs);
    } catch (err) {
      throw new StorageError(`cannot claim producer ids ${first}..${end - 1} in ${path}: ${(err as Error).message}`, { cause: err });
    }
    this.next = first;
    this.end = end;
  }
}
