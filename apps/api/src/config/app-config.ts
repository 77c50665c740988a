import { chmodSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, Env, LOG_LEVELS, LogLevel, NODE_ENVS, NodeEnv, readInt, readOneOf, readString } from '@limen/env';
import {
  databaseUrl,
  jwtSecret,
  absolutePath,
  password,
  libvirtUri,
  trustProxy,
  hostName,
  vmNetwork,
  portForwardRange,
  portForwardAddress,
  bearerToken,
  storageRoots,
  storagePoolNames,
  agentClient,
  smtpUrl,
  emailFrom,
} from './env-values';
import { identityProviders } from './identity-config';
import {
  ConsoleConfig,
  EventStreamConfig,
  ImageUploadConfig,
  limitSettings,
  SharedLimitsConfig,
  sharedLimitsSettings,
} from './limits-config';

export type RegistrationMode = 'closed' | 'approval' | 'open';
export { ConfigError };
export type { LogLevel, NodeEnv };
export type { ConsoleConfig, EventStreamConfig, ImageUploadConfig, SharedLimitsConfig };

/**
 * The whole typed configuration of the api. `loadConfig` is the only reader of
 * process.env in the code base; everything else receives this object by injection.
 */
export class AppConfig {
  nodeEnv: NodeEnv;
  host: string;
  port: number;
  dataDir: string;
  /** Unset means: start the embedded PGlite server under DATA_DIR/pg. */
  databaseUrl?: string;
  logLevel: LogLevel;
  corsOrigins: string[];
  /**
   * Express `trust proxy`: which hops may set X-Forwarded-For, so per-IP limits and the audit
   * trail see the client, not the reverse proxy. False (default) trusts no one.
   */
  trustProxy: string | number | false;
  jwtSecret: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlDays: number;
  /**
   * How long after a rotation presenting the rotated refresh token again returns the same new
   * pair instead of counting as reuse: two tabs refreshing at once. 0 turns the grace off.
   */
  refreshReuseGraceSeconds: number;
  adminUsername: string;
  adminPassword?: string;
  registration: RegistrationMode;
  rateLimitPerMinute: number;
  authRateLimitPerMinute: number;
  lockoutThreshold: number;
  lockoutMinutes: number;
  shutdownTimeoutMs: number;
  /** How long a request's headers and body may take to arrive (image uploads have their own rule). */
  requestTimeoutSeconds: number;
  /**
   * How long an idle keep-alive connection stays open. Longer than the idle timeout of the
   * clients and proxies in front (60 s for nginx, HAProxy and cloud load balancers; 4 s for
   * Node's fetch), so they always close it first: a server that closes first races a request the
   * client sends on the closing socket (`fetch failed`, 502 at the proxy).
   */
  keepAliveTimeoutSeconds: number;
  /**
   * How far V8 lets the heap grow past what the last full collection kept, in percent (0: V8's own
   * choice, up to 4× the live heap under load). The api's request garbage is short-lived, so 100
   * (2×) holds RSS under load near 250 MB instead of 350 MB for a few percent more GC time.
   */
  heapGrowingPercent: number;
  imageUploads: ImageUploadConfig;
  hypervisor: HypervisorConfig;
  defaultQuota: QuotaLimits;
  /** How often the reconciler sweeps every domain against the database. */
  reconcileIntervalSeconds: number;
  /** How the sweep starts VMs found down while wanted running (see VmAutostart). */
  autostart: AutostartConfig;
  /** This machine's name in the hosts table (the local host, registered on first start). */
  hostName: string;
  /** Placement capacity: a host offers cpus × this / 100 vCPUs and memory × memoryOvercommitPercent / 100. */
  cpuOvercommitPercent: number;
  memoryOvercommitPercent: number;
  /** A new disk's virtual size may be at most its host's VM pool's free space × this / 100 (disks are thin). */
  diskOvercommitPercent: number;
  /** Hypervisor operations that may run at once on one host. */
  operationConcurrencyPerHost: number;
  /** How long the persisted event log keeps events for Last-Event-ID replay. */
  eventRetentionHours: number;
  agent: AgentClientConfig;
  alerting: AlertingConfig;
  portForwards: PortForwardConfig;
  /** When set, GET /metrics (Prometheus) requires `Authorization: Bearer METRICS_TOKEN`. */
  metricsToken?: string;
  console: ConsoleConfig;
  eventStreams: EventStreamConfig;
  copies: CopiesConfig;
  identity: IdentityConfig;
  /** Rate limits and per-user slots: per replica or shared (limits-config.ts). */
  sharedLimits: SharedLimitsConfig;
}

/** API tokens, second factors and single sign-on (issue 17). */
export interface IdentityConfig {
  /** REQUIRE_2FA: whose sign-in must pass a TOTP second factor (they enrol at their next sign-in). */
  require2fa: 'none' | 'admins' | 'all';
  /** The issuer name an authenticator app shows next to the code. */
  totpIssuer: string;
  /** Live (unrevoked, unexpired) API tokens one user may hold. */
  maxApiTokensPerUser: number;
  /** Present when OIDC_ISSUER is set: sign-in through that OpenID provider. */
  oidc?: OidcConfig;
}

export interface OidcConfig {
  /** OIDC_ISSUER: the provider's issuer URL (discovery at /.well-known/openid-configuration). */
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** OIDC_REDIRECT_URI: where the provider sends the browser back; default PUBLIC_URL/api/v1/auth/oidc/callback. */
  redirectUri: string;
  /** Members of this group (the `groups` claim) sign in as admins; everyone else as users. */
  adminGroup?: string;
  /** OIDC_SCOPES, space-separated; `openid` is always included. */
  scopes: string;
}

/** Backups, templates and schedules (issue 16). */
export interface CopiesConfig {
  /** The backup store: a local or mounted folder; each backup is a folder of its own in it. */
  backupDir: string;
  /** A schedule's cron expression may not fire more often than this (400 otherwise). */
  scheduleMinIntervalSeconds: number;
  /** How often the leader looks for due schedules. */
  scheduleTickSeconds: number;
}

/** Host ports forwarded to user-mode NICs: allocated lowest first from [from, to], listening on `address`. */
export interface PortForwardConfig {
  from: number;
  to: number;
  address: string;
}

export interface AgentClientConfig {
  /** Base URL of the host metrics agent, without a trailing slash. */
  url: string;
  /** AGENT_TOKEN when given. */
  token?: string;
  /**
   * Outside production without AGENT_TOKEN: DATA_DIR/agent-token, which the agent writes when
   * it shares DATA_DIR. Read when needed (not only at start), since the agent may start later.
   */
  tokenFile?: string;
}

export interface AutostartConfig {
  /** The wait after a start attempt, doubling with each attempt in a row (capped at an hour). */
  backoffSeconds: number;
  /** Attempts in a row after which the sweep stops trying until the owner starts the VM; 0: it never starts VMs. */
  maxAttempts: number;
}

export interface AlertingConfig {
  evalIntervalSeconds: number;
  /** smtp:// or smtps:// URL for email channels; unset disables them. */
  smtpUrl?: string;
  emailFrom: string;
  /** Per webhook attempt, including reading the response. */
  webhookTimeoutMs: number;
}

export interface HypervisorConfig {
  adapter: 'libvirt' | 'qemu-direct';
  libvirtUri: string;
  virtType: 'auto' | 'kvm' | 'qemu';
  /** Scanned for images; must be traversable by QEMU's user. */
  imageDir: string;
  /** The local host's VM pool (limen-vms): disks, seed ISOs, serial logs. Must be traversable by QEMU's user. */
  vmDir: string;
  /** Every host's VM pool's name (STORAGE_POOL_PREFIX + `-vms`, default limen-vms). */
  vmPool: string;
  /** The name of the pool over IMAGE_DIR on hosts of this machine (default limen-images). */
  imagePool: string;
  /**
   * STORAGE_ROOTS: where another host's VM pool may be (hosts.storagePath), normalised; the
   * default storagePath is `<first root>/pool`. VM_DIR is allowed besides for hosts on this machine.
   */
  storageRoots: string[];
  /** qemu-direct only: specs, QMP sockets and pidfiles. */
  qemuStateDir: string;
  /** `user` (QEMU user-mode networking) or the name of a libvirt network. */
  vmNetwork: string;
  /** Largest image upload accepted. */
  maxImageUploadBytes: number;
}

export interface QuotaLimits {
  vms: number;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  snapshots: number;
  /** Backups and templates together, in the store's (compressed) bytes. */
  backupGiB: number;
}

export function loadConfig(env: Env = process.env): AppConfig {
  const nodeEnv = readOneOf<NodeEnv>(env, 'NODE_ENV', NODE_ENVS, 'development');
  const dataDir = resolve(readString(env, 'DATA_DIR') ?? './data');
  const url = databaseUrl(env);
  if (nodeEnv === 'production' && url === undefined) {
    throw new ConfigError('DATABASE_URL is required when NODE_ENV=production');
  }
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
  } catch (error) {
    throw new ConfigError(`DATA_DIR ${dataDir} is not usable: ${(error as Error).message}`);
  }
  const config = new AppConfig();
  Object.assign(config, {
    nodeEnv,
    dataDir,
    databaseUrl: url,
    ...serverSettings(env),
    ...identitySettings(env, nodeEnv, dataDir),
    ...limitSettings(env),
    hypervisor: hypervisorSettings(env),
    defaultQuota: defaultQuota(env),
    ...fleetSettings(env),
    agent: agentClient(env, nodeEnv, dataDir),
    alerting: alertingSettings(env),
    copies: copiesSettings(env, dataDir),
    identity: identityProviders(env),
    sharedLimits: sharedLimitsSettings(env, url),
    portForwards: { ...portForwardRange(env), address: portForwardAddress(env) },
    metricsToken: bearerToken(env, 'METRICS_TOKEN'),
  });
  return config;
}

function serverSettings(env: Env) {
  const corsOrigins = (readString(env, 'CORS_ORIGINS') ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    if (!/^https?:\/\/[^\s/]+$/.test(origin)) {
      throw new ConfigError(`CORS_ORIGINS entries must be origins like https://example.com (got "${origin}")`);
    }
  }
  return {
    host: readString(env, 'HOST') ?? '127.0.0.1',
    port: readInt(env, 'PORT', 18443, 0, 65535),
    logLevel: readOneOf<LogLevel>(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    corsOrigins,
    trustProxy: trustProxy(env),
    shutdownTimeoutMs: readInt(env, 'SHUTDOWN_TIMEOUT_MS', 10000, 0, 600000),
    requestTimeoutSeconds: readInt(env, 'REQUEST_TIMEOUT_SECONDS', 300, 1, 86400),
    keepAliveTimeoutSeconds: readInt(env, 'KEEP_ALIVE_TIMEOUT_SECONDS', 65, 1, 3600),
    heapGrowingPercent: readInt(env, 'HEAP_GROWING_PERCENT', 100, 0, 1000),
  };
}

function identitySettings(env: Env, nodeEnv: NodeEnv, dataDir: string) {
  const adminUsername = (readString(env, 'ADMIN_USERNAME') ?? 'admin').toLowerCase();
  if (!/^[a-z0-9._-]{3,32}$/.test(adminUsername)) {
    throw new ConfigError('ADMIN_USERNAME must be 3-32 characters of a-z 0-9 . _ -');
  }
  return {
    jwtSecret: jwtSecret(env, nodeEnv, dataDir),
    accessTokenTtlSeconds: readInt(env, 'ACCESS_TOKEN_TTL_SECONDS', 900, 30, 86400),
    refreshTokenTtlDays: readInt(env, 'REFRESH_TOKEN_TTL_DAYS', 30, 1, 365),
    refreshReuseGraceSeconds: readInt(env, 'REFRESH_REUSE_GRACE_SECONDS', 10, 0, 300),
    adminUsername,
    adminPassword: password(env, 'ADMIN_PASSWORD'),
    registration: readOneOf<RegistrationMode>(env, 'REGISTRATION', ['closed', 'approval', 'open'], 'approval'),
    lockoutThreshold: readInt(env, 'LOCKOUT_THRESHOLD', 5, 1, 1000),
    lockoutMinutes: readInt(env, 'LOCKOUT_MINUTES', 15, 1, 10080),
  };
}

function hypervisorSettings(env: Env): AppConfig['hypervisor'] {
  return {
    adapter: readOneOf(env, 'HYPERVISOR_ADAPTER', ['libvirt', 'qemu-direct'] as const, 'libvirt'),
    libvirtUri: libvirtUri(env),
    virtType: readOneOf(env, 'LIMEN_VIRT_TYPE', ['auto', 'kvm', 'qemu'] as const, 'auto'),
    imageDir: absolutePath(env, 'IMAGE_DIR', '/var/lib/limen/images'),
    vmDir: absolutePath(env, 'VM_DIR', '/var/lib/limen/vms'),
    ...storagePoolNames(env),
    storageRoots: storageRoots(env),
    qemuStateDir: absolutePath(env, 'QEMU_STATE_DIR', '/var/lib/limen/qemu-direct'),
    vmNetwork: vmNetwork(env),
    maxImageUploadBytes: readInt(env, 'MAX_IMAGE_UPLOAD_MIB', 10240, 1, 1_048_576) * 1024 * 1024,
  };
}

function defaultQuota(env: Env): AppConfig['defaultQuota'] {
  return {
    vms: readInt(env, 'DEFAULT_QUOTA_VMS', 10, 0, 100000),
    vcpus: readInt(env, 'DEFAULT_QUOTA_VCPUS', 16, 0, 100000),
    memoryMiB: readInt(env, 'DEFAULT_QUOTA_MEMORY_MIB', 32768, 0, 100_000_000),
    diskGiB: readInt(env, 'DEFAULT_QUOTA_DISK_GIB', 200, 0, 1_000_000),
    snapshots: readInt(env, 'DEFAULT_QUOTA_SNAPSHOTS', 20, 0, 100000),
    backupGiB: readInt(env, 'DEFAULT_QUOTA_BACKUP_GIB', 100, 0, 1_000_000),
  };
}

/** Hosts, placement, the reconcile sweep (and its autostart) and operations. */
function fleetSettings(env: Env) {
  return {
    reconcileIntervalSeconds: readInt(env, 'RECONCILE_INTERVAL_SECONDS', 30, 1, 86400),
    autostart: {
      backoffSeconds: readInt(env, 'AUTOSTART_BACKOFF_SECONDS', 30, 1, 3600),
      maxAttempts: readInt(env, 'AUTOSTART_MAX_ATTEMPTS', 5, 0, 100),
    },
    operationConcurrencyPerHost: readInt(env, 'OPERATION_CONCURRENCY_PER_HOST', 4, 1, 256),
    hostName: hostName(env),
    cpuOvercommitPercent: readInt(env, 'CPU_OVERCOMMIT_PERCENT', 400, 10, 10_000),
    memoryOvercommitPercent: readInt(env, 'MEMORY_OVERCOMMIT_PERCENT', 100, 10, 1_000),
    diskOvercommitPercent: readInt(env, 'DISK_OVERCOMMIT_PERCENT', 100, 10, 1_000_000),
    eventRetentionHours: readInt(env, 'EVENT_RETENTION_HOURS', 24, 1, 8760),
  };
}

function copiesSettings(env: Env, dataDir: string): CopiesConfig {
  return {
    backupDir: absolutePath(env, 'BACKUP_DIR', resolve(dataDir, 'backups')),
    scheduleMinIntervalSeconds: readInt(env, 'SCHEDULE_MIN_INTERVAL_SECONDS', 60, 1, 86400),
    scheduleTickSeconds: readInt(env, 'SCHEDULE_TICK_SECONDS', 15, 1, 3600),
  };
}

function alertingSettings(env: Env): AppConfig['alerting'] {
  return {
    evalIntervalSeconds: readInt(env, 'ALERT_EVAL_INTERVAL_SECONDS', 30, 1, 86400),
    smtpUrl: smtpUrl(env),
    emailFrom: emailFrom(env),
    webhookTimeoutMs: readInt(env, 'WEBHOOK_TIMEOUT_MS', 5000, 100, 120_000),
  };
}
