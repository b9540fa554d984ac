/**
 * `sluice user add|delete|list` (docs/security.md): SCRAM-SHA-256 users. Through a broker
 * (`--broker`, logged in as a super user with `--user`), or offline against a broker's data
 * directory (`--data-dir`, a single broker that is not running) to create the first admin
 * before start-up. In cluster mode users live in etcd: manage them through any broker.
 */
import { Command, Option } from 'commander';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { FileUserStore } from '../auth/file-user-store.js';
import { DEFAULT_SCRAM_ITERATIONS, makeCredential } from '../protocol/scram.js';
import { brokerOption, intOption } from './broker-url.js';
import { readStdinLine } from './client-security.js';
import { withAdmin } from './with-admin.js';

interface UserOpts {
  broker: string[];
  dataDir?: string;
}

const dataDirOption = (): Option => new Option('--data-dir <dir>', 'work on this data directory\'s users.json instead of through a broker (the broker must not be running)');

export function registerUserCommand(program: Command): void {
  const user = program.command('user').description('SCRAM users: add, delete, list (auth: scram)');
  user.command('add').description('add a user, or set a new password for one')
    .argument('<name>')
    .option('--password-stdin', 'read the new user\'s password from the first line of stdin (else a prompt)')
    .option('--iterations <n>', 'PBKDF2 iterations (>= 4096)', intOption('--iterations', 4096), DEFAULT_SCRAM_ITERATIONS)
    .addOption(dataDirOption()).addOption(brokerOption())
    .action(async (name: string, o: UserOpts & { passwordStdin?: boolean; iterations: number }) => {
      const password = o.passwordStdin === true ? await readStdinLine() : await prompt(`password for ${name}: `);
      if (o.dataDir !== undefined) {
        const store = await FileUserStore.open(o.dataDir);
        await store.upsert(name, await makeCredential(password, o.iterations));
        await store.close();
      } else {
        await withAdmin(o.broker, (a) => a.upsertUser(name, password, o.iterations));
      }
      process.stdout.write(`user ${name} saved\n`);
    });
  user.command('delete').description('delete a user').argument('<name>')
    .addOption(dataDirOption()).addOption(brokerOption())
    .action(async (name: string, o: UserOpts) => {
      if (o.dataDir !== undefined) {
        const store = await FileUserStore.open(o.dataDir);
        if (!(await store.delete(name))) throw new Error(`no user ${JSON.stringify(name)} in ${o.dataDir}`);
        await store.close();
      } else {
        await withAdmin(o.broker, (a) => a.deleteUser(name));
      }
      process.stdout.write(`user ${name} deleted\n`);
    });
  user.command('list').description('users, with their mechanism and iterations').addOption(dataDirOption()).addOption(brokerOption())
    .action(async (o: UserOpts) => {
      const users = o.dataDir !== undefined ? await (await FileUserStore.open(o.dataDir)).list() : await withAdmin(o.broker, (a) => a.listUsers());
      for (const u of users) process.stdout.write(`${u.name}\t${u.mechanism}\t${u.iterations}\n`);
    });
}

/** Reads a password from the terminal without echoing it. */
function prompt(question: string): Promise<string> {
  if (!process.stdin.isTTY) return Promise.reject(new Error('no terminal to prompt for the password: pass --password-stdin'));
  let muted = false;
  const output = new Writable({ write: (chunk: Buffer, _enc, done) => { if (!muted) process.stderr.write(chunk); done(); } });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    muted = true;
  });
}
