// Draws anywidget views from saved widget state, with no kernel and no network.
//
// nbconvert's HTML export and Jupyter Book (myst-nb) pages carry the notebook's widget state in a
// <script type="application/vnd.jupyter.widget-state+json"> block and one
// <script type="application/vnd.jupyter.widget-view+json">{"model_id": ...}</script> per displayed widget.
// The stock renderer (@jupyter-widgets/html-manager) is fetched from a CDN at view time and then fetches
// each widget's front end from another CDN, so an offline page shows nothing. An anywidget model already
// holds its whole front end (the _esm trait), so this script needs nothing but the page: it rebuilds each
// model (binary buffers included) and calls the ESM's render() with a model that has no kernel behind it.
// A widget displayed twice is two views of one model, as in a notebook (a setting changed in one shows in
// both). A view may carry the PNG the notebook saved with it (key plw_saved_png, put there by the package's
// nbconvert exporter): the widget shows it when the browser cannot draw in 3-D. Views of other widget
// libraries are left alone.

import { KernelFreeModel } from "./kernelfree";

type Buffer = { path: (string | number)[]; data: string; encoding?: "base64" | "hex" };
type SavedModel = {
  model_name: string;
  model_module: string;
  state: Record<string, unknown>;
  buffers?: Buffer[];
};

const STATE_TYPE = "application/vnd.jupyter.widget-state+json";
const VIEW_TYPE = "application/vnd.jupyter.widget-view+json";

function decodeBuffer(b: Buffer): DataView {
  let bytes: Uint8Array;
  if (b.encoding === "hex") {
    bytes = new Uint8Array(b.data.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(b.data.substr(2 * i, 2), 16);
  } else {
    const bin = atob(b.data);
    bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  }
  return new DataView(bytes.buffer);
}

/** The model's state with each binary buffer put back where the kernel took it out. */
export function restoreState(saved: SavedModel): Record<string, unknown> {
  const state: Record<string, any> = structuredClone(saved.state ?? {});
  for (const b of saved.buffers ?? []) {
    let obj: any = state;
    for (const p of b.path.slice(0, -1)) obj = obj[p] ??= {};
    obj[b.path[b.path.length - 1]] = decodeBuffer(b);
  }
  return state;
}

const esmCache = new Map<string, Promise<any>>();

function loadEsm(esm: string): Promise<any> {
  if (!esmCache.has(esm)) {
    const isUrl = /^(https?:|data:|blob:|\.{0,2}\/)/.test(esm.trim()) && !esm.includes("\n");
    const url = isUrl ? esm.trim() : URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
    esmCache.set(esm, import(/* @vite-ignore */ url));
  }
  return esmCache.get(esm)!;
}

/** The PNG a view carries (base64, from the notebook's output) as a data: URL, or "" when it has none. */
export function savedPicture(view: Record<string, unknown>): string {
  const png = view.plw_saved_png;
  return typeof png === "string" && /^[A-Za-z0-9+/=\s]+$/.test(png) ? `data:image/png;base64,${png.replace(/\s/g, "")}` : "";
}

/** Draw one view; false when it is not an anywidget view this script can draw. Views of one model id share
 * one model (made on the first). */
async function renderView(script: HTMLScriptElement, models: Record<string, SavedModel>,
  made: Map<string, KernelFreeModel>): Promise<boolean> {
  const view = JSON.parse(script.textContent || "{}");
  const id = view.model_id;
  const saved = models[id];
  if (!saved || saved.model_module !== "anywidget" || typeof saved.state?._esm !== "string") return false;
  const model = made.get(id) ?? new KernelFreeModel(restoreState(saved));
  const first = !made.has(id);
  made.set(id, model);
  const state = saved.state;
  const host = document.createElement("div");
  host.className = "plw-saved-widget";
  const picture = savedPicture(view);
  if (picture) host.dataset.plwSavedPicture = picture;
  script.after(host);
  if (typeof state._css === "string" && state._css) {
    const style = document.createElement("style");
    style.textContent = state._css;
    host.appendChild(style);
  }
  const mod = await loadEsm(state._esm as string);
  let widget = mod.default ?? mod;
  if (typeof widget === "function") widget = await widget(); // anywidget's factory form
  if (first) await widget.initialize?.({ model });
  await widget.render?.({ model, el: host });
  return true;
}

export async function renderSavedWidgets(doc: Document = document): Promise<number> {
  const models: Record<string, SavedModel> = {};
  for (const s of Array.from(doc.querySelectorAll<HTMLScriptElement>(`script[type="${STATE_TYPE}"]`))) {
    try {
      Object.assign(models, JSON.parse(s.textContent || "{}").state ?? {});
    } catch (e) {
      console.warn("pinn-landscape-widget: unreadable widget state", e);
    }
  }
  let drawn = 0;
  const made = new Map<string, KernelFreeModel>();
  for (const s of Array.from(doc.querySelectorAll<HTMLScriptElement>(`script[type="${VIEW_TYPE}"]`))) {
    if (s.dataset.plwRendered) continue;
    s.dataset.plwRendered = "1";
    try {
      if (await renderView(s, models, made)) drawn++;
    } catch (e) {
      console.warn("pinn-landscape-widget: a saved widget could not be drawn", e);
    }
  }
  (window as any).plwSavedWidgetsDrawn = drawn;
  return drawn;
}

if (typeof document !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => renderSavedWidgets());
  else renderSavedWidgets();
}
