// The widget on MyST / Jupyter Book 2 pages, from a state file.
//
// MyST's {anywidget} directive hands render() a model that holds the directive's JSON body and nothing else.
// A landscape's state is hundreds of kB, so LandscapeWidget.to_myst writes it to a file and the body only
// names it: {"plw_state": "landscapes/landscape.json", "plw_version": "0.2.0"}. This module fetches that
// file, checks that it was written for this very front end (a state file of another version would be read
// with the wrong meaning: the page says so in one line instead of drawing garbage) and renders the widget
// from it with a model that has no kernel behind it.
//
// A relative plw_state is resolved against this module's own URL: MyST copies the ESM into the site's
// public folder and a `static_files` folder next to it, at the site root or under its base URL alike.

import { KernelFreeModel } from "./kernelfree";
import type { Model } from "./state";

declare const __PLW_VERSION__: string; // set by js/build.mjs from pinn_landscape_widget/_version.py

/** The package version this front end was built from. */
export const VERSION: string = typeof __PLW_VERSION__ === "string" ? __PLW_VERSION__ : "unknown";
/** What a state file says it is (its "format" key), so that any other JSON is refused by name. */
export const FORMAT = "pinn-landscape-widget state";

type Render = (ctx: { model: Model; el: HTMLElement }) => unknown;

/** Why a parsed state file cannot be drawn by this front end (one line), or "" when it can. */
export function stateFileProblem(file: unknown, url: string, directiveVersion: unknown, version = VERSION): string {
  const f = file as { format?: unknown; version?: unknown; state?: unknown } | null;
  if (!f || typeof f !== "object" || f.format !== FORMAT || typeof f.state !== "object" || f.state === null) {
    return `${url} is not a pinn-landscape-widget state file: write one with LandscapeWidget.to_myst().`;
  }
  const written = String(f.version);
  if (written !== version) {
    return `${url} was written by pinn-landscape-widget ${written}, but this page's widget ESM is version ` +
      `${version}: write both again with to_myst() of one version.`;
  }
  if (directiveVersion != null && String(directiveVersion) !== version) {
    return `This {anywidget} directive was written for pinn-landscape-widget ${directiveVersion}, but its ESM ` +
      `is version ${version}: paste the directive that to_myst() wrote with this ESM.`;
  }
  return "";
}

/** The state file's URL: a relative one is taken from the folder this module was loaded from. */
export function stateFileUrl(ref: string, moduleUrl: string): string {
  try {
    return new URL(ref, moduleUrl).href;
  } catch {
    return ref;
  }
}

function showProblem(el: HTMLElement, text: string) {
  const div = document.createElement("div");
  div.className = "plw-state-problem";
  div.setAttribute("role", "alert");
  div.style.cssText = "border:1px solid #c33;border-radius:4px;padding:8px 12px;color:#a00;font:14px system-ui,sans-serif";
  div.textContent = `Cannot show this loss landscape: ${text}`;
  el.appendChild(div);
}

async function renderFromFile(render: Render, model: Model, el: HTMLElement) {
  const ref = String(model.get("plw_state"));
  const url = stateFileUrl(ref, import.meta.url);
  let file: unknown;
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    file = await response.json();
  } catch (e) {
    showProblem(el, `its state file ${url} could not be read (${e instanceof Error ? e.message : e}).`);
    return () => el.replaceChildren();
  }
  const problem = stateFileProblem(file, ref, model.get("plw_version"));
  if (problem) {
    showProblem(el, problem);
    return () => el.replaceChildren();
  }
  return render({ model: new KernelFreeModel((file as { state: Record<string, unknown> }).state), el });
}

/** render() that also draws from a state file when the model only names one (MyST's {anywidget}); any other
 * model goes straight to ``render``. */
export function withStateFile(render: Render): Render {
  return (ctx) => (typeof ctx.model.get("plw_state") === "string" ? renderFromFile(render, ctx.model, ctx.el) :
    render(ctx));
}
