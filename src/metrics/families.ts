/**
 * Metric families with truly pre-bound children, registered in a prom-client Registry.
 *
 * Why not prom-client's own Counter/Histogram: their `labels(...)` children are only
 * `inc.bind(this, labels)`, so every increment re-hashes the label object (sort the keys,
 * build a string, look it up) — a few hundred ns and a string allocation per call. Here a
 * child is a plain object the caller keeps; an increment is one property add, an observe is
 * a bucket search over a Float64Array. The work of turning values into label sets happens
 * at scrape time, in `get()`, which is the interface prom-client's Registry serialises
 * (`{ name, help, type, values: [{ value, labels, metricName? }] }`), so these families mix
 * freely with prom-client's default process/Node metrics in one registry and one scrape.
 *
 * Children are never removed: the label values that create them (topic, api, error name,
 * group) are bounded by the caller, and each family caps its own cardinality as a backstop
 * (see `maxChildren`): past the cap, new label sets share one child labelled `_other`.
 */
import type { Registry } from 'prom-client';

export const OTHER_LABEL = '_other';

type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

export interface MetricSnapshot {
  name: string;
  help: string;
  type: MetricType;
  values: MetricValue[];
  aggregator: 'sum';
}

/** A family prom-client's Registry can serialise. */
export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  get(): Promise<MetricSnapshot>;
}

function labelsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) out[names[i]] = values[i];
  return out;
}

/** One child per distinct label-value tuple, keyed by the values joined with NUL. */
abstract class ChildFamily<C> implements Family {
  abstract readonly type: MetricType;
  protected readonly children = new Map<string, { labels: Record<string, string>; child: C }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly maxChildren = 10_000,
  ) {}

  protected abstract make(): C;

  /** The child for these label values (created on first use). Keep it; do not call per event. */
  child(...values: string[]): C {
    const key = values.length === 1 ? values[0] : values.join('\0');
    const hit = this.children.get(key);
    if (hit !== undefined) return hit.child;
    // The `_other` child itself is made even past the cap, so the cap is maxChildren + 1.
    if (this.children.size >= this.maxChildren && !values.every((v) => v === OTHER_LABEL)) {
      return this.child(...values.map(() => OTHER_LABEL));
    }
    const entry = { labels: labelsOf(this.labelNames, values), child: this.make() };
    this.children.set(key, entry);
    return entry.child;
  }

  abstract get(): Promise<MetricSnapshot>;

  register(registry: Registry): this {
    // The registry only reads name/help/type and calls get(); the cast is to its Metric type.
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
    return this;
  }
}

export interface CounterChild {
  value: number;
}

export class CounterFamily extends ChildFamily<CounterChild> {
  readonly type = 'counter' as const;
  protected make(): CounterChild {
    return { value: 0 };
  }
  async get(): Promise<MetricSnapshot> {
    const values: MetricValue[] = [];
    for (const { labels, child } of this.children.values()) values.push({ value: child.value, labels });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }
}

export interface GaugeChild {
  value: number;
}

export class GaugeFamily extends ChildFamily<GaugeChild> {
  readonly type = 'gauge' as const;
  protected make(): GaugeChild {
    return { value: 0 };
  }
  async get(): Promise<MetricSnapshot> {
    const values: MetricValue[] = [];
    for (const { labels, child } of this.children.values()) values.push({ value: child.value, labels });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }
}

/**
 * A histogram child. `counts[i]` is the number of observations in (bounds[i-1], bounds[i]]
 * (not cumulative, so observe touches one slot); the last slot is (last bound, +Inf).
 */
export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.bounds;
    // Binary search for the first bound >= v: 4 comparisons for 16 buckets.
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    this.counts[lo]++;
    this.sum += v;
    this.count++;
  }
}

export class HistogramFamily extends ChildFamily<HistogramChild> {
  readonly type = 'histogram' as const;
  private readonly bounds: Float64Array;

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[], maxChildren?: number) {
    super(name, help, labelNames, maxChildren);
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i] > buckets[i - 1])) throw new RangeError(`${name}: buckets must increase`);
    }
    this.bounds = Float64Array.from(buckets);
  }

  protected make(): HistogramChild {
    return new HistogramChild(this.bounds);
  }

  async get(): Promise<MetricSnapshot> {
    const values: MetricValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const { labels, child } of this.children.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += child.counts[i];
        values.push({ metricName: bucketName, value: cumulative, labels: { ...labels, le: this.bounds[i] } });
      }
      values.push({ metricName: bucketName, value: child.count, labels: { ...labels, le: '+Inf' } });
      values.push({ metricName: `${this.name}_sum`, value: child.sum, labels });
      values.push({ metricName: `${this.name}_count`, value: child.count, labels });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }
}

/**
 * A gauge whose series are computed at scrape time by `collect`, which returns
 * [labelValues, value] rows. Series that stop being returned disappear from the next scrape
 * (a deleted topic leaves no stale gauge behind).
 */
export class ScrapeGaugeFamily implements Family {
  readonly type: 'gauge' | 'counter' = 'gauge';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly collect: () => Iterable<readonly [readonly (string | number)[], number]>,
  ) {}

  async get(): Promise<MetricSnapshot> {
    const values: MetricValue[] = [];
    for (const [labelValues, value] of this.collect()) {
      const labels: Record<string, string | number> = {};
      for (let i = 0; i < this.labelNames.length; i++) labels[this.labelNames[i]] = labelValues[i];
      values.push({ value, labels });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
    return this;
  }
}

/**
 * A counter read at scrape time from a running total kept elsewhere (e.g. storage's fsync
 * count per partition). If the source restarts from 0 (partition reopened), Prometheus's
 * rate() treats it as a counter reset, which is what it is.
 */
export class ScrapeCounterFamily extends ScrapeGaugeFamily {
  override readonly type = 'counter' as const;
}
