/**
 * A generation dir around another that records every open and remove and can hold the next
 * creation of a generation (an open of one not there yet) or the next removal until released:
 * how the compaction tests stop a compaction at a chosen step, deterministically. Not in-place
 * (no advanceLogStart): compactions make a new generation.
 */
import type { GenerationDir, GenerationLog } from '../../src/state-log/generation-log.js';

export class HeldDir implements GenerationDir {
  readonly ops: string[] = [];
  private createHold: { release: Promise<void>; waiting: () => void } | null = null;
  private removeHold: { release: Promise<void>; waiting: () => void } | null = null;

  constructor(private readonly inner: GenerationDir) {}

  /** The next open of a generation not there yet waits for `release`; resolves once it is waiting. */
  holdNextCreate(release: Promise<void>): Promise<void> {
    return new Promise<void>((waiting) => { this.createHold = { release, waiting }; });
  }

  /** The next remove of a generation that is there waits for `release`; resolves once it is waiting. */
  holdNextRemove(release: Promise<void>): Promise<void> {
    return new Promise<void>((waiting) => { this.removeHold = { release, waiting }; });
  }

  generations(): Promise<number[]> {
    return this.inner.generations();
  }

  async open(gen: number): Promise<GenerationLog> {
    const hold = this.createHold;
    if (hold && !(await this.inner.generations()).includes(gen)) {
      this.createHold = null;
      hold.waiting();
      await hold.release;
    }
    this.ops.push(`open ${gen}`);
    return this.inner.open(gen);
  }

  async remove(gen: number): Promise<void> {
    const hold = this.removeHold;
    // Only a generation that is there: making a fresh one first removes any leftover of it.
    if (hold && (await this.inner.generations()).includes(gen)) {
      this.removeHold = null;
      hold.waiting();
      await hold.release;
    }
    this.ops.push(`remove ${gen}`);
    return this.inner.remove(gen);
  }
}

/** A promise to hold something on (`wait`) and its release (`open`). */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => { open = r; });
  return { wait, open };
}
