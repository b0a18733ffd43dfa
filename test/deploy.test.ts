import t from 'tap';
import request from 'supertest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { fixtures, startApp } from './helpers.js';

// What can be checked without a Docker engine or a cluster: syntax, structure, and that the
// dashboard and autoscaling rules query metrics this service really exports.
const ROOT = join(import.meta.dirname, '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
type Doc = Record<string, unknown> & { kind?: string; spec?: Record<string, unknown>; metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } };
type Service = Record<string, unknown> & { image?: string; build?: unknown; profiles?: string[]; volumes?: string[] };

const pkg = JSON.parse(read('package.json')) as { version: string; license: string; engines: { node: string }; allowScripts?: Record<string, boolean> };
const NODE_MAJOR = Number(/^>=\s*(\d+)/.exec(pkg.engines.node)?.[1]);
const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service> };
const DEFAULT_SERVICES = Object.keys(compose.services).filter((name) => !compose.services[name]!.profiles?.length);

t.test('package.json: Node 22, onnxruntime-node install script denied, MIT LICENSE', async (t) => {
  t.equal(NODE_MAJOR, 22, `engines.node ${pkg.engines.node}`);
  // npm 11 skips a dependency's install script that allowScripts denies: onnxruntime-node's would
  // download the CUDA provider from outside the npm registry. No .npmrc key for it: npm 11 warns
  // "Unknown project config" about every key it does not know.
  t.equal(pkg.allowScripts?.['onnxruntime-node'], false);
  if (existsSync(join(ROOT, '.npmrc'))) t.notMatch(read('.npmrc'), /^\s*onnxruntime-node/m);
  t.match(read('.ci/run'), new RegExp(`^NODE_MAJOR=${NODE_MAJOR}$`, 'm'));
  t.match(read('.ci/run'), /npm install --global --prefix "\$node_prefix" .*"\$\{node_pkg\}@\$\{NODE_MAJOR\}"/);
  t.equal(pkg.license, 'MIT');
  t.match(read('LICENSE'), /^MIT License\n\nCopyright \(c\) 2026 slimmable-serve contributors\n/);
});

t.test('docker-compose.yml: service, Prometheus, Grafana, a GPU profile reserving an NVIDIA device, versioned images', async (t) => {
  t.same(Object.keys(compose.services).sort(), ['grafana', 'prometheus', 'slimmable', 'slimmable-gpu']);
  t.same(DEFAULT_SERVICES.sort(), ['grafana', 'prometheus', 'slimmable']);
  const gpu = compose.services['slimmable-gpu']!;
  t.same(gpu.profiles, ['gpu']);
  t.match(JSON.stringify(gpu.deploy), /"driver":"nvidia".*"capabilities":\["gpu"\]/);
  t.match(JSON.stringify(gpu.build), /Dockerfile.cuda/);
  // The tags the Kubernetes manifests run (package.json's version), never :latest.
  t.equal(compose.services.slimmable!.image, `slimmable-serve:${pkg.version}`);
  t.equal(gpu.image, `slimmable-serve:${pkg.version}-cuda`);
  for (const service of Object.values(compose.services)) {
    t.notMatch(String(service.image), /:latest$/);
    for (const volume of service.volumes ?? []) {
      t.ok(existsSync(join(ROOT, volume.split(':')[0]!)), `mounted path ${volume} exists`);
    }
  }
});

t.test('Dockerfiles: Node 22, multi-stage, non-root, CUDA download skipped on CPU, only linux binaries, healthcheck, models copied', async (t) => {
  const cpu = read('Dockerfile');
  t.equal(cpu.match(/^FROM /gm)?.length, 2);
  t.same(cpu.match(/^FROM \S+/gm), [`FROM node:${NODE_MAJOR}-bookworm-slim`, `FROM node:${NODE_MAJOR}-bookworm-slim`]);
  t.match(cpu, /ONNXRUNTIME_NODE_INSTALL=skip/);
  t.match(cpu, /^USER node$/m);
  t.match(cpu, /^HEALTHCHECK .*\n.*\/healthz/m);
  t.match(cpu, /^COPY .*models \.\/models$/m);
  const cuda = read('Dockerfile.cuda');
  t.match(cuda, new RegExp(`^FROM node:${NODE_MAJOR}-bookworm-slim AS node$`, 'm'));
  t.match(cuda, /^FROM nvidia\/cuda:12\.[0-9.]+-cudnn-runtime/m);
  t.match(cuda, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
  t.match(cuda, /EXECUTION_PROVIDERS=cuda,cpu/);
  for (const [name, text] of [['Dockerfile', cpu], ['Dockerfile.cuda', cuda]] as const) {
    t.notMatch(text, /\.npmrc/, `${name} copies no .npmrc`);
    // Build stage: dev dependencies, then other platforms' native binaries, go before the
    // runtime stage copies node_modules.
    const build = text.slice(0, text.lastIndexOf('\nFROM '));
    t.match(build, /^COPY deploy\/docker\/prune-native-binaries\.sh \.\/$/m, name);
    t.match(build, /^RUN .*npm prune --omit=dev && sh prune-native-binaries\.sh$/m, name);
    t.match(build, /^COPY playground \.\/playground$/m, `${name}: the playground compiled`);
    t.match(build, /^RUN npx tsc -p \. && npx tsc -p playground && /m, name);
    t.match(text.slice(text.lastIndexOf('\nFROM ')), /^COPY .*playground\/index\.html playground\/style\.css \.\/playground\/$/m, `${name}: the playground's page`);
    t.match(text.slice(text.lastIndexOf('\nFROM ')), /^COPY .*playground\/samples \.\/playground\/samples$/m, `${name}: its samples`);
    t.match(text.slice(text.lastIndexOf('\nFROM ')), /ORT_DISABLE_TELEMETRY=1/, `${name}: no ONNX Runtime telemetry files`);
  }
  t.ok(cuda.indexOf('ONNXRUNTIME_NODE_INSTALL=cuda12 node') < cuda.indexOf('sh prune-native-binaries.sh'), 'the CUDA provider is installed before the pruning');
});

t.test('prune-native-binaries.sh keeps only linux/<arch> of onnxruntime-node and sharp', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prune-native-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const arch = process.arch;
  const other = arch === 'x64' ? 'arm64' : 'x64';
  // onnxruntime-node 1.30's real layout, plus sharp packages of other platforms.
  const files = [
    'onnxruntime-node/bin/napi-v6/darwin/arm64/onnxruntime_binding.node',
    'onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node',
    'onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
    'onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so',
    'onnxruntime-node/bin/napi-v6/win32/arm64/onnxruntime.dll',
    'onnxruntime-node/bin/napi-v6/win32/x64/onnxruntime_binding.node',
    'onnxruntime-node/dist/index.js',
    `@img/sharp-linux-${arch}/lib/sharp.node`,
    `@img/sharp-libvips-linux-${arch}/lib/libvips.so`,
    `@img/sharp-linux-${other}/lib/sharp.node`,
    `@img/sharp-linuxmusl-${arch}/lib/sharp.node`,
    '@img/sharp-darwin-arm64/lib/sharp.node',
    '@img/colour/index.js',
  ];
  for (const file of files) {
    mkdirSync(dirname(join(dir, 'node_modules', file)), { recursive: true });
    writeFileSync(join(dir, 'node_modules', file), '');
  }
  const out = execFileSync('sh', [join(ROOT, 'deploy/docker/prune-native-binaries.sh'), dir], {
    env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` },
  }).toString();
  t.match(out, new RegExp(`kept napi-v6/linux/${arch} `));
  const left = (path: string): string[] => readdirSync(join(dir, 'node_modules', path)).sort();
  t.same(left('onnxruntime-node/bin/napi-v6'), ['linux']);
  t.same(left('onnxruntime-node/bin/napi-v6/linux'), [arch]);
  if (arch === 'x64') t.same(left('onnxruntime-node/bin/napi-v6/linux/x64'), ['libonnxruntime_providers_cuda.so', 'onnxruntime_binding.node']);
  t.same(left('onnxruntime-node'), ['bin', 'dist']);
  t.same(left('@img'), ['colour', `sharp-libvips-linux-${arch}`, `sharp-linux-${arch}`]);

  // A tree without this platform's binary fails the build instead of shipping an image that cannot load it.
  rmSync(join(dir, 'node_modules/onnxruntime-node/bin/napi-v6/linux'), { recursive: true });
  t.throws(() => execFileSync('sh', [join(ROOT, 'deploy/docker/prune-native-binaries.sh'), dir], { stdio: 'pipe' }));
});

// The "restricted" Pod Security Standard, checked the way Pod Security Admission checks a pod.
function restrictedViolations(pod: Record<string, any>): string[] {
  const problems: string[] = [];
  const podSc = pod.securityContext ?? {};
  const containers: Record<string, any>[] = [...(pod.containers ?? []), ...(pod.initContainers ?? [])];
  for (const key of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[key]) problems.push(key);
  for (const volume of pod.volumes ?? []) {
    const type = Object.keys(volume).find((k) => k !== 'name');
    if (!['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'].includes(type!)) problems.push(`volume type ${type}`);
  }
  if (podSc.runAsUser === 0) problems.push('pod runAsUser 0');
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) problems.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${c.name}: allowPrivilegeEscalation not false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${c.name}: capabilities not dropping ALL`);
    if ((sc.capabilities?.add ?? []).some((cap: string) => cap !== 'NET_BIND_SERVICE')) problems.push(`${c.name}: capabilities added`);
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) problems.push(`${c.name}: runAsNonRoot not true`);
    if (sc.runAsUser === 0) problems.push(`${c.name}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSc.seccompProfile?.type;
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) problems.push(`${c.name}: seccompProfile ${seccomp}`);
    if ((c.ports ?? []).some((p: { hostPort?: number }) => p.hostPort)) problems.push(`${c.name}: hostPort`);
  }
  return problems;
}

t.test('Kubernetes manifests: namespace, restricted security, images, probes, resources, graceful termination, scraping, autoscaling', async (t) => {
  const docs: Doc[] = [];
  for (const file of readdirSync(join(ROOT, 'deploy/k8s')).filter((f) => f.endsWith('.yaml') && !f.startsWith('prometheus-adapter'))) {
    for (const doc of parseAllDocuments(read(`deploy/k8s/${file}`))) {
      t.same(doc.errors, [], file);
      docs.push(doc.toJS() as Doc);
    }
  }
  const namespaces = docs.filter((d) => d.kind === 'Namespace');
  t.equal(namespaces.length, 1);
  const namespace = namespaces[0]!;
  t.equal(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  for (const doc of docs.filter((d) => d.kind !== 'Namespace')) t.equal(doc.metadata?.namespace, namespace.metadata?.name, `${doc.kind} in the namespace`);

  const deployments = docs.filter((d) => d.kind === 'Deployment');
  t.equal(deployments.length, 2);
  const annotations = new Set<string>();
  for (const deployment of deployments) {
    const text = JSON.stringify(deployment);
    t.match(text, /"readinessProbe":\{"httpGet":\{"path":"\/readyz"/);
    t.match(text, /"livenessProbe":\{"httpGet":\{"path":"\/healthz"/);
    t.match(text, /"requests":\{"cpu"/);
    t.match(text, /"terminationGracePeriodSeconds":15/);
    const template = (deployment.spec as { template: { metadata: { annotations?: Record<string, string> }; spec: Record<string, any> } }).template;
    const pod = template.spec;
    t.same(restrictedViolations(pod), [], 'meets the restricted Pod Security Standard');
    const container = pod.containers[0] as Record<string, any>;
    // The compose/docker build tags; IfNotPresent, not the default Always of an untagged/:latest image.
    const gpu = JSON.stringify(container.resources).includes('nvidia.com/gpu');
    t.equal(container.image, gpu ? compose.services['slimmable-gpu']!.image : compose.services.slimmable!.image);
    t.equal(container.imagePullPolicy, 'IfNotPresent');
    t.equal(pod.securityContext.runAsUser, 1000, "the image's node user");
    t.equal(container.securityContext.readOnlyRootFilesystem, true);
    const tmp = (container.volumeMounts as { name: string; mountPath: string }[]).find((m) => m.mountPath === '/tmp');
    t.ok(tmp && (pod.volumes as { name: string; emptyDir?: unknown }[]).some((v) => v.name === tmp.name && v.emptyDir), '/tmp is a writable emptyDir');
    // Both scraped the same way, on the container's port.
    const a = template.metadata.annotations ?? {};
    t.equal(a['prometheus.io/scrape'], 'true');
    t.equal(a['prometheus.io/path'], '/metrics');
    t.equal(Number(a['prometheus.io/port']), container.ports[0].containerPort);
    annotations.add(JSON.stringify(a));
  }
  t.equal(annotations.size, 1, 'both Deployments carry the same scrape annotations');
  t.match(JSON.stringify(deployments), /"nvidia.com\/gpu":1/);
  const hpas = docs.filter((d) => d.kind === 'HorizontalPodAutoscaler');
  t.equal(hpas.length, 2);
  for (const hpa of hpas) t.match(JSON.stringify(hpa.spec), /"scaleTargetRef":\{"apiVersion":"apps\/v1","kind":"Deployment","name":"slimmable-serve"\}/);
  t.ok(docs.some((d) => d.kind === 'Service' && d.metadata?.name === 'slimmable-serve'));
});

const PROMETHEUS_CONFIGS = readdirSync(join(ROOT, 'deploy/prometheus')).filter((f) => f.endsWith('.yml')).map((f) => `deploy/prometheus/${f}`);

t.test('Prometheus: no target the default compose lacks; every service of this repository is discovered', async (t) => {
  t.ok(PROMETHEUS_CONFIGS.length >= 1);
  const ours = Object.keys(compose.services).filter((name) => compose.services[name]!.build);
  const discovered = new Set<string>();
  for (const file of PROMETHEUS_CONFIGS) {
    type Job = { job_name: string; static_configs?: { targets: string[] }[]; dns_sd_configs?: { names: string[]; type?: string; port?: number }[] } & Record<string, unknown>;
    const config = parse(read(file)) as { scrape_configs: Job[] };
    for (const job of config.scrape_configs) {
      const discovery = Object.keys(job).filter((k) => k.endsWith('_configs') && k !== 'relabel_configs' && k !== 'metric_relabel_configs');
      t.same(discovery.filter((k) => k !== 'static_configs' && k !== 'dns_sd_configs'), [], `${job.job_name}: static or DNS discovery only`);
      // A static target is scraped whether or not its container runs: it must be a service that
      // `docker compose up` starts.
      for (const target of (job.static_configs ?? []).flatMap((c) => c.targets)) {
        const host = target.split(':')[0]!;
        t.ok(DEFAULT_SERVICES.includes(host), `${file} ${job.job_name}: static target ${target} is a default compose service`);
        discovered.add(host);
      }
      // A DNS name yields one target per running container and none when the service is not running.
      for (const sd of job.dns_sd_configs ?? []) {
        t.equal(sd.type ?? 'SRV', 'A', `${job.job_name}: A records (compose's DNS has no SRV)`);
        t.equal(sd.port, 8080);
        for (const name of sd.names) {
          t.ok(Object.keys(compose.services).includes(name), `${file} ${job.job_name}: ${name} is a compose service`);
          discovered.add(name);
        }
      }
    }
  }
  for (const service of ours) t.ok(discovered.has(service), `${service} is scraped when it runs`);
});

t.test('promtool accepts every Prometheus configuration', { skip: existsSync('/usr/bin/promtool') ? false : 'promtool not installed (apt-get install prometheus)' }, async (t) => {
  for (const file of PROMETHEUS_CONFIGS) {
    const out = execFileSync('/usr/bin/promtool', ['check', 'config', join(ROOT, file)]).toString();
    t.match(out, /SUCCESS/, file);
  }
});

// The dashboard never puts two models in one number: a classifier's top-1 and a detector's mAP
// must not be averaged, nor their latencies. Metric families with a model label are filtered by the
// dashboard's $model variable and aggregated by model; process-wide families (queue, workers,
// provider, event loop) have no model label and are shown per instance, for the instances that
// serve the selected models.
type Dashboard = { panels: { id: number; title: string; targets: { expr: string }[] }[]; templating: { list: { name: string; query: unknown; includeAll?: boolean; multi?: boolean }[] } };
const dashboard = JSON.parse(read('deploy/grafana/dashboards/slimmable.json')) as Dashboard;
const MODEL = 'model=~"$model"';
const SERVING = ` and on (instance) group by (instance) (slimmable_width_accuracy_ratio{${MODEL}})`;
const METRIC = /\b((?:slimmable|nodejs)_[a-z0-9_]+)\b(\{[^}]*\})?/g;
const AGGREGATION = /\b(sum|avg|min|max|count|group|stddev|stdvar|topk|bottomk|quantile|count_values)\s*(?:(by|without)\s*\(([^)]*)\))?\s*\(/g;
const targets = dashboard.panels.flatMap((p) => p.targets.map((target) => ({ panel: `${p.id} ${p.title}`, expr: target.expr })));

t.test('dashboard: a model variable; every query filtered by it; no aggregation without a by clause', async (t) => {
  const variable = dashboard.templating.list.find((v) => v.name === 'model');
  t.ok(variable, 'a "model" template variable');
  t.match(JSON.stringify(variable?.query), /label_values\(slimmable_requests_total, model\)/);
  t.ok(variable?.includeAll && variable.multi, 'All and several models selectable');
  t.ok(dashboard.panels.length >= 8);
  for (const { panel, expr } of targets) {
    t.ok(expr.includes(MODEL), `${panel}: filtered by $model: ${expr}`);
    for (const m of expr.matchAll(AGGREGATION)) {
      t.equal(m[2], 'by', `${panel}: ${m[0]} names the labels it keeps`);
      const by = (m[3] ?? '').split(',').map((l) => l.trim());
      t.ok(by.includes('model') || by.includes('instance'), `${panel}: ${m[0]} keeps model (or instance)`);
    }
  }
});

t.test('every metric the dashboard and the adapter rules query exists in /metrics; the dashboard keeps models apart', async (t) => {
  const app = await startApp();
  t.teardown(() => app.close());
  await request(app.server).post('/classify').set('Content-Type', 'image/png').send(fixtures()[0]!.bytes).expect(200);
  const samples = (await request(app.server).get('/metrics')).text.split('\n').filter((l) => l && !l.startsWith('#'));
  const exposed = new Set(samples.map((l) => l.split(/[{ ]/)[0]!));
  const perModel = new Set(samples.filter((l) => /[{,]model="/.test(l)).map((l) => l.split(/[{ ]/)[0]!));
  const rules = parse(read('deploy/k8s/prometheus-adapter-rules.yaml')) as { rules: { custom: { metricsQuery: string }[] } };
  const exprs = [...targets.map((x) => x.expr), ...rules.rules.custom.map((r) => r.metricsQuery)];
  const queried = new Set(exprs.flatMap((e) => [...e.matchAll(METRIC)].map((m) => m[1]!)));
  t.ok(queried.size >= 10, `${queried.size} metric names queried`);
  for (const name of queried) t.ok(exposed.has(name), `${name} is exported`);

  for (const { panel, expr } of targets) {
    const serving = expr.endsWith(SERVING);
    const core = serving ? expr.slice(0, -SERVING.length) : expr;
    const selectors = [...core.matchAll(METRIC)].map((m) => ({ name: m[1]!, matchers: m[2] ?? '' }));
    const processWide = selectors.filter((s) => !perModel.has(s.name));
    if (processWide.length > 0) {
      // Per instance as exported: no aggregation at all, and no per-model family mixed in.
      t.ok(serving, `${panel}: ${processWide[0]!.name} has no model label: restricted to the instances serving $model`);
      t.same(selectors.filter((s) => perModel.has(s.name)).map((s) => s.name), [], `${panel}: process-wide only`);
      t.same([...core.matchAll(AGGREGATION)].map((m) => m[0]), [], `${panel}: ${core} is not aggregated`);
    } else {
      t.notOk(serving, `${panel}: per-model families need no instance filter`);
      for (const s of selectors) t.ok(s.matchers.includes(MODEL), `${panel}: ${s.name}${s.matchers} filtered by $model`);
      for (const m of core.matchAll(AGGREGATION)) {
        t.ok((m[3] ?? '').split(',').map((l) => l.trim()).includes('model'), `${panel}: ${m[0]} groups by model`);
      }
    }
  }
});

t.test('KServe: a ServingRuntime speaking v2 with probes on the v2 health paths, and an InferenceService on it', async (t) => {
  const runtime = parse(read('deploy/kserve/serving-runtime.yaml')) as Doc;
  t.equal(runtime.apiVersion, 'serving.kserve.io/v1alpha1');
  t.equal(runtime.kind, 'ServingRuntime');
  const spec = runtime.spec as { protocolVersions: string[]; supportedModelFormats: { name: string; autoSelect?: boolean }[]; containers: Record<string, unknown>[] };
  t.same(spec.protocolVersions, ['v2']);
  const [container] = spec.containers as [{ image: string; imagePullPolicy: string; readinessProbe: { httpGet: { path: string } }; livenessProbe: { httpGet: { path: string } }; securityContext: Record<string, unknown>; ports: { containerPort: number }[] }];
  t.equal(container.image, `slimmable-serve:${pkg.version}`, 'the same versioned image as the Deployment');
  t.equal(container.imagePullPolicy, 'IfNotPresent');
  t.equal(container.readinessProbe.httpGet.path, '/v2/health/ready');
  t.equal(container.livenessProbe.httpGet.path, '/v2/health/live');
  t.equal(container.ports[0]!.containerPort, 8080);
  t.match(container.securityContext, { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  const service = parse(read('deploy/kserve/inference-service.yaml')) as Doc;
  t.equal(service.apiVersion, 'serving.kserve.io/v1beta1');
  t.equal(service.kind, 'InferenceService');
  const model = (service.spec as { predictor: { model: { modelFormat: { name: string }; runtime: string; protocolVersion: string } } }).predictor.model;
  t.equal(model.runtime, runtime.metadata!.name);
  t.equal(model.protocolVersion, 'v2');
  t.ok(spec.supportedModelFormats.some((f) => f.name === model.modelFormat.name), 'the runtime supports the model format');
  t.equal(service.metadata!.namespace, runtime.metadata!.namespace);
});
