// Validates compose/k8s/*.yaml against Kubernetes' own OpenAPI schemas (kubernetes-models,
// from npm) and checks what the schemas cannot: the pieces refer to each other correctly,
// probes hit /live and /ready, pods run as non-root, Prometheus finds the pods, and the
// Indexed Job's shard count matches its completions.
//   node tests/deploy/check_k8s.mjs .tools compose/k8s
import { createRequire } from "node:module";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [tools, dir] = process.argv.slice(2);
const require = createRequire(join(process.cwd(), tools, "node_modules", "x.js"));
const YAML = require("yaml");
const models = {
  "v1/ConfigMap": require("kubernetes-models/v1/ConfigMap").ConfigMap,
  "v1/Service": require("kubernetes-models/v1/Service").Service,
  "apps/v1/Deployment": require("kubernetes-models/apps/v1/Deployment").Deployment,
  "autoscaling/v2/HorizontalPodAutoscaler": require("kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler").HorizontalPodAutoscaler,
  "batch/v1/Job": require("kubernetes-models/batch/v1/Job").Job,
};

let failures = 0;
const fail = (where, message) => { console.error(`FAIL ${where}: ${message}`); failures++; };
const expect = (cond, where, message) => { if (!cond) fail(where, message); };

// Schema validation of one object; returns the error text or "".
function schemaErrors(doc) {
  const Model = models[`${doc.apiVersion}/${doc.kind}`];
  if (!Model) return `no schema for ${doc.apiVersion} ${doc.kind}`;
  try { new Model(doc).validate(); return ""; } catch (e) { return String(e.message || e); }
}

const docs = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
  for (const d of YAML.parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
    if (d.errors.length) { fail(file, d.errors.map((e) => e.message).join("; ")); continue; }
    const doc = d.toJS();
    if (!doc) continue;
    const where = `${file} ${doc.kind}/${doc.metadata?.name}`;
    const err = schemaErrors(doc);
    if (err) fail(where, err); else console.log(`ok   ${where}: valid ${doc.apiVersion} ${doc.kind}`);
    docs.push({ where, doc });
  }
}

// The validator itself must reject a broken manifest (a test that cannot fail proves nothing).
const broken = structuredClone(docs.find((d) => d.doc.kind === "Deployment").doc);
broken.spec.replicas = "two";
broken.spec.template.spec.containers[0].ports[0].containerPort = "http";
expect(schemaErrors(broken) !== "", "self-test", "a Deployment with replicas: \"two\" passed the schema");

const byKind = (kind) => docs.filter((d) => d.doc.kind === kind);
const configMaps = new Set(byKind("ConfigMap").map((d) => d.doc.metadata.name));
for (const { where, doc } of [...byKind("Deployment"), ...byKind("Job")]) {
  const pod = doc.spec.template.spec;
  expect(pod.securityContext?.runAsNonRoot === true, where, "pods must run as non-root");
  for (const c of pod.containers) {
    expect(c.securityContext?.allowPrivilegeEscalation === false, where, `${c.name}: allowPrivilegeEscalation must be false`);
    expect(c.resources?.requests && c.resources?.limits, where, `${c.name}: requests and limits are required`);
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef) expect(configMaps.has(from.configMapRef.name), where, `ConfigMap ${from.configMapRef.name} is not defined`);
    }
  }
}
for (const { where, doc } of byKind("Deployment")) {
  const pod = doc.spec.template;
  const c = pod.spec.containers[0];
  expect(c.livenessProbe?.httpGet?.path === "/live", where, "liveness probe must GET /live");
  expect(c.readinessProbe?.httpGet?.path === "/ready", where, "readiness probe must GET /ready");
  expect(c.args?.[0] === "serve", where, "the container must run `mlops serve`");
  const a = pod.metadata.annotations ?? {};
  expect(a["prometheus.io/scrape"] === "true" && a["prometheus.io/path"] === "/metrics", where, "Prometheus scrape annotations missing");
  expect(c.ports.some((p) => String(p.containerPort) === a["prometheus.io/port"]), where, "prometheus.io/port is not a container port");
  for (const [k, v] of Object.entries(doc.spec.selector.matchLabels)) {
    expect(pod.metadata.labels[k] === v, where, `selector ${k}=${v} does not match the pod labels`);
  }
  const services = byKind("Service").filter((s) => Object.entries(s.doc.spec.selector).every(([k, v]) => pod.metadata.labels[k] === v));
  expect(services.length === 1, where, "exactly one Service must select the pods");
  for (const s of services) {
    for (const p of s.doc.spec.ports) {
      expect(c.ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort), s.where, `targetPort ${p.targetPort} is not a container port`);
    }
  }
  const hpas = byKind("HorizontalPodAutoscaler").filter((h) => h.doc.spec.scaleTargetRef.name === doc.metadata.name);
  expect(hpas.length === 1, where, "exactly one HPA must scale it");
  for (const h of hpas) expect(h.doc.spec.scaleTargetRef.kind === "Deployment", h.where, "scaleTargetRef.kind must be Deployment");
}
for (const { where, doc } of byKind("Job")) {
  const args = doc.spec.template.spec.containers[0].args;
  expect(doc.spec.completionMode === "Indexed", where, "crm-sync must be an Indexed Job");
  const shard = args[args.indexOf("--shard") + 1] ?? "";
  const env = doc.spec.template.spec.containers[0].env ?? [];
  const indexVar = env.find((e) => e.valueFrom?.fieldRef?.fieldPath?.includes("job-completion-index"))?.name;
  expect(indexVar && shard === `$(${indexVar})/${doc.spec.completions}`, where,
    `--shard must be $(INDEX)/${doc.spec.completions} (the completion index over the completions), got "${shard}"`);
}

if (failures) { console.error(`${failures} problem(s)`); process.exit(1); }
console.log(`k8s: ${docs.length} manifests valid and consistent`);
