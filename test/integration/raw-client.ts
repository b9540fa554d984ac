/**
 * A minimal wire client for broker tests, independent of src/client: open a WebSocket,
 * send request objects (id assigned here unless given), await the response with that id.
 * Also exposes raw frame sending and the close event for malformed-input tests.
 */
import WebSocket from 'ws';
import type { Socket } from 'node:net';
import { encodeFrame, decodeFrame } from '../../src/protocol/codec.js';

export interface Closed { code: number; reason: string }

export class RawClient {
  private nextId = 1;
  private readonly pending = new Map<number, (msg: Record<string, unknown>) => void>();
  /** Responses whose id nobody awaited (e.g. errors for acks-0 produce). */
  readonly unexpected: Record<string, unknown>[] = [];
  readonly closed: Promise<Closed>;

  private constructor(
    readonly ws: WebSocket,
    /** The TCP socket under `ws` (from the upgrade response): pause it to stop reading answers. */
    readonly socket: Socket,
  ) {
    ws.on('message', (data: Buffer) => {
      const msg = decodeFrame(data);
      const fn = this.pending.get(msg.id as number);
      if (fn) {
        this.pending.delete(msg.id as number);
        fn(msg);
      } else this.unexpected.push(msg);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => {});
  }

  static connect(url: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
      let socket: Socket | undefined;
      ws.once('upgrade', (res) => { socket = res.socket as Socket; });
      ws.once('open', () => resolve(new RawClient(ws, socket!)));
      ws.once('error', reject);
    });
  }

  /** Sends `req` (with a fresh id unless it has one) and resolves with the response. */
  request<T = Record<string, any>>(req: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    const id = (req.id as number | undefined) ?? this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no response to request ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (msg) => {
        clearTimeout(timer);
        resolve(msg as T);
      });
      this.ws.send(encodeFrame({ version: 0, ...req, id }));
    });
  }

  /** Sends without waiting for an answer (acks 0). */
  fire(req: Record<string, unknown>): void {
    this.ws.send(encodeFrame({ version: 0, id: this.nextId++, ...req }));
  }

  sendRaw(data: Buffer | string, binary = true): void {
    this.ws.send(data, { binary });
  }

  close(): void {
    this.ws.close();
  }
}
