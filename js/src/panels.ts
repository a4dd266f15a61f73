// The row of panels: one PanelView per panel (State.panelData: its slot's numbers and its status), laid out in as many columns as fit, their
// cameras linked (turn one, all turn), an optional shared colour scale, the selected panel (the one the
// side panel's run/loss/directions controls edit), and adding or removing panels.
import { panelColumns } from "./layout";
import { PanelHost, PanelView, Payload, plotted } from "./panel";
import { PanelSpec, State } from "./state";

export const MAX_PANELS = 6; // as in Python's _panels.MAX_PANELS

export interface PanelsEvents {
  theme(): { bg: string; fg: string };
  replayPosition(panel: PanelView): number;
  inspect(index: number, alpha: number, beta: number): void;
  selected(index: number): void;
}

export class Panels implements PanelHost {
  readonly el = document.createElement("div");
  views: PanelView[] = [];
  selectedIndex = 0;
  private uid = Math.random().toString(36).slice(2, 8);
  /** The picture saved with the notebook (a data: URL), shown instead of the panels when this browser
   * cannot draw their 3-D views; null when there is none, or once the panels no longer show what was saved. */
  savedPicture: string | null = null;
  /** Why the 3-D views cannot be drawn here ("" while they can). */
  private noGl = "";
  private saved: HTMLElement | null = null;

  constructor(private state: State, private ev: PanelsEvents) {
    this.el.className = "plw-panels";
  }

  get(name: string) {
    return this.state.get(name);
  }
  theme() {
    return this.ev.theme();
  }
  replayPosition(p: PanelView) {
    return this.ev.replayPosition(p);
  }
  inspect(i: number, a: number, b: number) {
    this.ev.inspect(i, a, b);
  }

  /** A panel cannot draw in 3-D here: show the saved picture, if there is one, in place of the panels. */
  noWebGL(reason: string) {
    this.noGl = reason;
    this.showSaved();
  }

  /** The saved picture (with a line saying why) instead of the panels, or the panels again. */
  private showSaved() {
    const on = !!(this.noGl && this.savedPicture);
    if (on && !this.saved) {
      const fig = (this.saved = document.createElement("figure"));
      fig.className = "plw-saved-picture";
      const img = document.createElement("img");
      img.src = this.savedPicture!;
      img.alt = "The landscape as saved with the notebook";
      const cap = document.createElement("figcaption");
      cap.className = "plw-saved-caption";
      cap.textContent = `3-D view unavailable here (${this.noGl}): the picture saved with the notebook`;
      fig.append(img, cap);
      this.el.prepend(fig);
    }
    if (!on && this.saved) {
      this.saved.remove();
      this.saved = null;
    }
    for (const v of this.views) v.root.style.display = on ? "none" : "";
  }

  /** The saved picture, when it is shown instead of the panels. */
  shownPicture(): HTMLImageElement | null {
    return this.saved?.querySelector("img") ?? null;
  }

  /** The panels no longer show what was saved (new data, or another look): drop the saved picture. */
  dropSavedPicture() {
    if (!this.savedPicture) return;
    this.savedPicture = null;
    this.showSaved();
  }

  /** The data each panel draws: the kernel's, or (no kernel) the precomputed slice for its spec. */
  payloads(): Payload[] {
    return this.state.panelData() as Payload[];
  }

  /** Rebuild every panel from its data (payloads()) and the look settings. */
  sync() {
    const data = this.payloads();
    while (this.views.length > data.length) this.views.pop()!.dispose();
    while (this.views.length < data.length) {
      const v = new PanelView(this, `plw-${this.uid}-${this.views.length}`);
      this.views.push(v);
      this.el.appendChild(v.root);
    }
    if (this.selectedIndex >= data.length) this.selectedIndex = 0;
    this.layoutColumns();
    const cam = this.state.get("camera");
    this.views.forEach((v, i) => {
      v.setData(data[i], i, data.length);
      v.setSelected(i === this.selectedIndex);
      if (cam?.position && v.fitted) v.setCamera(cam);
    });
    if (this.noGl) this.showSaved();
  }

  /** Columns for the current width; each panel then sizes its view. */
  layoutColumns() {
    const cols = panelColumns(this.el.clientWidth || 600, Math.max(1, this.views.length), 260);
    this.el.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
    for (const v of this.views) v.layout();
  }

  render() {
    for (const v of this.views) v.render();
  }

  /** With z_shared on: one range over every panel's finite plotted values. */
  sharedRange(): [number, number] | null {
    if (!this.state.get("z_shared")) return null;
    const log = this.state.get("z_scale") === "log";
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of this.payloads()) {
      if (!(p.grid_shape ?? []).length) continue;
      const s = plotted(p, log);
      lo = Math.min(lo, s.min);
      hi = Math.max(hi, s.max);
    }
    return Number.isFinite(lo) ? [lo, hi] : null;
  }

  // ---- cameras ------------------------------------------------------------------------------------------
  private saveTimer = 0;
  cameraMoved(src: PanelView, ended: boolean) {
    if (this.state.get("link_cameras") !== false) {
      const c = src.getCamera();
      for (const v of this.views) if (v !== src) v.setCamera(c);
    }
    if (ended) {
      window.clearTimeout(this.saveTimer);
      // the camera is part of the saved state: a page opens where the author left it
      this.saveTimer = window.setTimeout(() => this.state.set("camera", src.getCamera() ?? {}), 150);
    }
  }

  /** Camera presets for every panel ("3d", "top", "side"); "reset" is the fitted default, saved as {}. */
  preset(name: string) {
    for (const v of this.views) v.setCamera(null, name === "reset" ? "3d" : name);
    const c = this.views.find((v) => v.getCamera())?.getCamera();
    this.state.set("camera", name === "reset" || !c ? {} : c);
  }

  /** The camera trait changed (Python, or a saved state): move every panel there. */
  applyCamera() {
    const cam = this.state.get("camera");
    const current = this.views.find((v) => v.getCamera())?.getCamera();
    if (!cam?.position) {
      return;
    }
    const same = current && cam.position.every((x: number, k: number) => Math.abs(x - current.position[k]) < 1e-3) &&
      cam.target.every((x: number, k: number) => Math.abs(x - current.target[k]) < 1e-3);
    if (!same) for (const v of this.views) v.setCamera(cam);
  }

  // ---- selection, adding, removing ----------------------------------------------------------------------
  select(i: number) {
    if (i === this.selectedIndex || i >= this.views.length) return;
    this.selectedIndex = i;
    this.views.forEach((v, k) => v.setSelected(k === i));
    this.ev.selected(i);
  }

  /** Edit the panels list: live, the kernel computes; with no kernel, precomputed slices stand in. */
  setPanels(specs: PanelSpec[], data?: Payload[]) {
    if (this.state.live()) {
      this.state.set("panels", specs);
      return;
    }
    const payloads = data ?? specs.map((s, i) => this.state.staticSlice(s) ?? this.payloads()[i]);
    this.state.setLocal("panel_data", payloads);
    this.state.setLocal("panels", specs);
  }

  add() {
    const specs = this.state.panels();
    if (specs.length >= MAX_PANELS) return;
    const src = specs[this.selectedIndex] ?? specs[0];
    const data = [...this.payloads(), this.payloads()[this.selectedIndex]];
    this.selectedIndex = specs.length;
    this.setPanels([...specs, { ...src }], this.state.live() ? undefined : data);
  }

  remove(i: number) {
    const specs = this.state.panels();
    if (specs.length <= 1) return;
    const data = this.payloads().filter((_, k) => k !== i);
    if (this.selectedIndex >= i && this.selectedIndex > 0) this.selectedIndex--;
    this.setPanels(specs.filter((_, k) => k !== i), this.state.live() ? undefined : data);
    this.ev.selected(this.selectedIndex);
  }

  /** Change one field of the selected panel (run, formulation, direction_kind, checkpoint). */
  edit(field: keyof PanelSpec, value: unknown) {
    const specs = this.state.panels().map((s) => ({ ...s }));
    const s = specs[this.selectedIndex];
    if (!s) return;
    (s as any)[field] = value;
    if (field === "run") {
      const info = (this.state.get("runs_info") ?? {})[value as string];
      if (info && !info.formulations.includes(s.formulation)) s.formulation = info.formulation;
      s.checkpoint = null;
    }
    if (this.state.live()) {
      this.state.set("panels", specs);
      return;
    }
    const data = [...this.payloads()];
    const slice = this.state.staticSlice(s);
    data[this.selectedIndex] = slice ?? { ...data[this.selectedIndex], grid_shape: [], grid: null, status: "error",
      message: "This combination was not precomputed for this page; run the notebook to compute it." };
    this.setPanels(specs, data);
  }

  dispose() {
    this.saved?.remove();
    window.clearTimeout(this.saveTimer);
    for (const v of this.views) v.dispose();
    this.views = [];
  }
}
