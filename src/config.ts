/**
 * Configuration from environment variables (each one is documented in README.md).
 * Invalid values stop the server at start-up with a message naming the variable.
 */
import { availableParallelism } from 'node:os';
import { POLICIES, type PolicyName } from './policy/width-policy.js';

export interface Config {
  port: number;
  host: string;
  modelsDir: string;
  executionProviders: string[];
  cudaDeviceId: number;
  inferenceWorkers: number;
  intraOpThreads: number;
  /** The inference workers' nice value (0-19; Linux): the event loop runs before them. */
  workerNice: number;
  defaultBudgetMs: number;
  widthPolicy: PolicyName;
  /** deadline-plan: the share of each waiting request's budget kept as slack. */
  planReserve: number;
  /** deadline-plan: the share of the workers' time work may fill before widths narrow for load. */
  targetUtilization: number;
  /** ms before each request's deadline its answer is planned to be ready: the budget's time outside the server. */
  deadlineMarginMs: number;
  latencyQuantile: number;
  maxQueueDepth: number;
  /** A job not answered this long after its deadline is given up. */
  jobTimeoutMs: number;
  /** Most images one batch may hold (1: no batching). */
  maxBatchSize: number;
  /** How long a free worker may wait for a batch to fill (0: never; a batch forms from what queued). */
  maxBatchDelayMs: number;
  /** Refuse at once (503) a request whose deadline cannot be met even at the narrowest width. */
  shedLateRequests: boolean;
  bodyLimitBytes: number;
  /** Time limits of a connection and a request (0 disables one), ms. */
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  idleSocketTimeoutMs: number;
  maxConnections: number;
  /** Inference requests admitted at once (reading, decoding, queued, running); beyond, 503 before the body is read. */
  maxPendingRequests: number;
  maxInputPixels: number;
  warmupRuns: number;
  warmupRequests: number;
  logLevel: string;
  shutdownTimeoutMs: number;
  verifyGolden: boolean;
  /** Bearer keys allowed to call everything but the health checks (empty: no authentication). */
  apiKeys: string[];
  /** Serve /metrics on this port instead of the main one (undefined: on the main port). */
  metricsPort?: number;
  /** Origins allowed by CORS ('*' for any; empty: no CORS headers). */
  corsOrigins: string[];
  /** Helmet's security headers on every answer. */
  securityHeaders: boolean;
  /** Serve the playground page at /playground/ (and redirect / there). */
  playground: boolean;
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {}

function number(env: Env, name: string, fallback: number, check: (v: number) => boolean, what: string): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(raw) || !check(value)) throw new ConfigError(`${name}=${raw}: must be ${what}`);
  return value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${name}=${raw}: use true or false`);
  return raw === 'true';
}

/** A comma-separated list, trimmed, without empty entries. */
function list(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((v) => v.trim()).filter(Boolean);
}

const positiveInt = (v: number): boolean => Number.isInteger(v) && v > 0;
const nonNegativeInt = (v: number): boolean => Number.isInteger(v) && v >= 0;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const PROVIDERS = ['cuda', 'cpu'];
const isPolicy = (value: string): value is PolicyName => (POLICIES as readonly string[]).includes(value);

export function loadConfig(env: Env = process.env): Config {
  const cores = availableParallelism();
  const providers = (env.EXECUTION_PROVIDERS ?? 'cuda,cpu').split(',').map((p) => p.trim().toLowerCase()).filter(Boolean);
  const unknown = providers.filter((p) => !PROVIDERS.includes(p));
  if (providers.length === 0 || unknown.length > 0) {
    throw new ConfigError(`EXECUTION_PROVIDERS=${env.EXECUTION_PROVIDERS}: use a comma-separated list of ${PROVIDERS.join(', ')}`);
  }
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL=${logLevel}: use one of ${LOG_LEVELS.join(', ')}`);
  const intraOpThreads = number(env, 'INTRA_OP_THREADS', 1, positiveInt, 'a positive integer');
  const policy = env.WIDTH_POLICY ?? 'deadline-plan';
  if (!isPolicy(policy)) throw new ConfigError(`WIDTH_POLICY=${policy}: use one of ${POLICIES.join(', ')}`);
  const verify = flag(env, 'VERIFY_GOLDEN', true);
  const apiKeys = list(env.API_KEYS);
  const weak = apiKeys.find((key) => key.length < 16);
  if (weak !== undefined) throw new ConfigError('API_KEYS: every key must have at least 16 characters');
  const port = number(env, 'PORT', 8080, (v) => Number.isInteger(v) && v >= 0 && v < 65536, 'a port number');
  const metricsPort = env.METRICS_PORT ? number(env, 'METRICS_PORT', 0, (v) => Number.isInteger(v) && v >= 0 && v < 65536, 'a port number') : undefined;
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) throw new ConfigError(`METRICS_PORT=${metricsPort}: must differ from PORT`);
  const requestTimeoutMs = number(env, 'REQUEST_TIMEOUT_MS', 30_000, nonNegativeInt, 'a number of milliseconds (0: none)');
  const headersTimeoutMs = number(env, 'HEADERS_TIMEOUT_MS', 10_000, positiveInt, 'a positive number of milliseconds');
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError(`HEADERS_TIMEOUT_MS=${headersTimeoutMs}: must not exceed REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  }
  return {
    port,
    host: env.HOST ?? '0.0.0.0',
    modelsDir: env.MODELS_DIR ?? 'models',
    executionProviders: providers,
    cudaDeviceId: number(env, 'CUDA_DEVICE_ID', 0, (v) => Number.isInteger(v) && v >= 0, 'a device index'),
    // Default: as many single-threaded workers as cores, so the sum of intra-op threads fits the cores.
    inferenceWorkers: number(env, 'INFERENCE_WORKERS', Math.max(1, Math.floor(cores / intraOpThreads)), positiveInt, 'a positive integer'),
    intraOpThreads,
    workerNice: number(env, 'WORKER_NICE', 10, (v) => Number.isInteger(v) && v >= 0 && v <= 19, 'an integer from 0 to 19'),
    defaultBudgetMs: number(env, 'DEFAULT_LATENCY_BUDGET_MS', 25, (v) => v > 0, 'a positive number of milliseconds'),
    widthPolicy: policy,
    planReserve: number(env, 'PLAN_RESERVE', 0.25, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    targetUtilization: number(env, 'TARGET_UTILIZATION', 0.95, (v) => v > 0 && v <= 1, 'in (0, 1]'),
    deadlineMarginMs: number(env, 'DEADLINE_MARGIN_MS', 2, (v) => v >= 0 && v <= 1000, 'from 0 to 1000 milliseconds'),
    latencyQuantile: number(env, 'LATENCY_QUANTILE', 0.99, (v) => v > 0 && v <= 1, 'in (0, 1]'),
    maxQueueDepth: number(env, 'MAX_QUEUE_DEPTH', 64, positiveInt, 'a positive integer'),
    jobTimeoutMs: number(env, 'JOB_TIMEOUT_MS', 5000, positiveInt, 'a positive number of milliseconds'),
    maxBatchSize: number(env, 'MAX_BATCH_SIZE', 8, (v) => Number.isInteger(v) && v >= 1 && v <= 32, 'an integer from 1 to 32'),
    maxBatchDelayMs: number(env, 'MAX_BATCH_DELAY_MS', 0, (v) => v >= 0 && v <= 1000, 'from 0 to 1000 milliseconds'),
    shedLateRequests: flag(env, 'SHED_LATE_REQUESTS', false),
    bodyLimitBytes: number(env, 'BODY_LIMIT_BYTES', 10 * 1024 * 1024, positiveInt, 'a positive number of bytes'),
    requestTimeoutMs,
    headersTimeoutMs,
    keepAliveTimeoutMs: number(env, 'KEEP_ALIVE_TIMEOUT_MS', 5_000, positiveInt, 'a positive number of milliseconds'),
    idleSocketTimeoutMs: number(env, 'IDLE_SOCKET_TIMEOUT_MS', 30_000, nonNegativeInt, 'a number of milliseconds (0: none)'),
    maxConnections: number(env, 'MAX_CONNECTIONS', 1024, positiveInt, 'a positive integer'),
    maxPendingRequests: number(env, 'MAX_PENDING_REQUESTS', 128, positiveInt, 'a positive integer'),
    maxInputPixels: number(env, 'MAX_INPUT_PIXELS', 4096 * 4096, positiveInt, 'a positive number of pixels'),
    warmupRuns: number(env, 'WARMUP_RUNS', 30, positiveInt, 'a positive integer'),
    warmupRequests: number(env, 'WARMUP_REQUESTS', 200, nonNegativeInt, 'a number of requests (0: none)'),
    logLevel,
    shutdownTimeoutMs: number(env, 'SHUTDOWN_TIMEOUT_MS', 4000, positiveInt, 'a positive number of milliseconds'),
    verifyGolden: verify,
    apiKeys,
    ...(metricsPort !== undefined && { metricsPort }),
    corsOrigins: list(env.CORS_ORIGINS),
    securityHeaders: flag(env, 'SECURITY_HEADERS', false),
    playground: flag(env, 'PLAYGROUND', true),
  };
}
