/**
 * Makes a test file's process run its `exit` hooks when it is ended by a signal. The test
 * runner ends a file whose test ran past --test-timeout with SIGTERM, and Node's default
 * action for it skips `exit` listeners: the brokers and etcd that the file started (the
 * harnesses kill them from `exit`) outlived it. Imported for its effect by every harness
 * that starts processes; installed once however often it is imported.
 */
import { constants } from 'node:os';

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(sig, () => process.exit(128 + constants.signals[sig]));
}
