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
  defaultBudgetMs: number;
  widthPolicy: PolicyName;
  /** deadline-plan: the share of each waiting request's budget kept as slack. */
  planReserve: number;
  /** deadline-plan: the share of the workers' time work may fill before widths narrow for load. */
  targetUtilization: number;
  latencyQuantile: number;
  maxQueueDepth: number;
  bodyLimitBytes: number;
  maxInputPixels: number;
  warmupRuns: number;
  logLevel: string;
  shutdownTimeoutMs: number;
  verifyGolden: boolean;
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {}

function number(env: Env, name: string, fallback: number, check: (v: number) => boolean, what: string): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || !check(value)) throw new ConfigError(`${name}=${raw}: must be ${what}`);
  return value;
}

const positiveInt = (v: number): boolean => Number.isInteger(v) && v > 0;
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
  const verify = env.VERIFY_GOLDEN ?? 'true';
  if (!['true', 'false'].includes(verify)) throw new ConfigError(`VERIFY_GOLDEN=${verify}: use true or false`);
  return {
    port: number(env, 'PORT', 8080, (v) => Number.isInteger(v) && v >= 0 && v < 65536, 'a port number'),
    host: env.HOST ?? '0.0.0.0',
    modelsDir: env.MODELS_DIR ?? 'models',
    executionProviders: providers,
    cudaDeviceId: number(env, 'CUDA_DEVICE_ID', 0, (v) => Number.isInteger(v) && v >= 0, 'a device index'),
    // Default: as many single-threaded workers as cores, so the sum of intra-op threads fits the cores.
    inferenceWorkers: number(env, 'INFERENCE_WORKERS', Math.max(1, Math.floor(cores / intraOpThreads)), positiveInt, 'a positive integer'),
    intraOpThreads,
    defaultBudgetMs: number(env, 'DEFAULT_LATENCY_BUDGET_MS', 25, (v) => v > 0, 'a positive number of milliseconds'),
    widthPolicy: policy,
    planReserve: number(env, 'PLAN_RESERVE', 0.25, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    targetUtilization: number(env, 'TARGET_UTILIZATION', 0.85, (v) => v > 0 && v <= 1, 'in (0, 1]'),
    latencyQuantile: number(env, 'LATENCY_QUANTILE', 0.99, (v) => v > 0 && v <= 1, 'in (0, 1]'),
    maxQueueDepth: number(env, 'MAX_QUEUE_DEPTH', 64, positiveInt, 'a positive integer'),
    bodyLimitBytes: number(env, 'BODY_LIMIT_BYTES', 10 * 1024 * 1024, positiveInt, 'a positive number of bytes'),
    maxInputPixels: number(env, 'MAX_INPUT_PIXELS', 4096 * 4096, positiveInt, 'a positive number of pixels'),
    warmupRuns: number(env, 'WARMUP_RUNS', 30, positiveInt, 'a positive integer'),
    logLevel,
    shutdownTimeoutMs: number(env, 'SHUTDOWN_TIMEOUT_MS', 4000, positiveInt, 'a positive number of milliseconds'),
    verifyGolden: verify === 'true',
  };
}
