/**
 * The `sluice` command. Each sub-command lives in its own file and registers itself on
 * the program; this file only wires them and turns errors into a message and exit code.
 */
import { constants } from 'node:os';
import { Command } from 'commander';
import { registerBrokerCommand } from './broker-command.js';
import { registerTopicCommand } from './topic-command.js';
import { registerProduceCommand } from './produce-command.js';
import { registerConsumeCommand } from './consume-command.js';
import { registerBenchCommand } from './bench-command.js';
import { registerGroupCommand } from './group-command.js';
import { registerQueueCommand } from './queue-command.js';
import { registerClusterCommand } from './cluster-command.js';
import { registerUserCommand } from './user-command.js';
import { registerQuotaCommand } from './quota-command.js';
import { registerAclCommand } from './acl-command.js';
import { addSecurityOptions } from './client-security.js';
import { tuneGc } from './gc-tuning.js';
import { OutputClosedError, watchStdout } from './format.js';

tuneGc();
watchStdout();

const program = new Command();
program
  .name('sluice')
  .description('Sluice: a Kafka-style message broker (partitioned logs, replay, consumer groups, queues)')
  // A mistyped option gets one line of error and this hint, not the whole usage.
  .showHelpAfterError('(add --help for usage)');

registerBrokerCommand(program);
registerTopicCommand(program);
registerProduceCommand(program);
registerConsumeCommand(program);
registerBenchCommand(program);
registerGroupCommand(program);
registerQueueCommand(program);
registerClusterCommand(program);
registerUserCommand(program);
registerQuotaCommand(program);
registerAclCommand(program);
// --ca/--cert/--key/--user/--password-stdin on every command that takes --broker (docs/security.md).
addSecurityOptions(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // The reader of stdout left (`sluice ... | head`): end quietly, with the status a shell
  // gives a process killed by SIGPIPE (128 + 13), as `yes | head` does.
  if (err instanceof OutputClosedError) process.exit(128 + constants.signals.SIGPIPE);
  process.stderr.write(`sluice: ${errorLine(err)}\n`);
  process.exit(1);
});

/** `CODE: message`, the code once: Node's fs errors already start with it ("ENOENT: no such file ..."). */
function errorLine(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.code !== 'string' || !e.code || message.startsWith(`${e.code}:`) || message === e.code) return message;
  return `${e.code}: ${message}`;
}
