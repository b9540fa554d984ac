/**
 * Output budgets: how many response bytes a connection, and the broker as a whole, may hold
 * in memory before fetches wait and the connection stops being read.
 *
 * What is held: fetched records reserved before they are read from disk, until their
 * response is queued on the socket; then the socket's unsent bytes (ws.bufferedAmount, as
 * the connection last saw it: at each send and each drain). A response is reserved *before*
 * the read, so a client that pipelines fetches and never reads its socket gets at most one
 * budget's worth read for it. Checking only after the send (as before) let 200 pipelined
 * fetches of a 16 MiB batch make the broker hold 3.15 GB for one connection.
 *
 * A fetch asks for `want` bytes and waits until both its connection and the broker have
 * room, then is granted min(want, room) and reads at most that (plus, as Kafka's fetch max
 * bytes, a first batch that is larger: a consumer always progresses). Only the overshoot of
 * that first batch can pass a limit, and only by one batch: the fetch handler asks for at
 * least maxBatchBytes, so a read whose grant is smaller than a batch took all the room
 * there was and no other read runs beside it until room frees again.
 *
 * While a connection's held bytes are at or past its limit, `onSpent(true)` tells the
 * connection to stop reading requests; `onSpent(false)` once they fall below. The broker
 * budget never pauses reading: a connection waiting for it still gets Metadata, Produce and
 * the rest answered; only its fetches wait. Waiters are granted in arrival order, per
 * connection, and connections waiting on the broker in the order they started to wait.
 */

export class BrokerBudget {
  /** Bytes held across connections: reserved plus buffered. */
  used = 0;
  /** Connections with a fetch waiting for broker room, in the order they started to wait. */
  private readonly waiting = new Set<ConnectionBudget>();

  constructor(
    readonly limit: number,
    /** Told every change of the reserved total (for the sluice_reserved_bytes gauge). */
    private readonly onReserved: (delta: number) => void = () => {},
  ) {}

  get room(): number {
    return this.limit - this.used;
  }

  /** @private to ConnectionBudget */
  add(delta: number, reservedDelta: number): void {
    this.used += delta;
    if (reservedDelta !== 0) this.onReserved(reservedDelta);
    if (delta < 0 && this.waiting.size > 0 && this.room > 0) this.wake();
  }

  /** @private to ConnectionBudget */
  wait(c: ConnectionBudget): void {
    this.waiting.add(c);
  }

  /** @private to ConnectionBudget */
  unwait(c: ConnectionBudget): void {
    this.waiting.delete(c);
  }

  private wake(): void {
    for (const c of [...this.waiting]) {
      if (this.room <= 0) return;
      this.waiting.delete(c);
      c.grant();
    }
  }
}

interface Waiter {
  want: number;
  resolve: (granted: number) => void;
}

export class ConnectionBudget {
  /** Bytes reserved by fetches of this connection and not yet queued on its socket. */
  reserved = 0;
  /** The socket's unsent bytes, as last reported. */
  buffered = 0;
  private spent = false;
  private closed = false;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly limit: number,
    private readonly broker: BrokerBudget,
    private readonly onSpent: (spent: boolean) => void,
  ) {}

  get held(): number {
    return this.reserved + this.buffered;
  }

  /**
   * Resolves with the bytes reserved for this request, once both budgets have room: at
   * least 1 and at most `want`. Resolves with 0 (nothing reserved) once the connection is
   * closed: nothing will be sent, so nothing should be read.
   */
  reserve(want: number): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    return new Promise<number>((resolve) => {
      this.waiters.push({ want: Math.max(1, want), resolve });
      this.grant();
    });
  }

  /** Changes this connection's reservation by `delta` bytes (negative gives back). */
  adjust(delta: number): void {
    if (delta === 0) return;
    this.reserved += delta;
    // A closed connection already gave everything back to the broker (close()).
    if (!this.closed) this.broker.add(delta, delta);
    this.changed(delta < 0);
  }

  /** A response holding `sentReserved` reserved bytes was queued; the socket now holds `buffered`. */
  sent(sentReserved: number, buffered: number): void {
    const bufferedDelta = buffered - this.buffered;
    this.buffered = buffered;
    this.reserved -= sentReserved;
    if (!this.closed) this.broker.add(bufferedDelta - sentReserved, -sentReserved);
    this.changed(bufferedDelta - sentReserved < 0);
  }

  /** Gives everything this connection holds back to the broker and ends its waits. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.broker.unwait(this);
    this.broker.add(-this.held, -this.reserved);
    this.buffered = 0;
    for (const w of this.waiters.splice(0)) w.resolve(0);
  }

  /** Grants waiting reservations while both budgets have room. @private to BrokerBudget */
  grant(): void {
    while (this.waiters.length > 0 && !this.closed) {
      const own = this.limit - this.held;
      if (own <= 0) return; // granted again when this connection's bytes go down
      const shared = this.broker.room;
      if (shared <= 0) {
        this.broker.wait(this);
        return;
      }
      const w = this.waiters.shift()!;
      const n = Math.min(w.want, own, shared);
      this.reserved += n;
      this.broker.add(n, n);
      this.changed(false);
      w.resolve(n);
    }
  }

  private changed(freed: boolean): void {
    const spent = this.held >= this.limit;
    if (spent !== this.spent && !this.closed) {
      this.spent = spent;
      this.onSpent(spent);
    }
    if (freed && this.waiters.length > 0) this.grant();
  }
}
