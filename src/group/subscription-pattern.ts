/**
 * Subscription patterns: a JavaScript regular expression matched against whole topic names.
 *
 * V8's regex engine backtracks, and there is no timeout, so a pattern such as `(a+)+b`
 * could pin the broker's event loop for minutes on a 249-character topic name. Patterns
 * come from clients, so before compiling one we refuse shapes whose backtracking can
 * grow large: backreferences, a quantified group that contains a quantifier or an
 * alternation, and patterns whose "choice budget" is over MAX_CHOICES. The budget is the
 * product, over every quantifier, of (how many lengths it can take, capped at the 249
 * characters of a topic name, + 1) and, over every alternation, of its branch count: a
 * rough bound on the ways a match can be attempted. `.*x.*` costs 250^2 = 62,500 and
 * passes; `.*.*.*x` costs 1.6e7, took 25 ms per topic name here, and is refused. This
 * rejects a few harmless patterns (`(ab|cd)+`) in exchange for a bound on the work any
 * pattern can cause; ordinary subscriptions (`orders-.*`, `(orders|payments)\..*`) pass.
 */
import { InvalidRegularExpressionError } from './errors.js';

export const MAX_PATTERN_LENGTH = 1000;
export const MAX_CHOICES = 1_000_000;
const MAX_NAME = 249;

export function compilePattern(pattern: unknown): RegExp {
  if (typeof pattern !== 'string' || pattern.length > MAX_PATTERN_LENGTH) {
    throw new InvalidRegularExpressionError(String(pattern), `must be a string of at most ${MAX_PATTERN_LENGTH} characters`);
  }
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${pattern})$`);
  } catch (err) {
    throw new InvalidRegularExpressionError(pattern, (err as Error).message);
  }
  const problem = backtrackingRisk(pattern);
  if (problem) throw new InvalidRegularExpressionError(pattern, problem);
  return re;
}

interface Frame {
  quantified: boolean;
  branches: number;
}

/** Why `src` (already known to compile) could backtrack badly, or undefined. */
export function backtrackingRisk(src: string): string | undefined {
  const stack: Frame[] = [{ quantified: false, branches: 1 }];
  let choices = 1;
  // Returns the index after a quantifier starting at i (and charges its choices), or -1.
  const quantifier = (i: number): number => {
    const c = src[i];
    let width: number;
    let end: number;
    if (c === '*' || c === '+') {
      width = Infinity;
      end = i + 1;
    } else if (c === '?') {
      width = 1;
      end = i + 1;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
      if (!m) return -1;
      width = m[2] === undefined ? 0 : m[3] === '' ? Infinity : Number(m[3]) - Number(m[1]);
      end = i + m[0].length;
    } else {
      return -1;
    }
    choices *= Math.min(width, MAX_NAME) + 1;
    return src[end] === '?' ? end + 1 : end; // lazy variant
  };
  const over = () => choices > MAX_CHOICES;
  const overMessage = () => `too many ways to match (about ${choices.toExponential(1)}; at most ${MAX_CHOICES}): use fewer repetitions`;
  for (let i = 0; i < src.length;) {
    const c = src[i];
    const top = stack[stack.length - 1];
    if (c === '\\') {
      if (/[1-9k]/.test(src[i + 1] ?? '')) return 'backreferences are not allowed';
      i += 2;
    } else if (c === '[') {
      i++;
      if (src[i] === '^') i++;
      if (src[i] === ']') i++;
      while (i < src.length && src[i] !== ']') i += src[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      stack.push({ quantified: false, branches: 1 });
      i++;
      if (src[i] === '?') {
        i++;
        if (src[i] === '<' && src[i + 1] !== '=' && src[i + 1] !== '!') {
          while (i < src.length && src[i] !== '>') i++; // named group
        }
        i++;
      }
      continue;
    } else if (c === ')') {
      const inner = stack.pop()!;
      const outer = stack[stack.length - 1];
      choices *= inner.branches;
      i++;
      const end = quantifier(i);
      if (end >= 0) {
        if (inner.quantified) return 'a repeated group contains a repetition (nested quantifiers)';
        if (inner.branches > 1) return 'a repeated group contains an alternation';
        outer.quantified = true;
        i = end;
      }
      outer.quantified ||= inner.quantified;
      if (over()) return overMessage();
      continue;
    } else if (c === '|') {
      top.branches++;
      i++;
      continue;
    } else {
      i++;
    }
    const end = quantifier(i);
    if (end >= 0) {
      top.quantified = true;
      i = end;
    }
    if (over()) return overMessage();
  }
  choices *= stack[0].branches;
  return over() ? overMessage() : undefined;
}
