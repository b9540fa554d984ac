/**
 * How a long-running CLI command (`consume`, `queue consume`) ends on Ctrl-C or SIGTERM:
 * the first signal stops it cleanly (the command's `stop` closes the consumer, which commits
 * and leaves its group, or releases unacked jobs), then the process exits with 128 + the
 * signal's number: 130 after Ctrl-C, 143 after SIGTERM. That is the code a shell reports for
 * a process the signal killed outright, so it is the same however early the signal lands
 * (before these handlers exist, Node's default handling gives it too), and scripts can tell
 * "stopped" from "done" (0: --max-messages or --until-end reached) and "failed" (1).
 * A second signal finds no handler and ends the process at once.
 *
 * `graceful`: the stop is the command's normal end (`queue consume` drains: its running jobs
 * finish and are acked), so the process exits 0 after it, not 128 + the signal.
 */
import { constants } from 'node:os';

export async function untilStopSignal(stop: () => unknown, body: () => Promise<void>, opts: { graceful?: boolean } = {}): Promise<void> {
  let got: NodeJS.Signals | null = null;
  const on = (sig: NodeJS.Signals) => {
    got = sig;
    void stop();
  };
  process.once('SIGINT', on);
  process.once('SIGTERM', on);
  try {
    await body();
  } catch (err) {
    // An error from the close the signal started (an ack or fetch cut short) is not a failure.
    if (got === null) throw err;
  } finally {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  }
  if (got !== null && !opts.graceful) process.exitCode = 128 + constants.signals[got];
}
