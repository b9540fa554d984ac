/** The server-side assignors by name. `sticky` is the default: it moves the fewest partitions. */
import { rangeAssignor } from './assignor-range.js';
import { roundRobinAssignor } from './assignor-roundrobin.js';
import { stickyAssignor } from './assignor-sticky.js';
import { UnsupportedAssignorError } from './errors.js';
import type { Assignor } from './types.js';

export const ASSIGNORS: ReadonlyMap<string, Assignor> = new Map([
  ['sticky', stickyAssignor],
  ['range', rangeAssignor],
  ['roundrobin', roundRobinAssignor],
]);

export const DEFAULT_ASSIGNOR = 'sticky';

export function assignorByName(name: string): Assignor {
  const a = ASSIGNORS.get(name);
  if (!a) throw new UnsupportedAssignorError(name, [...ASSIGNORS.keys()]);
  return a;
}
