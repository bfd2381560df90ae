/**
 * What `make e2e` applies when it installs the driver from the Helm chart: every object of the
 * chart's render (deploy/helm/e2e-values.yaml), then the objects of the e2e overlay that the
 * chart does not make (the Namespace, the e2e file system's Secret and StorageClass, and the
 * like). `make helm` checks that the chart's objects equal the overlay's, so the suite runs
 * against the chart's own render, not a copy of it.
 *
 *   deno run -A tests/e2e/chart_install.ts CHART.yaml OVERLAY.yaml | kubectl apply -f -
 */
import { loadAll } from "js-yaml";

interface Obj {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
}

const idOf = (o: Obj) => `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
const objects = (text: string) => (loadAll(text) as (Obj | null)[]).filter((o): o is Obj => !!o?.kind);

const [chartFile, overlayFile] = Deno.args;
if (!chartFile || !overlayFile) {
  console.error("usage: chart_install.ts CHART.yaml OVERLAY.yaml");
  Deno.exit(2);
}
const chart = objects(await Deno.readTextFile(chartFile));
const made = new Set(chart.map(idOf));
const extra = objects(await Deno.readTextFile(overlayFile)).filter((o) => !made.has(idOf(o)));
// Namespaces first: the chart's objects live in one.
const ordered = [
  ...extra.filter((o) => o.kind === "Namespace"),
  ...chart,
  ...extra.filter((o) => o.kind !== "Namespace"),
];
console.log(ordered.map((o) => JSON.stringify(o)).join("\n---\n"));
console.error(
  `chart_install: ${chart.length} objects from the chart, ${extra.length} from the overlay alone`,
);
