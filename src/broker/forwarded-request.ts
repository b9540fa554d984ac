/**
 * Cluster mode: a topic change (CreateTopics, DeleteTopics, CreatePartitions, auto-create)
 * that a broker forwarded to the broker it believed was the controller carries `forwardedBy`.
 * The receiver handles it as the controller or refuses it with NOT_CONTROLLER (retriable):
 * it never forwards it again. Two brokers whose views of the controller are stale (an
 * election in progress) would otherwise bounce a request between them until one view
 * caught up, each hop holding a request slot and a link. One hop is enough: the first broker
 * answers its client NOT_CONTROLLER, and the client retries once metadata settles.
 *
 * The mark reaches the forwarding decision (controller-route.ts's ControllerRoute, below the
 * log manager and the metadata store) through an AsyncLocalStorage rather than a parameter
 * threaded through the storage layer, which knows nothing of forwarding.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const forwardedBy = new AsyncLocalStorage<number>();

/** Runs `fn` marked as handling a request that broker `from` forwarded (unmarked when `from` is undefined). */
export function asForwarded<T>(from: number | undefined, fn: () => Promise<T>): Promise<T> {
  return from === undefined ? fn() : forwardedBy.run(from, fn);
}

/** The broker that forwarded the request being handled, or undefined when a client sent it. */
export function forwardedFrom(): number | undefined {
  return forwardedBy.getStore();
}
