// Small 2-D plots on a canvas: a frame with round ticks whose labels never overlap, labels drawn as text,
// and a colorbar with a title. Used by the heatmap and 1-D views, the solution panel, the loss history and
// the PNG export.
import { Range, colormap, formatTicks, logTicks, ticks } from "./lib";
import { Box, Label, TICK_FONT_PX, TITLE_FONT_PX, labelBox, placeLabels } from "./layout";

export const FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
export const font = (size: number, bold = false) => `${bold ? "600 " : ""}${size}px ${FONT_FAMILY}`;

let measurer: CanvasRenderingContext2D | null = null;
/** Text width in CSS px at a font size (a shared offscreen context; no layout reflow). */
export function textWidth(text: string, size: number, bold = false): number {
  measurer ??= document.createElement("canvas").getContext("2d");
  if (!measurer) return text.length * size * 0.6;
  measurer.font = font(size, bold);
  return Math.ceil(measurer.measureText(text).width);
}

export function boxOf(l: Label): Box {
  return labelBox(l, textWidth(l.text, l.size, l.bold));
}

/** Which labels to show (none overlapping, inside bounds when given). */
export function layoutLabels(labels: Label[], bounds?: Box, pad = 3): boolean[] {
  return placeLabels(labels.map(boxOf), labels.map((l) => l.priority), pad, bounds);
}

/** Draw labels as canvas text at ``scale`` device px per CSS px. */
export function drawLabels(ctx: CanvasRenderingContext2D, labels: Label[], show: boolean[], fg: string, scale = 1,
  dx = 0, dy = 0) {
  ctx.save();
  ctx.fillStyle = fg;
  ctx.textBaseline = "top";
  labels.forEach((l, i) => {
    if (!show[i]) return;
    const b = boxOf(l);
    ctx.font = font(l.size * scale, l.bold);
    if (l.rotate) {
      ctx.save();
      ctx.translate((dx + b.x) * scale, (dy + b.y + b.h) * scale);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(l.text, 0, 0);
      ctx.restore();
    } else {
      ctx.fillText(l.text, (dx + b.x) * scale, (dy + b.y) * scale + 0.1 * l.size * scale);
    }
  });
  ctx.restore();
}

export interface Ticks {
  values: number[];
  labels: string[];
}

export function linearTicks(r: Range, n = 5): Ticks {
  const values = ticks(r[0], r[1], n);
  return { values, labels: formatTicks(values) };
}

/** A plot frame inside a cssW x cssH area, its margins made room for the tick labels and titles. */
export interface Frame {
  L: number;
  T: number;
  W: number;
  H: number;
  x: Range;
  y: Range;
  px(v: number): number;
  py(v: number): number;
}

export function makeFrame(
  cssW: number, cssH: number, x: Range, y: Range, yTicks: Ticks,
  opts: { xTitle?: string; yTitle?: string; size?: number; top?: number; right?: number } = {},
): Frame {
  const size = opts.size ?? TICK_FONT_PX;
  const yw = Math.max(0, ...yTicks.labels.map((t) => textWidth(t, size)));
  const L = Math.ceil(yw + 8 + (opts.yTitle ? size * 1.5 + 4 : 0));
  const B = Math.ceil(size * 1.3 + 6 + (opts.xTitle ? size * 1.5 + 2 : 0));
  const T = opts.top ?? Math.ceil(size * 0.7);
  const R = opts.right ?? Math.ceil(size * 1.2);
  const W = Math.max(10, cssW - L - R);
  const H = Math.max(10, cssH - T - B);
  const px = (v: number) => L + (W * (v - x[0])) / (x[1] - x[0] || 1);
  const py = (v: number) => T + H * (1 - (v - y[0]) / (y[1] - y[0] || 1));
  return { L, T, W, H, x, y, px, py };
}

/** The frame's tick and title labels (tick labels outside the frame, titles beyond them). */
export function frameLabels(f: Frame, xt: Ticks, yt: Ticks, opts: { xTitle?: string; yTitle?: string; size?: number }
): Label[] {
  const size = opts.size ?? TICK_FONT_PX;
  const out: Label[] = [];
  const last = (n: number, k: number) => (k === 0 || k === n - 1 ? 1 : 0);
  xt.values.forEach((v, k) => out.push({ text: xt.labels[k], x: f.px(v), y: f.T + f.H + 5, ax: 0.5, ay: 0, size,
    priority: 1 + last(xt.values.length, k), kind: "tick" }));
  yt.values.forEach((v, k) => out.push({ text: yt.labels[k], x: f.L - 5, y: f.py(v), ax: 1, ay: 0.5, size,
    priority: 1 + last(yt.values.length, k), kind: "tick" }));
  const tsize = Math.max(size, TITLE_FONT_PX - (size < TICK_FONT_PX ? 1 : 0));
  if (opts.xTitle) {
    out.push({ text: opts.xTitle, x: f.L + f.W / 2, y: f.T + f.H + size * 1.3 + 8, ax: 0.5, ay: 0, size: tsize,
      priority: 10, kind: "title" });
  }
  if (opts.yTitle) {
    out.push({ text: opts.yTitle, x: 2, y: f.T + f.H / 2, ax: 0, ay: 0.5, size: tsize, priority: 10, kind: "title",
      rotate: true });
  }
  return out;
}

/** The frame's border and tick marks. */
export function drawFrame(ctx: CanvasRenderingContext2D, f: Frame, xt: Ticks, yt: Ticks, fg: string, scale = 1) {
  ctx.save();
  ctx.scale(scale, scale);
  ctx.strokeStyle = fg;
  ctx.globalAlpha = 0.8;
  ctx.lineWidth = 1;
  ctx.strokeRect(f.L + 0.5, f.T + 0.5, f.W, f.H);
  ctx.beginPath();
  for (const v of xt.values) {
    const x = Math.round(f.px(v)) + 0.5;
    ctx.moveTo(x, f.T + f.H);
    ctx.lineTo(x, f.T + f.H + 4);
  }
  for (const v of yt.values) {
    const y = Math.round(f.py(v)) + 0.5;
    ctx.moveTo(f.L, y);
    ctx.lineTo(f.L - 4, y);
  }
  ctx.stroke();
  ctx.restore();
}

/** A polyline of (xs[k], ys[k]) in the frame; non-finite points break it. */
export function drawCurve(ctx: CanvasRenderingContext2D, f: Frame, xs: ArrayLike<number>, ys: ArrayLike<number>,
  color: string, width = 2, dash: number[] = [], scale = 1) {
  ctx.save();
  ctx.scale(scale, scale);
  ctx.beginPath();
  ctx.rect(f.L, f.T, f.W, f.H);
  ctx.clip();
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  let pen = false;
  for (let k = 0; k < xs.length; k++) {
    if (!Number.isFinite(ys[k]) || !Number.isFinite(xs[k])) {
      pen = false;
      continue;
    }
    const x = f.px(xs[k]);
    const y = f.py(ys[k]);
    if (pen) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
    pen = true;
  }
  ctx.stroke();
  ctx.restore();
}

/** The colour scale's ticks: on a log scale whole decades (10^k), else round numbers. */
export function scaleTicks(min: number, max: number, log: boolean, n = 5): Ticks {
  return log ? logTicks(min, max, n) : linearTicks([min, max], n);
}

/** A vertical colorbar in a cssW x cssH area: the bar, round ticks, and its title read bottom to top. */
/** The colormap as a canvas gradient from (x0, y0) (its low end) to (x1, y1); the maps are piecewise linear,
 * so 64 stops draw them as the surface colours them. */
function colormapGradient(ctx: CanvasRenderingContext2D, cmap: string, x0: number, y0: number, x1: number,
  y1: number): CanvasGradient {
  const grad = ctx.createLinearGradient(x0, y0, x1, y1);
  const n = 64;
  for (let k = 0; k <= n; k++) {
    const [r, g, b] = colormap(cmap, k / n);
    grad.addColorStop(k / n, `rgb(${Math.round(r * 255)},${Math.round(g * 255)},${Math.round(b * 255)})`);
  }
  return grad;
}

export function drawColorbar(ctx: CanvasRenderingContext2D, cssW: number, cssH: number, scale: number,
  o: { min: number; max: number; log: boolean; cmap: string; title: string; fg: string }) {
  const size = TICK_FONT_PX;
  const top = 10;
  const bottom = 10;
  const barX = o.title ? size * 1.5 + 6 : 4; // room for the title on the left
  const barW = 12;
  const h = cssH - top - bottom;
  ctx.save();
  ctx.scale(scale, scale);
  ctx.fillStyle = colormapGradient(ctx, o.cmap, barX, top + h, barX, top);
  ctx.fillRect(barX, top, barW, h);
  ctx.strokeStyle = o.fg;
  ctx.globalAlpha = 0.7;
  ctx.strokeRect(barX + 0.5, top + 0.5, barW - 1, h - 1);
  ctx.globalAlpha = 1;
  const t = scaleTicks(o.min, o.max, o.log, Math.max(3, Math.floor(h / 36)));
  const py = (v: number) => top + h * (1 - (v - o.min) / (o.max - o.min || 1));
  const labels: Label[] = [];
  ctx.beginPath();
  t.values.forEach((v, k) => {
    if (v < o.min - 1e-9 || v > o.max + 1e-9) return;
    const y = Math.round(py(v)) + 0.5;
    ctx.moveTo(barX + barW, y);
    ctx.lineTo(barX + barW + 4, y);
    labels.push({ text: t.labels[k], x: barX + barW + 6, y, ax: 0, ay: 0.5, size, priority: 1, kind: "tick" });
  });
  ctx.strokeStyle = o.fg;
  ctx.stroke();
  ctx.restore();
  labels.push({ text: o.title, x: 2, y: top + h / 2, ax: 0, ay: 0.5, size, priority: 10, kind: "title",
    rotate: true });
  drawLabels(ctx, labels, layoutLabels(labels, { x: 0, y: 0, w: cssW, h: cssH }), o.fg, scale);
}

export const COLORBAR_H_HEIGHT = 56; // a horizontal colorbar under a narrow panel

/** A horizontal colorbar in a cssW x cssH area: the bar, round ticks under it, the title under them. */
export function drawColorbarH(ctx: CanvasRenderingContext2D, cssW: number, cssH: number, scale: number,
  o: { min: number; max: number; log: boolean; cmap: string; title: string; fg: string }) {
  const size = TICK_FONT_PX;
  const left = 12;
  const w = cssW - 2 * left;
  const barH = 10;
  ctx.save();
  ctx.scale(scale, scale);
  ctx.fillStyle = colormapGradient(ctx, o.cmap, left, 0, left + w, 0);
  ctx.fillRect(left, 2, w, barH);
  ctx.strokeStyle = o.fg;
  ctx.globalAlpha = 0.7;
  ctx.strokeRect(left + 0.5, 2.5, w - 1, barH - 1);
  ctx.globalAlpha = 1;
  const t = scaleTicks(o.min, o.max, o.log, Math.max(3, Math.floor(w / 60)));
  const px = (v: number) => left + (w * (v - o.min)) / (o.max - o.min || 1);
  const labels: Label[] = [];
  ctx.beginPath();
  t.values.forEach((v, k) => {
    if (v < o.min - 1e-9 || v > o.max + 1e-9) return;
    const x = Math.round(px(v)) + 0.5;
    ctx.moveTo(x, 2 + barH);
    ctx.lineTo(x, 6 + barH);
    labels.push({ text: t.labels[k], x, y: 8 + barH, ax: 0.5, ay: 0, size, priority: 1, kind: "tick" });
  });
  ctx.stroke();
  ctx.restore();
  labels.push({ text: o.title, x: cssW / 2, y: 8 + barH + Math.ceil(size * 1.25) + 5, ax: 0.5, ay: 0, size, priority: 10,
    kind: "title" });
  drawLabels(ctx, labels, layoutLabels(labels, { x: 0, y: 0, w: cssW, h: cssH }), o.fg, scale);
}

/** The colorbar's width for its widest tick label (and its title beside it, when it has one). */
export function colorbarWidth(min: number, max: number, log: boolean, titled = true): number {
  const t = scaleTicks(min, max, log);
  const title = titled ? TICK_FONT_PX * 1.5 + 6 : 4;
  return Math.ceil(title + 12 + 6 + Math.max(24, ...t.labels.map((s) => textWidth(s, TICK_FONT_PX))) + 4);
}
