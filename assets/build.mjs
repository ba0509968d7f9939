// Compiles our Sass with GOV.UK Frontend and copies the scripts we serve into panel_app/static/dist.
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as sass from "sass";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "panel_app", "static", "dist");
mkdirSync(out, { recursive: true });

const result = sass.compile(join(here, "src", "panel.scss"), {
  loadPaths: [join(here, "node_modules")],
  style: "compressed",
  quietDeps: true,
});
writeFileSync(join(out, "panel.css"), result.css);

const govuk = join(here, "node_modules", "govuk-frontend", "dist", "govuk");
cpSync(join(govuk, "govuk-frontend.min.js"), join(out, "govuk-frontend.min.js"));
console.log(`assets built in ${out}`);
