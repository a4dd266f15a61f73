// Bundle js/src/widget.ts (and three.js) into one ESM file in the Python package, and js/src/embed.ts (the
// renderer of saved widget state for nbconvert HTML and Jupyter Book pages) into one classic script.
// define.amd=false: an embedding page's RequireJS must not make bundled code think it is in an AMD loader.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { readFileSync } from "node:fs";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = (...parts) => path.join(here, "..", "pinn_landscape_widget", "static", ...parts);
// the package version, baked into the ESM: a MyST state file written by another version is refused by name
const version = /__version__\s*=\s*"([^"]+)"/.exec(
  readFileSync(path.join(here, "..", "pinn_landscape_widget", "_version.py"), "utf8"),
)[1];
// PLW_JS_DEBUG=1: unminified, for reading profiles of the front end
const common = { bundle: true, minify: !process.env.PLW_JS_DEBUG, target: "es2020", logLevel: "warning" };
await esbuild.build({
  ...common,
  entryPoints: [path.join(here, "src", "widget.ts")],
  format: "esm",
  outfile: out("widget.js"),
  define: { "define.amd": "false", __PLW_VERSION__: JSON.stringify(version) },
});
await esbuild.build({
  ...common,
  entryPoints: [path.join(here, "src", "embed.ts")],
  format: "iife",
  outfile: out("embed", "plw-embed.js"),
});
console.log("built pinn_landscape_widget/static/widget.js and static/embed/plw-embed.js");
