// One panel: a landscape drawn as a 3-D surface, a smooth heatmap or a 1-D line, with its axes, colorbar,
// training path and replay marker, hover read-out, click-to-inspect, and a text description for screen
// readers. It draws from one panel's payload (State.panelData) and the browser-only settings.
import * as THREE from "three";
import { connectionObjects, drawConnection2d } from "./connection";
import { rowAt } from "./interp";
import { Range, Scaled, axisValue, badgeText, decodeFloat32, fingerprint, formatNumber, gapNotes, scaleValues } from "./lib";
import { Box, Label } from "./layout";
import { LabelOverlay } from "./labels";
import { COLORBAR_H_HEIGHT, Ticks, colorbarWidth, drawColorbar, drawColorbarH, drawLabels, linearTicks, scaleTicks,
} from "./plot2d";
import { GLClient, onScreenNow, sharedGL, unwatchVisibility, watchVisibility } from "./gl";
import { FLOOR, PanelScene, viewPixelRatio } from "./scene";
import { Grid, HeatmapImage, contourValues, draw2d, frame2d, gridPointIn2d, surfaceObjects } from "./surface";
import {
  MARKER_RADIUS, TRAJ_COLS, drawMarker, drawPath2d, endLabels, markerAt, path2d, pathColor, pathObjects, pathPoints,
} from "./trajectory";

export type Payload = Record<string, any>;

export interface PanelHost {
  get(name: string): any;
  theme(): { bg: string; fg: string };
  sharedRange(): [number, number] | null;
  /** The replay position for this panel (a fractional index into its own trajectory table). */
  replayPosition(panel: PanelView): number;
  cameraMoved(src: PanelView, ended: boolean): void;
  select(index: number): void;
  inspect(index: number, alpha: number, beta: number): void;
  remove(index: number): void;
  /** A panel could not draw its 3-D view (no WebGL here, or lost for good): it draws a heatmap instead. */
  noWebGL(reason: string): void;
}

/** How a payload's values are plotted: minus E* (Deep Ritz) when known or on a log scale, log10 or not. */
export function plotted(p: Payload, log: boolean): Scaled {
  const ref = p.energy_reference ?? null;
  return scaleValues(decodeFloat32(p.grid), log ? "log" : "linear", log || ref != null ? ref : null);
}

/** The loss axis' short name in 3-D, e.g. "E − E* (log)": the colorbar beside it has the full one. */
export function shortTitle(p: Payload, log: boolean): string {
  const base = p.energy_reference != null ? "E \u2212 E*" : "loss";
  return log ? `${base} (log)` : base;
}

/** The plotted quantity's name with its scale, e.g. "Deep Ritz energy E − E* (log scale)". */
export function quantityTitle(p: Payload, log: boolean): string {
  const base = p.energy_reference != null ? `${p.z_label} − E*` : p.z_label ?? "loss";
  return log ? `${base} (log scale)` : base;
}

export class PanelView implements GLClient {
  readonly root = document.createElement("section");
  private caption = document.createElement("div");
  private removeBtn = document.createElement("button");
  private view = document.createElement("div");
  private body = document.createElement("div");
  /** The 2-D views' canvas (heatmap, 1-D slice); the 3-D view shows its scene's WebGL canvas instead. */
  private canvas2d = document.createElement("canvas");
  private overlay = new LabelOverlay();
  private tip = document.createElement("div");
  private note = document.createElement("div");
  private badge = document.createElement("div");
  private desc = document.createElement("p");
  readonly colorbar = document.createElement("canvas");
  private ctx: CanvasRenderingContext2D;
  private scene: PanelScene | null = null;
  private heat = new HeatmapImage();
  private pts3: THREE.Vector3[] = [];
  private pts2: [number, number][] = [];
  /** The replay marker: an element over the canvas, moved without drawing the scene again. */
  private marker = document.createElement("div");
  private frame: ReturnType<typeof frame2d> | null = null;
  private zTicks: Ticks = { values: [], labels: [] };
  private cw = 0;
  private ch = 0;
  data: Payload = {};
  grid: Grid | null = null;
  table = new Float32Array(0);
  index = 0;
  mode: "surface" | "2d" | "empty" = "empty";
  /** The camera still is the fitted default (so a resize refits it). */
  fitted = true;
  /** On screen (or about to be): only then is the picture drawn. null until first asked. */
  private visible: boolean | null = null;
  /** The picture is out of date (it changed while off screen, or the context was lost). */
  private dirty = false;
  /** Pictures drawn on screen so far (tests and page timings read it as data-drawn). */
  private drawn = 0;
  /** Why the 3-D view cannot be drawn here ("" while it can). */
  noGl = "";

  constructor(private host: PanelHost, id: string) {
    this.root.className = "plw-panel";
    const head = document.createElement("div");
    head.className = "plw-panel-head";
    this.caption.className = "plw-caption";
    this.removeBtn.className = "plw-icon-btn";
    this.removeBtn.type = "button";
    this.removeBtn.textContent = "\u00d7";
    this.removeBtn.dataset.action = "remove-panel";
    this.removeBtn.addEventListener("click", (e) => {
      e.stopPropagation();
      host.remove(this.index);
    });
    head.append(this.caption, this.removeBtn);
    const body = this.body;
    body.className = "plw-panel-body";
    this.view.className = "plw-canvas";
    this.desc.className = "plw-sr";
    this.desc.id = `${id}-desc`;
    this.prepare(this.canvas2d);
    this.tip.className = "plw-tip";
    this.note.className = "plw-note";
    this.badge.className = "plw-badge";
    this.marker.className = "plw-marker";
    this.marker.style.width = this.marker.style.height = `${2 * MARKER_RADIUS}px`;
    this.view.append(this.canvas2d, this.marker, this.overlay.el, this.tip, this.note, this.badge);
    this.colorbar.className = "plw-colorbar";
    this.colorbar.setAttribute("aria-hidden", "true");
    body.append(this.view, this.colorbar);
    this.root.append(head, body, this.desc);
    this.ctx = this.canvas2d.getContext("2d")!;
    this.root.addEventListener("pointerdown", () => host.select(this.index));
    sharedGL().clients.add(this);
    watchVisibility(this.root, (v) => this.setVisible(v));
  }

  // ---- on screen or not, and the shared renderer's news ---------------------------------------------------
  private isVisible(): boolean {
    this.visible ??= onScreenNow(this.root);
    return this.visible;
  }

  /** The panel came on screen (draw it if its picture is out of date) or left it (free its GPU copy). */
  setVisible(v: boolean) {
    this.visible = v;
    if (v && this.dirty) this.render();
    if (!v) this.scene?.releaseGpu();
  }

  /** The shared context came back or was replaced: draw again (now if on screen). */
  invalidate() {
    if (this.mode !== "surface") return;
    this.dirty = true;
    if (this.isVisible()) this.render();
  }

  /** WebGL is unavailable here: a surface panel draws its heatmap instead, with the reason under it. */
  unavailable(reason: string) {
    if (this.noGl === reason) return;
    this.noGl = reason;
    this.drawnKey = "";
    this.rebuild();
  }

  /** The canvas on screen now. */
  get canvas(): HTMLCanvasElement {
    return this.mode === "surface" && this.scene ? this.scene.canvas : this.canvas2d;
  }

  /** Keyboard focus, a role and a description, hover and click, for either canvas. */
  private prepare(c: HTMLCanvasElement) {
    c.tabIndex = 0;
    c.setAttribute("role", "img");
    c.setAttribute("aria-describedby", this.desc.id);
    c.addEventListener("focus", () => this.host.select(this.index));
    this.bindPointer(c);
  }

  /** Put the canvas of the current mode in the view. */
  private showCanvas() {
    const c = this.canvas;
    if (c.parentElement !== this.view) {
      this.view.querySelector("canvas")?.remove();
      this.view.prepend(c);
    }
  }

  // ---- data ---------------------------------------------------------------------------------------------
  setData(p: Payload, index: number, count: number) {
    this.index = index;
    this.data = p;
    this.removeBtn.style.display = count > 1 ? "" : "none";
    this.removeBtn.setAttribute("aria-label", `Remove panel ${index + 1}`);
    this.removeBtn.title = `Remove panel ${index + 1}`;
    // a new status ("computing" over the last picture) or another panel's new numbers leave this picture as
    // it is: only the badge and the note change
    const key = this.pictureKey(p);
    if (key === this.drawnKey) return this.updateNotes();
    this.rebuild();
    this.drawnKey = key;
  }

  private drawnKey = "";

  /** What the picture depends on: the payload without its status and message, and the look settings. */
  private pictureKey(p: Payload): string {
    const { status: _s, message: _m, ...drawn } = p;
    const look = ["z_scale", "colormap", "contours", "wireframe", "view"].map((n) => String(this.host.get(n)));
    return `${fingerprint(drawn)}|${look.join()}|${this.host.sharedRange()}|${this.host.theme().fg}`;
  }

  /** The status badge and the note under the view. */
  private updateNotes() {
    const p = this.data;
    const g = this.grid;
    const status = p.status ?? "";
    this.badge.textContent = badgeText(status, p.points_note as string | undefined);
    this.badge.style.display = this.badge.textContent ? "block" : "none";
    const notes: string[] = [];
    if (p.message) notes.push(p.message);
    if (p.connection?.caption) notes.push(p.connection.caption);
    if (g) notes.push(...gapNotes(g.scaled.nonFinite, Number(p.pending ?? 0), g.nA * g.nB));
    if (g?.scaled.clipped) notes.push(`${g.scaled.clipped} point(s) at or below the reference: clipped on the log scale`);
    if (this.noGl && g && g.nB > 1 && this.host.get("view") !== "heatmap") {
      notes.push(`${this.noGl}: heatmap instead of 3-D`);
    }
    this.note.textContent = notes.join("; ");
    this.note.classList.toggle("plw-note-error", status === "error" || !!p.message);
  }

  private decode(): Grid | null {
    const p = this.data;
    const shape = (p.grid_shape ?? []) as number[];
    if (!shape.length) return null;
    const log = this.host.get("z_scale") === "log";
    const scaled = plotted(p, log);
    const nA = shape[0];
    const nB = shape.length > 1 ? shape[1] : 1;
    if (scaled.z.length !== nA * nB) return null;
    const shared = this.host.sharedRange();
    if (shared) {
      scaled.min = shared[0];
      scaled.max = shared[1];
    }
    return { scaled, nA, nB, a: p.alpha_range as Range, b: (p.beta_range as Range) ?? [0, 0] };
  }

  /** Rebuild everything drawn from the data and the look settings. */
  rebuild() {
    this.labelKey = "";
    const p = this.data;
    const g = (this.grid = this.decode());
    const gl = sharedGL();
    if (!gl.usable()) this.noGl = gl.reason; // found out before this panel was made
    const wantSurface = !!g && g.nB > 1 && this.host.get("view") !== "heatmap";
    this.table = decodeFloat32(p.trajectory);
    this.caption.textContent = p.title ?? (p.key?.length ? p.key.join(" / ") : "");
    this.caption.title = this.caption.textContent ?? "";
    this.updateNotes();
    if (!g) {
      this.mode = "empty";
      this.scene?.setContent([]);
      this.showCanvas();
      this.ctx.clearRect(0, 0, this.canvas2d.width, this.canvas2d.height);
      this.overlay.update([], { x: 0, y: 0, w: 0, h: 0 });
      this.describe();
      return;
    }
    const log = this.host.get("z_scale") === "log";
    const ref = p.energy_reference ?? 0;
    const cmap = this.host.get("colormap") ?? "viridis";
    this.zTicks = scaleTicks(g.scaled.min, g.scaled.max, log, 5);
    const levels = this.host.get("contours") ? contourValues(this.zTicks, g.scaled.min, g.scaled.max) : null;
    const surface = wantSurface && !this.noGl;
    if (wantSurface && this.noGl) this.host.noWebGL(this.noGl);
    this.mode = surface ? "surface" : "2d";
    if (surface) {
      if (!this.scene) {
        this.scene = new PanelScene();
        this.prepare(this.scene.canvas);
        this.scene.controls.addEventListener("change", () => {
          if (this.syncing) return;
          this.fitted = false;
          this.render();
          this.host.cameraMoved(this, false);
        });
        this.scene.controls.addEventListener("end", () => this.host.cameraMoved(this, true));
      }
      const { fg } = this.host.theme();
      this.pts3 = this.table.length >= 2 * TRAJ_COLS ? pathPoints(this.table, g, log, ref) : [];
      const objs = surfaceObjects(g, cmap, !!this.host.get("wireframe"), levels, fg);
      const path = this.pts3.length ? pathObjects(this.pts3, pathColor(cmap)) : [];
      this.scene.setContent([...objs, ...connectionObjects(p, g, log, ref), ...path]);
      this.scene.setAxes({
        a: g.a, b: g.b, aTicks: linearTicks(g.a, 4), bTicks: linearTicks(g.b, 4),
        z: { min: g.scaled.min, max: g.scaled.max, ticks: this.zTicks, title: shortTitle(p, log) }, fg, oneD: false,
      });
      this.scene.controls.enabled = true;
    } else if (this.scene) {
      this.scene.controls.enabled = false;
    }
    this.showCanvas();
    this.drawColorbar();
    this.describe();
    this.layout(true);
  }

  // ---- size and drawing --------------------------------------------------------------------------------
  /** Size the view for the panel's width; refit a default camera to the new shape. A narrow panel puts
   * its colorbar under the view, a wide one beside it. */
  layout(force = false) {
    const total = Math.max(200, this.root.clientWidth - 6);
    const hasBar = !!this.grid && this.grid.nB > 1;
    this.barBelow = total < 440;
    const cbw = hasBar && !this.barBelow ? this.colorbarSize()[0] + 4 : 0;
    const w = Math.max(160, total - cbw);
    const h = Math.round(Math.min(460, Math.max(220, w * (this.barBelow ? 0.7 : 0.66))));
    if (!force && w === this.cw && h === this.ch) return;
    this.cw = w;
    this.ch = h;
    const s = Math.min(2, window.devicePixelRatio || 1);
    this.canvas2d.width = Math.round(w * s);
    this.canvas2d.height = Math.round(h * s);
    this.canvas2d.style.width = `${w}px`;
    this.canvas2d.style.height = `${h}px`;
    this.scene?.setSize(w, h, viewPixelRatio());
    this.view.style.width = `${w}px`;
    this.view.style.height = `${h}px`;
    this.body.classList.toggle("plw-bar-below", this.barBelow);
    this.colorbar.style.display = hasBar ? "" : "none";
    this.drawColorbar();
    if (this.scene && this.fitted && !this.host.get("camera")?.position) this.scene.preset("3d", w / h);
    this.render();
  }

  private barBelow = false;

  /** The colorbar's CSS size: beside the view (its own width, the view's height) or under it. */
  colorbarSize(): [number, number] {
    const g = this.grid;
    if (!g) return [0, 0];
    if (this.barBelow) return [this.cw, COLORBAR_H_HEIGHT];
    return [colorbarWidth(g.scaled.min, g.scaled.max, this.host.get("z_scale") === "log"), this.ch];
  }

  /** Draw the colorbar into ctx (a cssW x cssH area at ``scale``). */
  paintColorbar(ctx: CanvasRenderingContext2D, scale: number) {
    const g = this.grid!;
    const log = this.host.get("z_scale") === "log";
    const [w, h] = this.colorbarSize();
    const o = { min: g.scaled.min, max: g.scaled.max, log, cmap: this.host.get("colormap") ?? "viridis",
      title: quantityTitle(this.data, log), fg: this.host.theme().fg };
    if (this.barBelow) drawColorbarH(ctx, w, h, scale, o);
    else drawColorbar(ctx, w, h, scale, o);
  }

  size(): [number, number] {
    return [this.cw, this.ch];
  }

  private syncing = false;
  private labelKey = "";

  /** Move this panel's camera (a linked one turned, or Python set the camera trait). */
  setCamera(c: { position: number[]; target: number[] } | null, preset?: string) {
    if (!this.scene) return;
    this.syncing = true;
    try {
      if (preset) {
        this.scene.preset(preset, this.cw / (this.ch || 1));
        this.fitted = preset === "3d";
      } else if (c) {
        this.scene.setCamera(c);
        this.fitted = false;
      }
    } finally {
      this.syncing = false;
    }
    this.render();
  }

  getCamera() {
    return this.scene?.getCamera() ?? null;
  }

  /** Draw the current picture (cheap: no geometry is rebuilt). */
  render() {
    if (this.mode === "empty" || !this.grid || !this.cw) return;
    if (!this.isVisible()) {
      this.dirty = true; // drawn when it comes on screen
      return;
    }
    this.dirty = false;
    const { bg, fg } = this.host.theme();
    const p = this.host.replayPosition(this);
    const labels = this.paint(this.mode === "surface" ? null : this.ctx, this.canvas2d.width / this.cw, bg, fg, p, 0, 0);
    if (this.dirty) return; // the shared context is away: drawn again when it is back
    this.root.dataset.drawn = String(++this.drawn);
    // labels move only with the camera or the size (a replay frame moves the marker alone)
    const key = `${this.mode}:${this.cw}x${this.ch}:${this.scene?.camera.matrixWorld.elements.join()}:${labels.length}`;
    if (key !== this.labelKey || this.mode !== "surface") this.overlay.update(labels, { x: 0, y: 0, w: this.cw, h: this.ch });
    this.labelKey = key;
    // where the camera is, for scripts and tests (no effect on the picture)
    if (this.scene && this.mode === "surface") this.root.dataset.camera = JSON.stringify(this.scene.getCamera());
    this.moveMarker();
  }

  /** Put the replay marker at the replay's position (a replay frame does only this). */
  moveMarker() {
    const m = this.markerScreen();
    this.marker.style.display = m ? "block" : "none";
    if (!m) return;
    this.marker.style.transform = `translate(${(m[0] - MARKER_RADIUS).toFixed(1)}px, ${(m[1] - MARKER_RADIUS).toFixed(1)}px)`;
    this.root.dataset.marker = `${m[0].toFixed(1)},${m[1].toFixed(1)}`;
  }

  /** The replay marker's position on screen (CSS px), or null without a path. */
  markerScreen(): [number, number] | null {
    if (this.mode === "empty" || !this.grid) return null;
    const p = this.host.replayPosition(this);
    if (this.mode === "surface" && this.scene && this.pts3.length) {
      return this.scene.project(markerAt(this.pts3, p), this.cw, this.ch);
    }
    if (this.mode === "2d" && this.pts2.length) {
      const m = rowAt(this.pts2.flat(), 2, p);
      return [m[0], m[1]];
    }
    return null;
  }

  /** Paint the view into ctx at (dx, dy) CSS px with ``scale`` device px per CSS px (ctx null: the 3-D view
   * onto its own canvas); returns its labels. */
  paint(ctx: CanvasRenderingContext2D | null, scale: number, bg: string, fg: string, p: number, dx: number,
    dy: number): Label[] {
    const g = this.grid!;
    const w = this.cw;
    const h = this.ch;
    const log = this.host.get("z_scale") === "log";
    if (this.mode === "surface" && this.scene) {
      const ok = ctx ? this.scene.renderTo(ctx, w, h, scale, bg, dx * scale, dy * scale) : this.scene.render(bg);
      if (!ok) {
        // no context now: the old picture stays; a lost context is waited for, then the panel is drawn again
        // (invalidate), and if WebGL is gone for good it draws a heatmap (unavailable)
        if (!ctx) this.dirty = true;
        return [];
      }
      if (!ctx && this.labelKey.endsWith(`:${this.scene.camera.matrixWorld.elements.join()}:${this.overlay.labels.length}`) &&
        this.labelKey.startsWith(`surface:${w}x${h}:`)) {
        return this.overlay.labels; // the camera did not move: the same labels
      }
      const labels: Label[] = [];
      const centre = this.scene.project(new THREE.Vector3(0, 0, FLOOR), w, h) ?? [w / 2, h / 2];
      for (const { label, at, push } of this.scene.labelAnchors()) {
        const s = this.scene.project(at, w, h);
        if (!s) continue;
        if (push) {
          const d = Math.hypot(s[0] - centre[0], s[1] - centre[1]) || 1;
          s[0] += (push * (s[0] - centre[0])) / d;
          s[1] += (push * (s[1] - centre[1])) / d;
        }
        labels.push({ ...label, x: s[0], y: s[1] });
      }
      if (this.pts3.length) {
        labels.push(...endLabels(this.scene.project(this.pts3[0], w, h),
          this.scene.project(this.pts3[this.pts3.length - 1], w, h)));
      }
      return labels;
    }
    if (!ctx) return [];
    ctx.save();
    ctx.translate(dx * scale, dy * scale);
    ctx.fillStyle = bg;
    ctx.fillRect(0, 0, w * scale, h * scale);
    const fr = (this.frame = frame2d(g, w, h, this.zTicks, quantityTitle(this.data, log)));
    const cmap = this.host.get("colormap") ?? "viridis";
    const levels = this.host.get("contours") && g.nB > 1 ? contourValues(this.zTicks, g.scaled.min, g.scaled.max) : null;
    draw2d(ctx, g, fr.f, fr.xt, fr.yt, { cmap, contours: levels, fg, scale, heat: this.heat });
    const labels = [...fr.labels];
    if (g.nB > 1) drawConnection2d(ctx, this.data, fr.f, scale);
    if (this.table.length >= 2 * TRAJ_COLS) {
      this.pts2 = path2d(this.table, g, fr.f, log, this.data.energy_reference ?? 0);
      drawPath2d(ctx, this.pts2, pathColor(cmap), scale, fr.f);
      labels.push(...endLabels(this.pts2[0], this.pts2[this.pts2.length - 1]));
    }
    ctx.restore();
    return labels;
  }

  /** The panel as one picture (view, its labels, colorbar) into ctx at (dx, dy), for the PNG export. */
  exportTo(ctx: CanvasRenderingContext2D, dx: number, dy: number, scale: number, bg: string, fg: string) {
    if (!this.grid || !this.cw) return;
    const labels = this.paint(ctx, scale, bg, fg, this.host.replayPosition(this), dx, dy);
    this.overlay.update(labels, { x: 0, y: 0, w: this.cw, h: this.ch });
    const m = this.markerScreen();
    if (m) drawMarker(ctx, dx + m[0], dy + m[1], scale);
    drawLabels(ctx, this.overlay.labels, this.overlay.show, fg, scale, dx, dy);
    if (this.grid.nB > 1) {
      const [w, h] = this.colorbarSize();
      ctx.save();
      ctx.translate((this.barBelow ? dx : dx + this.cw + 4) * scale, (this.barBelow ? dy + this.ch + 4 : dy) * scale);
      ctx.beginPath();
      ctx.rect(0, 0, w * scale, h * scale);
      ctx.clip();
      this.paintColorbar(ctx, scale);
      ctx.restore();
    }
    this.render(); // the labels on screen again (the export laid them out for the picture)
  }

  private drawColorbar() {
    if (!this.grid || !this.ch || this.grid.nB < 2) return;
    const [w, h] = this.colorbarSize();
    const s = Math.min(2, window.devicePixelRatio || 1);
    this.colorbar.width = Math.round(w * s);
    this.colorbar.height = Math.round(h * s);
    this.colorbar.style.width = `${w}px`;
    this.colorbar.style.height = `${h}px`;
    this.colorbar.getContext("2d")!.clearRect(0, 0, this.colorbar.width, this.colorbar.height);
    this.paintColorbar(this.colorbar.getContext("2d")!, s);
  }

  // ---- words --------------------------------------------------------------------------------------------
  /** The canvas's text description: what is shown, the minimum's position and value, the path's ends. */
  describe() {
    const p = this.data;
    const g = this.grid;
    let text: string;
    if (!g) {
      text = p.message ? `Panel ${this.index + 1}: ${p.message}` : `Panel ${this.index + 1}: no landscape yet.`;
    } else {
      const values = decodeFloat32(p.grid);
      let k = -1;
      for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]) && (k < 0 || values[i] < values[k])) k = i;
      const what = g.nB === 1 ? "Line plot" : this.mode === "surface" ? "3-D surface" : "Heatmap";
      const ranges = `alpha from ${formatNumber(g.a[0])} to ${formatNumber(g.a[1])}` +
        (g.nB > 1 ? `, beta from ${formatNumber(g.b[0])} to ${formatNumber(g.b[1])}` : "");
      let min = "every value is NaN or infinite.";
      if (k >= 0) {
        const i = Math.floor(k / g.nB);
        const j = k % g.nB;
        min = `Minimum ${formatNumber(values[k])} at alpha ${formatNumber(axisValue(g.a, g.nA, i))}` +
          (g.nB > 1 ? `, beta ${formatNumber(axisValue(g.b, g.nB, j))}` : "") + ".";
      }
      const T = Math.floor(this.table.length / TRAJ_COLS);
      const path = T >= 2 ? ` Training path of ${T} checkpoints from alpha ${formatNumber(this.table[0])}` +
        `${g.nB > 1 ? `, beta ${formatNumber(this.table[1])}` : ""} to alpha ` +
        `${formatNumber(this.table[(T - 1) * TRAJ_COLS])}` +
        `${g.nB > 1 ? `, beta ${formatNumber(this.table[(T - 1) * TRAJ_COLS + 1])}` : ""}.` : "";
      text = `Panel ${this.index + 1}. ${what} of the ${p.z_label ?? "loss"} (${p.title ?? ""}) over ${ranges}. ` +
        `${min}${path}`;
    }
    this.desc.textContent = text;
    // the name says what is shown; the description (aria-describedby) adds the minimum and the path
    const name = text.split(". ").slice(0, 2).join(". ") + ".";
    this.canvas2d.setAttribute("aria-label", name);
    this.scene?.canvas.setAttribute("aria-label", name);
  }

  // ---- hover and click ----------------------------------------------------------------------------------
  private raycaster = new THREE.Raycaster();

  private gridPointAt(ev: PointerEvent): [number, number] | null {
    const g = this.grid;
    if (!g) return null;
    const r = this.canvas.getBoundingClientRect();
    const x = ev.clientX - r.left;
    const y = ev.clientY - r.top;
    if (this.mode === "2d") return this.frame ? gridPointIn2d(g, this.frame.f, x, y) : null;
    if (!this.scene) return null;
    const surf = this.scene.content.getObjectByName("surface");
    if (!surf) return null;
    this.raycaster.setFromCamera(new THREE.Vector2((x / r.width) * 2 - 1, -(y / r.height) * 2 + 1), this.scene.camera);
    const hit = this.raycaster.intersectObject(surf)[0];
    if (!hit) return null;
    const i = Math.round(((hit.point.x + 1) / 2) * (g.nA - 1));
    const j = Math.round(((hit.point.y + 1) / 2) * (g.nB - 1));
    return [Math.min(g.nA - 1, Math.max(0, i)), Math.min(g.nB - 1, Math.max(0, j))];
  }

  private describePoint(i: number, j: number): string {
    const g = this.grid!;
    const k = i * g.nB + j;
    const values = decodeFloat32(this.data.grid);
    const errors = decodeFloat32(this.data.error_grid);
    const parts = [`alpha ${formatNumber(axisValue(g.a, g.nA, i))}`];
    if (g.nB > 1) parts.push(`beta ${formatNumber(axisValue(g.b, g.nB, j))}`);
    parts.push(`${this.data.z_label ?? "loss"} ${formatNumber(values[k])}`);
    // a run without an exact solution has NaN errors: say nothing rather than "NaN"
    if (errors.length === values.length && Number.isFinite(errors[k])) parts.push(`rel. L2 error ${formatNumber(errors[k])}`);
    return parts.join("  |  ");
  }

  private bindPointer(c: HTMLCanvasElement) {
    let downAt: [number, number] | null = null;
    c.addEventListener("pointermove", (ev) => {
      const p = this.gridPointAt(ev);
      if (!p) {
        this.tip.style.display = "none";
        return;
      }
      this.tip.textContent = this.describePoint(p[0], p[1]);
      this.tip.style.display = "block";
      const r = this.view.getBoundingClientRect();
      this.tip.style.left = `${Math.max(0, Math.min(r.width - this.tip.offsetWidth - 4, ev.clientX - r.left + 12))}px`;
      this.tip.style.top = `${Math.min(r.height - 28, ev.clientY - r.top + 14)}px`;
    });
    c.addEventListener("pointerleave", () => (this.tip.style.display = "none"));
    c.addEventListener("pointerdown", (ev) => (downAt = [ev.clientX, ev.clientY]));
    c.addEventListener("pointerup", (ev) => {
      if (!downAt || Math.hypot(ev.clientX - downAt[0], ev.clientY - downAt[1]) > 4) return;
      const p = this.gridPointAt(ev);
      const g = this.grid;
      if (!p || !g) return;
      this.host.inspect(this.index, axisValue(g.a, g.nA, p[0]), g.nB > 1 ? axisValue(g.b, g.nB, p[1]) : 0);
    });
  }

  setSelected(on: boolean) {
    this.root.classList.toggle("plw-selected", on);
    this.root.setAttribute("aria-current", on ? "true" : "false");
  }

  dispose() {
    const gl = sharedGL();
    gl.clients.delete(this);
    if (!gl.clients.size) gl.release(); // no panel of this copy of the bundle left: its context goes
    unwatchVisibility(this.root);
    this.scene?.dispose();
    this.root.remove();
  }
}

export type { Box };
