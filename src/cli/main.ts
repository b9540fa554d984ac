/**
 * The `sluice` command. Each sub-command lives in its own file and registers itself on
 * the program; this file only wires them and turns errors into a message and exit code.
 */
import { Command } from 'commander';
import { registerBrokerCommand } from './broker-command.js';
import { registerTopicCommand } from './topic-command.js';
import { registerProduceCommand } from './produce-command.js';
import { registerConsumeCommand } from './consume-command.js';
import { registerBenchCommand } from './bench-command.js';
import { registerGroupCommand } from './group-command.js';
import { registerQueueCommand } from './queue-command.js';
import { tuneGc } from './gc-tuning.js';

tuneGc();

const program = new Command();
program
  .name('sluice')
  .description('Sluice: a Kafka-style message broker (partitioned logs, replay, consumer groups, queues)')
  .showHelpAfterError();

registerBrokerCommand(program);
registerTopicCommand(program);
registerProduceCommand(program);
registerConsumeCommand(program);
registerBenchCommand(program);
registerGroupCommand(program);
registerQueueCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(`sluice: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
  process.exit(1);
});
