/**
 * A broker-only entry (`node --import tsx src/broker/main.ts broker ...`), the same as
 * `sluice broker` without the client commands. The test harness falls back to it while
 * the full CLI's other command files are not in the tree.
 */
import { Command } from 'commander';
import { registerBrokerCommand } from '../cli/broker-command.js';

const program = new Command().name('sluice');
registerBrokerCommand(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`sluice: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
});
