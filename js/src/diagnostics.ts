// The diagnostics view: small plots over training of what plw.diagnose measures for the first panel's run
// (per loss term: loss, gradient norm, gradient imbalance, top Hessian eigenvalue, NTK trace and condition
// number), log scale, with a cursor at the replay's step and a read-out of the values there, and the
// summary sentence. The numbers come in the synced trait diagnostics_data (float32 bytes [step, term]).
import { decodeFloat32, formatNumber } from "./lib";
import { lastAtOrBefore } from "./interp";
import { Label, TICK_FONT_PX } from "./layout";
import { drawCurve, drawFrame, drawLabels, frameLabels, layoutLabels, linearTicks, makeFrame, scaleTicks }
  from "./plot2d";
import { State } from "./state";

/** One colour per loss term (colour-blind safe, distinct from the history's blue and orange). */
export const TERM_COLORS = ["#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d"];
const PLOT_H = 130;

export interface DiagSeries {
  name: string;
  title: string;
  values: Float32Array; // [step, term], row-major
}

/** The series of a diagnostics payload, in the payload's order, and whether each is drawn on a log scale
 * (every finite value > 0). */
export function diagSeries(d: any): (DiagSeries & { log: boolean })[] {
  const out: (DiagSeries & { log: boolean })[] = [];
  for (const [name, bytes] of Object.entries(d?.series ?? {})) {
    const values = decodeFloat32(bytes);
    const fin = Array.from(values).filter(Number.isFinite);
    out.push({ name, title: d.titles?.[name] ?? name, values, log: fin.length > 0 && fin.every((v) => v > 0) });
  }
  return out;
}

/** The read-out at training step `step`: the last diagnosed checkpoint at or before it, and each series'
 * value per term there. */
export function diagReadout(d: any, step: number): string {
  const steps: number[] = d?.steps ?? [];
  const terms: string[] = d?.terms ?? [];
  if (!steps.length) return "";
  const k = lastAtOrBefore(steps, step);
  const parts = diagSeries(d).map((s) => {
    const vals = terms.map((t, j) => {
      const v = s.values[k * terms.length + j];
      return Number.isNaN(v) ? null : `${terms.length > 1 ? `${t} ` : ""}${formatNumber(v)}`;
    }).filter((v) => v !== null);
    return vals.length ? `${s.title.split(" (")[0].replace(" per term", "")}: ${vals.join(", ")}` : "";
  }).filter(Boolean);
  return `at step ${steps[k]} (checkpoint ${k + 1} of ${steps.length} diagnosed): ${parts.join(" · ")}`;
}

export class Diagnostics {
  readonly el = document.createElement("div");
  private head = document.createElement("div");
  private summary = document.createElement("div");
  readonly readout = document.createElement("div");
  private legend = document.createElement("div");
  private canvas = document.createElement("canvas");
  private image: HTMLCanvasElement | null = null;
  private key = "";
  private cursors: ((ctx: CanvasRenderingContext2D, step: number) => void)[] = [];
  width = 0;

  constructor(private state: State, private host: { theme(): { bg: string; fg: string }; firstRun(): string }) {
    this.el.className = "plw-diag";
    this.head.className = "plw-diag-head";
    this.summary.className = "plw-diag-summary";
    this.readout.className = "plw-diag-readout";
    this.readout.setAttribute("aria-live", "polite");
    this.canvas.className = "plw-diag-plots";
    this.canvas.setAttribute("role", "img");
    this.legend.className = "plw-diag-legend";
    this.el.append(this.head, this.summary, this.legend, this.canvas, this.readout);
  }

  /** Draw the view for the replay's training step `step` (the plots once, the cursor and read-out each time). */
  show(step: number) {
    const d = this.state.get("diagnostics_data") ?? {};
    const run = this.host.firstRun();
    if (!d.run || d.run !== run) {
      this.el.style.display = this.state.get("interactive") && run ? "" : "none";
      this.head.textContent = "Diagnostics over training";
      this.summary.textContent = "Computing the diagnostics (plw.diagnose) along the training path…";
      this.canvas.style.display = "none";
      this.readout.textContent = "";
      return;
    }
    this.el.style.display = d.off ? "none" : ""; // switched off by the user: nothing to say
    this.head.textContent = `Diagnostics over training (plw.diagnose${run ? ` of ${run}` : ""})`;
    if (d.reason) {
      this.summary.textContent = d.reason;
      this.canvas.style.display = "none";
      this.readout.textContent = "";
      return;
    }
    this.summary.textContent = String(d.summary ?? "").split("\n").join(" ");
    const terms: string[] = d.terms ?? [];
    this.legend.replaceChildren(...terms.map((t, j) => {
      const item = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = "plw-diag-swatch";
      swatch.style.background = TERM_COLORS[j % TERM_COLORS.length];
      item.append(swatch, `${t} term`);
      return item;
    }));
    this.canvas.style.display = "";
    this.draw(d, step);
    this.readout.textContent = diagReadout(d, step);
  }

  private draw(d: any, step: number) {
    const series = diagSeries(d);
    const steps: number[] = d.steps ?? [];
    const terms: string[] = d.terms ?? [];
    if (!this.width) this.width = this.el.clientWidth;
    const cssW = Math.max(260, this.width || 600);
    const cols = Math.max(1, Math.min(series.length, Math.floor(cssW / 240)));
    const rows = Math.ceil(series.length / cols);
    const w = cssW / cols;
    const cssH = rows * PLOT_H;
    const s = Math.min(2, window.devicePixelRatio || 1);
    const c = this.canvas;
    const { fg } = this.host.theme();
    const key = `${d.run}|${steps.length}|${series.map((x) => x.values[x.values.length - 1]).join(",")}|${cssW}|${fg}`;
    if (c.width !== Math.round(cssW * s)) c.width = Math.round(cssW * s);
    if (c.height !== Math.round(cssH * s)) c.height = Math.round(cssH * s);
    c.style.width = `${cssW}px`;
    c.style.height = `${cssH}px`;
    const ctx = c.getContext("2d")!;
    if (key !== this.key || !this.image) {
      this.key = key;
      this.cursors = [];
      const img = (this.image ??= document.createElement("canvas"));
      img.width = c.width;
      img.height = c.height;
      const b = img.getContext("2d")!;
      b.clearRect(0, 0, img.width, img.height);
      const xr: [number, number] = [steps[0] ?? 0, steps[steps.length - 1] ?? 1];
      series.forEach((p, i) => {
        const ox = (i % cols) * w;
        const oy = Math.floor(i / cols) * PLOT_H;
        const ys = Array.from(p.values, (v) => (p.log ? Math.log10(v) : v));
        const fin = ys.filter(Number.isFinite);
        let lo = fin.length ? Math.min(...fin) : 0;
        let hi = fin.length ? Math.max(...fin) : 1;
        if (hi - lo < (p.log ? 0.1 : 1e-12 * Math.abs(hi))) { // a flat line sits mid-plot
          const half = p.log ? 0.05 : Math.max(1e-12, Math.abs(hi) * 0.05);
          lo -= half;
          hi += half;
        }
        const pad = 0.06 * (hi - lo); // lines at the extremes stay clear of the frame
        lo -= pad;
        hi += pad;
        const yt = p.log ? scaleTicks(lo, hi, true, 4) : linearTicks([lo, hi], 3);
        const xt = linearTicks(xr, Math.max(2, Math.floor(w / 80)));
        const last = Math.floor(i / cols) === rows - 1;
        const opts = { xTitle: last ? "training step" : undefined, size: TICK_FONT_PX - 1 };
        const f = makeFrame(w, PLOT_H, xr, [lo, hi], yt, { ...opts, top: 20, right: 10 });
        b.save();
        b.translate(ox * s, oy * s);
        drawFrame(b, f, xt, yt, fg, s);
        terms.forEach((_, j) => {
          const col = Array.from(steps, (_, k) => ys[k * terms.length + j]);
          drawCurve(b, f, steps, col, TERM_COLORS[j % TERM_COLORS.length], 1.8, [], s);
        });
        const title = `${p.title}${p.log ? " (log)" : ""}`;
        const labels: Label[] = [...frameLabels(f, xt, yt, opts),
          { text: title, x: f.L, y: 3, ax: 0, ay: 0, size: TICK_FONT_PX - 1, bold: true, priority: 12, kind: "title" }];
        drawLabels(b, labels, layoutLabels(labels, { x: 0, y: 0, w, h: PLOT_H }), fg, s);
        b.restore();
        this.cursors.push((cx, st) => {
          cx.save();
          cx.scale(s, s);
          cx.translate(ox, oy);
          cx.strokeStyle = fg;
          cx.setLineDash([3, 3]);
          cx.beginPath();
          const x = f.px(Math.min(xr[1], Math.max(xr[0], st)));
          cx.moveTo(x, f.T);
          cx.lineTo(x, f.T + f.H);
          cx.stroke();
          cx.restore();
        });
      });
      c.setAttribute("aria-label", `${series.map((p) => p.title).join(", ")} against the training step, one ` +
        `line per loss term (${terms.map((t, j) => `${t}: ${TERM_COLORS[j % TERM_COLORS.length]}`).join(", ")})`);
    }
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.drawImage(this.image!, 0, 0);
    this.cursors.forEach((f) => f(ctx, step));
  }

}
