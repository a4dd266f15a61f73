// The bookkeeping of WebGL on a page with many widgets, with no DOM and no three.js (vitest pins it).
//
// A browser keeps about 16 WebGL contexts per page and drops the oldest beyond that, so no panel owns one:
// each copy of this bundle on the page (JupyterLab loads one per widget model; a static page one for all)
// draws every panel it has with one renderer and copies the picture into the panel's own 2-D canvas. The
// copies share a page-wide budget of contexts: past the limit, the copy that drew least recently gives its
// context back (its pictures stay on screen; it makes a new context when it next draws).

/** What holds a context: asked to give it back when another copy of the bundle needs one. */
export interface ContextHolder {
  release(): void;
}

/** Contexts a page's widgets hold at once, at most (Chromium drops the oldest past 16; other libraries on
 * the page, a plotly or pythreejs figure, need some too). */
export const CONTEXT_LIMIT = 8;

export class ContextBudget {
  /** Holders, the one that drew least recently first. */
  readonly holders: ContextHolder[] = [];
  constructor(readonly limit = CONTEXT_LIMIT) {}

  /** ``h`` makes a context: it becomes the most recent holder, and the least recent others give theirs
   * back until the page is within the limit. Returns the holders asked to release. */
  acquire(h: ContextHolder): ContextHolder[] {
    this.touch(h);
    const evicted: ContextHolder[] = [];
    while (this.holders.length > this.limit) {
      const old = this.holders.shift()!;
      evicted.push(old);
      try {
        old.release();
      } catch {
        /* a holder from another copy of the bundle that went away */
      }
    }
    return evicted;
  }

  /** ``h`` drew: it is the most recent holder. */
  touch(h: ContextHolder) {
    const k = this.holders.indexOf(h);
    if (k >= 0) this.holders.splice(k, 1);
    this.holders.push(h);
  }

  /** ``h`` gave its context back (or lost it). */
  release(h: ContextHolder) {
    const k = this.holders.indexOf(h);
    if (k >= 0) this.holders.splice(k, 1);
  }
}

const BUDGET_KEY = Symbol.for("pinn-landscape-widget.webgl-budget.v1");

/** The page's budget, shared by every copy of the bundle (through a global symbol). */
export function pageBudget(): ContextBudget {
  const g = globalThis as any;
  return (g[BUDGET_KEY] ??= new ContextBudget());
}

/** How long a lost context may take to come back before the renderer makes a new one. */
export const RESTORE_WAIT_MS = 3000;
/** Losses in LOSS_WINDOW_MS after which WebGL counts as lost for good on this page. */
export const MAX_LOSSES = 3;
export const LOSS_WINDOW_MS = 60_000;

/** Contexts lost and not given back: after MAX_LOSSES in LOSS_WINDOW_MS, stop making new ones (the GPU
 * process is failing, or the page was blocked from WebGL). */
export class LossLog {
  private times: number[] = [];
  constructor(readonly max = MAX_LOSSES, readonly windowMs = LOSS_WINDOW_MS) {}

  /** A context was lost for good at ``now`` (ms); true when WebGL should be given up. */
  lost(now: number): boolean {
    this.times = this.times.filter((t) => now - t < this.windowMs);
    this.times.push(now);
    return this.times.length >= this.max;
  }
}

/** The shared drawing canvas' size in device px: large enough for the biggest picture asked for (panels
 * differ in size), grown in steps of ``step`` px so that small changes do not reallocate it. It never
 * shrinks here: panels of different sizes drawn in turn would reallocate it every frame. */
export function drawingSize(current: [number, number], need: [number, number], step = 64): [number, number] {
  const up = (v: number) => Math.max(step, Math.ceil(v / step) * step);
  return [Math.max(current[0], up(need[0])), Math.max(current[1], up(need[1]))];
}

/** Where a w x h picture drawn at WebGL's viewport (0, 0) lies in the canvas as an image (origin top-left):
 * [x, y, w, h] for drawImage's source rectangle. */
export function pictureRect(canvasHeight: number, w: number, h: number): [number, number, number, number] {
  return [0, canvasHeight - h, w, h];
}

/** Whether a box (a panel's, in CSS px of the viewport) is on screen, ``margin`` px around it included. */
export function onScreen(box: { top: number; bottom: number; left: number; right: number; width: number;
  height: number }, viewW: number, viewH: number, margin = 0): boolean {
  if (box.width <= 0 || box.height <= 0) return false;
  return box.bottom > -margin && box.top < viewH + margin && box.right > -margin && box.left < viewW + margin;
}
