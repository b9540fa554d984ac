/**
 * Electing the controller through etcd, as etcd's own Go client does (concurrency.Election):
 * each candidate puts `controller/<leaseId>` on its session lease; the key with the lowest
 * create revision leads. A candidate waits for the deletion of the key just before its own
 * (not for the leader's), so a leader's death wakes one candidate, not all of them.
 *
 * The controller epoch is the create revision of the leader's key: it grows with every
 * election and is what Kafka called the controller epoch. Every controller write is a
 * transaction guarded by `create_revision(myKey) == epoch` (etcd's leader-fenced write): once
 * the key is gone (lease expired while this broker was paused, or resigned), the guard fails,
 * whatever the deposed controller still believes, so it can never overwrite its successor.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, IOperation, IRequestOp, ITxnResponse } from 'etcd3';
import type { EtcdSession } from './etcd-session.js';
import { ControllerFencedError, SessionExpiredError } from './errors.js';
import { isEtcdUnreachable } from './etcd-unreachable.js';
import type { ClusterKeys } from './keys.js';
import { revision } from './keys.js';

type ElectionEvents = { elected: [number]; deposed: []; error: [Error]; retrying: [Error, number] };

/** First retry of a campaign step etcd did not answer; doubles up to RETRY_MAX_MS. */
const RETRY_MS = 100;
const RETRY_MAX_MS = 2000;

export class ControllerElection extends EventEmitter<ElectionEvents> {
  private myKey = '';
  private myRevision = 0;
  private leading = false;
  private closed = false;
  private cancelWait: (() => void) | undefined;
  private campaigning = false;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly session: EtcdSession,
    private readonly nodeId: number,
  ) {
    super();
    session.on('lost', () => { this.depose(); });
    session.on('fenced', () => { this.depose(); });
    // A fence that lifts (a late keep-alive answer) means the lease never expired: the key is
    // still ours and still first, so run the check again rather than stay deposed for nothing.
    session.on('renewed', () => {
      if (this.closed || this.campaigning || this.myKey === '') return;
      this.campaign().catch((err: unknown) => { this.emit('error', err as Error); });
    });
  }

  /** The epoch while this broker leads, else undefined. */
  get epoch(): number | undefined {
    return this.leading ? this.myRevision : undefined;
  }

  /**
   * Puts the candidate key and resolves once this broker leads (with its epoch). Rejects when
   * the election is closed, or with SessionExpiredError (retriable) when the session was lost,
   * its candidate key vanished with its lease, or it would win past its fence: a 'renewed'
   * session campaigns again (above), a lost one is replaced by the node's rejoin.
   *
   * A step etcd does not answer (unreachable, a deadline, the client's open circuit breaker)
   * is retried with backoff ('retrying') for as long as the session stands: nothing else
   * would campaign again while the session lives, so a candidate that gave up on a moment of
   * silence would be out of the election until its lease ended, and, if its key was already
   * put, would hold the first place once the keys before it went, a controller that does not
   * know it leads, with every other candidate waiting behind it (chaos seed 82, 5 brokers: four
   * candidates' campaigns failed on an open circuit breaker within two seconds of each other).
   */
  async campaign(): Promise<number> {
    this.campaigning = true;
    try {
      for (let delay = RETRY_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
        try {
          return await this.runCampaign();
        } catch (err) {
          if (this.closed || this.session.lost || !isEtcdUnreachable(err)) throw err;
          this.emit('retrying', err as Error, delay);
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } finally {
      this.campaigning = false;
    }
  }

  private async runCampaign(): Promise<number> {
    this.myKey = this.keys.controllerCandidate(this.session.leaseId);
    const res = await this.client.if(this.myKey, 'Create', '==', 0)
      .then(this.client.put(this.myKey).value(String(this.nodeId)).lease(this.session.leaseId))
      .else(this.client.get(this.myKey))
      .commit();
    this.myRevision = res.succeeded
      ? revision(res.header.revision)
      : revision(res.responses[0]!.response_range.kvs[0]!.create_revision);
    for (;;) {
      if (this.closed) throw new Error('controller election closed before it was won');
      if (this.session.lost) throw new SessionExpiredError('controller campaign ended: the etcd session was lost before it was won');
      const range = await this.client.getAll().prefix(this.keys.controllerPrefix).sort('Create', 'Ascend').exec();
      const before = range.kvs.filter((kv) => revision(kv.create_revision) < this.myRevision);
      const mine = range.kvs.some((kv) => kv.key.toString() === this.myKey);
      if (!mine) throw new SessionExpiredError('controller candidacy vanished (its session lease expired) before it was won');
      if (before.length === 0) {
        if (!this.session.isValid()) throw new SessionExpiredError('controller election won on a session past its fence: its lease may have expired');
        this.leading = true;
        this.emit('elected', this.myRevision);
        return this.myRevision;
      }
      // Wait for the candidate just ahead of us; from the revision of our read, so no deletion is missed.
      await this.waitForDelete(before[before.length - 1]!.key.toString(), revision(range.header.revision) + 1);
    }
  }

  /** The node id of the current controller, or undefined when there is none. */
  async leader(): Promise<number | undefined> {
    const res = await this.client.getAll().prefix(this.keys.controllerPrefix).sort('Create', 'Ascend').limit(1).exec();
    const kv = res.kvs[0];
    return kv === undefined ? undefined : Number(kv.value.toString());
  }

  /**
   * Runs `ops` in one transaction guarded by this controller's epoch (and any extra
   * comparisons, e.g. a partition's mod revision). Throws ControllerFencedError when this
   * broker no longer leads; resolves with the response (check `succeeded` when extra
   * comparisons were given: the guard alone failing is reported as the error).
   */
  async fencedTxn(ops: (IRequestOp | IOperation)[], extra: [string, 'Mod' | 'Create' | 'Version', '==' | '<' | '>', number][] = []): Promise<ITxnResponse> {
    const epoch = this.epoch;
    if (epoch === undefined || !this.session.isValid()) throw new ControllerFencedError(this.myRevision);
    let cmp = this.client.if(this.myKey, 'Create', '==', epoch);
    for (const [k, col, op, v] of extra) cmp = cmp.and(k, col, op, v);
    const res = await cmp.then(...ops).commit();
    if (res.succeeded) return res;
    // Tell "not controller any more" from "an extra comparison failed".
    const still = await this.client.get(this.myKey).exec();
    const kv = still.kvs[0];
    if (kv === undefined || revision(kv.create_revision) !== epoch) {
      this.depose();
      throw new ControllerFencedError(epoch);
    }
    return res;
  }

  /** Gives up leadership or candidacy: deletes the key, so the next candidate is woken at once. */
  async resign(): Promise<void> {
    this.closed = true;
    this.cancelWait?.();
    if (this.myKey !== '') {
      await this.client.if(this.myKey, 'Create', '==', this.myRevision).then(this.client.delete().key(this.myKey)).commit();
    }
    this.depose();
  }

  private depose(): void {
    this.cancelWait?.();
    if (!this.leading) return;
    this.leading = false;
    this.emit('deposed');
  }

  private async waitForDelete(key: string, fromRevision: number): Promise<void> {
    const watcher = await this.client.watch().key(key).startRevision(String(fromRevision)).create();
    try {
      await new Promise<void>((resolveP) => {
        this.cancelWait = resolveP;
        watcher.once('delete', () => { resolveP(); });
      });
    } finally {
      this.cancelWait = undefined;
      await watcher.cancel();
    }
  }
}
