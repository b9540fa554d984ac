/**
 * Minimal SVG charts for the benchmark results (no chart dependency): grouped horizontal
 * bars (one group per system, one bar per series) and line charts on a log or linear x
 * axis. Output is a self-contained SVG string; numbers are printed next to bars.
 */
const COLORS = ['#3465a4', '#f57900', '#4e9a06', '#cc0000', '#75507b', '#c17d11'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(0)} K` : x.toFixed(x < 10 ? 2 : 0));

export interface BarGroup { label: string; values: (number | null)[] }

export function barChart(title: string, series: string[], groups: BarGroup[], unit: string): string {
  const barH = 16, gap = 10, left = 300, top = 50;
  // Legend entries side by side, each as wide as its label (about 7 px a character at 12 px);
  // the chart widens when they need more than 900 px.
  const legendX: number[] = [];
  let x = left;
  for (const s of series) { legendX.push(x); x += 16 + s.length * 7 + 24; }
  const width = Math.max(900, x);
  const max = Math.max(1, ...groups.flatMap((g) => g.values.filter((v): v is number => v != null)));
  const plotW = width - left - 110;
  const groupH = series.length * barH + gap;
  const height = top + groups.length * groupH + 30;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);
  series.forEach((s, i) => {
    out.push(`<rect x="${legendX[i]}" y="30" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${legendX[i] + 16}" y="40">${esc(s)}</text>`);
  });
  groups.forEach((g, gi) => {
    const y0 = top + gi * groupH;
    out.push(`<text x="${left - 8}" y="${y0 + (series.length * barH) / 2 + 4}" text-anchor="end">${esc(g.label)}</text>`);
    g.values.forEach((v, si) => {
      const y = y0 + si * barH;
      if (v == null) {
        out.push(`<text x="${left + 4}" y="${y + 12}" fill="#888">n/a</text>`);
        return;
      }
      const w = Math.max(1, (v / max) * plotW);
      out.push(`<rect x="${left}" y="${y + 1}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[si % COLORS.length]}"/>`);
      out.push(`<text x="${left + w + 4}" y="${y + 12}">${fmt(v)}</text>`);
    });
  });
  out.push(`<text x="${left}" y="${height - 8}" fill="#555">${esc(unit)}</text>`);
  out.push('</svg>');
  return out.join('\n');
}

export interface Line { label: string; points: [number, number][] }

/** Line chart; `logX` for size/partition sweeps. x tick labels from `xLabel`. */
export function lineChart(title: string, lines: Line[], o: { xTitle: string; yTitle: string; logX?: boolean; xLabel?: (x: number) => string }): string {
  const width = 640, height = 380, l = 80, r = 170, t = 40, b = 50;
  const xs = [...new Set(lines.flatMap((ln) => ln.points.map((p) => p[0])))].sort((a, b2) => a - b2);
  const ymax = Math.max(1e-9, ...lines.flatMap((ln) => ln.points.map((p) => p[1]))) * 1.1;
  const tx = (x: number) => {
    const [a, z] = [xs[0], xs[xs.length - 1]];
    if (a === z) return l + (width - l - r) / 2;
    const f = o.logX ? (Math.log(x) - Math.log(a)) / (Math.log(z) - Math.log(a)) : (x - a) / (z - a);
    return l + f * (width - l - r);
  };
  const ty = (y: number) => t + (1 - y / ymax) * (height - t - b);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);
  out.push(`<line x1="${l}" y1="${ty(0)}" x2="${width - r}" y2="${ty(0)}" stroke="#333"/><line x1="${l}" y1="${t}" x2="${l}" y2="${ty(0)}" stroke="#333"/>`);
  for (let i = 0; i <= 4; i++) {
    const y = (ymax / 1.1) * (i / 4);
    out.push(`<line x1="${l}" y1="${ty(y)}" x2="${width - r}" y2="${ty(y)}" stroke="#ddd"/><text x="${l - 6}" y="${ty(y) + 4}" text-anchor="end">${fmt(y)}</text>`);
  }
  for (const x of xs) out.push(`<text x="${tx(x)}" y="${height - b + 16}" text-anchor="middle">${esc(o.xLabel ? o.xLabel(x) : String(x))}</text>`);
  out.push(`<text x="${(l + width - r) / 2}" y="${height - 12}" text-anchor="middle" fill="#555">${esc(o.xTitle)}</text>`);
  out.push(`<text x="14" y="${(t + height - b) / 2}" transform="rotate(-90 14 ${(t + height - b) / 2})" text-anchor="middle" fill="#555">${esc(o.yTitle)}</text>`);
  lines.forEach((ln, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = ln.points.map(([x, y]) => `${tx(x).toFixed(1)},${ty(y).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts}"/>`);
    for (const [x, y] of ln.points) out.push(`<circle cx="${tx(x).toFixed(1)}" cy="${ty(y).toFixed(1)}" r="3" fill="${c}"/>`);
    out.push(`<rect x="${width - r + 10}" y="${t + i * 18}" width="12" height="12" fill="${c}"/><text x="${width - r + 26}" y="${t + i * 18 + 10}">${esc(ln.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
