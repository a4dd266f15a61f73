// The side panel of controls, in labelled groups (Run and loss; Directions; Grid; Display), each control
// with a visible label, an accessible name and a one-line tooltip. Run, loss, centre and directions edit
// the selected panel; the rest apply to all panels. Without a kernel, what would need new numbers is
// disabled, unless its choices were precomputed.
import { COLORMAP_NAMES } from "./lib";
import { PanelSpec, State } from "./state";

export interface ControlsEvents {
  editPanel(field: keyof PanelSpec, value: unknown): void;
  selectPanel(i: number): void;
  addPanel(): void;
  removePanel(): void;
  camera(preset: string): void;
  savePng(): void;
}

type Input = HTMLInputElement | HTMLSelectElement;

/** Which per-panel field a control edits, and the static choice that makes it switchable offline. */
const PANEL_FIELDS: Record<string, { field: keyof PanelSpec; choice: string | null }> = {
  run_label: { field: "run", choice: "run_label" },
  formulation: { field: "formulation", choice: "formulation" },
  direction_kind: { field: "direction_kind", choice: "direction_kind" },
  checkpoint: { field: "checkpoint", choice: null },
};
const KERNEL_TRAITS = ["seed", "normalization", "resolution", "zoom"];

let uid = 0;

export class Controls {
  readonly el = document.createElement("aside");
  private inputs = new Map<string, Input>();
  private panelSel!: HTMLSelectElement;
  private panelRow!: HTMLElement;
  private removeBtn!: HTMLButtonElement;
  private addBtn!: HTMLButtonElement;
  private outputs = new Map<string, HTMLOutputElement>();
  private id = `plw-c${++uid}`;
  selected = 0;

  constructor(private state: State, private ev: ControlsEvents) {
    this.el.className = "plw-sidebar";
    this.el.setAttribute("aria-label", "Landscape controls");
    this.build();
  }

  private group(title: string, hint: string): HTMLElement {
    const d = document.createElement("details");
    d.className = "plw-group";
    d.open = true;
    const s = document.createElement("summary");
    s.textContent = title;
    s.title = hint;
    d.appendChild(s);
    const body = document.createElement("div");
    body.className = "plw-group-body";
    d.appendChild(body);
    this.el.appendChild(d);
    return body;
  }

  /** A labelled control row; the label is tied to the input, which gets the tooltip too. */
  private row(parent: HTMLElement, label: string, input: HTMLElement, tip: string, after?: HTMLElement) {
    const r = document.createElement("div");
    r.className = "plw-row";
    const id = `${this.id}-${(input as Input).dataset.trait ?? input.dataset.role ?? label.replace(/\W/g, "")}`;
    input.id = id;
    const l = document.createElement("label");
    l.htmlFor = id;
    l.textContent = label;
    l.title = tip;
    input.title = tip;
    r.append(l, input);
    if (after) r.appendChild(after);
    parent.appendChild(r);
    return r;
  }

  private select(trait: string, options: string[]): HTMLSelectElement {
    const s = document.createElement("select");
    s.dataset.trait = trait;
    for (const o of options) s.appendChild(new Option(o, o));
    this.inputs.set(trait, s);
    return s;
  }

  private input(trait: string, attrs: Record<string, string>): HTMLInputElement {
    const i = document.createElement("input");
    for (const [k, v] of Object.entries(attrs)) i.setAttribute(k, v);
    i.dataset.trait = trait;
    this.inputs.set(trait, i);
    return i;
  }

  private button(text: string, action: string, tip: string, onClick: () => void): HTMLButtonElement {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "plw-btn";
    b.textContent = text;
    b.dataset.action = action;
    b.title = tip;
    b.setAttribute("aria-label", tip);
    b.addEventListener("click", onClick);
    return b;
  }

  private build() {
    // ---- Run and loss (the selected panel) ----
    const run = this.group("Run and loss", "What the selected panel shows");
    this.panelSel = document.createElement("select");
    this.panelSel.dataset.role = "panel-select";
    this.panelSel.addEventListener("change", () => this.ev.selectPanel(Number(this.panelSel.value)));
    this.panelRow = this.row(run, "Panel", this.panelSel, "Which panel the run, loss, centre and direction controls change");
    this.row(run, "Run", this.select("run_label", []), "The training run the panel shows");
    this.row(run, "Loss", this.select("formulation", []), "The loss the landscape is evaluated under (same parameters)");
    this.row(run, "Centre", this.select("checkpoint", []),
      "Centre the plane at the trained parameters or at a recorded checkpoint");
    const buttons = document.createElement("div");
    buttons.className = "plw-buttons";
    this.addBtn = this.button("+ Add panel", "add-panel", "Add a panel (a copy of the selected one) to compare",
      () => this.ev.addPanel());
    this.removeBtn = this.button("\u2212 Remove", "remove-selected-panel", "Remove the selected panel",
      () => this.ev.removePanel());
    buttons.append(this.addBtn, this.removeBtn);
    run.appendChild(buttons);

    // ---- Directions ----
    const dirs = this.group("Directions", "How the plane through parameter space is chosen");
    this.row(dirs, "Kind", this.select("direction_kind", this.state.get("direction_kinds") ?? ["random"]),
      "The plane's directions: random, training-path PCA, top Hessian eigenvectors, or the init\u2192end line");
    this.row(dirs, "Seed", this.input("seed", { type: "number", min: "0", step: "1" }),
      "Seed of the random directions: the same seed gives the same picture everywhere");
    this.row(dirs, "Normalization", this.select("normalization", ["filter", "layer", "none"]),
      "How random directions are scaled against the weights: per neuron (filter), per layer, or not");

    // ---- Grid ----
    const grid = this.group("Grid", "Where and how finely the landscape is sampled");
    const resOut = document.createElement("output");
    this.outputs.set("resolution", resOut);
    this.row(grid, "Resolution", this.input("resolution", { type: "range", min: "11", max: "201", step: "2" }),
      "Grid points per axis: more points, a finer surface, a longer computation", resOut);
    const zoomOut = document.createElement("output");
    this.outputs.set("zoom", zoomOut);
    this.row(grid, "Zoom", this.input("zoom", { type: "range", min: "0.05", max: "3", step: "0.05" }),
      "Zoom: a factor on the directions' own extent (1 = the default plane of every direction kind)", zoomOut);

    // ---- Display ----
    const disp = this.group("Display", "How the numbers are drawn (no computation)");
    this.row(disp, "View", this.select("view", ["surface", "heatmap"]), "A 3-D surface or a 2-D heatmap");
    this.row(disp, "Height scale", this.select("z_scale", ["log", "linear"]),
      "Loss on a log or a linear scale, for height and colour");
    this.row(disp, "Colours", this.select("colormap", COLORMAP_NAMES),
      "Colormap (viridis and cividis read well with colour-vision deficiency)");
    const checks = document.createElement("div");
    checks.className = "plw-checks";
    disp.appendChild(checks);
    const check = (trait: string, label: string, tip: string) => {
      const i = this.input(trait, { type: "checkbox" });
      const l = document.createElement("label");
      l.className = "plw-check";
      l.title = tip;
      i.title = tip;
      l.append(i, document.createTextNode(" " + label));
      checks.appendChild(l);
    };
    check("contours", "contours", "Lines of equal loss on the surface and heatmap");
    check("wireframe", "wireframe", "Draw the surface as a mesh of lines");
    check("z_shared", "same scale", "One colour and height range for all panels, so they compare directly");
    check("link_cameras", "link cameras", "Turning one panel turns all");
    const cams = document.createElement("div");
    cams.className = "plw-buttons";
    cams.setAttribute("role", "group");
    cams.setAttribute("aria-label", "Camera");
    for (const [name, text, tip] of [["3d", "3-D", "View the surface from the default 3-D angle"],
      ["top", "Top", "View from above: alpha right, beta up"], ["side", "Side", "View from the side: alpha against loss"],
      ["reset", "Reset", "Reset the camera to the default view, fitted to the panel"]]) {
      cams.appendChild(this.button(text, `camera-${name}`, tip, () => this.ev.camera(name)));
    }
    disp.appendChild(cams);

    for (const [trait, inp] of this.inputs) this.bind(trait, inp);
  }

  private bind(trait: string, inp: Input) {
    const read = () => {
      if (inp instanceof HTMLInputElement && inp.type === "checkbox") return inp.checked;
      if (inp instanceof HTMLInputElement) return Number(inp.value);
      if (trait === "checkpoint") return inp.value === "" ? null : Number(inp.value);
      return inp.value;
    };
    inp.addEventListener("change", () => {
      const v = read();
      const pf = PANEL_FIELDS[trait];
      if (pf) this.ev.editPanel(pf.field, v);
      else if (!this.state.set(trait, v)) this.sync();
    });
    if (inp instanceof HTMLInputElement && inp.type === "range") {
      inp.addEventListener("input", () => (this.outputs.get(trait)!.textContent = inp.value));
    }
  }

  /** Show the model's values; enable what can act now. */
  sync() {
    const panels = this.state.panels();
    const p = panels[this.selected] ?? panels[0];
    const info = (this.state.get("runs_info") ?? {}) as Record<string, any>;
    const labels = (this.state.get("run_labels") ?? []) as string[];
    const setOptions = (s: HTMLSelectElement, opts: [string, string][]) => {
      if (Array.from(s.options).map((o) => o.value + o.text).join() === opts.map((o) => o.join("")).join()) return;
      s.innerHTML = "";
      for (const [v, t] of opts) s.appendChild(new Option(t, v));
    };
    setOptions(this.panelSel, panels.map((q, i) => [String(i), `${i + 1}: ${q.run || q.formulation}`]));
    this.panelSel.value = String(this.selected);
    this.panelRow.style.display = panels.length > 1 ? "" : "none";
    this.removeBtn.disabled = panels.length <= 1;
    this.addBtn.disabled = panels.length >= 6;
    const run = p?.run ?? "";
    setOptions(this.inputs.get("run_label") as HTMLSelectElement, labels.map((l) => [l, l]));
    const forms: string[] = info[run]?.formulations ?? [p?.formulation ?? "strong"];
    setOptions(this.inputs.get("formulation") as HTMLSelectElement, forms.map((f) => [f, f]));
    const steps: number[] = info[run]?.steps ?? [];
    setOptions(this.inputs.get("checkpoint") as HTMLSelectElement,
      [["", "trained \u03b8*"], ...steps.map((s, k): [string, string] => [String(k), `checkpoint ${k + 1} (step ${s})`])]);
    setOptions(this.inputs.get("direction_kind") as HTMLSelectElement,
      ((this.state.get("direction_kinds") ?? []) as string[]).map((k) => [k, k]));
    const values: Record<string, unknown> = {
      run_label: run, formulation: p?.formulation, direction_kind: p?.direction_kind,
      checkpoint: p?.checkpoint == null ? "" : String(p.checkpoint),
      zoom: this.state.get("zoom") ?? this.state.get("span"), // state saved before span was renamed zoom
    };
    for (const [trait, inp] of this.inputs) {
      const v = trait in values ? values[trait] : this.state.get(trait);
      if (inp instanceof HTMLInputElement && inp.type === "checkbox") inp.checked = v !== false && !!v;
      else inp.value = String(v ?? "");
    }
    (this.inputs.get("link_cameras") as HTMLInputElement).checked = this.state.get("link_cameras") !== false;
    for (const [trait, out] of this.outputs) {
      out.textContent = String(trait in values ? values[trait] : this.state.get(trait));
    }
    const live = this.state.live();
    const noData = !this.state.get("interactive") && !(this.state.get("static_choices") ?? []).length;
    for (const [trait, pf] of Object.entries(PANEL_FIELDS)) {
      const inp = this.inputs.get(trait)!;
      inp.disabled = !live && !(pf.choice && this.state.precomputed(pf.choice));
      if (noData) inp.disabled = true;
    }
    (this.inputs.get("run_label") as HTMLSelectElement).closest<HTMLElement>(".plw-row")!.style.display =
      labels.length > 1 ? "" : "none";
    for (const trait of KERNEL_TRAITS) this.inputs.get(trait)!.disabled = !live;
  }

  dispose() {
    this.el.remove();
  }
}
