/**
 * Failsafe mode (docs/cluster.md, "Fencing"; Patroni's failsafe mode for PostgreSQL): how a
 * leader whose etcd session is no longer trusted may keep acknowledging writes while etcd is
 * down for everyone, without ever acknowledging beside a second leader. Pure: the clock is
 * handed in; the rounds over the network are replication/failsafe-checker.ts, the answers
 * broker/handle-failsafe-check.ts.
 *
 * The self-fence cannot tell "etcd is down for everyone" from "I alone am cut off from etcd":
 * in both, its keep-alives go unanswered. The other brokers can. So a fenced leader asks every
 * broker of the last live set it saw (FailsafeCheck) and keeps acknowledging only while all of
 * them grant. An answerer GRANTS only if
 *   (a) it cannot see etcd either: no etcd answer for as long as its own session needs to
 *       fence itself (TTL minus the safety margin; a healthy broker's keep-alives are answered
 *       every TTL/3, so a momentary stall of one answer does not look like an outage), and
 *   (b) its view of partition states is not newer than the asker's (it has applied no leader
 *       change the asker missed, so it leads nothing the asker believes it leads).
 * A grant is a PROMISE: for P ms after it, the answerer does not start acknowledging writes as
 * leader of a partition whose leadership it gains after the grant (ReplicaManager holds such a
 * leadership's writes: `held`). Leaderships it had already are covered by (b).
 *
 * The asker acknowledges only until s + W, s the start of its last round that EVERY peer
 * granted, W < P: every grant of that round was given after s, so every promise it got runs
 * past s + P > s + W, by a margin of P - W for clock rates. Any refusal or missing answer ends
 * the window at once: it stays fenced until the next full round or until its session is back.
 * No broker can start leading one of the asker's partitions before a new leader is elected,
 * which needs etcd; a broker that can see etcd refuses (a), one that saw the election refuses
 * (b), and one that granted before it saw it holds its first write until its promise ran out.
 */

/**
 * The view revision of FailsafeCheck: the etcd revision of the newest partition state applied.
 * A view applies watch events in revision order, so holding a state of revision r means every
 * change before r was applied too; a deleted key is not counted, which only makes the number
 * smaller (a deleted partition has no leader to conflict with).
 */
export function newestRevision(states: Iterable<{ readonly modRevision: number }>): number {
  let max = 0;
  for (const s of states) if (s.modRevision > max) max = s.modRevision;
  return max;
}

/** P, W and the round interval from the session TTL. */
export interface FailsafeWindows {
  /** How long a grant binds the granter (P = TTL). */
  readonly promiseMs: number;
  /** How long after a fully granted round's start the asker may acknowledge (W = P / 2). */
  readonly writeWindowMs: number;
  /** How often a fenced leader asks (TTL / 3, as the keep-alives). */
  readonly roundIntervalMs: number;
}

export function failsafeWindows(sessionTtlMs: number): FailsafeWindows {
  return {
    promiseMs: sessionTtlMs,
    // Half of P: the asker's and the granters' clocks may run at different rates (not agree,
    // only run alike); a factor of two is far beyond any real clock's drift and leaves room
    // for the round trip.
    writeWindowMs: Math.floor(sessionTtlMs / 2),
    roundIntervalMs: Math.max(1, Math.floor(sessionTtlMs / 3)),
  };
}

/** What an answerer knows when it decides; all times on its own monotonic clock. */
export interface GrantInputs {
  /** The asker's node id and the etcd revision of the newest partition state it has applied. */
  readonly askerNodeId: number;
  readonly askerViewRevision: number;
  /** The answerer's own. */
  readonly ownNodeId: number;
  readonly ownViewRevision: number;
  /** Milliseconds since the answerer last got an answer from etcd. */
  readonly etcdSilentMs: number;
  /** How long etcd must have been silent (the answerer's own fence point: TTL minus the margin). */
  readonly silenceNeededMs: number;
}

export type GrantDecision = { readonly granted: true } | { readonly granted: false; readonly reason: string };

/** The answerer's rule, (a) and (b) above. */
export function decideGrant(i: GrantInputs): GrantDecision {
  if (i.askerNodeId === i.ownNodeId) return { granted: false, reason: `broker ${i.ownNodeId} does not answer for itself` };
  if (i.etcdSilentMs < i.silenceNeededMs) {
    return { granted: false, reason: `broker ${i.ownNodeId} reaches etcd (last answer ${Math.round(i.etcdSilentMs)} ms ago)` };
  }
  if (i.ownViewRevision > i.askerViewRevision) {
    return {
      granted: false,
      reason: `broker ${i.ownNodeId} has seen partition states up to etcd revision ${i.ownViewRevision}, newer than ${i.askerViewRevision} of broker ${i.askerNodeId}`,
    };
  }
  return { granted: true };
}

/**
 * One broker's failsafe state, as granter and as asker. `now` is a monotonic clock (ms);
 * every time passed in or compared is on it.
 */
export class Failsafe {
  /** Times of grants given within the last P, oldest first. */
  private readonly grants: number[] = [];
  /** Start of the last round every peer granted; -Infinity when none counts (refused, or reset). */
  private fullRoundStart = -Infinity;

  constructor(readonly windows: FailsafeWindows, readonly now: () => number) {}

  // --- as granter ---------------------------------------------------------------------

  /** Decides an asker's check; a grant is recorded as a promise starting now. */
  answer(i: GrantInputs): GrantDecision {
    const d = decideGrant(i);
    if (d.granted) {
      const t = this.now();
      this.prune(t);
      this.grants.push(t);
    }
    return d;
  }

  /**
   * Whether a leadership gained at `gainedAt` must not acknowledge yet: a promise given at or
   * before `gainedAt` still runs. Leaderships older than every running promise are not held.
   */
  held(gainedAt: number, now = this.now()): boolean {
    for (let i = this.grants.length - 1; i >= 0; i--) {
      const t = this.grants[i]!;
      if (t <= gainedAt) return t + this.windows.promiseMs > now;
    }
    return false;
  }

  /** When the last promise given ends (-Infinity when none was). */
  promisedUntil(): number {
    const last = this.grants[this.grants.length - 1];
    return last === undefined ? -Infinity : last + this.windows.promiseMs;
  }

  // --- as asker -----------------------------------------------------------------------

  /** A round started at `start` ended: granted by every peer, or not (a refusal, a missing answer, no peers). */
  roundEnded(start: number, everyPeerGranted: boolean): void {
    if (!everyPeerGranted) this.fullRoundStart = -Infinity;
    else if (start > this.fullRoundStart) this.fullRoundStart = start;
  }

  /** Whether a leader without a trusted session may acknowledge now: within W of a fully granted round's start. */
  writable(now = this.now()): boolean {
    return now < this.fullRoundStart + this.windows.writeWindowMs;
  }

  /** Forgets the asker's rounds (its session is trusted again); promises given stay. */
  reset(): void {
    this.fullRoundStart = -Infinity;
  }

  private prune(now: number): void {
    // An expired grant holds nothing: every grant before it expired too.
    while (this.grants.length > 0 && this.grants[0]! + this.windows.promiseMs <= now) this.grants.shift();
  }
}
