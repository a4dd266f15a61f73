// Bundle js/src/widget.ts (and three.js) into one ESM file in the Python package, and js/src/embed.ts (the
// renderer of saved widget state for nbconvert HTML and Jupyter Book pages) into one classic script.
// define.amd=false: an embedding page's RequireJS must not make bundled code think it is in an AMD loader.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
await esbuild.build({
  entryPoints: [path.join(here, "src", "widget.ts")],
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  outfile: path.join(here, "..", "pinn_landscape_widget", "static", "widget.js"),
  define: { "define.amd": "false" },
  logLevel: "warning",
});
await esbuild.build({
  entryPoints: [path.join(here, "src", "embed.ts")],
  bundle: true,
  format: "iife",
  minify: true,
  target: "es2020",
  outfile: path.join(here, "..", "pinn_landscape_widget", "static", "embed", "plw-embed.js"),
  logLevel: "warning",
});
console.log("built pinn_landscape_widget/static/widget.js and static/embed/plw-embed.js");
