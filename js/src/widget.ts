// LandscapeWidget front end: a three.js surface of the loss over (alpha, beta) with contours, trajectory,
// hover read-out, click-to-inspect solution, colorbar, and controls. The same ESM renders live (anywidget)
// and from saved state with no kernel (a model whose save_changes goes nowhere).
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import {
  COLORMAP_NAMES, Range, axisValue, buildSurface, colormap, contourLevels, contourSegments, decodeFloat32,
  formatNumber, isSoftwareRenderer, scaleValues, ticks, webglRendererName,
} from "./lib";
import { CSS } from "./style";

type Model = {
  get(name: string): any;
  set(name: string, value: any): void;
  save_changes?(): void;
  send?(content: unknown): void;
  on(event: string, cb: (...args: any[]) => void): void;
  off?(event?: string, cb?: (...args: any[]) => void): void;
};

/** The choices a page without a kernel can switch between, in the order of static_slices' keys. */
const STATIC_CHOICES = ["run_label", "direction_kind", "formulation"];
/** How long a kernel may take to answer before the view treats its numbers as saved, not live. */
const KERNEL_WAIT_MS = 2000;

const HEIGHT = 1.1; // surface height in scene units (x, y span [-1, 1])

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function labelSprite(text: string, color: string): THREE.Sprite {
  const c = document.createElement("canvas");
  const ctx = c.getContext("2d")!;
  const font = "28px sans-serif";
  ctx.font = font;
  c.width = Math.ceil(ctx.measureText(text).width) + 8;
  c.height = 36;
  ctx.font = font;
  ctx.fillStyle = color;
  ctx.textBaseline = "middle";
  ctx.fillText(text, 4, 18);
  const tex = new THREE.CanvasTexture(c);
  const sprite = new THREE.Sprite(new THREE.SpriteMaterial({ map: tex, depthTest: false, transparent: true }));
  sprite.scale.set((0.09 * c.width) / c.height, 0.09, 1);
  return sprite;
}

function disposeTree(obj: THREE.Object3D) {
  obj.traverse((o: any) => {
    o.geometry?.dispose?.();
    const mats = Array.isArray(o.material) ? o.material : o.material ? [o.material] : [];
    for (const m of mats) {
      m.map?.dispose?.();
      m.dispose?.();
    }
  });
}

function render({ model, el: host }: { model: Model; el: HTMLElement }) {
  // A model may be read-only (MyST's {anywidget} directive, saved state): settings made here are kept
  // locally too, so the browser-only controls work everywhere, and writes that fail are not fatal.
  const overrides: Record<string, unknown> = {};
  const get = (k: string): any => (k in overrides ? overrides[k] : model.get(k));
  const save = () => {
    try {
      model.save_changes?.();
    } catch {
      /* read-only model */
    }
  };
  // Is a kernel listening? A live one answers a ping; saved state (nbconvert, Jupyter Book, MyST, an
  // exported page) never does. Without one, controls that need new numbers are disabled unless the
  // widget carries precomputed slices for them (static_slices), which are then swapped in here.
  let kernel: "unknown" | "live" | "none" = typeof model.send === "function" ? "unknown" : "none";
  const live = () => !!get("interactive") && kernel !== "none";
  const setTrait = (k: string, v: unknown): boolean => {
    overrides[k] = v;
    try {
      model.set(k, v);
      delete overrides[k]; // the model holds it now; its change events drive the redraw
      save();
      return true;
    } catch {
      return false;
    }
  };
  const root = el("div", "plw-root");
  const style = el("style");
  style.textContent = CSS;
  root.appendChild(style);

  // ---- controls ------------------------------------------------------------------------------------
  const bar = el("div", "plw-bar");
  const control = (label: string, input: HTMLElement) => {
    const wrap = el("label", "plw-ctl");
    wrap.appendChild(el("span", "plw-ctl-label", label));
    wrap.appendChild(input);
    bar.appendChild(wrap);
    return input;
  };
  const select = (name: string, label: string, options: string[]) => {
    const s = el("select");
    s.setAttribute("aria-label", label);
    s.dataset.trait = name;
    for (const o of options) s.appendChild(new Option(o, o));
    control(label, s);
    return s;
  };
  const runSel = select("run_label", "run", get("run_labels") ?? []);
  const dirSel = select("direction_kind", "directions", get("direction_kinds") ?? ["random"]);
  const formSel = select("formulation", "loss", get("formulations") ?? ["strong"]);
  const normSel = select("normalization", "normalization", ["filter", "layer", "none"]);
  /** An <input> bound to a trait; attrs set its type and limits. */
  const input = (name: string, label: string, attrs: Record<string, string>) => {
    const i = el("input") as HTMLInputElement;
    for (const [k, v] of Object.entries(attrs)) i.setAttribute(k, v);
    i.dataset.trait = name;
    i.setAttribute("aria-label", label);
    control(label, i);
    return i;
  };
  const seedIn = input("seed", "seed", { type: "number", min: "0", step: "1" });
  const resIn = input("resolution", "resolution", { type: "range", min: "11", max: "201", step: "2" });
  const resOut = el("span", "plw-val");
  resIn.after(resOut);
  const spanIn = input("span", "span", { type: "range", min: "0.05", max: "3", step: "0.05" });
  const spanOut = el("span", "plw-val");
  spanIn.after(spanOut);
  const scaleSel = select("z_scale", "z scale", ["linear", "log"]);
  const cmapSel = select("colormap", "colormap", COLORMAP_NAMES);
  const viewSel = select("view", "view", ["surface", "heatmap"]);
  const contourIn = input("contours", "contours", { type: "checkbox" });
  const wireIn = input("wireframe", "wireframe", { type: "checkbox" });
  const compareIn = input("compare", "side by side", { type: "checkbox" });
  const sharedIn = input("z_shared", "shared z", { type: "checkbox" });
  root.appendChild(bar);

  // ---- plot area: one panel, or two side by side (compare) with one shared camera ---------------------
  const main = el("div", "plw-main");
  const panelsBox = el("div", "plw-panels");
  const side = el("div", "plw-side");
  const solTitle = el("div", "plw-sol-title", "click the surface to see u(x) there");
  const sol = el("canvas", "plw-solution") as HTMLCanvasElement;
  side.append(solTitle, sol);
  main.append(panelsBox, side);
  root.appendChild(main);
  const status = el("div", "plw-status");
  const progress = el("progress", "plw-progress") as HTMLProgressElement;
  progress.max = 1;
  const statusText = el("span", "plw-status-text");
  const error = el("div", "plw-error");
  error.setAttribute("role", "alert");
  status.append(progress, statusText);
  root.append(status, error);
  host.appendChild(root);

  // ---- one camera for every panel: orbiting one orbits all (linked cameras) -------------------------
  const camera = new THREE.PerspectiveCamera(40, 1.5, 0.01, 100);
  camera.up.set(0, 0, 1);
  camera.position.set(2.3, -3.3, 2.5);
  const target = new THREE.Vector3(0, 0, HEIGHT * 0.3);
  camera.lookAt(target);

  const theme = () => {
    const cs = getComputedStyle(host);
    const bg = cs.getPropertyValue("--jp-layout-color0").trim() || "#ffffff";
    const fg = cs.getPropertyValue("--jp-ui-font-color1").trim() || "#222222";
    return { bg, fg };
  };

  type View = {
    values: Float32Array; errors: Float32Array; nA: number; nB: number; a: Range; b: Range;
    traj: Float32Array; reference: number | null; zLabel: string; title: string;
  };

  /** A panel draws the grid stored under the trait names with suffix sfx ("" or "2"). */
  function makePanel(sfx: string) {
    const key = (name: string) => name + sfx;
    const stage = el("div", "plw-stage");
    const caption = el("div", "plw-caption");
    const canvasHolder = el("div", "plw-canvas");
    const slice = el("canvas", "plw-slice") as HTMLCanvasElement; // 1-D slices and the heatmap view
    const tip = el("div", "plw-tip");
    const colorbar = el("canvas", "plw-colorbar") as HTMLCanvasElement;
    const note = el("div", "plw-note");
    stage.append(caption, canvasHolder, slice, tip, colorbar, note);
    const software = isSoftwareRenderer(webglRendererName());
    const renderer = new THREE.WebGLRenderer({ antialias: !software, preserveDrawingBuffer: true });
    renderer.setPixelRatio(software ? 1 : Math.min(2, window.devicePixelRatio || 1));
    canvasHolder.appendChild(renderer.domElement);
    const scene = new THREE.Scene();
    const controls = new OrbitControls(camera, renderer.domElement);
    controls.target.copy(target);
    controls.update();
    scene.add(new THREE.AmbientLight(0xffffff, 1.6));
    const sun = new THREE.DirectionalLight(0xffffff, 1.4);
    sun.position.set(2, -3, 5);
    scene.add(sun);
    let content = new THREE.Group();
    scene.add(content);
    let surface: THREE.Mesh | null = null;
    let view: View | null = null;
    let scaled = scaleValues(new Float32Array(0), "linear", null);

    function readModel(): View | null {
      const shape = get(key("grid_shape")) as number[];
      if (!shape || shape.length === 0) return null;
      const values = decodeFloat32(get(key("grid")));
      const nA = shape[0];
      const nB = shape.length > 1 ? shape[1] : 1;
      if (values.length !== nA * nB) return null;
      return {
        values, errors: decodeFloat32(get(key("error_grid"))), nA, nB,
        a: get(key("alpha_range")) as Range, b: (get(key("beta_range")) as Range) ?? [0, 0],
        traj: decodeFloat32(get(key("trajectory"))), reference: get(key("energy_reference")),
        zLabel: get(key("z_label")) ?? "loss", title: get(key("title")) ?? "",
      };
    }

    /** The plotted values; with a shared z-scale the range spans every panel. */
    function scale(v: View): ReturnType<typeof scaleValues> {
      const sc = (get("z_scale") ?? "linear") as "linear" | "log";
      return scaleValues(v.values, sc, sc === "log" || v.reference != null ? v.reference : null);
    }

    function zTitle(): string {
      if (!view) return "";
      const log = get("z_scale") === "log";
      const base = view.reference != null ? `${view.zLabel} - E*` : view.zLabel;
      return log ? `log10(${base})` : base;
    }

    // ---- drawing -------------------------------------------------------------------------------------
    function rebuild() {
      view = readModel();
      stage.style.display = view || sfx === "" ? "" : "none";
      disposeTree(content);
      scene.remove(content);
      content = new THREE.Group();
      scene.add(content);
      surface = null;
      const { bg, fg } = theme();
      renderer.setClearColor(new THREE.Color(bg));
      root.style.setProperty("--plw-fg", fg);
      root.style.setProperty("--plw-bg", bg);
      if (!view) {
        note.textContent = "no landscape yet";
        drawSlice();
        draw();
        return;
      }
      scaled = scale(view);
      const shared = sharedRange();
      if (shared) {
        scaled.min = shared[0];
        scaled.max = shared[1];
      }
      caption.textContent = view.title;
      const cmap = get("colormap") ?? "viridis";
      const is1d = view.nB === 1;
      const heat = get("view") === "heatmap";
      canvasHolder.style.display = is1d || heat ? "none" : "block";
      slice.style.display = is1d || heat ? "block" : "none";
      const notes: string[] = [];
      if (scaled.nonFinite) notes.push(`${scaled.nonFinite} point(s) NaN/inf: drawn as gaps`);
      if (scaled.clipped) notes.push(`${scaled.clipped} point(s) at or below the reference: clipped on the log scale`);
      note.textContent = notes.join("; ");
      drawColorbar(cmap);
      if (is1d || heat) {
        drawSlice();
        return;
      }
      const mesh = buildSurface(scaled, view.nA, view.nB, HEIGHT, cmap);
      const geo = new THREE.BufferGeometry();
      geo.setAttribute("position", new THREE.BufferAttribute(mesh.positions, 3));
      geo.setAttribute("color", new THREE.BufferAttribute(mesh.colors, 3));
      geo.setIndex(new THREE.BufferAttribute(mesh.index, 1));
      geo.computeVertexNormals();
      // Lambert, not the PBR standard material: the same look here for a fraction of the per-pixel work
      const mat = new THREE.MeshLambertMaterial({
        vertexColors: true, side: THREE.DoubleSide,
        wireframe: !!get("wireframe"),
      });
      surface = new THREE.Mesh(geo, mat);
      content.add(surface);
      if (get("contours")) content.add(contourLines(fg));
      content.add(axes(fg));
      const traj = trajectoryLine();
      if (traj) content.add(traj);
      draw();
    }

    const toScene = (i: number, j: number, zval: number): THREE.Vector3 => {
      const v = view!;
      return new THREE.Vector3(
        v.nA > 1 ? -1 + (2 * i) / (v.nA - 1) : 0,
        v.nB > 1 ? -1 + (2 * j) / (v.nB - 1) : 0,
        ((zval - scaled.min) / (scaled.max - scaled.min || 1)) * HEIGHT,
      );
    };

    function contourLines(fg: string): THREE.LineSegments {
      const v = view!;
      const pts: number[] = [];
      for (const level of contourLevels(scaled.min, scaled.max, 12)) {
        const seg = contourSegments(scaled.z, v.nA, v.nB, level);
        for (let s = 0; s < seg.length; s += 2) {
          const p = toScene(seg[s], seg[s + 1], level);
          pts.push(p.x, p.y, p.z + 0.004);
        }
      }
      const g = new THREE.BufferGeometry();
      g.setAttribute("position", new THREE.Float32BufferAttribute(pts, 3));
      return new THREE.LineSegments(g, new THREE.LineBasicMaterial({ color: new THREE.Color(fg), transparent: true, opacity: 0.6 }));
    }

    function axes(fg: string): THREE.Group {
      const v = view!;
      const g = new THREE.Group();
      const col = new THREE.Color(fg);
      const line = (pts: number[]) => {
        const geo = new THREE.BufferGeometry();
        geo.setAttribute("position", new THREE.Float32BufferAttribute(pts, 3));
        return new THREE.LineSegments(geo, new THREE.LineBasicMaterial({ color: col }));
      };
      const tickPts: number[] = [-1, -1.08, 0, 1, -1.08, 0, -1.08, -1, 0, -1.08, 1, 0, -1.08, -1.08, 0, -1.08, -1.08, HEIGHT];
      for (const t of ticks(v.a[0], v.a[1], 4)) {
        const x = -1 + (2 * (t - v.a[0])) / (v.a[1] - v.a[0]);
        tickPts.push(x, -1.08, 0, x, -1.13, 0);
        const s = labelSprite(formatNumber(t), fg);
        s.position.set(x, -1.22, 0);
        g.add(s);
      }
      for (const t of ticks(v.b[0], v.b[1], 4)) {
        const y = -1 + (2 * (t - v.b[0])) / (v.b[1] - v.b[0]);
        tickPts.push(-1.08, y, 0, -1.13, y, 0);
        const s = labelSprite(formatNumber(t), fg);
        s.position.set(-1.25, y, 0);
        g.add(s);
      }
      for (const t of ticks(scaled.min, scaled.max, 4)) {
        const z = ((t - scaled.min) / (scaled.max - scaled.min || 1)) * HEIGHT;
        tickPts.push(-1.08, -1.08, z, -1.13, -1.13, z);
        const s = labelSprite(formatNumber(t), fg);
        s.position.set(-1.26, -1.2, z);
        g.add(s);
      }
      g.add(line(tickPts));
      const la = labelSprite("alpha", fg);
      la.position.set(0, -1.42, 0);
      const lb = labelSprite("beta", fg);
      lb.position.set(-1.45, 0, 0);
      const lz = labelSprite(zTitle(), fg);
      lz.position.set(-1.1, -1.1, HEIGHT + 0.12);
      g.add(la, lb, lz);
      return g;
    }

    function trajectoryLine(): THREE.Line | null {
      const v = view!;
      if (v.traj.length < 6) return null;
      const scale = (get("z_scale") ?? "linear") as "linear" | "log";
      const pts: number[] = [];
      const n = v.traj.length / 3;
      const zs = scaleValues(new Float32Array(Array.from({ length: n }, (_, k) => v.traj[3 * k + 2])), scale,
        scale === "log" || v.reference != null ? v.reference : null).z;
      for (let k = 0; k < n; k++) {
        const fi = ((v.traj[3 * k] - v.a[0]) / (v.a[1] - v.a[0])) * (v.nA - 1);
        const fj = ((v.traj[3 * k + 1] - v.b[0]) / (v.b[1] - v.b[0])) * (v.nB - 1);
        const zval = Number.isFinite(zs[k]) ? Math.min(scaled.max, Math.max(scaled.min, zs[k])) : scaled.max;
        const p = toScene(fi, fj, zval);
        pts.push(p.x, p.y, p.z + 0.01);
      }
      const geo = new THREE.BufferGeometry();
      geo.setAttribute("position", new THREE.Float32BufferAttribute(pts, 3));
      const line = new THREE.Line(geo, new THREE.LineBasicMaterial({ color: 0xff3030, depthTest: false }));
      line.renderOrder = 10;
      return line;
    }

    function drawColorbar(cmap: string) {
      const ctx = colorbar.getContext("2d")!;
      colorbar.width = 70;
      colorbar.height = 200;
      ctx.clearRect(0, 0, 70, 200);
      for (let y = 0; y < 180; y++) {
        const [r, g, b] = colormap(cmap, 1 - y / 179);
        ctx.fillStyle = `rgb(${r * 255},${g * 255},${b * 255})`;
        ctx.fillRect(4, 10 + y, 14, 1);
      }
      ctx.fillStyle = theme().fg;
      ctx.font = "11px sans-serif";
      ctx.fillText(formatNumber(scaled.max), 22, 16);
      ctx.fillText(formatNumber(scaled.min), 22, 190);
    }

    /** The 1-D slice (line plot) or the 2-D heatmap with contours, on a plain canvas. */
    function drawSlice() {
      const w = Math.max(200, stage.clientWidth - 80);
      const h = Math.max(160, stage.clientHeight);
      slice.width = w;
      slice.height = h;
      const ctx = slice.getContext("2d")!;
      const { fg } = theme();
      ctx.clearRect(0, 0, w, h);
      if (!view) return;
      const v = view;
      const L = 56, R = 12, T = 14, B = 36;
      const pw = w - L - R, ph = h - T - B;
      ctx.strokeStyle = fg;
      ctx.fillStyle = fg;
      ctx.font = "11px sans-serif";
      ctx.strokeRect(L, T, pw, ph);
      const span = scaled.max - scaled.min || 1;
      if (v.nB === 1) {
        ctx.beginPath();
        let pen = false;
        for (let i = 0; i < v.nA; i++) {
          const zv = scaled.z[i];
          if (!Number.isFinite(zv)) { pen = false; continue; }
          const x = L + (pw * i) / (v.nA - 1);
          const y = T + ph * (1 - (zv - scaled.min) / span);
          if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          pen = true;
        }
        ctx.strokeStyle = "#2a6fdb";
        ctx.lineWidth = 2;
        ctx.stroke();
      } else {
        const cmap = get("colormap") ?? "viridis";
        const img = ctx.createImageData(pw, ph);
        for (let py = 0; py < ph; py++) {
          const j = Math.round((1 - py / (ph - 1)) * (v.nB - 1));
          for (let px = 0; px < pw; px++) {
            const i = Math.round((px / (pw - 1)) * (v.nA - 1));
            const zv = scaled.z[i * v.nB + j];
            const [r, g, b] = Number.isFinite(zv) ? colormap(cmap, (zv - scaled.min) / span) : [0.5, 0.5, 0.5];
            const o = 4 * (py * pw + px);
            img.data[o] = r * 255; img.data[o + 1] = g * 255; img.data[o + 2] = b * 255; img.data[o + 3] = 255;
          }
        }
        ctx.putImageData(img, L, T);
        if (get("contours")) {
          ctx.strokeStyle = "rgba(255,255,255,0.7)";
          ctx.beginPath();
          for (const level of contourLevels(scaled.min, scaled.max, 12)) {
            const seg = contourSegments(scaled.z, v.nA, v.nB, level);
            for (let s = 0; s < seg.length; s += 4) {
              ctx.moveTo(L + (pw * seg[s]) / (v.nA - 1), T + ph * (1 - seg[s + 1] / (v.nB - 1)));
              ctx.lineTo(L + (pw * seg[s + 2]) / (v.nA - 1), T + ph * (1 - seg[s + 3] / (v.nB - 1)));
            }
          }
          ctx.stroke();
        }
        if (v.traj.length >= 6) {
          ctx.strokeStyle = "#ff3030";
          ctx.lineWidth = 2;
          ctx.beginPath();
          for (let k = 0; k < v.traj.length / 3; k++) {
            const x = L + (pw * (v.traj[3 * k] - v.a[0])) / (v.a[1] - v.a[0]);
            const y = T + ph * (1 - (v.traj[3 * k + 1] - v.b[0]) / (v.b[1] - v.b[0]));
            if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
          }
          ctx.stroke();
          ctx.lineWidth = 1;
        }
      }
      ctx.fillStyle = fg;
      for (const t of ticks(v.a[0], v.a[1], 5)) {
        const x = L + (pw * (t - v.a[0])) / (v.a[1] - v.a[0]);
        ctx.fillText(formatNumber(t), x - 10, h - B + 14);
      }
      ctx.fillText("alpha", L + pw / 2 - 12, h - 6);
      const yLo = v.nB === 1 ? scaled.min : v.b[0];
      const yHi = v.nB === 1 ? scaled.max : v.b[1];
      for (const t of ticks(yLo, yHi, 5)) {
        const y = T + ph * (1 - (t - yLo) / (yHi - yLo || 1));
        ctx.fillText(formatNumber(t), 2, y + 4);
      }
      ctx.save();
      ctx.translate(12, T + ph / 2 + 20);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(v.nB === 1 ? zTitle() : "beta", 0, 0);
      ctx.restore();
    }

    function draw() {
      renderer.render(scene, camera);
    }

    let size = "";
    /** Fit the canvas to the stage; a no-op when the size did not change (a render costs CPU time). */
    function resize() {
      const w = Math.max(240, stage.clientWidth);
      const h = Math.max(200, stage.clientHeight);
      if (`${w}x${h}` === size) return;
      size = `${w}x${h}`;
      renderer.setSize(w, h, false);
      renderer.domElement.style.width = `${w}px`;
      renderer.domElement.style.height = `${h}px`;
      camera.aspect = w / h;
      // keep about 56 degrees of horizontal view so narrow (side-by-side) panels still show the whole surface
      camera.fov = Math.max(40, (2 * Math.atan(Math.tan((28 * Math.PI) / 180) / camera.aspect) * 180) / Math.PI);
      camera.updateProjectionMatrix();
      if (view && (view.nB === 1 || get("view") === "heatmap")) drawSlice();
      draw();
    }

    // ---- inspection: hover and click -------------------------------------------------------------------
    const raycaster = new THREE.Raycaster();
    function gridPointAt(ev: PointerEvent): [number, number] | null {
      if (!view) return null;
      const v = view;
      if (v.nB === 1 || get("view") === "heatmap") {
        const r = slice.getBoundingClientRect();
        const L = 56, R = 12, T = 14, B = 36;
        const fx = (ev.clientX - r.left - L) / (r.width - L - R);
        const fy = 1 - (ev.clientY - r.top - T) / (r.height - T - B);
        if (fx < 0 || fx > 1 || fy < 0 || fy > 1) return null;
        return [Math.round(fx * (v.nA - 1)), v.nB === 1 ? 0 : Math.round(fy * (v.nB - 1))];
      }
      if (!surface) return null;
      const r = renderer.domElement.getBoundingClientRect();
      const ndc = new THREE.Vector2(((ev.clientX - r.left) / r.width) * 2 - 1, -((ev.clientY - r.top) / r.height) * 2 + 1);
      raycaster.setFromCamera(ndc, camera);
      const hit = raycaster.intersectObject(surface)[0];
      if (!hit) return null;
      const i = Math.round(((hit.point.x + 1) / 2) * (v.nA - 1));
      const j = Math.round(((hit.point.y + 1) / 2) * (v.nB - 1));
      return [Math.min(v.nA - 1, Math.max(0, i)), Math.min(v.nB - 1, Math.max(0, j))];
    }
    function describe(i: number, j: number): string {
      const v = view!;
      const k = i * v.nB + j;
      const parts = [`alpha ${formatNumber(axisValue(v.a, v.nA, i))}`];
      if (v.nB > 1) parts.push(`beta ${formatNumber(axisValue(v.b, v.nB, j))}`);
      parts.push(`${v.zLabel} ${formatNumber(v.values[k])}`);
      if (v.errors.length === v.values.length) parts.push(`rel. L2 error ${formatNumber(v.errors[k])}`);
      return parts.join("  |  ");
    }
    const onMove = (ev: PointerEvent) => {
      const p = gridPointAt(ev);
      if (!p) { tip.style.display = "none"; return; }
      tip.textContent = describe(p[0], p[1]);
      tip.style.display = "block";
      const r = stage.getBoundingClientRect();
      tip.style.left = `${Math.min(r.width - 260, ev.clientX - r.left + 12)}px`;
      tip.style.top = `${ev.clientY - r.top + 12}px`;
    };
    let downAt: [number, number] | null = null;
    const onDown = (ev: PointerEvent) => { downAt = [ev.clientX, ev.clientY]; };
    const onUp = (ev: PointerEvent) => {
      if (!downAt || Math.hypot(ev.clientX - downAt[0], ev.clientY - downAt[1]) > 4) return;
      const p = gridPointAt(ev);
      if (!p || !view) return;
      const a = axisValue(view.a, view.nA, p[0]);
      const b = view.nB > 1 ? axisValue(view.b, view.nB, p[1]) : 0;
      solTitle.textContent = `u at alpha ${formatNumber(a)}${view.nB > 1 ? `, beta ${formatNumber(b)}` : ""}: computing...`;
      if (kernel === "none" || !setTrait("selected_point", sfx === "" ? [a, b] : [a, b, 1])) {
        solTitle.textContent = "the solution at a point needs a live Python kernel";
      }
    };
    for (const target of [renderer.domElement, slice]) {
      target.addEventListener("pointermove", onMove);
      target.addEventListener("pointerleave", () => { tip.style.display = "none"; });
      target.addEventListener("pointerdown", onDown);
      target.addEventListener("pointerup", onUp);
    }


    return {
      stage, rebuild, draw, resize, dispose() {
        controls.dispose();
        disposeTree(scene);
        renderer.dispose();
        renderer.forceContextLoss?.();
      },
      controls, readModel, scale,
    };
  }

  const panels = [makePanel(""), makePanel("2")];
  for (const p of panels) panelsBox.appendChild(p.stage);
  const drawAll = () => panels.forEach((p) => p.draw());
  for (const p of panels) p.controls.addEventListener("change", drawAll);

  /** With compare on and z_shared set, one z range over both panels' finite values. */
  function sharedRange(): [number, number] | null {
    if (!get("z_shared")) return null;
    let lo = Infinity, hi = -Infinity;
    for (const p of panels) {
      const v = p.readModel();
      if (!v) continue;
      const s = p.scale(v);
      lo = Math.min(lo, s.min);
      hi = Math.max(hi, s.max);
    }
    return Number.isFinite(lo) ? [lo, hi] : null;
  }
  // One message from the kernel changes several traits at once; redraw once, after all of them.
  let pending = false;
  const rebuildAll = () => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => {
      pending = false;
      panels.forEach((p) => p.rebuild());
      panels.forEach((p) => p.resize());
      root.dispatchEvent(new CustomEvent("plw-drawn", { detail: { status: get("status"), t: performance.now() } }));
      // tell a live kernel the picture is up: it holds the next (full) computation back until then, so the
      // preview is not starved of CPU on small machines
      if (kernel === "live") {
        try {
          model.send?.({ type: "drawn", status: get("status") });
        } catch {
          /* the kernel went away */
        }
      }
    });
  };

  function drawSolution() {
    const info = get("solution_info") ?? {};
    const u = decodeFloat32(get("solution"));
    const ctx = sol.getContext("2d")!;
    sol.width = 260;
    sol.height = 200;
    ctx.clearRect(0, 0, 260, 200);
    if (!info.shape || u.length === 0) return;
    const { fg } = theme();
    solTitle.textContent = info.title ?? "u(x)";
    const shape = info.shape as number[];
    if (shape.length === 2 && shape[0] === 2) {
      // rows: u_theta, u_exact (NaN when unknown) over x from info.x_range
      const n = shape[1];
      const all = Array.from(u).filter(Number.isFinite);
      const lo = Math.min(...all), hi = Math.max(...all);
      const L = 34, T = 8, pw = 260 - L - 6, ph = 200 - T - 24;
      ctx.strokeStyle = fg;
      ctx.strokeRect(L, T, pw, ph);
      const curve = (off: number, color: string, dash: number[]) => {
        ctx.beginPath();
        ctx.setLineDash(dash);
        ctx.strokeStyle = color;
        ctx.lineWidth = 2;
        for (let k = 0; k < n; k++) {
          const val = u[off + k];
          if (!Number.isFinite(val)) continue;
          const x = L + (pw * k) / (n - 1), y = T + ph * (1 - (val - lo) / (hi - lo || 1));
          if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
        }
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.lineWidth = 1;
      };
      curve(n, "#888888", [5, 4]);
      curve(0, "#2a6fdb", []);
      ctx.fillStyle = fg;
      ctx.font = "10px sans-serif";
      ctx.fillText(formatNumber(hi), 2, T + 8);
      ctx.fillText(formatNumber(lo), 2, T + ph);
      ctx.fillStyle = "#2a6fdb";
      ctx.fillText("u_theta", L + 6, 196);
      ctx.fillStyle = "#888888";
      ctx.fillText("exact (dashed)", L + 60, 196);
    } else if (shape.length === 2) {
      const [nx, ny] = shape;
      const fin = Array.from(u).filter(Number.isFinite);
      const lo = Math.min(...fin), hi = Math.max(...fin);
      const img = ctx.createImageData(nx, ny);
      for (let i = 0; i < nx; i++) for (let j = 0; j < ny; j++) {
        const [r, g, b] = colormap("coolwarm", (u[i * ny + j] - lo) / (hi - lo || 1));
        const o = 4 * ((ny - 1 - j) * nx + i);
        img.data[o] = r * 255; img.data[o + 1] = g * 255; img.data[o + 2] = b * 255; img.data[o + 3] = 255;
      }
      const tmp = document.createElement("canvas");
      tmp.width = nx;
      tmp.height = ny;
      tmp.getContext("2d")!.putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(tmp, 30, 4, 190, 190);
      ctx.fillStyle = fg;
      ctx.font = "10px sans-serif";
      ctx.fillText(formatNumber(hi), 224, 14);
      ctx.fillText(formatNumber(lo), 224, 192);
    }
  }

  // ---- controls <-> model ----------------------------------------------------------------------------
  const inputs: HTMLElement[] = [runSel, dirSel, formSel, normSel, seedIn, resIn, spanIn, scaleSel, cmapSel, viewSel,
    contourIn, wireIn, compareIn, sharedIn];
  function syncControls() {
    const setOptions = (s: HTMLSelectElement, opts: string[]) => {
      if (Array.from(s.options).map((o) => o.value).join() === opts.join()) return;
      s.innerHTML = "";
      for (const o of opts) s.appendChild(new Option(o, o));
    };
    setOptions(runSel, get("run_labels") ?? []);
    setOptions(dirSel, get("direction_kinds") ?? ["random"]);
    setOptions(formSel, get("formulations") ?? ["strong"]);
    runSel.parentElement!.style.display = (get("run_labels") ?? []).length > 1 ? "" : "none";
    for (const inp of inputs) {
      const name = inp.dataset.trait!;
      const val = get(name);
      if (inp instanceof HTMLInputElement && inp.type === "checkbox") inp.checked = !!val;
      else (inp as HTMLInputElement).value = String(val);
    }
    resOut.textContent = String(get("resolution"));
    spanOut.textContent = String(get("span"));
    const interactive = live();
    for (const inp of [runSel, dirSel, formSel, normSel, seedIn, resIn, spanIn, compareIn]) {
      (inp as HTMLInputElement).disabled = !interactive && !precomputed(inp.dataset.trait!);
    }
  }
  /** In a page with no kernel, a control stays enabled only when its choices were precomputed. */
  function precomputed(name: string): boolean {
    return (get("static_choices") ?? []).includes(name);
  }
  /** No kernel: draw the precomputed slice for the chosen run / directions / loss, or say it is missing. */
  function showStaticSlice() {
    const slices = (get("static_slices") ?? {}) as Record<string, Record<string, unknown>>;
    const slice = slices[JSON.stringify(STATIC_CHOICES.map((c) => get(c)))];
    if (slice) {
      Object.assign(overrides, slice);
      overrides.error = "";
    } else {
      overrides.error = "This combination was not precomputed for this page; run the notebook to compute it.";
    }
    syncControls();
    updateStatus();
    rebuildAll();
  }
  for (const inp of inputs) {
    const name = inp.dataset.trait!;
    const handler = () => {
      let val: any;
      if (inp instanceof HTMLInputElement && inp.type === "checkbox") val = inp.checked;
      else if (inp instanceof HTMLInputElement && (inp.type === "number" || inp.type === "range")) val = Number(inp.value);
      else val = (inp as HTMLSelectElement).value;
      if (!live() && precomputed(name)) {
        overrides[name] = val;
        showStaticSlice();
        return;
      }
      if (!setTrait(name, val)) {
        syncControls();
        rebuildAll();
      }
    };
    inp.addEventListener(inp instanceof HTMLInputElement && inp.type === "range" ? "change" : "change", handler);
    if (inp instanceof HTMLInputElement && inp.type === "range") {
      inp.addEventListener("input", () => {
        (name === "resolution" ? resOut : spanOut).textContent = inp.value;
      });
    }
  }

  function updateStatus() {
    const st = get("status") ?? "idle";
    const p = Number(get("progress") ?? 0);
    progress.value = p;
    progress.style.visibility = st === "computing" || st === "preview" ? "visible" : "hidden";
    const saved = kernel === "none" && (get("static_choices") ?? []).length
      ? " | no kernel: saved results; precomputed choices switch here"
      : kernel === "none" && get("interactive") ? " | no kernel: saved results" : "";
    statusText.textContent = (get("status_text") ?? "") + saved;
    // no kernel, no solutions to compute: say so instead of inviting clicks, and leave no empty box
    const savedSolution = decodeFloat32(get("solution")).length > 0;
    sol.style.display = kernel === "none" && !savedSolution ? "none" : "";
    if (kernel === "none" && !savedSolution) solTitle.textContent = "u(x) at a clicked point needs a live Python kernel";
    const err = get("error") ?? "";
    error.textContent = err;
    error.style.display = err ? "block" : "none";
  }

  // ---- wiring ---------------------------------------------------------------------------------------
  const onStatus = () => updateStatus();
  const onControls = () => syncControls();
  const onSolution = () => drawSolution();
  const events: [string, () => void][] = [
    ["change:status", onStatus], ["change:progress", onStatus], ["change:error", onStatus],
    ["change:status_text", onStatus], ["change:solution", onSolution], ["change:solution_info", onSolution],
  ];
  for (const name of ["grid", "grid_shape", "trajectory", "energy_reference", "grid2", "grid_shape2", "trajectory2",
    "energy_reference2", "z_scale", "colormap", "contours", "wireframe", "view", "z_shared", "compare"]) {
    events.push([`change:${name}`, rebuildAll]);
  }
  for (const name of ["direction_kind", "formulation", "normalization", "seed", "resolution", "span", "z_scale",
    "colormap", "contours", "wireframe", "view", "run_label", "run_labels", "formulations", "direction_kinds",
    "interactive", "compare", "z_shared"]) events.push([`change:${name}`, onControls]);
  for (const [ev, cb] of events) model.on(ev, cb);
  const onMessage = (msg: any) => {
    if (msg?.type !== "pong") return;
    kernel = "live";
    syncControls();
    updateStatus();
  };
  model.on("msg:custom", onMessage);
  const noAnswer = window.setTimeout(() => {
    if (kernel !== "unknown") return;
    kernel = "none";
    syncControls();
    updateStatus();
  }, KERNEL_WAIT_MS);
  try {
    model.send?.({ type: "ping" });
  } catch {
    kernel = "none";
  }
  const ro = new ResizeObserver(() => panels.forEach((p) => p.resize()));
  ro.observe(panelsBox);
  syncControls();
  updateStatus();
  rebuildAll();
  drawSolution();

  return () => {
    for (const [ev, cb] of events) model.off?.(ev, cb);
    model.off?.("msg:custom", onMessage);
    window.clearTimeout(noAnswer);
    ro.disconnect();
    for (const p of panels) p.dispose();
    root.remove();
  };
}

export default { render };
