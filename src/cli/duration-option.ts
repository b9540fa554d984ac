/**
 * `--delay 10m`-style durations for the CLI: a number with a unit (ms, s, m, h, d), or
 * several (`1h30m`); a bare number is ms. Written here rather than taken from a library
 * because the grammar is these few lines and the error must name the flag.
 */
import { InvalidArgumentError } from 'commander';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function durationOption(name: string) {
  return (value: string): number => {
    const v = value.trim();
    const bad = () => new InvalidArgumentError(`${name} must be a duration such as 500ms, 30s, 10m, 2h, 1d or 1h30m, not '${value}'`);
    if (/^\d+$/.test(v)) return Number(v);
    const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join('') !== v) throw bad();
    let ms = 0;
    for (const p of parts) ms += Number(p[1]) * UNIT_MS[p[2]];
    if (!Number.isFinite(ms)) throw bad();
    return Math.round(ms);
  };
}

/** `--at 2026-12-24T18:00:00Z`: an ISO 8601 time (Date.parse), as epoch ms. */
export function timeOption(name: string) {
  return (value: string): number => {
    const t = Date.parse(value);
    if (!/^\d{4}-\d\d-\d\d/.test(value.trim()) || Number.isNaN(t)) throw new InvalidArgumentError(`${name} must be an ISO 8601 time such as 2026-12-24T18:00:00Z, not '${value}'`);
    return t;
  };
}
