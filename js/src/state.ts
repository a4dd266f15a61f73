// State sync: reading and writing the widget's traits through the model, whichever kind of model it is.
//
// Live (anywidget with a kernel), saved state (nbconvert, Jupyter Book, exported page: a model with no kernel
// behind it) and read-only (MyST's {anywidget}: JSON state, set() throws). A value the model refuses is
// kept here as a local override, so browser-only settings work everywhere; listeners hear local changes
// as they hear the model's.

export type Model = {
  get(name: string): any;
  set(name: string, value: any): void;
  save_changes?(): void;
  send?(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[]): void;
  on(event: string, cb: (...args: any[]) => void): void;
  off?(event?: string, cb?: (...args: any[]) => void): void;
};

/** A panel as the panels trait holds it. */
export interface PanelSpec {
  run: string;
  formulation: string;
  direction_kind: string;
  checkpoint: number | null;
}

/** A panel's entry of panel_status: the slot trait (panel_<slot>) holding its numbers, and its status. */
export interface PanelStatus {
  slot: number;
  status: string;
  message?: string;
}

/** The traits that carry each panel's numbers (Python's _slots.SLOT_TRAITS), one per possible panel. */
export const SLOT_TRAITS = [0, 1, 2, 3, 4, 5].map((k) => `panel_${k}`);

/** How long a kernel may take to answer before the view treats its numbers as saved, not live. */
const KERNEL_WAIT_MS = 2000;

export class State {
  private overrides: Record<string, unknown> = {};
  private local: Record<string, (() => void)[]> = {};
  private bound: [string, (...a: any[]) => void][] = [];
  private timer = 0;
  /** Is a kernel listening? A live one answers the view's ping; saved state never does. */
  kernel: "unknown" | "live" | "none";

  constructor(readonly model: Model, onKernel: () => void) {
    this.kernel = typeof model.send === "function" ? "unknown" : "none";
    this.listen("msg:custom", (msg: any) => {
      if (msg?.type !== "pong") return;
      this.kernel = "live";
      onKernel();
    });
    this.timer = window.setTimeout(() => {
      if (this.kernel !== "unknown") return;
      this.kernel = "none";
      onKernel();
    }, KERNEL_WAIT_MS);
    try {
      model.send?.({ type: "ping" });
    } catch {
      this.kernel = "none";
    }
  }

  get(k: string): any {
    return k in this.overrides ? this.overrides[k] : this.model.get(k);
  }

  /** Live numbers can be asked for: the widget computes, and a kernel answered. */
  live(): boolean {
    return !!this.get("interactive") && this.kernel !== "none";
  }

  /** Set a trait on the model (and save it); when the model refuses, keep it here and tell listeners. */
  set(k: string, v: unknown): boolean {
    try {
      this.model.set(k, v);
      delete this.overrides[k]; // the model holds it now; its change events drive the redraw
      try {
        this.model.save_changes?.();
      } catch {
        /* read-only model */
      }
      return true;
    } catch {
      this.setLocal(k, v);
      return false;
    }
  }

  /** Keep a value here only (a page without a kernel showing a precomputed slice). */
  setLocal(k: string, v: unknown) {
    this.overrides[k] = v;
    for (const f of this.local[`change:${k}`] ?? []) f();
  }

  /** Listen to a model event and to the same name's local changes. */
  on(event: string, cb: () => void) {
    this.listen(event, cb);
    (this.local[event] ??= []).push(cb);
  }

  private listen(event: string, cb: (...a: any[]) => void) {
    this.model.on(event, cb);
    this.bound.push([event, cb]);
  }

  send(content: unknown, buffers?: ArrayBuffer[]) {
    try {
      this.model.send?.(content, undefined, buffers);
    } catch {
      /* the kernel went away */
    }
  }

  /** What each panel draws: its slot's numbers with its status and message. A page without a kernel that
   * switched to precomputed slices keeps its own list (a local "panel_data"), which wins. */
  panelData(): Record<string, any>[] {
    if ("panel_data" in this.overrides) return this.overrides.panel_data as Record<string, any>[];
    return ((this.get("panel_status") ?? []) as PanelStatus[]).map((e) => ({
      ...(this.get(`panel_${e.slot}`) ?? {}),
      status: e.status,
      message: e.message ?? "",
    }));
  }

  panels(): PanelSpec[] {
    return (this.get("panels") ?? []) as PanelSpec[];
  }

  /** The choices a page with no kernel can switch (precomputed by precompute()). */
  precomputed(name: string): boolean {
    return ((this.get("static_choices") ?? []) as string[]).includes(name);
  }

  /** The precomputed panel for a spec, or undefined. The key is built as Python's slice_key builds it. */
  staticSlice(p: PanelSpec): Record<string, unknown> | undefined {
    const slices = (this.get("static_slices") ?? {}) as Record<string, Record<string, unknown>>;
    return slices[JSON.stringify([p.run, p.direction_kind, p.formulation, p.checkpoint ?? null])];
  }

  dispose() {
    window.clearTimeout(this.timer);
    for (const [ev, cb] of this.bound) this.model.off?.(ev, cb);
    this.bound = [];
    this.local = {};
  }
}
