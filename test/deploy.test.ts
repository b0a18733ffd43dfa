import t from 'tap';
import request from 'supertest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { fixtures, startApp } from './helpers.js';

// What can be checked without a Docker engine or a cluster: syntax, structure, and that the
// dashboard and autoscaling rules query metrics this service really exports.
const ROOT = join(import.meta.dirname, '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
type Doc = Record<string, unknown> & { kind?: string; spec?: Record<string, unknown>; metadata?: { name?: string } };

t.test('docker-compose.yml: service, Prometheus, Grafana, and a GPU profile reserving an NVIDIA device', async (t) => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, Record<string, unknown>> };
  t.same(Object.keys(compose.services).sort(), ['grafana', 'prometheus', 'slimmable', 'slimmable-gpu']);
  const gpu = compose.services['slimmable-gpu']!;
  t.same(gpu.profiles, ['gpu']);
  t.match(JSON.stringify(gpu.deploy), /"driver":"nvidia".*"capabilities":\["gpu"\]/);
  t.match(JSON.stringify(gpu.build), /Dockerfile.cuda/);
  for (const service of Object.values(compose.services)) {
    for (const volume of (service.volumes as string[] | undefined) ?? []) {
      t.ok(existsSync(join(ROOT, volume.split(':')[0]!)), `mounted path ${volume} exists`);
    }
  }
});

t.test('Dockerfiles: multi-stage, non-root, CUDA download skipped on CPU, healthcheck, models copied', async (t) => {
  const cpu = read('Dockerfile');
  t.equal(cpu.match(/^FROM /gm)?.length, 2);
  t.match(cpu, /ONNXRUNTIME_NODE_INSTALL=skip/);
  t.match(cpu, /npm prune --omit=dev/);
  t.match(cpu, /^USER node$/m);
  t.match(cpu, /^HEALTHCHECK .*\n.*\/healthz/m);
  t.match(cpu, /^COPY .*models \.\/models$/m);
  const cuda = read('Dockerfile.cuda');
  t.match(cuda, /^FROM nvidia\/cuda:12\.[0-9.]+-cudnn-runtime/m);
  t.match(cuda, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
  t.match(cuda, /EXECUTION_PROVIDERS=cuda,cpu/);
});

t.test('Kubernetes manifests: probes, resources, graceful termination, autoscaling', async (t) => {
  const docs: Doc[] = [];
  for (const file of readdirSync(join(ROOT, 'deploy/k8s')).filter((f) => f.endsWith('.yaml') && !f.startsWith('prometheus-adapter'))) {
    for (const doc of parseAllDocuments(read(`deploy/k8s/${file}`))) {
      t.same(doc.errors, [], file);
      docs.push(doc.toJS() as Doc);
    }
  }
  const deployments = docs.filter((d) => d.kind === 'Deployment');
  t.equal(deployments.length, 2);
  for (const deployment of deployments) {
    const text = JSON.stringify(deployment);
    t.match(text, /"readinessProbe":\{"httpGet":\{"path":"\/readyz"/);
    t.match(text, /"livenessProbe":\{"httpGet":\{"path":"\/healthz"/);
    t.match(text, /"requests":\{"cpu"/);
    t.match(text, /"terminationGracePeriodSeconds":15/);
  }
  t.match(JSON.stringify(deployments), /"nvidia.com\/gpu":1/);
  const hpas = docs.filter((d) => d.kind === 'HorizontalPodAutoscaler');
  t.equal(hpas.length, 2);
  for (const hpa of hpas) t.match(JSON.stringify(hpa.spec), /"scaleTargetRef":\{"apiVersion":"apps\/v1","kind":"Deployment","name":"slimmable-serve"\}/);
  t.ok(docs.some((d) => d.kind === 'Service' && d.metadata?.name === 'slimmable-serve'));
});

t.test('promtool accepts the Prometheus configuration', { skip: existsSync('/usr/bin/promtool') ? false : 'promtool not installed (apt-get install prometheus)' }, async (t) => {
  const out = execFileSync('/usr/bin/promtool', ['check', 'config', join(ROOT, 'deploy/prometheus/prometheus.yml')]).toString();
  t.match(out, /SUCCESS/);
});

t.test('every metric the dashboard and the adapter rules query exists in /metrics', async (t) => {
  const app = await startApp();
  t.teardown(() => app.close());
  await request(app.server).post('/classify').set('Content-Type', 'image/png').send(fixtures()[0]!.bytes).expect(200);
  const exposed = new Set((await request(app.server).get('/metrics')).text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]!));
  const dashboard = JSON.parse(read('deploy/grafana/dashboards/slimmable.json')) as { panels: { title: string; targets: { expr: string }[] }[] };
  const rules = parse(read('deploy/k8s/prometheus-adapter-rules.yaml')) as { rules: { custom: { metricsQuery: string }[] } };
  const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr)), ...rules.rules.custom.map((r) => r.metricsQuery)];
  const queried = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(slimmable_[a-z_]+|nodejs_[a-z0-9_]+)\b/g)].map((m) => m[1]!)));
  t.ok(queried.size >= 10, `${queried.size} metric names queried`);
  for (const name of queried) t.ok(exposed.has(name), `${name} is exported`);
  t.ok(dashboard.panels.length >= 8);
});
