// LandscapeWidget front end: wires the modules together. The same ESM renders live (anywidget with a
// kernel) and from saved state with no kernel (nbconvert, Jupyter Book, exported pages).
//
//   state.ts     model access, local overrides, kernel liveness, precomputed slices
//   controls.ts  the side panel            panels.ts   the row of panels, linked cameras, add/remove
//   panel.ts     one panel                 scene.ts    3-D camera, axes; gl.ts the shared renderer
//   surface.ts   surface, heatmap, 1-D     trajectory.ts  path, markers
//   replay.ts    play/scrub, history       solution.ts    u_theta, exact, error
//   diagnostics.ts plw.diagnose over training, its cursor at the replay's step
//   statefile.ts MyST pages: the state from a file, checked against this version
//   exportpng.ts Save PNG                  lib/layout/interp/plot2d.ts  pure helpers (vitest)
import { Controls } from "./controls";
import { Diagnostics } from "./diagnostics";
import { composePng, download } from "./exportpng";
import { Panels } from "./panels";
import { PanelView } from "./panel";
import { Replay, positionFor, tableSteps } from "./replay";
import { SolutionPanel, pointFields, replayFields } from "./solution";
import { Model, SLOT_TRAITS, State } from "./state";
import { withStateFile } from "./statefile";
import { CSS } from "./style";

const NARROW_PX = 760; // below this the controls go above the view (a Jupyter Book column is ~620 px)

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function render({ model, el: host }: { model: Model; el: HTMLElement }) {
  const root = el("div", "plw-root");
  const style = el("style");
  style.textContent = CSS;
  root.appendChild(style);
  // the theme's colours, read once per redraw (getComputedStyle in every replay frame forces a style pass)
  let themeCache: { bg: string; fg: string } | null = null;
  const theme = () => {
    if (themeCache) return themeCache;
    const cs = getComputedStyle(host);
    const bg = cs.getPropertyValue("--jp-layout-color0").trim() || "#ffffff";
    const fg = cs.getPropertyValue("--jp-ui-font-color1").trim() || "#222222";
    return (themeCache = { bg, fg });
  };

  const state = new State(model, () => {
    controls.sync();
    updateStatus();
  });

  // ---- header: title, controls toggle, Save PNG ----
  const header = el("div", "plw-header");
  const title = el("div", "plw-title");
  const toggle = el("button", "plw-btn", "Controls");
  toggle.type = "button";
  toggle.dataset.action = "toggle-controls";
  toggle.title = "Show or hide the side panel of controls";
  const saveBtn = el("button", "plw-btn", "Save PNG");
  saveBtn.type = "button";
  saveBtn.dataset.action = "save-png";
  saveBtn.title = "Download the panels as a PNG at twice the screen resolution, with axes, colorbars and title";
  header.append(title, toggle, saveBtn);

  // ---- body ----
  const body = el("div", "plw-body");
  const content = el("div", "plw-content");
  // what the solution panel shows: the replayed checkpoint, a clicked point, or a message about one
  const diagnostics = new Diagnostics(state, { theme, firstRun: () => state.panels()[0]?.run ?? "" });
  function showDiagnostics() {
    const n = replay?.steps.length ?? 0;
    diagnostics.show(n ? replay.steps[Math.min(n - 1, Math.max(0, Math.round(replay.position)))] : 0);
  }
  let solutionMode: "replay" | "point" | "message" = "replay";
  const panels: Panels = new Panels(state, {
    theme,
    replayPosition: (v: PanelView): number => positionFor(tableSteps(v.table), replay.steps, replay.position),
    inspect: (i, a, b) => {
      solutionMode = "message";
      solution.message(`u at alpha ${a.toPrecision(3)}${b ? `, beta ${b.toPrecision(3)}` : ""}: computing…`);
      if (!state.live() || !state.set("selected_point", [a, b, i])) {
        solution.message("The solution at a clicked point needs a live Python kernel; the replay shows the " +
          "recorded checkpoints.");
      }
    },
    selected: (i) => {
      controls.selected = i;
      controls.sync();
      replay.show();
    },
  });
  // a page made from a saved notebook may carry the picture the notebook saved (embed.ts puts it here): shown
  // when this browser cannot draw the 3-D views, as long as the panels show what was saved
  panels.savedPicture = host.dataset.plwSavedPicture || null;
  const controls = new Controls(state, {
    editPanel: (f, v) => panels.edit(f, v),
    selectPanel: (i) => panels.select(i),
    addPanel: () => panels.add(),
    removePanel: () => panels.remove(panels.selectedIndex),
    camera: (name) => panels.preset(name),
    savePng: () => savePng(),
  });
  const solution = new SolutionPanel(() => showSolution());
  const replay: Replay = new Replay(state, {
    root,
    theme,
    frame: () => {
      for (const v of panels.views) v.moveMarker(); // the pictures stay; only the markers move
      if (solutionMode === "replay") showSolution();
      showDiagnostics();
    },
    selectedTable: () => panels.views[panels.selectedIndex]?.table ?? new Float32Array(0),
    selectedRun: () => state.panels()[panels.selectedIndex]?.run ?? "",
  });
  // any use of the replay shows its checkpoints again (capture: before the replay draws the new position)
  for (const ev of ["input", "click", "keydown"]) replay.el.addEventListener(ev, () => (solutionMode = "replay"), true);
  const bottom = el("div", "plw-bottom");
  bottom.append(solution.el, replay.historyEl);
  content.append(panels.el, replay.el, bottom, diagnostics.el);
  body.append(controls.el, content);
  const status = el("div", "plw-status");
  const progress = el("progress", "plw-progress") as HTMLProgressElement;
  progress.max = 1;
  const statusText = el("span", "plw-status-text");
  statusText.setAttribute("role", "status");
  status.append(progress, statusText);
  const error = el("div", "plw-error");
  error.setAttribute("role", "alert");
  root.append(header, body, status, error);
  host.appendChild(root);

  // ---- what each part draws ----
  function showSolution() {
    if (solutionMode === "message") return;
    const { fg } = theme();
    const run = state.panels()[panels.selectedIndex]?.run ?? "";
    if (solutionMode === "point") {
      const sol = state.get("solution") ?? {};
      solution.setUnknowns(sol.unknowns ?? []);
      const f = pointFields(sol, solution.unknown);
      if (f) return solution.show(f, fg);
    }
    const rep = (state.get("replay") ?? {})[run];
    if (!rep) {
      const reason = state.get("replay_reason");
      return solution.message(reason ? `${reason}. Click the surface to see u there.` :
        state.get("interactive") ? "Computing the solutions along the training path…" :
          "Click the surface to see u there (needs a live Python kernel).");
    }
    if (rep.reason || rep.solution_reason) return solution.message(rep.solution_reason ?? rep.reason);
    solution.setUnknowns(rep.unknowns ?? []);
    const v = panels.views[panels.selectedIndex];
    const k = v ? positionFor(tableSteps(v.table), replay.steps, replay.position) : replay.position;
    const f = replayFields(rep, Math.round(k), solution.unknown, rep.steps ?? []);
    if (f) solution.show(f, fg);
  }

  function updateStatus() {
    const st = state.get("status") ?? "idle";
    progress.value = Number(state.get("progress") ?? 0);
    progress.style.display = st === "computing" || st === "preview" ? "" : "none";
    const saved = state.kernel === "none" && (state.get("static_choices") ?? []).length
      ? " | no kernel: saved results; precomputed choices switch here"
      : state.kernel === "none" && state.get("interactive") ? " | no kernel: saved results" : "";
    statusText.textContent = (state.get("status_text") ?? "") + saved;
    const err = state.get("error") ?? "";
    error.textContent = err;
    error.style.display = err ? "block" : "none";
  }

  function updateChrome() {
    const t = state.get("title") ?? "";
    title.textContent = t;
    const open = state.get("show_controls") !== false;
    controls.el.style.display = open ? "" : "none";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide controls" : "Controls";
    root.classList.toggle("plw-narrow", root.clientWidth > 0 && root.clientWidth < NARROW_PX);
  }
  toggle.addEventListener("click", () => state.set("show_controls", state.get("show_controls") === false));

  // ---- one redraw after a burst of trait changes (one kernel message changes several at once) ----
  let pending = false;
  const rebuildAll = () => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => {
      pending = false;
      themeCache = null;
      solution.width = 0;
      replay.width = 0;
      diagnostics.width = 0;
      updateChrome();
      panels.sync();
      controls.selected = panels.selectedIndex;
      controls.sync();
      replay.sync();
      showSolution();
      showDiagnostics();
      const data = state.panelData() as { status?: string; compute_seconds?: number; serial?: number }[];
      const statuses = data.map((p) => p.status ?? "");
      // compute: each panel's kernel time for the grid drawn (benchmarks split latency into kernel and view)
      root.dispatchEvent(new CustomEvent("plw-drawn", { detail: { status: state.get("status"), panels: statuses,
        compute: data.map((p) => p.compute_seconds ?? 0), t: performance.now() } }));
      // tell a live kernel the picture is up: it holds the full computation back until then, so the preview
      // is not starved of CPU on small machines
      // (each preview carries a serial number; the kernel waits for the one it sent)
      const serials = data.map((p) => p.serial ?? 0);
      if (state.kernel === "live") state.send({ type: "drawn", status: state.get("status"), serials });
    });
  };

  async function savePng(scale = 2): Promise<{ blob: Blob; width: number; height: number }> {
    const { bg, fg } = theme();
    const saved = panels.shownPicture();
    if (saved) { // the panels are hidden behind the saved picture (no WebGL here): that picture is the view
      return { blob: await (await fetch(saved.src)).blob(), width: saved.naturalWidth, height: saved.naturalHeight };
    }
    const t = state.get("title") || panels.views[0]?.root.querySelector(".plw-caption")?.textContent || "Loss landscape";
    return composePng(panels, t, scale, bg, fg);
  }
  saveBtn.addEventListener("click", async () => {
    const pic = await savePng(2);
    download(pic.blob, "landscape.png");
    root.dispatchEvent(new CustomEvent("plw-png", { detail: { width: pic.width, height: pic.height } }));
  });

  // ---- wiring ----
  // panel_data: a page without a kernel switching precomputed slices (a local value, see State.panelData)
  for (const name of [...SLOT_TRAITS, "panel_status", "panel_data", "panels", "z_scale", "colormap", "contours",
    "wireframe", "view", "z_shared", "run_labels", "runs_info", "interactive", "static_choices", "title",
    "show_controls"]) {
    state.on(`change:${name}`, () => {
      if (name !== "title" && name !== "show_controls") panels.dropSavedPicture();
      rebuildAll();
    });
  }
  for (const name of ["seed", "normalization", "resolution", "zoom", "link_cameras", "direction_kinds"]) {
    state.on(`change:${name}`, () => controls.sync());
  }
  for (const name of ["status", "progress", "error", "status_text"]) state.on(`change:${name}`, updateStatus);
  state.on("change:camera", () => panels.applyCamera());
  state.on("change:trajectory_step", () => {
    solutionMode = "replay";
    replay.fromModel();
  });
  state.on("change:replay", () => {
    replay.show();
    showSolution();
  });
  state.on("change:replay_reason", () => replay.sync());
  state.on("change:diagnostics_data", showDiagnostics);
  state.on("change:solution", () => {
    solutionMode = "point";
    showSolution();
  });
  const onMessage = async (msg: any) => {
    if (msg?.type !== "save_png") return;
    try {
      const pic = await savePng(Number(msg.scale) || 2);
      state.send({ type: "png", id: msg.id, width: pic.width, height: pic.height }, [await pic.blob.arrayBuffer()]);
    } catch (e) {
      state.send({ type: "png_error", id: msg.id, message: String(e) });
    }
  };
  model.on("msg:custom", onMessage);
  let lastWidth = -1;
  const ro = new ResizeObserver(() => {
    if (root.clientWidth === lastWidth) return; // height changes come from our own content
    lastWidth = root.clientWidth;
    themeCache = null;
    solution.width = 0;
    replay.width = 0;
    diagnostics.width = 0;
    updateChrome();
    panels.layoutColumns();
    replay.drawHistory();
    showSolution();
    showDiagnostics();
  });
  ro.observe(root);
  updateChrome();
  updateStatus();
  rebuildAll();

  return () => {
    model.off?.("msg:custom", onMessage);
    ro.disconnect();
    replay.dispose();
    panels.dispose();
    controls.dispose();
    state.dispose();
    root.remove();
  };
}

// a MyST {anywidget} directive names a state file instead of holding the state (statefile.ts)
export default { render: withStateFile(render) };
