/**
 * `sluice broker`: run the broker. Every setting in src/config/settings.ts is also a flag
 * (kebab-case of its key, e.g. --max-frame-bytes, --log-segment-bytes); --config names a
 * JSON file (or SLUICE_CONFIG). Precedence: flag > SLUICE_* env > file > config/default.json.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { SETTINGS, describeType, envName, flagName } from '../config/settings.js';
import { ConfigError } from '../config/config-error.js';
import { keepRunningWithoutStdout } from './format.js';

export function registerBrokerCommand(program: Command): void {
  const cmd = program.command('broker').description('run a Sluice broker');
  cmd.addOption(new Option('--config <file>', 'JSON config file').env('SLUICE_CONFIG'));
  for (const s of SETTINGS) {
    const arg = s.type.kind === 'bool' ? '[bool]' : '<value>';
    cmd.addOption(new Option(`--${flagName(s.key)} ${arg}`, `${s.description} (${describeType(s.type)}; env ${envName(s.key)})`));
  }
  cmd.action(async (opts: Record<string, unknown>) => {
    const flags: Record<string, unknown> = {};
    for (const s of SETTINGS) {
      const v = opts[camel(flagName(s.key))];
      if (v !== undefined) flags[s.key] = v;
    }
    const file = opts.config as string | undefined;
    let loaded;
    try {
      loaded = loadConfig({ ...(file !== undefined && { file }), env: process.env, flags });
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`sluice broker: ${err.message}\n`);
        process.exit(2);
      }
      throw err;
    }
    keepRunningWithoutStdout('the broker keeps serving');
    // Loaded here, not at the CLI's start: the broker (storage, cluster, etcd, metrics) was
    // most of what every other command loaded for nothing (src/cli/main.ts says why that matters).
    const { runBroker } = await import('../broker/run-broker.js');
    await runBroker(loaded.config, { warnings: loaded.warnings });
  });
}

function camel(kebab: string): string {
  return kebab.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}
