// The 3-D scene of one panel: its camera and orbit controls, lights, the floor grid and axes, the label
// anchors that the label overlay projects, and the 2-D canvas its picture is copied into. The picture is
// drawn by the renderer every panel shares (gl.ts), so a panel holds no WebGL context of its own.
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { sharedGL } from "./gl";
import { Range, solidColor } from "./lib";
import { Label, PRESETS, TICK_FONT_PX, TITLE_FONT_PX, axisEdges, fitDistance } from "./layout";
import { Ticks } from "./plot2d";

export { viewPixelRatio } from "./gl";

export const HEIGHT = 1.1; // surface height in scene units (alpha and beta span [-1, 1]); _camera.py knows it
export const FLOOR = -0.06; // the floor grid, just under the lowest point of the surface
const TARGET = new THREE.Vector3(0, 0, HEIGHT * 0.42);

export interface AxisSpec {
  a: Range;
  b: Range;
  z: { min: number; max: number; ticks: Ticks; title: string };
  aTicks: Ticks;
  bTicks: Ticks;
  fg: string;
  oneD: boolean;
}

export type CameraState = { position: number[]; target: number[] };

export class PanelScene {
  readonly scene = new THREE.Scene();
  readonly camera = new THREE.PerspectiveCamera(30, 1.5, 0.01, 100);
  readonly controls: OrbitControls;
  readonly content = new THREE.Group(); // surface, contours, trajectory (replaced on new data)
  private axesGroup = new THREE.Group();
  private axes: AxisSpec | null = null;
  /** The picture on screen: a 2-D canvas the shared renderer's picture is copied into. */
  readonly canvas = document.createElement("canvas");
  private ctx = this.canvas.getContext("2d")!;
  aspect = 1.5;

  constructor() {
    const events = this.canvas;
    this.camera.up.set(0, 0, 1);
    this.controls = new OrbitControls(this.camera, events);
    this.controls.enableDamping = false;
    this.controls.listenToKeyEvents?.(events); // arrow keys pan when the canvas has focus
    this.scene.add(new THREE.AmbientLight(0xffffff, 1.7));
    const sun = new THREE.DirectionalLight(0xffffff, 1.3);
    sun.position.set(2, -3, 5);
    this.scene.add(sun, this.content, this.axesGroup);
    this.preset("3d");
  }

  /** Replace the surface, contours and trajectory objects. Their geometries are freed, their materials
   * are not: a disposed material releases its shader program, and the next surface would compile it again
   * (in a software WebGL that compile was most of the cost of drawing new numbers). */
  setContent(objects: THREE.Object3D[]) {
    disposeTree(this.content, false);
    this.content.clear();
    for (const o of objects) this.content.add(o);
  }

  /** Floor grid, axis lines and tick marks for these ranges (the labels come from labels()). */
  setAxes(spec: AxisSpec) {
    this.axes = spec;
    disposeTree(this.axesGroup, false);
    this.axesGroup.clear();
    const col = new THREE.Color(solidColor(spec.fg));
    const grid: number[] = [];
    const x = (t: number) => -1 + (2 * (t - spec.a[0])) / (spec.a[1] - spec.a[0] || 1);
    const y = (t: number) => -1 + (2 * (t - spec.b[0])) / (spec.b[1] - spec.b[0] || 1);
    for (const t of spec.aTicks.values) grid.push(x(t), -1, FLOOR, x(t), 1, FLOOR);
    for (const t of spec.bTicks.values) grid.push(-1, y(t), FLOOR, 1, y(t), FLOOR);
    this.axesGroup.add(lines(grid, col, 0.22));
    const box = [-1, -1, 1, -1, 1, -1, 1, 1, 1, 1, -1, 1, -1, 1, -1, -1];
    const frame: number[] = [];
    for (let k = 0; k < box.length; k += 4) frame.push(box[k], box[k + 1], FLOOR, box[k + 2], box[k + 3], FLOOR);
    this.axesGroup.add(lines(frame, col, 0.55));
    this.updateZAxis();
  }

  /** The loss axis stands at the floor corner to the viewer's left; it moves when the camera does. */
  private zAxis: THREE.LineSegments | null = null;
  private zCorner = "";
  updateZAxis() {
    const spec = this.axes;
    if (!spec) return;
    const rel = this.camera.position.clone().sub(this.controls.target);
    const { corner } = axisEdges(rel);
    const key = corner.join();
    if (key === this.zCorner && this.zAxis) return;
    this.zCorner = key;
    if (this.zAxis) {
      this.axesGroup.remove(this.zAxis);
      disposeTree(this.zAxis, false);
    }
    const [cx, cy] = corner;
    const pts = [cx, cy, FLOOR, cx, cy, HEIGHT];
    for (const v of spec.z.ticks.values) {
      const h = this.height(v);
      pts.push(cx, cy, h, cx * 1.04, cy * 1.04, h);
    }
    this.zAxis = lines(pts, new THREE.Color(solidColor(spec.fg)), 0.7);
    this.axesGroup.add(this.zAxis);
  }

  height(v: number): number {
    const z = this.axes!.z;
    return ((v - z.min) / (z.max - z.min || 1)) * HEIGHT;
  }

  /** Tick and title labels anchored in 3-D, on the floor edges nearest the camera (see axisEdges). */
  labelAnchors(): { label: Label; at: THREE.Vector3; push?: number }[] {
    const spec = this.axes;
    if (!spec) return [];
    const rel = this.camera.position.clone().sub(this.controls.target);
    const { ys, xs, corner } = axisEdges(rel);
    const out: { label: Label; at: THREE.Vector3; push?: number }[] = [];
    const tick = (text: string, at: THREE.Vector3, priority: number) =>
      out.push({ label: { text, x: 0, y: 0, ax: 0.5, ay: 0.5, size: TICK_FONT_PX, priority, kind: "tick" }, at });
    // axis titles sit beyond the tick labels: pushed this many px away from the box's centre on screen
    const title = (text: string, at: THREE.Vector3, push = 0) =>
      out.push({ label: { text, x: 0, y: 0, ax: 0.5, ay: 0.5, size: TITLE_FONT_PX, bold: true, priority: 10,
        kind: "title" }, at, push });
    const end = (n: number, k: number) => (k === 0 || k === n - 1 ? 2 : 1);
    const x = (t: number) => -1 + (2 * (t - spec.a[0])) / (spec.a[1] - spec.a[0] || 1);
    const y = (t: number) => -1 + (2 * (t - spec.b[0])) / (spec.b[1] - spec.b[0] || 1);
    spec.aTicks.values.forEach((t, k) => tick(spec.aTicks.labels[k], new THREE.Vector3(x(t), ys * 1.13, FLOOR),
      end(spec.aTicks.values.length, k)));
    title("alpha", new THREE.Vector3(0, ys * 1.13, FLOOR), 36);
    if (!spec.oneD) {
      spec.bTicks.values.forEach((t, k) => tick(spec.bTicks.labels[k], new THREE.Vector3(xs * 1.13, y(t), FLOOR),
        end(spec.bTicks.values.length, k)));
      title("beta", new THREE.Vector3(xs * 1.13, 0, FLOOR), 36);
    }
    const [cx, cy] = corner;
    spec.z.ticks.values.forEach((v, k) => tick(spec.z.ticks.labels[k],
      new THREE.Vector3(cx * 1.12, cy * 1.12, this.height(v)), end(spec.z.ticks.values.length, k)));
    title(spec.z.title, new THREE.Vector3(cx, cy, HEIGHT + 0.1), 0);
    return out;
  }

  /** Screen position (CSS px in a w x h view) of a scene point; null when behind the camera. */
  project(p: THREE.Vector3, w: number, h: number): [number, number] | null {
    const v = p.clone().project(this.camera);
    if (v.z > 1) return null;
    return [((v.x + 1) / 2) * w, ((1 - v.y) / 2) * h];
  }

  /** Put the camera at a preset direction ("3d", "top", "side") at the distance that fits the box. */
  preset(name: string, aspect = this.aspect) {
    const dir = new THREE.Vector3(...(PRESETS[name] ?? PRESETS["3d"]));
    const dist = this.fitDistanceFor(dir, aspect);
    this.controls.target.copy(TARGET);
    this.camera.position.copy(TARGET).addScaledVector(dir.normalize(), dist);
    this.camera.lookAt(TARGET);
    this.controls.update();
  }

  /** The distance at which the floor, the surface's full height and the axis labels fit the view. */
  fitDistanceFor(dir: THREE.Vector3, aspect: number): number {
    const pts: THREE.Vector3[] = [];
    // the floor with its tick labels, and the top of the loss axis; the margin leaves room for the titles
    for (const px of [-1.15, 1.15]) for (const py of [-1.15, 1.15]) for (const pz of [FLOOR, HEIGHT + 0.1]) {
      pts.push(new THREE.Vector3(px, py, pz));
    }
    return fitDistance(pts, TARGET, dir, new THREE.Vector3(0, 0, 1), this.camera.fov, aspect, 0.08);
  }

  getCamera(): CameraState {
    const r = (v: THREE.Vector3) => [v.x, v.y, v.z].map((c) => Math.round(c * 1e4) / 1e4);
    return { position: r(this.camera.position), target: r(this.controls.target) };
  }

  setCamera(c: CameraState) {
    this.camera.position.set(c.position[0], c.position[1], c.position[2]);
    this.controls.target.set(c.target[0], c.target[1], c.target[2]);
    this.camera.lookAt(this.controls.target);
    this.controls.update();
  }

  /** Size the canvas: cssW x cssH CSS px at ``ratio`` device px each. */
  setSize(cssW: number, cssH: number, ratio: number) {
    this.canvas.width = Math.round(cssW * ratio);
    this.canvas.height = Math.round(cssH * ratio);
    this.canvas.style.width = `${cssW}px`;
    this.canvas.style.height = `${cssH}px`;
    this.camera.aspect = cssW / cssH;
    this.camera.updateProjectionMatrix();
  }

  /** Draw the picture onto the panel's canvas; false when WebGL cannot draw now (see sharedGL().status). */
  render(bg: string): boolean {
    this.updateZAxis();
    return sharedGL().draw(this.scene, this.camera, this.ctx, 0, 0, this.canvas.width, this.canvas.height, bg);
  }

  /** The picture at ``scale`` device px per CSS px, drawn into ctx at (dx, dy) device px (for Save PNG). */
  renderTo(ctx: CanvasRenderingContext2D, cssW: number, cssH: number, scale: number, bg: string, dx: number,
    dy: number): boolean {
    this.updateZAxis();
    return sharedGL().draw(this.scene, this.camera, ctx, Math.round(dx), Math.round(dy), Math.round(cssW * scale),
      Math.round(cssH * scale), bg);
  }

  /** Free the GPU's copies of the geometry (a panel scrolled off screen); the next draw uploads them again. */
  releaseGpu() {
    disposeTree(this.scene, false);
  }

  dispose() {
    this.controls.dispose();
    disposeTree(this.scene);
    this.canvas.width = this.canvas.height = 0;
    this.canvas.remove();
  }
}

export function lines(pts: number[], color: THREE.Color, opacity = 1): THREE.LineSegments {
  const geo = new THREE.BufferGeometry();
  geo.setAttribute("position", new THREE.Float32BufferAttribute(pts, 3));
  return new THREE.LineSegments(geo, new THREE.LineBasicMaterial({ color, transparent: opacity < 1, opacity }));
}

/** Free the GPU buffers of obj's geometries, and (materials = true) of its materials and their textures. */
export function disposeTree(obj: THREE.Object3D, materials = true) {
  obj.traverse((o: any) => {
    o.geometry?.dispose?.();
    if (!materials) return;
    const mats = Array.isArray(o.material) ? o.material : o.material ? [o.material] : [];
    for (const m of mats) {
      m.map?.dispose?.();
      m.dispose?.();
    }
  });
}
