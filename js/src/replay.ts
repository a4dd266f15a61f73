// The training replay: play/pause and a scrubber over the recorded checkpoints, the position kept in the
// synced trait trajectory_step (so Python can drive it), and a small plot of the loss history and of each
// checkpoint's distance from the plane, with a cursor at the current step.
import { decodeFloat32, formatNumber } from "./lib";
import { lastAtOrBefore } from "./interp";
import { Label, TICK_FONT_PX } from "./layout";
import { Ticks, drawCurve, drawFrame, drawLabels, frameLabels, layoutLabels, linearTicks, makeFrame, scaleTicks,
} from "./plot2d";
import { State } from "./state";
import { TRAJ_COLS } from "./trajectory";

/** Playback time of a whole replay, seconds: long enough to follow, short enough to watch twice. */
export function replayDuration(n: number): number {
  return Math.min(10, Math.max(4, n / 15));
}

/** The fractional checkpoint of one panel's run at the reference run's fractional checkpoint p: the
 * panels may show runs recorded at other steps, so positions meet at the same training step. */
export function positionFor(own: ArrayLike<number>, ref: ArrayLike<number>, p: number): number {
  if (own.length === 0 || ref.length === 0) return 0;
  if (own.length === ref.length && Array.prototype.every.call(own, (v: number, k: number) => v === ref[k])) return p;
  const c = Math.min(ref.length - 1, Math.max(0, p));
  const k = Math.min(ref.length - 2, Math.floor(c));
  const step = ref.length === 1 ? ref[0] : ref[k] + (c - k) * (ref[k + 1] - ref[k]);
  const j = lastAtOrBefore(own, step);
  if (j >= own.length - 1) return own.length - 1;
  const span = own[j + 1] - own[j];
  return j + (span > 0 ? Math.min(1, Math.max(0, (step - own[j]) / span)) : 0);
}

export class Replay {
  readonly el = document.createElement("div");
  readonly historyEl = document.createElement("div");
  private btn = document.createElement("button");
  readonly scrubber = document.createElement("input");
  private readout = document.createElement("span");
  private history = document.createElement("canvas");
  private raf = 0;
  private last = 0;
  private lastSaved = -1;
  private saveAt = 0;
  position = 0;
  playing = false;
  steps: number[] = [];

  constructor(private state: State, private host: { frame(p: number): void; root: HTMLElement;
    theme(): { bg: string; fg: string }; selectedTable(): Float32Array; selectedRun(): string }) {
    this.el.className = "plw-replay";
    this.btn.type = "button";
    this.btn.className = "plw-btn plw-play";
    this.btn.dataset.action = "play";
    this.btn.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    this.scrubber.type = "range";
    this.scrubber.min = "0";
    this.scrubber.step = "1";
    this.scrubber.dataset.trait = "trajectory_step";
    this.scrubber.setAttribute("aria-label", "Training checkpoint to show");
    this.scrubber.title = "Drag to move along the recorded training path";
    this.scrubber.addEventListener("input", () => {
      this.pause(false);
      this.seek(Number(this.scrubber.value));
      this.save(true);
    });
    this.readout.className = "plw-replay-readout";
    this.readout.setAttribute("aria-live", "polite");
    const label = document.createElement("span");
    label.className = "plw-replay-label";
    label.textContent = "Training replay";
    this.el.append(label, this.btn, this.scrubber, this.readout);
    this.historyEl.className = "plw-history";
    this.history.setAttribute("role", "img");
    this.historyEl.appendChild(this.history);
    this.setButton();
  }

  /** Read the checkpoints of the first panel's run and trajectory_step from the state. */
  sync() {
    const panels = this.state.panels();
    const info = (this.state.get("runs_info") ?? {})[panels[0]?.run ?? ""];
    this.steps = info?.steps ?? this.tableSteps();
    const n = this.steps.length;
    const reason = (this.state.get("replay_reason") ?? "") as string;
    const off = n < 2 || !!reason;
    this.scrubber.max = String(Math.max(0, n - 1));
    this.btn.disabled = off;
    this.scrubber.disabled = off;
    this.el.classList.toggle("plw-off", off);
    if (off) {
      this.pause(false);
      this.readout.textContent = reason || "no replay: the first panel's run recorded fewer than 2 checkpoints";
    }
    const step = Number(this.state.get("trajectory_step") ?? n - 1);
    if (!this.playing && Math.round(this.position) !== step) this.position = Math.min(Math.max(0, n - 1), step);
    if (!off) this.show();
  }

  private tableSteps(): number[] {
    const t = decodeFloat32((this.state.panelData()[0] ?? {}).trajectory);
    return Array.from({ length: Math.floor(t.length / TRAJ_COLS) }, (_, k) => t[k * TRAJ_COLS + 4]);
  }

  /** trajectory_step changed in the model: Python drove it, or our own save came back. */
  fromModel() {
    const v = Number(this.state.get("trajectory_step"));
    if (v === this.lastSaved || !Number.isFinite(v)) return;
    this.pause(false);
    this.seek(v);
  }

  seek(p: number) {
    const n = this.steps.length;
    this.position = Math.min(Math.max(0, n - 1), Math.max(0, p));
    this.show();
  }

  play() {
    const n = this.steps.length;
    if (n < 2 || this.btn.disabled) return;
    if (this.position >= n - 1) this.position = 0;
    this.playing = true;
    this.setButton();
    this.last = performance.now();
    const tick = (now: number) => {
      if (!this.playing) return;
      const dt = Math.min(0.1, (now - this.last) / 1000);
      this.last = now;
      this.position = Math.min(n - 1, this.position + (dt * (n - 1)) / replayDuration(n));
      this.show();
      this.host.root.dispatchEvent(new CustomEvent("plw-frame", { detail: { t: now, p: this.position } }));
      if (now > this.saveAt) this.save(false);
      if (this.position >= n - 1) {
        this.pause();
        return;
      }
      this.raf = requestAnimationFrame(tick);
    };
    this.raf = requestAnimationFrame(tick);
  }

  pause(save = true) {
    const was = this.playing;
    this.playing = false;
    cancelAnimationFrame(this.raf);
    this.setButton();
    if (was && save) this.save(true);
  }

  /** Keep trajectory_step in the model: at most 4 times a second while playing, at once otherwise. */
  private save(now: boolean) {
    const v = Math.round(this.position);
    this.saveAt = performance.now() + (now ? 0 : 250);
    if (v === this.lastSaved) return;
    this.lastSaved = v;
    this.state.set("trajectory_step", v);
  }

  private setButton() {
    this.btn.textContent = this.playing ? "\u275a\u275a Pause" : "\u25b6 Play";
    this.btn.setAttribute("aria-label", this.playing ? "Pause the training replay" : "Play the training replay");
    this.btn.title = this.playing ? "Pause the replay" : "Replay training: the marker follows the recorded path";
  }

  /** Draw the current position everywhere: scrubber, read-out, panels, solution, history cursor. */
  show() {
    const n = this.steps.length;
    const k = Math.round(this.position);
    this.scrubber.value = String(k);
    const step = this.steps[Math.min(n - 1, k)] ?? 0;
    const table = this.host.selectedTable();
    const T = Math.floor(table.length / TRAJ_COLS);
    let extra = "";
    if (T) {
      const j = Math.min(T - 1, Math.round(positionFor(tableSteps(table), this.steps, this.position)));
      extra = ` · loss ${formatNumber(table[j * TRAJ_COLS + 2])} · off the plane ${formatNumber(table[j * TRAJ_COLS + 3])}`;
    }
    if (n >= 2) this.readout.textContent = `checkpoint ${k + 1} of ${n} (step ${step})${extra}`;
    this.scrubber.setAttribute("aria-valuetext", `checkpoint ${k + 1} of ${n}, training step ${step}`);
    this.host.frame(this.position);
    this.drawHistory();
  }

  private historyKey = "";
  /** The plot's width, measured once per resize (see SolutionPanel.width). */
  width = 0;
  private historyImage: HTMLCanvasElement | null = null;
  private historyCursor: ((ctx: CanvasRenderingContext2D, step: number) => void) | null = null;

  /** The history plot: the training loss over steps, and each checkpoint's distance from the plane (drawn
   * once), with a cursor at the current step (drawn per frame). */
  drawHistory() {
    const rep = (this.state.get("replay") ?? {})[this.host.selectedRun()] ?? {};
    const hs = decodeFloat32(rep.history_step);
    const hl = decodeFloat32(rep.history_loss);
    const table = this.host.selectedTable();
    const T = Math.floor(table.length / TRAJ_COLS);
    if (!this.width) this.width = this.historyEl.clientWidth;
    const cssW = Math.max(220, this.width || 300);
    const cssH = 220;
    const s = Math.min(2, window.devicePixelRatio || 1);
    const c = this.history;
    if (c.width !== Math.round(cssW * s)) c.width = Math.round(cssW * s);
    c.height = Math.round(cssH * s);
    c.style.width = `${cssW}px`;
    c.style.height = `${cssH}px`;
    const ctx = c.getContext("2d")!;
    const { fg } = this.host.theme();
    const n = this.steps.length;
    const step = n ? this.steps[Math.min(n - 1, Math.max(0, Math.round(this.position)))] : 0;
    const key = `${this.host.selectedRun()}|${hs.length}|${hl[hl.length - 1]}|${T}|${table[3]}|${cssW}|${fg}`;
    if (key === this.historyKey && this.historyImage && this.historyCursor) {
      ctx.clearRect(0, 0, c.width, c.height);
      ctx.drawImage(this.historyImage, 0, 0);
      this.historyCursor(ctx, step);
      return;
    }
    this.historyKey = key;
    const img = (this.historyImage ??= document.createElement("canvas"));
    img.width = c.width;
    img.height = c.height;
    const bctx = img.getContext("2d")!;
    bctx.clearRect(0, 0, img.width, img.height);
    const cursors: ((ctx: CanvasRenderingContext2D, step: number) => void)[] = [];
    const plots: { xs: ArrayLike<number>; ys: ArrayLike<number>; title: string; color: string }[] = [];
    if (hl.length) {
      const positive = Array.from(hl).every((v) => !Number.isFinite(v) || v > 0);
      plots.push({ xs: hs, ys: positive ? hl.map((v) => Math.log10(v)) : hl,
        title: positive ? "training loss (log scale)" : "training loss", color: "#2a6fdb" });
    }
    if (T >= 2) {
      plots.push({ xs: tableSteps(table), ys: Array.from({ length: T }, (_, k) => table[k * TRAJ_COLS + 3]),
        title: "distance from the plane", color: "#d95f02" });
    }
    this.historyCursor = (cx, st) => cursors.forEach((f) => f(cx, st));
    this.history.setAttribute("aria-label", plots.length ? `${plots.map((p) => p.title).join(" and ")} against the ` +
      `training step; cursor at step ${step}` : "no training history recorded");
    if (!plots.length) {
      ctx.clearRect(0, 0, c.width, c.height);
      return;
    }
    const h = cssH / plots.length;
    plots.forEach((p, k) => {
      const fin = Array.from(p.ys).filter(Number.isFinite);
      const lo = fin.length ? Math.min(...fin) : 0;
      const hi = fin.length ? Math.max(...fin) : 1;
      const log = p.title.includes("log");
      const yt: Ticks = log ? scaleTicks(lo, hi, true, 3) : linearTicks([lo, hi === lo ? lo + 1 : hi], 3);
      const xr: [number, number] = [p.xs[0] ?? 0, p.xs[p.xs.length - 1] ?? 1];
      const xt = linearTicks(xr, Math.max(2, Math.floor(cssW / 80)));
      const opts = { xTitle: k === plots.length - 1 ? "training step" : undefined, size: TICK_FONT_PX - 1 };
      const f = makeFrame(cssW, h, xr, [lo, hi === lo ? lo + 1 : hi], yt, { ...opts, top: 20, right: 10 });
      bctx.save();
      bctx.translate(0, k * h * s);
      drawFrame(bctx, f, xt, yt, fg, s);
      drawCurve(bctx, f, p.xs, p.ys, p.color, 1.8, [], s);
      const labels: Label[] = [...frameLabels(f, xt, yt, opts),
        { text: p.title, x: f.L, y: 3, ax: 0, ay: 0, size: TICK_FONT_PX, bold: true, priority: 12, kind: "title" }];
      drawLabels(bctx, labels, layoutLabels(labels, { x: 0, y: 0, w: cssW, h }), fg, s);
      bctx.restore();
      cursors.push((cx, st) => {
        cx.save();
        cx.scale(s, s);
        cx.translate(0, k * h);
        cx.strokeStyle = fg;
        cx.setLineDash([3, 3]);
        cx.beginPath();
        const x = f.px(st);
        cx.moveTo(x, f.T);
        cx.lineTo(x, f.T + f.H);
        cx.stroke();
        cx.restore();
      });
    });
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.drawImage(img, 0, 0);
    this.historyCursor(ctx, step);
  }

  dispose() {
    this.pause(false);
  }
}

export function tableSteps(table: Float32Array): number[] {
  return Array.from({ length: Math.floor(table.length / TRAJ_COLS) }, (_, k) => table[k * TRAJ_COLS + 4]);
}
