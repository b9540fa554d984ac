import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backtrackingRisk, compilePattern } from '../../src/group/subscription-pattern.js';

test('ordinary subscription patterns compile and match whole names', () => {
  for (const p of ['orders-.*', '(orders|payments)\\..*', 'metrics\\.[a-z]+\\.v[0-9]{1,3}', '.*-dlq', '[^_].*', 'a|b|c', '(?<name>x)y.*']) {
    assert.equal(backtrackingRisk(p), undefined, p);
  }
  const re = compilePattern('orders-.*');
  assert.ok(re.test('orders-eu'));
  assert.ok(!re.test('xorders-eu'));
  assert.ok(!compilePattern('a|b').test('ab'));
});

test('patterns that could backtrack for a long time are refused', () => {
  for (const p of ['(a+)+b', '(a|a)*', '(a*)*', '(.*a){3}', '(x)\\1', '.*.*.*x', 'a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?aaaaaaaaaaaaaaaaaaaa', '.{0,200}.{0,200}.{0,200}x']) {
    assert.throws(() => compilePattern(p), { code: 'INVALID_REGULAR_EXPRESSION' }, p);
  }
  assert.throws(() => compilePattern('('), { code: 'INVALID_REGULAR_EXPRESSION' });
  assert.throws(() => compilePattern('x'.repeat(1001)), { code: 'INVALID_REGULAR_EXPRESSION' });
});

test('property: any accepted pattern matches a 249-character name quickly', () => {
  // Adversarial alphabet: names of 'a's that fail only at the end force full backtracking.
  // Without the guard this generator finds patterns that run for minutes.
  const token = fc.constantFrom('a', 'a', '.', '.', '*', '+', '?', '{2,}', '{1,9}', '(', '(?:', ')', '|', '[ab]', 'c');
  const names = ['a'.repeat(249), 'a'.repeat(248) + 'b', 'a'.repeat(248) + 'c'];
  let accepted = 0;
  fc.assert(fc.property(fc.array(token, { minLength: 4, maxLength: 14 }), (tokens) => {
    let re: RegExp;
    try {
      re = compilePattern(tokens.join(''));
    } catch {
      return;
    }
    accepted++;
    // CPU time, not wall time: a process stopped or preempted for seconds (a loaded CI machine,
    // scripts/stall-run.mjs) spends none, and failed the wall-clock bound though the match was
    // quick. Catastrophic backtracking burns CPU for seconds; 250 ms leaves room for a GC pause.
    const cpu0 = process.cpuUsage();
    for (const n of names) re.test(n);
    const { user, system } = process.cpuUsage(cpu0);
    const ms = (user + system) / 1000;
    assert.ok(ms < 250, `${tokens.join('')} took ${ms.toFixed(1)} ms of CPU`);
  }), { numRuns: 3000 });
  assert.ok(accepted > 50, `only ${accepted} patterns accepted`);
});
