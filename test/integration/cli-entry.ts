/**
 * How tests start the `sluice` command. `npm test` compiles src/ first and names the
 * compiled CLI in TEST_SLUICE_CLI: a spawned broker or CLI then starts in about half the
 * time and without tsx's compiler process, which on a loaded CI machine made two processes
 * started together come up seconds apart. Run on its own (`node --import tsx --test FILE`),
 * a test falls back to the sources through tsx, so it never runs a stale build.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** node arguments that run the CLI; append the command and its flags. */
export function cliArgs(): string[] {
  const built = process.env.TEST_SLUICE_CLI;
  return built ? [built] : ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
}
