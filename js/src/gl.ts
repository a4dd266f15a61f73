// One WebGL renderer for every panel this copy of the bundle draws (see glpool.ts for why). A panel's
// picture is drawn at the shared canvas' lower-left corner (viewport and scissor) and copied into the
// panel's own 2-D canvas, so a panel holds no context and keeps its picture when the context goes. A lost
// context is waited for, then replaced; every visible panel is drawn again either way. Panels off screen
// (an IntersectionObserver) do not draw, and their geometry leaves the GPU.
import * as THREE from "three";
import { ContextBudget, ContextHolder, LossLog, RESTORE_WAIT_MS, drawingSize, onScreen, pageBudget,
  pictureRect } from "./glpool";
import { isSoftwareRenderer, solidColor, webglRendererName } from "./lib";

/** A panel as the renderer sees it. */
export interface GLClient {
  /** The picture must be drawn again (the context came back, or a new one was made). */
  invalidate(): void;
  /** WebGL is unavailable here, or lost for good: show something else. */
  unavailable(reason: string): void;
}

const SOFTWARE_KEY = Symbol.for("pinn-landscape-widget.webgl-software.v1");

/** Whether WebGL runs on a software rasterizer here (asked once per page, from a throwaway context). */
export function isSoftware(): boolean {
  const g = globalThis as any;
  g[SOFTWARE_KEY] ??= isSoftwareRenderer(webglRendererName());
  return g[SOFTWARE_KEY];
}

/** The pixel ratio the view draws at: 1 on a software rasterizer (every pixel is CPU time taken from the
 * kernel on the same machine), else the screen's, at most 2. */
export function viewPixelRatio(): number {
  return isSoftware() ? 1 : Math.min(2, window.devicePixelRatio || 1);
}

export type GLStatus = "idle" | "ready" | "lost" | "failed";

export class SharedGL implements ContextHolder {
  private renderer: THREE.WebGLRenderer | null = null;
  private size: [number, number] = [0, 0];
  private clear = new THREE.Color();
  private losses = new LossLog();
  private restoreTimer = 0;
  status: GLStatus = "idle";
  /** Why WebGL cannot draw here (status "failed"), in a few words: "no WebGL 2", "WebGL lost". */
  reason = "";
  readonly clients = new Set<GLClient>();
  /** Contexts this renderer made (a new one after an eviction or a loss that did not come back). */
  made = 0;

  constructor(private budget: ContextBudget = pageBudget()) {}

  /** The shared canvas (tests lose and restore its context), or null when no context is held. */
  get canvas(): HTMLCanvasElement | null {
    return this.renderer?.domElement ?? null;
  }

  /** False once WebGL is known to be unavailable here. */
  usable(): boolean {
    return this.status !== "failed";
  }

  /** What the renderer holds on the GPU (tests check it stays bounded). */
  stats() {
    const info = this.renderer?.info;
    return { status: this.status, made: this.made, geometries: info?.memory.geometries ?? 0,
      textures: info?.memory.textures ?? 0, programs: info?.programs?.length ?? 0, size: [...this.size] };
  }

  /** Draw ``scene`` from ``camera`` as a w x h device-px picture into ``target`` at (dx, dy). False when it
   * could not (no context now: see status). */
  draw(scene: THREE.Scene, camera: THREE.Camera, target: CanvasRenderingContext2D, dx: number, dy: number,
    w: number, h: number, bg: string): boolean {
    if (w < 1 || h < 1) return true;
    const r = this.ensure();
    if (!r) return false;
    const [W, H] = drawingSize(this.size, [w, h]);
    if (W !== this.size[0] || H !== this.size[1]) {
      r.setSize(W, H, false);
      this.size = [W, H];
    }
    r.setViewport(0, 0, w, h);
    r.setScissor(0, 0, w, h);
    r.setScissorTest(true);
    r.setClearColor(this.clear.setStyle(solidColor(bg)), 1);
    r.render(scene, camera);
    const [sx, sy] = pictureRect(H, w, h);
    // the drawing buffer is read in the task that drew it (no preserveDrawingBuffer needed)
    target.drawImage(r.domElement, sx, sy, w, h, dx, dy, w, h);
    this.budget.touch(this);
    return true;
  }

  /** The renderer, made on first use; null while the context is lost, or when WebGL is unavailable. */
  private ensure(): THREE.WebGLRenderer | null {
    if (this.renderer && this.status === "ready") return this.renderer;
    if (this.status !== "idle") return null;
    const canvas = document.createElement("canvas");
    let gl: WebGL2RenderingContext | null = null;
    try {
      gl = canvas.getContext("webgl2", { alpha: false, antialias: !isSoftware(), depth: true, stencil: false,
        preserveDrawingBuffer: false, powerPreference: "default" });
    } catch {
      gl = null;
    }
    if (!gl) {
      this.fail("no WebGL 2", "this browser gives the page no WebGL 2 context");
      return null;
    }
    try {
      this.renderer = new THREE.WebGLRenderer({ canvas, context: gl, antialias: !isSoftware() });
    } catch (e) {
      this.fail("WebGL failed", `WebGL could not start: ${String((e as Error)?.message ?? e)}`);
      return null;
    }
    this.renderer.setPixelRatio(1);
    this.size = [0, 0];
    canvas.addEventListener("webglcontextlost", this.onLost);
    canvas.addEventListener("webglcontextrestored", this.onRestored);
    this.status = "ready";
    this.made++;
    this.budget.acquire(this);
    return this.renderer;
  }

  private onLost = (e: Event) => {
    e.preventDefault(); // ask for the context back
    this.status = "lost";
    window.clearTimeout(this.restoreTimer);
    this.restoreTimer = window.setTimeout(() => this.replace(), RESTORE_WAIT_MS);
  };

  private onRestored = () => {
    window.clearTimeout(this.restoreTimer);
    if (this.status !== "lost") return;
    this.status = "ready";
    this.size = [0, 0];
    this.renderer?.setSize(1, 1, false); // the drawing buffer is sized again on the next draw
    console.info("pinn-landscape-widget: the WebGL context was restored; the panels are drawn again");
    this.invalidateAll();
  };

  /** The lost context did not come back: make a new one, unless contexts keep getting lost. */
  private replace() {
    if (this.status !== "lost") return;
    this.drop();
    if (this.losses.lost(Date.now())) {
      this.fail("WebGL lost", "the WebGL context was lost and did not come back, again and again");
      return;
    }
    this.status = "idle";
    console.info("pinn-landscape-widget: a lost WebGL context was replaced; the panels are drawn again");
    this.invalidateAll();
  }

  /** The page's budget asks for the context back: the pictures stay, the next draw makes a new context. */
  release() {
    if (!this.renderer) return;
    this.drop();
    if (this.status !== "failed") this.status = "idle";
  }

  private drop() {
    window.clearTimeout(this.restoreTimer);
    const r = this.renderer;
    this.renderer = null;
    this.size = [0, 0];
    this.budget.release(this);
    if (!r) return;
    r.domElement.removeEventListener("webglcontextlost", this.onLost);
    r.domElement.removeEventListener("webglcontextrestored", this.onRestored);
    const lost = r.getContext().isContextLost();
    r.dispose();
    if (!lost) r.forceContextLoss(); // the context goes now, not when the canvas is collected
  }

  private fail(reason: string, why: string) {
    this.drop();
    this.status = "failed";
    this.reason = reason;
    console.warn(`pinn-landscape-widget: 3-D views unavailable (${why}); heatmaps or saved pictures are shown`);
    // after the draw that found out has returned: a panel then draws what it can instead
    queueMicrotask(() => {
      for (const c of [...this.clients]) c.unavailable(reason);
    });
  }

  private invalidateAll() {
    for (const c of [...this.clients]) c.invalidate();
  }
}

let shared: SharedGL | null = null;

/** This bundle's renderer (one per copy of the bundle on the page). */
export function sharedGL(): SharedGL {
  return (shared ??= new SharedGL());
}

// ---- which panels are on screen -------------------------------------------------------------------------
/** Panels this far (CSS px) outside the viewport count as on screen: they are drawn before they scroll in. */
export const SCREEN_MARGIN_PX = 200;
const watched = new WeakMap<Element, (visible: boolean) => void>();
let observer: IntersectionObserver | null = null;

/** Call ``cb`` whenever ``el`` comes on screen or leaves it (first call: soon after watching starts). */
export function watchVisibility(el: Element, cb: (visible: boolean) => void) {
  if (typeof IntersectionObserver === "undefined") return cb(true);
  observer ??= new IntersectionObserver((entries) => {
    for (const e of entries) watched.get(e.target)?.(e.isIntersecting);
  }, { rootMargin: `${SCREEN_MARGIN_PX}px` });
  watched.set(el, cb);
  observer.observe(el);
}

export function unwatchVisibility(el: Element) {
  watched.delete(el);
  observer?.unobserve(el);
}

/** Whether ``el`` is on screen now, judged from its box and the window (before the observer has said). */
export function onScreenNow(el: Element): boolean {
  if (!el.isConnected) return false;
  return onScreen(el.getBoundingClientRect(), window.innerWidth, window.innerHeight, SCREEN_MARGIN_PX);
}
