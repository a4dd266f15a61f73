// Parse MyST markdown files with MyST's own parser (myst-parser, with myst-directives' {anywidget}) and print
// the anywidget nodes they hold as JSON: what a MyST build hands the theme's renderer for each directive.
//   node parse.mjs page.md [more.md ...]
import { readFileSync } from "node:fs";
import { mystParse } from "myst-parser";
import { selectAll } from "unist-util-select";

const nodes = [];
for (const file of process.argv.slice(2)) {
  nodes.push(...selectAll("anywidget", mystParse(readFileSync(file, "utf8"))));
}
process.stdout.write(JSON.stringify(nodes));
