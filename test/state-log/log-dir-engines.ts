/**
 * The two places a CompactedLog's generations can live, for tests that run the same
 * scenario on both: memory logs, and internal topics of a real storage log manager that
 * `restart()` closes and reopens on the same directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLogManager } from '../../src/storage/log-manager.js';
import type { LogManager } from '../../src/storage/types.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { logManagerGenerationDir, type GenerationDir } from '../../src/state-log/generation-log.js';

export interface Engine {
  dir(): GenerationDir;
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** [name, factory] pairs; `prefix` names the internal topics on disk. */
export function logDirEngines(prefix: string): [string, () => Promise<Engine>][] {
  return [
    ['memory', async () => {
      const d = new MemoryGenerationDir();
      return { dir: () => d, restart: async () => undefined, close: async () => undefined };
    }],
    ['disk (storage log manager)', async () => {
      const path = await mkdtemp(join(tmpdir(), `sluice-${prefix.replace(/^_+/, '')}-`));
      let mgr: LogManager = await openLogManager(path, {}, { retentionCheckMs: 0 });
      return {
        dir: () => logManagerGenerationDir(mgr, prefix),
        restart: async () => {
          await mgr.close();
          mgr = await openLogManager(path, {}, { retentionCheckMs: 0 });
        },
        close: async () => {
          await mgr.close();
          await rm(path, { recursive: true, force: true });
        },
      };
    }],
  ];
}
