// Calling slimmable-serve from JavaScript (Node 18+ or a browser): fetch only, no dependencies.
//
//   node examples/classify.mjs [http://localhost:8080] [test/fixtures/fashion-test-00000-ankle-boot.png]
//
// It classifies one image twice, through POST /classify and through the Open Inference Protocol's
// POST /v2/models/{name}/infer with the image as a BYTES input, and prints both answers' top class.
import { readFile } from 'node:fs/promises';

const url = process.argv[2] ?? 'http://localhost:8080';
const image = await readFile(process.argv[3] ?? 'test/fixtures/fashion-test-00000-ankle-boot.png');
const headers = { 'X-Latency-Budget': '50', ...(process.env.API_KEY && { Authorization: `Bearer ${process.env.API_KEY}` }) };

// 1. POST /classify: the image as the body, the latency budget as a header
const classify = await fetch(`${url}/classify?topk=1`, { method: 'POST', body: image, headers: { ...headers, 'Content-Type': 'image/png' } });
if (!classify.ok) throw new Error(`/classify answered ${classify.status}: ${await classify.text()}`);
const answer = await classify.json();
console.log(`/classify: ${answer.predictions[0].label} (${answer.predictions[0].score.toFixed(4)}) at width ${answer.width}, ${answer.timings.totalMs} ms`);

// 2. Open Inference Protocol: the encoded image, base64, as a BYTES input
const model = answer.model;
const request = { id: 'example-1', parameters: { latency_budget_ms: 50 }, inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [image.toString('base64')] }] };
const infer = await fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', body: JSON.stringify(request), headers: { ...headers, 'Content-Type': 'application/json' } });
if (!infer.ok) throw new Error(`v2 infer answered ${infer.status}: ${await infer.text()}`);
const result = await infer.json();
const probabilities = result.outputs.find((o) => o.name === 'probabilities').data;
const best = probabilities.indexOf(Math.max(...probabilities));
const labels = (await (await fetch(`${url}/models`, { headers })).json()).models.find((m) => m.name === model).labels;
console.log(`v2 infer:  ${labels[best]} (${probabilities[best].toFixed(4)}) at width ${result.parameters.width}`);
