// The model a widget view gets where no kernel is behind it: a saved notebook page (embed.ts) and a MyST
// state file (statefile.ts). It holds the saved state; settings made in the view (slice, colormap, replay)
// are kept and announced to the view's own listeners, and go nowhere else.

import type { Model } from "./state";

type Handler = (...args: unknown[]) => void;

/** A model over a saved state, with no kernel: `set` keeps the value and calls the `change:<name>` handlers. */
export class KernelFreeModel implements Model {
  private handlers: Record<string, Handler[]> = {};
  constructor(private state: Record<string, unknown>) {}
  get(name: string): unknown {
    return this.state[name];
  }
  set(name: string, value: unknown) {
    this.state[name] = value;
    for (const f of this.handlers[`change:${name}`] ?? []) f();
  }
  on(event: string, f: Handler) {
    (this.handlers[event] ??= []).push(f);
  }
  off(event?: string, f?: Handler) {
    if (!event) this.handlers = {};
    else if (!f) delete this.handlers[event];
    else this.handlers[event] = (this.handlers[event] ?? []).filter((g) => g !== f);
  }
  save_changes() {}
}
