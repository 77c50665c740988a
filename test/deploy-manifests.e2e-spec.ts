import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import request from 'supertest';
import { parseAllDocuments } from 'yaml';
import { loadAgentConfig } from '../apps/agent/src/config/agent-config';
import { ConfigError, loadConfig } from '../apps/api/src/config/app-config';
import { startAgent } from './support/agent-process';
import { startTestApp, TestApp } from './support/test-app';

/**
 * Docker and Kubernetes do not run here, so this parses every deployment artifact (compose,
 * Dockerfiles, infra/k8s, infra/nginx, infra/systemd) and cross-checks them against the code:
 * env var names against what the two config files read, values against the real config
 * loaders, ports, probe paths (asked of the running api and agent), entry points against the
 * build output, and the wiring between manifests (selectors, services, secrets, upstreams).
 * Every problem is reported as "<file>: <what is wrong>", all of them at once.
 */
const ROOT = join(__dirname, '..');
const API_PORT = 18443;
const AGENT_PORT = 9000;
const API_MAIN = 'dist/apps/api/main.js';
const AGENT_MAIN = 'dist/apps/agent/main.js';
const LIBVIRT_SOCKET = '/var/run/libvirt/libvirt-sock';
const LIMEN_STATE = '/var/lib/limen';
/** What every CHANGE-ME placeholder becomes when a test plays the operator who filled it in. */
const FILLED_IN = 'filled-in-by-the-operator-0123456789abcdef';

type App = 'api' | 'agent';
type Env = Record<string, string>;

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** Names the config sources read: every `(env, 'NAME'` argument (readString, readInt, helpers…) in any of `paths`. */
function namesReadBy(...paths: string[]): Set<string> {
  const names = paths.flatMap((path) => [...read(path).matchAll(/\(\s*env\s*,\s*'([A-Z][A-Z0-9_]*)'/g)]);
  return new Set(names.map((m) => m[1]));
}
const VARS: Record<App, Set<string>> = {
  api: namesReadBy('apps/api/src/config/app-config.ts', 'apps/api/src/config/env-values.ts'),
  agent: namesReadBy('apps/agent/src/config/agent-config.ts'),
};
const MAIN: Record<App, string> = { api: API_MAIN, agent: AGENT_MAIN };
const PORT: Record<App, number> = { api: API_PORT, agent: AGENT_PORT };
const PORT_VAR: Record<App, string> = { api: 'PORT', agent: 'AGENT_PORT' };
const HOST_VAR: Record<App, string> = { api: 'HOST', agent: 'AGENT_HOST' };
const LIVENESS: Record<App, string> = { api: '/health/live', agent: '/health' };

/** Collects problems so one run names all of them; the expectation prints the list. */
class Problems {
  readonly list: string[] = [];
  add(file: string, message: string): void {
    this.list.push(`${file}: ${message}`);
  }
  check(condition: unknown, file: string, message: string): void {
    if (!condition) this.add(file, message);
  }
}

function expectNone(problems: Problems): void {
  expect(problems.list).toEqual([]);
}

function fillPlaceholders(env: Env): Env {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replaceAll('CHANGE-ME', FILLED_IN)]));
}

const scratch = mkdtempSync(join(tmpdir(), 'limen-deploy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * Runs an app's real config loader on an environment (DATA_DIR redirected to scratch, since the
 * api creates it). Returns the error message, or the loaded config.
 */
function loadWith(
  app: App,
  env: Env,
): { error?: string; api?: ReturnType<typeof loadConfig>; agent?: ReturnType<typeof loadAgentConfig> } {
  try {
    if (app === 'api') return { api: loadConfig({ ...env, DATA_DIR: mkdtempSync(join(scratch, 'data-')) }) };
    return { agent: loadAgentConfig({ ...env, AGENT_DATA_DIR: mkdtempSync(join(scratch, 'data-')) }) };
  } catch (error) {
    if (error instanceof ConfigError || (error as Error).constructor.name === 'ConfigError')
      return { error: (error as Error).message };
    throw error;
  }
}

/**
 * The checks every deployment's environment gets: names the app reads, production settings,
 * the listening port and address, placeholders that refuse to start, and values the real
 * loader accepts once filled in.
 */
function checkAppEnv(
  problems: Problems,
  file: string,
  app: App,
  env: Env,
  options: { containerized: boolean; substitutionOnly?: Set<string>; origin?: Record<string, string> },
): void {
  for (const name of Object.keys(env)) {
    if (!VARS[app].has(name) && !options.substitutionOnly?.has(name)) {
      problems.add(
        options.origin?.[name] ?? file,
        `${app} env var ${name}${options.origin?.[name] ? ` (used by ${file})` : ''} is not read by the ${app}'s config (known: ${[...VARS[app]].sort().join(', ')})`,
      );
    }
  }
  const required = app === 'api' ? ['NODE_ENV', 'JWT_SECRET', 'DATABASE_URL'] : ['NODE_ENV', 'AGENT_TOKEN'];
  for (const name of required)
    problems.check(env[name] !== undefined, file, `${app} needs ${name} in production but it is not set`);
  problems.check(env.NODE_ENV === 'production', file, `${app} NODE_ENV is "${env.NODE_ENV}", expected production`);
  if (Object.values(env).some((v) => v.includes('CHANGE-ME'))) {
    const unfilled = loadWith(app, env);
    problems.check(
      unfilled.error,
      file,
      `${app} starts with the unfilled CHANGE-ME placeholders; they must be invalid so a forgotten one fails fast`,
    );
  }
  const loaded = loadWith(app, fillPlaceholders(env));
  if (loaded.error) return problems.add(file, `the ${app}'s config loader rejects this environment: ${loaded.error}`);
  const port = loaded.api?.port ?? loaded.agent!.port;
  problems.check(port === PORT[app], file, `${app} listens on ${port} (${PORT_VAR[app]}), expected ${PORT[app]}`);
  const host = loaded.api?.host ?? loaded.agent!.host;
  if (options.containerized) {
    // Inside a container loopback is private to it: the published port or probe needs another address.
    problems.check(
      !['127.0.0.1', 'localhost', '::1'].includes(host),
      file,
      `${app} binds ${host} (${HOST_VAR[app]}) inside a container: nothing outside could reach it`,
    );
  }
  if (loaded.api) {
    const agentPort = Number(new URL(loaded.api.agent.url).port || 80);
    problems.check(
      agentPort === AGENT_PORT,
      file,
      `api AGENT_URL ${loaded.api.agent.url} does not use the agent's port ${AGENT_PORT}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Small parsers for the non-YAML formats
// ---------------------------------------------------------------------------------------------

interface DockerInstruction {
  op: string;
  args: string;
}
interface DockerStage {
  from: string;
  name?: string;
  instructions: DockerInstruction[];
}

/** Dockerfile: comments dropped, backslash continuations joined, split into FROM stages. */
function parseDockerfile(text: string): DockerStage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  const stages: DockerStage[] = [];
  for (const line of logical) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    if (op.toUpperCase() === 'FROM') {
      const [, image, name] = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(args)!;
      stages.push({ from: image, name, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

/** ENV KEY=VALUE pairs (quotes allowed) of one stage. */
function dockerEnv(stage: DockerStage): Env {
  const env: Env = {};
  for (const { args } of stage.instructions.filter((i) => i.op === 'ENV')) {
    for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) env[m[1]] = m[3] ?? m[2];
  }
  return env;
}

interface NginxDirective {
  name: string;
  args: string[];
  block?: NginxDirective[];
}

/** nginx: tokens (quotes, comments), `name args… ;` and `name args… { … }`. */
function parseNginx(text: string): NginxDirective[] {
  const tokens: string[] = [];
  const re = /#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"'#][^\s{};]*)/g;
  for (const m of text.matchAll(re)) {
    if (m[0].startsWith('#')) continue;
    tokens.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
  }
  let i = 0;
  const block = (): NginxDirective[] => {
    const out: NginxDirective[] = [];
    while (i < tokens.length && tokens[i] !== '}') {
      const name = tokens[i++];
      const args: string[] = [];
      while (i < tokens.length && tokens[i] !== ';' && tokens[i] !== '{') args.push(tokens[i++]);
      if (tokens[i] === '{') {
        i++;
        out.push({ name, args, block: block() });
        i++; // '}'
      } else {
        i++; // ';'
        out.push({ name, args });
      }
    }
    return out;
  };
  return block();
}

/** systemd unit: `[Section]` → key → values (keys may repeat). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      sections[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq).trim();
    (sections[section][key] ??= []).push(line.slice(eq + 1).trim());
  }
  return sections;
}

/** KEY=VALUE lines (an env file), comments and blanks skipped. */
function parseEnvFile(text: string): Env {
  const env: Env = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    env[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return env;
}

/** nginx sizes (1m, 10500m, 10g) in bytes; 0 means unlimited. */
function nginxBytes(size: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(size);
  if (!m) return NaN;
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

// ---------------------------------------------------------------------------------------------
// Loading the artifacts
// ---------------------------------------------------------------------------------------------

const COMPOSE_FILE = 'docker-compose.yml';
const COMPOSE_ENV_FILE = 'infra/docker/limen.env.example';
const DOCKERFILE: Record<App, string> = { api: 'apps/api/Dockerfile', agent: 'apps/agent/Dockerfile' };
const K8S_DIR = 'infra/k8s';
const NGINX_FILE = 'infra/nginx/limen.conf';
const UNIT: Record<App, string> = {
  api: 'infra/systemd/limen-api.service',
  agent: 'infra/systemd/limen-agent.service',
};
const UNIT_ENV: Record<App, string> = {
  api: 'infra/systemd/api.env.example',
  agent: 'infra/systemd/agent.env.example',
};

function parseYaml(path: string, problems: Problems): unknown[] {
  const docs = parseAllDocuments(read(path));
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const doc of list) {
    for (const error of doc.errors) problems.add(path, `YAML error: ${error.message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

type K8sObject = {
  file: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any;
  data?: Env;
  stringData?: Env;
};

function loadK8s(problems: Problems): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const name of readdirSync(join(ROOT, K8S_DIR))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const file = `${K8S_DIR}/${name}`;
    for (const doc of parseYaml(file, problems) as K8sObject[]) {
      if (!doc.kind) problems.add(file, 'a document without kind');
      objects.push({ ...doc, file });
    }
  }
  return objects;
}

const apiDefaults = loadConfig({ DATA_DIR: scratch, NODE_ENV: 'test' });

describe('deployment artifacts (static cross-check)', () => {
  it('reads the env var names from both config sources', () => {
    for (const name of [
      'PORT',
      'HOST',
      'NODE_ENV',
      'JWT_SECRET',
      'DATABASE_URL',
      'AGENT_URL',
      'AGENT_TOKEN',
      'VM_DIR',
      'IMAGE_DIR',
    ])
      expect(VARS.api).toContain(name);
    for (const name of ['AGENT_PORT', 'AGENT_HOST', 'AGENT_TOKEN', 'NODE_ENV']) expect(VARS.agent).toContain(name);
    expect(apiDefaults.port).toBe(API_PORT);
  });

  it('npm run build emits the entry points the Dockerfiles, the Job and the units run', () => {
    const problems = new Problems();
    const pkg = JSON.parse(read('package.json'));
    const nest = JSON.parse(read('nest-cli.json'));
    for (const app of ['api', 'agent'] as App[]) {
      problems.check(
        new RegExp(`nest build ${app}\\b`).test(pkg.scripts.build),
        'package.json',
        `"build" does not build ${app}`,
      );
      const project = nest.projects[app];
      const outDir = JSON.parse(read(project.compilerOptions.tsConfigPath)).compilerOptions.outDir as string;
      const emitted = posix.join(posix.relative('.', posix.join(project.root, outDir)), `${project.entryFile}.js`);
      problems.check(
        emitted === MAIN[app],
        'nest-cli.json',
        `${app} builds to ${emitted}, but the deployment artifacts run ${MAIN[app]}`,
      );
      problems.check(existsSync(join(ROOT, MAIN[app])), MAIN[app], 'missing: run npm run build first');
    }
    problems.check(
      pkg.scripts['migration:run'] === `node ${API_MAIN} migrate`,
      'package.json',
      `migration:run is not "node ${API_MAIN} migrate"`,
    );
    problems.check(
      /process\.argv\[2\] === 'migrate'/.test(read('apps/api/src/main.ts')),
      'apps/api/src/main.ts',
      'no `migrate` argument handling: the migration Job would start a server instead',
    );
    expectNone(problems);
  });

  describe('Dockerfiles', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));

    it('.dockerignore keeps local state and secrets out of the build context', () => {
      const problems = new Problems();
      for (const entry of ['node_modules', 'dist', 'data', '.env', '.git'])
        problems.check(ignore.includes(entry), '.dockerignore', `does not exclude ${entry}`);
      expectNone(problems);
    });

    for (const app of ['api', 'agent'] as App[]) {
      it(`${DOCKERFILE[app]}: multi-stage build, runtime with production modules, ${MAIN[app]}, port ${PORT[app]}`, () => {
        const file = DOCKERFILE[app];
        const problems = new Problems();
        const stages = parseDockerfile(read(file));
        problems.check(
          stages.length >= 2,
          file,
          `${stages.length} stage(s); expected a build stage and a runtime stage`,
        );
        for (const stage of stages)
          problems.check(
            stage.from === 'node:20-bookworm-slim',
            file,
            `stage ${stage.name ?? '?'} is FROM ${stage.from}, expected node:20-bookworm-slim`,
          );
        const build = stages[0];
        const runtime = stages[stages.length - 1];
        const runs = (stage: DockerStage) =>
          stage.instructions
            .filter((i) => i.op === 'RUN')
            .map((i) => i.args)
            .join('\n');
        problems.check(
          /npm ci(?! --omit)/.test(runs(build)),
          file,
          'the build stage does not run npm ci (with dev dependencies)',
        );
        problems.check(/npm run build/.test(runs(build)), file, 'the build stage does not run npm run build');
        problems.check(
          /npm ci --omit=dev/.test(runs(runtime)),
          file,
          'the runtime stage does not install production node_modules (npm ci --omit=dev); webpack leaves them external',
        );

        // Debian packages of the runtime stage.
        const installed = [...runs(runtime).matchAll(/apt-get install ([^&;|]*)/g)].flatMap((m) =>
          m[1].split(/\s+/).filter((w) => w && !w.startsWith('-')),
        );
        const wanted = app === 'api' ? ['libvirt-clients', 'qemu-utils', 'genisoimage'] : [];
        for (const pkg of wanted)
          problems.check(installed.includes(pkg), file, `the runtime stage does not install ${pkg}`);
        for (const pkg of installed)
          problems.check(
            wanted.includes(pkg),
            file,
            `the runtime stage installs ${pkg}, which the ${app} does not need`,
          );

        // WORKDIR + CMD resolves to the bundle copied from the build stage.
        const workdir = (stage: DockerStage) =>
          stage.instructions
            .filter((i) => i.op === 'WORKDIR')
            .map((i) => i.args.trim())
            .pop() ?? '/';
        const cmd = runtime.instructions.filter((i) => i.op === 'CMD').pop();
        let cmdArgs: string[] = [];
        try {
          cmdArgs = JSON.parse(cmd?.args ?? 'null');
        } catch {
          problems.add(file, `CMD is not an exec-form JSON array: ${cmd?.args}`);
        }
        problems.check(
          JSON.stringify(cmdArgs) === JSON.stringify(['node', MAIN[app]]),
          file,
          `CMD is ${cmd?.args}, expected ["node", "${MAIN[app]}"]`,
        );
        const entry = posix.resolve(workdir(runtime), MAIN[app]);
        const copies = runtime.instructions.filter((i) => i.op === 'COPY' && /--from=/.test(i.args));
        const bundle = copies.find((c) => {
          const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
          const dest = posix.resolve(workdir(runtime), parts[parts.length - 1]);
          const src = parts[0];
          return (
            entry.startsWith(dest + '/') &&
            posix.resolve(workdir(build), src) === posix.resolve(workdir(build), posix.dirname(MAIN[app]))
          );
        });
        problems.check(
          bundle,
          file,
          `no COPY --from=<build> of ${posix.dirname(MAIN[app])} into ${posix.dirname(entry)}: CMD would not find ${entry}`,
        );

        // Context files copied must not be ignored.
        for (const stage of stages) {
          for (const c of stage.instructions.filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))) {
            const sources = c.args
              .split(/\s+/)
              .filter((p) => !p.startsWith('--'))
              .slice(0, -1);
            for (const src of sources)
              problems.check(
                !ignore.includes(src.replace(/^\.\//, '')),
                file,
                `COPY ${src}, which .dockerignore excludes`,
              );
            for (const src of sources)
              problems.check(existsSync(join(ROOT, src)), file, `COPY ${src}, which does not exist in the repository`);
          }
        }

        const user = runtime.instructions
          .filter((i) => i.op === 'USER')
          .pop()
          ?.args.trim();
        problems.check(
          user && !/^(root|0)(:|$)/.test(user),
          file,
          `the runtime stage runs as ${user ?? 'root (no USER)'}`,
        );
        const exposed = runtime.instructions
          .filter((i) => i.op === 'EXPOSE')
          .flatMap((i) => i.args.split(/\s+/))
          .map((p) => Number(p.split('/')[0]));
        problems.check(
          JSON.stringify(exposed) === JSON.stringify([PORT[app]]),
          file,
          `EXPOSE ${exposed.join(' ')}, expected ${PORT[app]}`,
        );
        const health = runtime.instructions.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
        problems.check(
          health.includes(`${LIVENESS[app]}'`) || health.includes(`${LIVENESS[app]}"`),
          file,
          `HEALTHCHECK does not ask ${LIVENESS[app]}`,
        );
        problems.check(
          health.includes(String(PORT[app])) && health.includes(PORT_VAR[app]),
          file,
          `HEALTHCHECK does not use ${PORT_VAR[app]} (default ${PORT[app]})`,
        );

        const env = dockerEnv(runtime);
        for (const name of Object.keys(env))
          problems.check(VARS[app].has(name), file, `ENV ${name} is not read by the ${app}'s config`);
        problems.check(
          env[PORT_VAR[app]] === String(PORT[app]),
          file,
          `ENV ${PORT_VAR[app]}=${env[PORT_VAR[app]]}, expected ${PORT[app]}`,
        );
        problems.check(
          env[HOST_VAR[app]] === '0.0.0.0',
          file,
          `ENV ${HOST_VAR[app]}=${env[HOST_VAR[app]]}: a container must listen beyond its own loopback`,
        );
        expectNone(problems);
      });
    }
  });

  describe(COMPOSE_FILE, () => {
    const parseProblems = new Problems();
    let problems: Problems;
    beforeEach(() => (problems = new Problems()));
    const compose = (parseYaml(COMPOSE_FILE, parseProblems)[0] ?? {}) as {
      services: Record<string, any>;
      volumes?: Record<string, unknown>;
    };
    const services = compose.services ?? {};
    const example = parseEnvFile(read(COMPOSE_ENV_FILE));

    /** Compose interpolation (${X}, ${X:-d}, ${X-d}, ${X:?e}, ${X?e}, $$) from the example .env. */
    function interpolate(value: unknown, where: string): string {
      return String(value).replace(
        /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
        (all, name: string, op?: string, arg?: string) => {
          if (all === '$$') return '$';
          const value = example[name];
          const unset = value === undefined || (op?.startsWith(':') && value === '');
          if (!unset) return value;
          if (op?.endsWith('-')) return arg ?? '';
          problems.add(COMPOSE_FILE, `${where} uses \${${name}}, which ${COMPOSE_ENV_FILE} does not define`);
          return '';
        },
      );
    }
    function environment(service: string): { raw: Env; resolved: Env } {
      const env = services[service]?.environment ?? {};
      const pairs: Array<[string, string]> = Array.isArray(env)
        ? env.map((e: string) => [e.split('=')[0], e.slice(e.indexOf('=') + 1)])
        : Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]);
      return {
        raw: Object.fromEntries(pairs),
        resolved: Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(v, `${service}.environment.${k}`)])),
      };
    }
    const volumesOf = (service: string) =>
      (
        (services[service]?.volumes ?? []) as Array<string | { source: string; target: string; read_only?: boolean }>
      ).map((v) => {
        if (typeof v !== 'string') return { source: v.source, target: v.target, readOnly: !!v.read_only };
        const [source, target, mode] = v.split(':');
        return { source, target, readOnly: mode === 'ro' };
      });
    const ports = (service: string) =>
      ((services[service]?.ports ?? []) as string[]).map((p) => {
        const parts = interpolate(p, `${service}.ports`).split(':');
        return {
          ip: parts.length === 3 ? parts[0] : '0.0.0.0',
          host: parts[parts.length - 2],
          container: Number(parts[parts.length - 1].split('/')[0]),
        };
      });
    it('parses, and has postgres, api and agent', () => {
      problems.list.push(...parseProblems.list);
      for (const name of ['postgres', 'api', 'agent'])
        problems.check(services[name], COMPOSE_FILE, `no ${name} service`);
      const pg = services.postgres ?? {};
      problems.check(pg.healthcheck?.test, COMPOSE_FILE, 'postgres has no healthcheck');
      const pgData = volumesOf('postgres').find((v) => v.target === '/var/lib/postgresql/data');
      problems.check(
        pgData && compose.volumes && pgData.source in compose.volumes,
        COMPOSE_FILE,
        'postgres data is not on a named volume',
      );
      problems.check(
        services.api?.depends_on?.postgres?.condition === 'service_healthy',
        COMPOSE_FILE,
        'api does not wait for postgres to be healthy (depends_on condition service_healthy)',
      );
      for (const app of ['api', 'agent'] as App[]) {
        const build = services[app]?.build ?? {};
        problems.check(
          build.context === '.' && build.dockerfile === DOCKERFILE[app],
          COMPOSE_FILE,
          `${app} does not build ${DOCKERFILE[app]} from the repository root`,
        );
      }
      expectNone(problems);
    });

    it('gives the api and the agent only variables they read, with values their config accepts', () => {
      const [api, agent] = [environment('api'), environment('agent')];
      checkAppEnv(
        problems,
        `${COMPOSE_FILE} (api, with ${COMPOSE_ENV_FILE})`,
        'api',
        { ...dockerEnv(parseDockerfile(read(DOCKERFILE.api)).pop()!), ...api.resolved },
        { containerized: true },
      );
      checkAppEnv(
        problems,
        `${COMPOSE_FILE} (agent, with ${COMPOSE_ENV_FILE})`,
        'agent',
        { ...dockerEnv(parseDockerfile(read(DOCKERFILE.agent)).pop()!), ...agent.resolved },
        { containerized: true },
      );
      problems.check(
        api.raw.AGENT_TOKEN === agent.raw.AGENT_TOKEN,
        COMPOSE_FILE,
        'api and agent take AGENT_TOKEN from different places',
      );
      const agentUrl = new URL(api.resolved.AGENT_URL ?? 'http://missing');
      problems.check(
        agentUrl.hostname === 'agent' && Number(agentUrl.port) === Number(agent.resolved.AGENT_PORT ?? AGENT_PORT),
        COMPOSE_FILE,
        `api AGENT_URL ${agentUrl} is not the agent service on its AGENT_PORT`,
      );
      expectNone(problems);
    });

    it('takes secrets from the env file, never literal values', () => {
      const used = new Set([...read(COMPOSE_FILE).matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]));
      for (const name of used)
        problems.check(name in example, COMPOSE_ENV_FILE, `does not define ${name}, which ${COMPOSE_FILE} uses`);
      const [api, agent] = [environment('api'), environment('agent')];
      for (const [service, env] of [
        ['api', api.raw],
        ['agent', agent.raw],
        ['postgres', environment('postgres').raw],
      ] as const) {
        for (const [name, value] of Object.entries(env)) {
          if (!/SECRET|TOKEN|PASSWORD|DATABASE_URL/.test(name)) continue;
          problems.check(
            /\$\{[A-Z_]+(:?[-?][^}]*)?\}/.test(value),
            COMPOSE_FILE,
            `${service}.environment.${name} is a literal; take it from .env (\${${name}:?…})`,
          );
        }
      }
      for (const name of ['JWT_SECRET', 'AGENT_TOKEN', 'POSTGRES_PASSWORD']) {
        problems.check(
          read(COMPOSE_FILE).includes(`\${${name}:?`),
          COMPOSE_FILE,
          `${name} is not required with \${${name}:?…}`,
        );
        problems.check(example[name] === 'CHANGE-ME', COMPOSE_ENV_FILE, `${name} is not the CHANGE-ME placeholder`);
      }
      for (const name of Object.keys(example))
        problems.check(used.has(name), COMPOSE_ENV_FILE, `${name} is defined but ${COMPOSE_FILE} never uses it`);
      expectNone(problems);
    });

    it('mounts the libvirt socket and IMAGE_DIR/VM_DIR at the same paths, publishes on loopback, shares the host pid namespace with the agent', () => {
      const [api, agent] = [environment('api'), environment('agent')];
      const apiVolumes = volumesOf('api');
      problems.check(
        apiVolumes.some(
          (v) =>
            (LIBVIRT_SOCKET === v.target || LIBVIRT_SOCKET.startsWith(v.target + '/')) &&
            v.source === v.target &&
            !v.readOnly,
        ),
        COMPOSE_FILE,
        `api does not mount ${LIBVIRT_SOCKET} (or its folder) read-write`,
      );
      for (const name of ['IMAGE_DIR', 'VM_DIR']) {
        const dir = api.resolved[name] ?? '';
        problems.check(
          apiVolumes.some(
            (v) => v.source === v.target && (dir === v.target || dir.startsWith(v.target + '/')) && !v.readOnly,
          ),
          COMPOSE_FILE,
          `api ${name}=${dir} is not on a read-write bind mount with the same path inside and outside (libvirtd opens these files by name)`,
        );
      }
      problems.check(
        apiVolumes.some((v) => v.target === LIMEN_STATE && v.source === LIMEN_STATE),
        COMPOSE_FILE,
        `api does not mount ${LIMEN_STATE}`,
      );
      problems.check(
        services.api?.group_add?.length,
        COMPOSE_FILE,
        'api has no group_add for the libvirt group that owns libvirt-sock',
      );
      for (const app of ['api', 'agent'] as App[]) {
        const published = ports(app);
        const port = Number((app === 'api' ? api : agent).resolved[PORT_VAR[app]] ?? PORT[app]);
        problems.check(published.length > 0, COMPOSE_FILE, `${app} publishes no port`);
        for (const p of published) {
          problems.check(
            p.ip === '127.0.0.1',
            COMPOSE_FILE,
            `${app} publishes ${p.host} on ${p.ip}; bind it to 127.0.0.1 (the reverse proxy is the way in)`,
          );
          problems.check(
            p.container === port && p.container === PORT[app],
            COMPOSE_FILE,
            `${app} publishes container port ${p.container}, but it listens on ${port} (expected ${PORT[app]})`,
          );
        }
      }
      problems.check(
        services.agent?.pid === 'host' || volumesOf('agent').some((v) => v.source === '/proc'),
        COMPOSE_FILE,
        'agent neither shares the host pid namespace (pid: host) nor mounts /proc: it cannot see QEMU processes',
      );
      expectNone(problems);
    });
  });

  describe(K8S_DIR, () => {
    const loadProblems = new Problems();
    const objects = loadK8s(loadProblems);
    let problems: Problems;
    beforeEach(() => (problems = new Problems()));
    const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
    const named = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata?.name === name);
    const workloads = objects.filter((o) => ['Deployment', 'DaemonSet', 'Job', 'StatefulSet'].includes(o.kind));

    const containers = (w: K8sObject): any[] => w.spec?.template?.spec?.containers ?? [];
    const appOf = (image: string): App | undefined =>
      /limen-api\b/.test(image) ? 'api' : /limen-agent\b/.test(image) ? 'agent' : undefined;
    const podLabels = (w: K8sObject): Record<string, string> => w.spec?.template?.metadata?.labels ?? {};
    const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
      !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
    const apiDeployment = byKind('Deployment').find((d) => containers(d).some((c) => appOf(c.image) === 'api'));
    const agentDaemonSet = byKind('DaemonSet').find((d) => containers(d).some((c) => appOf(c.image) === 'agent'));

    /** The container's effective environment: envFrom ConfigMaps/Secrets, then env with $(VAR) expansion. */

    function containerEnv(
      w: K8sObject,
      c: any,
    ): { env: Env; substitutionOnly: Set<string>; origin: Record<string, string> } {
      const env: Env = {};
      const origin: Record<string, string> = {};
      const where = `${w.file} (${w.kind} ${w.metadata.name}, container ${c.name})`;
      for (const from of c.envFrom ?? []) {
        const ref = from.configMapRef ?? from.secretRef;
        const source = named(from.configMapRef ? 'ConfigMap' : 'Secret', ref?.name);
        if (!source) {
          problems.add(
            where,
            `envFrom ${from.configMapRef ? 'ConfigMap' : 'Secret'} ${ref?.name} is not defined in ${K8S_DIR}`,
          );
          continue;
        }
        Object.assign(env, source.data ?? {}, source.stringData ?? {});
        for (const key of Object.keys({ ...source.data, ...source.stringData }))
          origin[key] = `${source.file} (${source.kind} ${source.metadata.name})`;
      }
      const referenced = new Set<string>();
      for (const e of c.env ?? []) {
        if (e.value !== undefined) {
          env[e.name] = String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all: string, name: string) => {
            referenced.add(name);
            if (env[name] === undefined)
              problems.add(where, `${e.name} refers to $(${name}), which is not defined before it`);
            return env[name] ?? all;
          });
        } else if (e.valueFrom?.secretKeyRef || e.valueFrom?.configMapKeyRef) {
          const ref = e.valueFrom.secretKeyRef ?? e.valueFrom.configMapKeyRef;
          const source = named(e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name);
          const value = source && { ...(source.data ?? {}), ...(source.stringData ?? {}) }[ref.key];
          if (value === undefined)
            problems.add(where, `${e.name} refers to key ${ref.key} of ${ref.name}, which ${K8S_DIR} does not define`);
          env[e.name] = value ?? '';
        } else if (
          e.valueFrom?.fieldRef?.fieldPath === 'status.hostIP' ||
          e.valueFrom?.fieldRef?.fieldPath === 'status.podIP'
        ) {
          env[e.name] = '10.0.0.7';
        } else {
          env[e.name] = '';
        }
      }
      // Variables that exist only to be expanded into others (NODE_IP → AGENT_URL) are no config.
      const substitutionOnly = new Set(
        [...referenced].filter((n) => (c.env ?? []).some((e: { name: string }) => e.name === n)),
      );
      return { env, substitutionOnly, origin };
    }

    /** A probe's or Service's port (number or name) resolved against the container's ports. */

    const resolvePort = (c: any, port: number | string): number | undefined =>
      typeof port === 'number' ? port : c.ports?.find((p: { name: string }) => p.name === port)?.containerPort;

    it('parses every manifest, and kustomization.yaml lists them all and their images', () => {
      problems.list.push(...loadProblems.list);
      const kustomization = objects.find((o) => o.file.endsWith('kustomization.yaml')) as unknown as
        { resources: string[]; images?: Array<{ name: string }> } | undefined;
      problems.check(kustomization, K8S_DIR, 'no kustomization.yaml');
      const listed = new Set(kustomization?.resources ?? []);
      for (const file of readdirSync(join(ROOT, K8S_DIR)).filter(
        (f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml',
      )) {
        problems.check(listed.has(file), `${K8S_DIR}/kustomization.yaml`, `does not list ${file}`);
      }
      for (const resource of listed)
        problems.check(
          existsSync(join(ROOT, K8S_DIR, resource)),
          `${K8S_DIR}/kustomization.yaml`,
          `lists ${resource}, which does not exist`,
        );
      const images = new Set(workloads.flatMap((w) => containers(w).map((c) => String(c.image).split(':')[0])));
      for (const image of images)
        problems.check(
          kustomization?.images?.some((i) => i.name === image),
          `${K8S_DIR}/kustomization.yaml`,
          `images: has no entry for ${image}`,
        );
      for (const kind of [
        'Deployment',
        'PodDisruptionBudget',
        'Service',
        'Ingress',
        'ConfigMap',
        'Secret',
        'DaemonSet',
        'Job',
      ]) {
        problems.check(byKind(kind).length > 0, K8S_DIR, `no ${kind}`);
      }
      problems.check(apiDeployment, K8S_DIR, 'no Deployment runs the limen-api image');
      problems.check(agentDaemonSet, K8S_DIR, 'no DaemonSet runs the limen-agent image');
      expectNone(problems);
    });

    it('gives every container only variables its app reads, and values the real config accepts', () => {
      for (const w of workloads) {
        for (const c of containers(w)) {
          const app = appOf(c.image);
          const where = `${w.file} (${w.kind} ${w.metadata.name}, container ${c.name})`;
          if (!app) {
            problems.add(where, `image ${c.image} is neither limen-api nor limen-agent`);
            continue;
          }
          const { env, substitutionOnly, origin } = containerEnv(w, c);
          const image = dockerEnv(parseDockerfile(read(DOCKERFILE[app])).pop()!);
          checkAppEnv(problems, where, app, { ...image, ...env }, { containerized: true, substitutionOnly, origin });
        }
      }
      for (const secret of byKind('Secret')) {
        for (const [key, value] of Object.entries({ ...(secret.data ?? {}), ...(secret.stringData ?? {}) })) {
          problems.check(
            String(value).includes('CHANGE-ME'),
            secret.file,
            `Secret ${secret.metadata.name} key ${key} is not a CHANGE-ME placeholder`,
          );
        }
      }
      expectNone(problems);
    });

    it('has requests and limits, non-root security contexts, and probes on served paths and the app port', () => {
      for (const w of workloads) {
        const pod = w.spec?.template?.spec ?? {};
        for (const c of containers(w)) {
          const where = `${w.file} (${w.kind} ${w.metadata.name}, container ${c.name})`;
          for (const kind of ['requests', 'limits'])
            for (const resource of ['cpu', 'memory'])
              problems.check(c.resources?.[kind]?.[resource], where, `no resources.${kind}.${resource}`);
          problems.check(
            c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot,
            where,
            'runAsNonRoot is not set',
          );
          problems.check(
            c.securityContext?.allowPrivilegeEscalation === false,
            where,
            'allowPrivilegeEscalation is not false',
          );
          const app = appOf(c.image);
          if (!app || w.kind === 'Job') continue;
          problems.check(
            c.ports?.some((p: { containerPort: number }) => p.containerPort === PORT[app]),
            where,
            `no containerPort ${PORT[app]}`,
          );
          const wanted: Record<string, string | undefined> =
            app === 'api'
              ? { livenessProbe: '/health/live', readinessProbe: '/health/ready', startupProbe: undefined }
              : { livenessProbe: '/health', readinessProbe: undefined };
          for (const [probe, path] of Object.entries(wanted)) {
            const spec = c[probe];
            if (!spec) {
              problems.check(path === undefined, where, `no ${probe}`);
              continue;
            }
            const served = app === 'api' ? ['/health/live', '/health/ready'] : ['/health'];
            problems.check(
              spec.httpGet?.path === (path ?? spec.httpGet?.path) && served.includes(spec.httpGet?.path),
              where,
              `${probe} asks ${spec.httpGet?.path}, expected ${path ?? served.join(' or ')}`,
            );
            const port = resolvePort(c, spec.httpGet?.port);
            problems.check(
              port === PORT[app],
              where,
              `${probe} port ${spec.httpGet?.port} is ${port}, expected ${PORT[app]}`,
            );
          }
        }
      }
      expectNone(problems);
    });

    it('wires the api: PDB and Service select exactly its pods, the Ingress reaches the Service, host mounts match IMAGE_DIR/VM_DIR', () => {
      if (!apiDeployment) return expectNone(problems);
      const labels = podLabels(apiDeployment);
      const where = `${apiDeployment.file} (Deployment ${apiDeployment.metadata.name})`;
      problems.check(
        selects(apiDeployment.spec.selector?.matchLabels, labels),
        where,
        'spec.selector does not match the pod template labels',
      );
      const others = workloads.filter((w) => w !== apiDeployment);
      for (const pdb of byKind('PodDisruptionBudget')) {
        const selector = pdb.spec?.selector?.matchLabels;
        problems.check(
          selects(selector, labels),
          pdb.file,
          `PDB ${pdb.metadata.name} selector ${JSON.stringify(selector)} does not match the api pods ${JSON.stringify(labels)}`,
        );
        for (const other of others)
          problems.check(
            !selects(selector, podLabels(other)),
            pdb.file,
            `PDB ${pdb.metadata.name} also selects the pods of ${other.kind} ${other.metadata.name}`,
          );
        problems.check(
          pdb.spec?.minAvailable !== undefined || pdb.spec?.maxUnavailable !== undefined,
          pdb.file,
          'PDB sets neither minAvailable nor maxUnavailable',
        );
        if (typeof pdb.spec?.minAvailable === 'number')
          problems.check(
            pdb.spec.minAvailable < apiDeployment.spec.replicas,
            pdb.file,
            `minAvailable ${pdb.spec.minAvailable} leaves no room to evict with ${apiDeployment.spec.replicas} replica(s)`,
          );
      }
      const apiContainer = containers(apiDeployment).find((c) => appOf(c.image) === 'api');
      for (const service of byKind('Service')) {
        problems.check(
          selects(service.spec?.selector, labels),
          service.file,
          `Service ${service.metadata.name} selector ${JSON.stringify(service.spec?.selector)} does not match the api pods ${JSON.stringify(labels)}`,
        );
        for (const other of others)
          problems.check(
            !selects(service.spec?.selector, podLabels(other)),
            service.file,
            `Service ${service.metadata.name} also selects the pods of ${other.kind} ${other.metadata.name}`,
          );
        for (const port of service.spec?.ports ?? []) {
          const target = resolvePort(apiContainer, port.targetPort ?? port.port);
          problems.check(
            target === API_PORT,
            service.file,
            `Service ${service.metadata.name} port ${port.port} targets ${port.targetPort} (${target}), expected the api's ${API_PORT}`,
          );
        }
      }
      for (const ingress of byKind('Ingress')) {
        const where = `${ingress.file} (Ingress ${ingress.metadata.name})`;
        const spec = ingress.spec ?? {};
        const annotations: Env = (ingress.metadata as { annotations?: Env }).annotations ?? {};
        const tlsHosts = new Set((spec.tls ?? []).flatMap((t: { hosts: string[] }) => t.hosts ?? []));
        problems.check(
          spec.tls?.length && spec.tls.every((t: { secretName?: string }) => t.secretName),
          where,
          'no tls section with a secretName',
        );
        for (const rule of spec.rules ?? []) {
          problems.check(tlsHosts.has(rule.host), where, `host ${rule.host} is not covered by the tls section`);
          for (const path of rule.http?.paths ?? []) {
            const backend = path.backend?.service;
            const service = named('Service', backend?.name);
            problems.check(service, where, `path ${path.path} goes to Service ${backend?.name}, which is not defined`);
            problems.check(
              service?.spec?.ports?.some(
                (p: { port: number; name?: string }) =>
                  p.port === backend?.port?.number || (p.name && p.name === backend?.port?.name),
              ),
              where,
              `path ${path.path} uses port ${JSON.stringify(backend?.port)}, which Service ${backend?.name} does not expose`,
            );
          }
        }
        // Long-lived consoles (WebSockets) and event streams: ingress-nginx's 60 s default would cut them.
        for (const name of ['proxy-read-timeout', 'proxy-send-timeout']) {
          problems.check(
            Number(annotations[`nginx.ingress.kubernetes.io/${name}`]) >= 3600,
            where,
            `annotation nginx.ingress.kubernetes.io/${name} is not at least 3600 (WebSocket consoles)`,
          );
        }
        const bodySize = annotations['nginx.ingress.kubernetes.io/proxy-body-size'];
        const paths: string[] = (spec.rules ?? []).flatMap(
          (r: { http?: { paths?: Array<{ path: string }> } }) => r.http?.paths?.map((p) => p.path) ?? [],
        );
        if (paths.includes('/api/v1/images')) {
          problems.check(
            bodySize && nginxBytes(bodySize) >= apiDefaults.hypervisor.maxImageUploadBytes,
            where,
            `proxy-body-size ${bodySize} is below MAX_IMAGE_UPLOAD_MIB's default (${apiDefaults.hypervisor.maxImageUploadBytes} bytes) on the image upload route`,
          );
        } else {
          problems.check(
            bodySize === undefined || nginxBytes(bodySize) <= 1024 * 1024,
            where,
            `proxy-body-size ${bodySize} raises the body limit beyond the image upload route`,
          );
        }
      }
      problems.check(
        byKind('Ingress').some((i) =>
          i.spec?.rules?.some((r: { http?: { paths?: Array<{ path: string }> } }) =>
            r.http?.paths?.some((p) => p.path === '/api/v1/images'),
          ),
        ),
        K8S_DIR,
        'no Ingress gives the image upload route (/api/v1/images) its larger body limit',
      );

      // libvirt socket and IMAGE_DIR/VM_DIR: hostPath mounted at the same path.
      const pod = apiDeployment.spec.template.spec;
      const mounts = (apiContainer?.volumeMounts ?? []).map(
        (m: { name: string; mountPath: string; readOnly?: boolean }) => ({
          ...m,
          hostPath: pod.volumes?.find((v: { name: string }) => v.name === m.name)?.hostPath?.path,
        }),
      );
      const onHost = (path: string) =>
        mounts.some(
          (m: { mountPath: string; hostPath?: string; readOnly?: boolean }) =>
            m.hostPath === m.mountPath && !m.readOnly && (path === m.mountPath || path.startsWith(m.mountPath + '/')),
        );
      problems.check(
        onHost(LIBVIRT_SOCKET),
        where,
        `does not mount the node's ${LIBVIRT_SOCKET} (or its folder) at the same path`,
      );
      const { env } = containerEnv(apiDeployment, apiContainer);
      for (const name of ['IMAGE_DIR', 'VM_DIR'])
        problems.check(
          env[name] && onHost(env[name]),
          where,
          `${name}=${env[name]} is not on a hostPath mounted read-write at the same path (libvirtd opens these files by name)`,
        );
      problems.check(
        !pod.securityContext?.runAsUser || pod.securityContext?.supplementalGroups?.length,
        where,
        'runs as a non-root user without supplementalGroups: it cannot open libvirt-sock (group libvirt, 0770)',
      );
      expectNone(problems);
    });

    it('runs the agent on hypervisor nodes in the host pid namespace, where the api looks for it', () => {
      if (!agentDaemonSet) return expectNone(problems);
      const where = `${agentDaemonSet.file} (DaemonSet ${agentDaemonSet.metadata.name})`;
      const pod = agentDaemonSet.spec.template.spec;
      problems.check(
        Object.keys(pod.nodeSelector ?? {}).length > 0 || pod.affinity?.nodeAffinity,
        where,
        'no nodeSelector (or node affinity) for hypervisor nodes',
      );
      problems.check(pod.hostPID === true, where, 'hostPID is not true: the agent cannot see QEMU processes');
      for (const m of containers(agentDaemonSet).flatMap((c) => c.volumeMounts ?? [])) {
        if (m.mountPath === '/proc' || m.mountPath.startsWith('/host/proc'))
          problems.check(m.readOnly === true, where, `${m.mountPath} is not mounted read-only`);
      }
      problems.check(
        selects(agentDaemonSet.spec.selector?.matchLabels, podLabels(agentDaemonSet)),
        where,
        'spec.selector does not match the pod template labels',
      );
      if (apiDeployment) {
        const apiContainer = containers(apiDeployment).find((c) => appOf(c.image) === 'api');
        const url = new URL(containerEnv(apiDeployment, apiContainer).env.AGENT_URL ?? 'http://missing');
        const reachable = pod.hostNetwork
          ? url.hostname === '10.0.0.7'
          : !!named('Service', url.hostname.split('.')[0]);
        problems.check(
          reachable,
          `${apiDeployment.file} (Deployment ${apiDeployment.metadata.name})`,
          `AGENT_URL ${url} does not reach the agent (its node's address with hostNetwork, else a Service)`,
        );
        problems.check(
          Number(url.port) === AGENT_PORT,
          `${apiDeployment.file} (Deployment ${apiDeployment.metadata.name})`,
          `AGENT_URL ${url} does not use the agent's port ${AGENT_PORT}`,
        );
      }
      expectNone(problems);
    });

    it('runs the real migrate entry from the api image in the migration Job, with the api configuration', () => {
      const jobs = byKind('Job');
      for (const job of jobs) {
        const where = `${job.file} (Job ${job.metadata.name})`;
        const [c] = containers(job);
        problems.check(
          JSON.stringify([...(c?.command ?? []), ...(c?.args ?? [])]) === JSON.stringify(['node', API_MAIN, 'migrate']),
          where,
          `runs ${JSON.stringify([...(c?.command ?? []), ...(c?.args ?? [])])}, expected ["node", "${API_MAIN}", "migrate"]`,
        );
        if (apiDeployment) {
          const apiContainer = containers(apiDeployment)[0];
          problems.check(
            c?.image === apiContainer.image,
            where,
            `image ${c?.image} differs from the api Deployment's ${apiContainer.image}`,
          );
          problems.check(
            JSON.stringify(c?.envFrom) === JSON.stringify(apiContainer.envFrom),
            where,
            'envFrom differs from the api Deployment: it would migrate another database',
          );
        }
        problems.check(
          ['Never', 'OnFailure'].includes(job.spec?.template?.spec?.restartPolicy),
          where,
          'restartPolicy must be Never or OnFailure',
        );
      }
      expectNone(problems);
    });
  });

  describe(NGINX_FILE, () => {
    const directives = parseNginx(read(NGINX_FILE));
    const all = (list: NginxDirective[], name: string) => list.filter((d) => d.name === name);
    const servers = all(directives, 'server');
    const tlsServer = servers.find((s) => all(s.block!, 'listen').some((l) => l.args.includes('ssl')));
    const maps = Object.fromEntries(
      all(directives, 'map').map((m) => [
        m.args[1],
        { source: m.args[0], entries: Object.fromEntries(m.block!.map((e) => [e.name, e.args[0] ?? ''])) },
      ]),
    );
    const upstreams = Object.fromEntries(
      all(directives, 'upstream').map((u) => [u.args[0], all(u.block!, 'server').map((s) => s.args[0])]),
    );

    /** nginx's choice for a URI among `=` and prefix locations (regex locations are not used here). */
    function locationFor(uri: string): NginxDirective | undefined {
      const locations = all(tlsServer?.block ?? [], 'location');
      const exact = locations.find((l) => l.args[0] === '=' && l.args[1] === uri);
      if (exact) return exact;
      return locations
        .filter((l) => l.args.length === 1 && uri.startsWith(l.args[0]))
        .sort((a, b) => b.args[0].length - a.args[0].length)[0];
    }
    /** A directive's effective values in a location: its own, else the server's, else http's (nginx inheritance). */
    function effective(location: NginxDirective | undefined, name: string): string[][] {
      for (const level of [location?.block ?? [], tlsServer?.block ?? [], directives]) {
        const found = all(level, name);
        if (found.length) return found.map((d) => d.args);
      }
      return [];
    }
    const header = (location: NginxDirective | undefined, name: string) =>
      effective(location, 'proxy_set_header').find((h) => h[0].toLowerCase() === name.toLowerCase())?.[1];

    it('terminates TLS with certificate placeholders and modern protocols only', () => {
      const problems = new Problems();
      problems.check(tlsServer, NGINX_FILE, 'no server listening with ssl');
      problems.check(
        all(tlsServer?.block ?? [], 'ssl_certificate').length &&
          all(tlsServer?.block ?? [], 'ssl_certificate_key').length,
        NGINX_FILE,
        'no ssl_certificate / ssl_certificate_key',
      );
      const protocols = effective(undefined, 'ssl_protocols')[0] ?? [];
      problems.check(
        protocols.length && protocols.every((p) => p === 'TLSv1.2' || p === 'TLSv1.3'),
        NGINX_FILE,
        `ssl_protocols ${protocols.join(' ')}: only TLSv1.2 and TLSv1.3`,
      );
      problems.check(
        servers.some(
          (s) =>
            s !== tlsServer &&
            all(s.block!, 'return').some((r) => r.args[0] === '301' && r.args[1].startsWith('https://')),
        ),
        NGINX_FILE,
        'plain HTTP is not redirected to HTTPS',
      );
      expectNone(problems);
    });

    it('proxies every route to the api port, /agent included, with request id and forwarded-for', () => {
      const problems = new Problems();
      for (const [name, targets] of Object.entries(upstreams)) {
        for (const target of targets)
          problems.check(
            target === `127.0.0.1:${API_PORT}`,
            NGINX_FILE,
            `upstream ${name} server ${target}, expected the api at 127.0.0.1:${API_PORT}`,
          );
      }
      const apiTargets = new Set([...Object.keys(upstreams).map((u) => `http://${u}`), `http://127.0.0.1:${API_PORT}`]);
      for (const location of all(tlsServer?.block ?? [], 'location')) {
        const pass = all(location.block!, 'proxy_pass')[0]?.args[0];
        problems.check(
          pass && apiTargets.has(pass.replace(/\/$/, '')),
          NGINX_FILE,
          `location ${location.args.join(' ')} proxies to ${pass}, not to the api (127.0.0.1:${API_PORT})`,
        );
      }
      for (const uri of [
        '/',
        '/api/v1/vms',
        '/agent/metrics',
        '/health/ready',
        '/docs',
        '/console/0b9f4c4e-2a51-4d6e-9d0c-3f7a1c2b4d5e',
        '/api/v1/console/vnc',
      ]) {
        const location = locationFor(uri);
        problems.check(location, NGINX_FILE, `no location serves ${uri}`);
        problems.check(header(location, 'X-Request-Id'), NGINX_FILE, `${uri}: X-Request-Id is not set`);
        problems.check(
          /\$remote_addr|\$proxy_add_x_forwarded_for/.test(header(location, 'X-Forwarded-For') ?? ''),
          NGINX_FILE,
          `${uri}: X-Forwarded-For is not set`,
        );
        problems.check(header(location, 'Host'), NGINX_FILE, `${uri}: Host is not passed`);
      }
      const toAgent = (list: NginxDirective[]): boolean =>
        list.some(
          (d) =>
            d.args.some((a) => a.endsWith(`:${AGENT_PORT}`) || a.includes(`:${AGENT_PORT}/`)) || toAgent(d.block ?? []),
        );
      problems.check(
        !toAgent(directives),
        NGINX_FILE,
        `sends something to port ${AGENT_PORT}: /agent must go through the api, where admin auth applies`,
      );
      expectNone(problems);
    });

    it('upgrades the console WebSockets, keeps them open, and allows large bodies only for image uploads', () => {
      const problems = new Problems();
      const consoleLocation = locationFor('/api/v1/console/vnc');
      problems.check(
        effective(consoleLocation, 'proxy_http_version')[0]?.[0] === '1.1',
        NGINX_FILE,
        'the console location does not proxy with HTTP/1.1 (needed for Upgrade)',
      );
      problems.check(
        header(consoleLocation, 'Upgrade') === '$http_upgrade',
        NGINX_FILE,
        'the console location does not pass Upgrade $http_upgrade',
      );
      const connection = header(consoleLocation, 'Connection') ?? '';
      const mapped = maps[connection];
      problems.check(
        connection === 'upgrade' || (mapped?.source === '$http_upgrade' && mapped.entries.default === 'upgrade'),
        NGINX_FILE,
        `the console location's Connection header (${connection}) does not become "upgrade" for WebSocket requests`,
      );
      const readTimeout = effective(consoleLocation, 'proxy_read_timeout')[0]?.[0] ?? '60s';
      problems.check(
        /^(\d+)(h|m)$/.test(readTimeout) && (readTimeout.endsWith('h') || Number.parseInt(readTimeout) >= 10),
        NGINX_FILE,
        `the console location's proxy_read_timeout ${readTimeout} would cut idle consoles`,
      );

      const limit = (uri: string) => nginxBytes(effective(locationFor(uri), 'client_max_body_size')[0]?.[0] ?? '1m');
      problems.check(
        limit('/api/v1/images') >= apiDefaults.hypervisor.maxImageUploadBytes,
        NGINX_FILE,
        `client_max_body_size on /api/v1/images is below MAX_IMAGE_UPLOAD_MIB's default (${apiDefaults.hypervisor.maxImageUploadBytes} bytes)`,
      );
      for (const uri of ['/api/v1/vms', '/api/v1/auth/login', '/api/v1/images/0b9f4c4e-2a51-4d6e-9d0c-3f7a1c2b4d5e']) {
        problems.check(
          limit(uri) > 0 && limit(uri) <= 1024 * 1024,
          NGINX_FILE,
          `client_max_body_size on ${uri} is ${limit(uri)} bytes; keep the 1m default outside image uploads`,
        );
      }
      expectNone(problems);
    });
  });

  describe('infra/systemd', () => {
    for (const app of ['api', 'agent'] as App[]) {
      it(`${UNIT[app]} runs ${MAIN[app]} with /etc/limen/${app}.env, restarts on failure and is hardened`, () => {
        const problems = new Problems();
        const file = UNIT[app];
        const unit = parseUnit(read(file));
        const one = (section: string, key: string) => unit[section]?.[key]?.[unit[section][key].length - 1];
        const words = (section: string, key: string) =>
          (unit[section]?.[key] ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);
        problems.check(
          one('Service', 'EnvironmentFile') === `/etc/limen/${app}.env`,
          file,
          `EnvironmentFile is ${one('Service', 'EnvironmentFile')}, expected /etc/limen/${app}.env`,
        );
        const exec = (one('Service', 'ExecStart') ?? '').split(/\s+/);
        problems.check(
          /(^|\/)node$/.test(exec[0]) && exec[1]?.endsWith(`/${MAIN[app]}`) && exec.length === 2,
          file,
          `ExecStart is "${exec.join(' ')}", expected node …/${MAIN[app]}`,
        );
        for (const after of ['network-online.target', 'libvirtd.service', 'postgresql.service'])
          problems.check(words('Unit', 'After').includes(after), file, `After= lacks ${after}`);
        problems.check(
          words('Unit', 'Wants').includes('network-online.target'),
          file,
          'Wants= lacks network-online.target (After= alone does not pull it in)',
        );
        for (const [key, value] of [
          ['Restart', 'on-failure'],
          ['NoNewPrivileges', 'yes'],
          ['ProtectSystem', 'strict'],
          ['PrivateTmp', 'yes'],
          ['ProtectHome', 'yes'],
        ]) {
          problems.check(one('Service', key) === value, file, `${key}=${one('Service', key)}, expected ${value}`);
        }
        problems.check(one('Service', 'User') && one('Service', 'User') !== 'root', file, 'runs as root (no User=)');

        const envFile = UNIT_ENV[app];
        const env = parseEnvFile(read(envFile));
        checkAppEnv(problems, envFile, app, env, { containerized: false });
        const shutdownMs = Number(env.SHUTDOWN_TIMEOUT_MS ?? 10_000);
        problems.check(
          Number(one('Service', 'TimeoutStopSec')) * 1000 > shutdownMs,
          file,
          `TimeoutStopSec=${one('Service', 'TimeoutStopSec')} does not outlast SHUTDOWN_TIMEOUT_MS (${shutdownMs} ms)`,
        );
        if (app === 'api') {
          const writable = words('Service', 'ReadWritePaths').map((p) => p.replace(/^-/, ''));
          const canWrite = (path: string) => writable.some((w) => path === w || path.startsWith(w + '/'));
          for (const name of ['DATA_DIR', 'IMAGE_DIR', 'VM_DIR'])
            problems.check(
              env[name] && canWrite(env[name]),
              file,
              `${name}=${env[name]} (${envFile}) is not under ReadWritePaths (${writable.join(' ')}): ProtectSystem=strict makes it read-only`,
            );
          problems.check(canWrite(LIMEN_STATE), file, `ReadWritePaths lacks ${LIMEN_STATE}`);
          problems.check(
            words('Service', 'SupplementaryGroups').includes('libvirt') || one('Service', 'Group') === 'libvirt',
            file,
            'the api is not in the libvirt group, which owns libvirt-sock',
          );
          problems.check(
            env.HOST === '127.0.0.1',
            envFile,
            `HOST=${env.HOST}: behind nginx the api should listen on loopback only`,
          );
        }
        expectNone(problems);
      });
    }

    it('nginx reaches the api where the systemd environment makes it listen', () => {
      const env = parseEnvFile(read(UNIT_ENV.api));
      const upstream = read(NGINX_FILE).match(/server\s+([\d.]+):(\d+)\s*;/);
      expect(`${upstream?.[1]}:${upstream?.[2]}`).toBe(`${env.HOST}:${env.PORT}`);
      const agentEnv = parseEnvFile(read(UNIT_ENV.agent));
      expect(`${UNIT_ENV.api} AGENT_URL ${env.AGENT_URL}`).toBe(
        `${UNIT_ENV.api} AGENT_URL http://${agentEnv.AGENT_HOST}:${agentEnv.AGENT_PORT}`,
      );
    });
  });
});

describe('deployment artifacts against the running apps', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  /** Every path a manifest probes or health-checks, per app. */
  function probedPaths(target: App): Map<string, string[]> {
    const paths = new Map<string, string[]>();
    const add = (path: string, file: string) => paths.set(path, [...(paths.get(path) ?? []), file]);
    const problems = new Problems();
    for (const w of loadK8s(problems)) {
      for (const c of (w.spec?.template?.spec?.containers ?? []) as Array<Record<string, any>>) {
        const app = /limen-api\b/.test(c.image) ? 'api' : /limen-agent\b/.test(c.image) ? 'agent' : undefined;
        if (app !== target) continue;
        for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'])
          if (c[probe]?.httpGet?.path) add(c[probe].httpGet.path, `${w.file} ${probe}`);
      }
    }
    const health =
      parseDockerfile(read(DOCKERFILE[target]))
        .pop()!
        .instructions.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    for (const m of health.matchAll(/\+ '(\/[^']*)'/g)) add(m[1], `${DOCKERFILE[target]} HEALTHCHECK`);
    return paths;
  }

  it('the api serves every path the manifests probe (liveness answers 200)', async () => {
    const paths = probedPaths('api');
    expect([...paths.keys()].sort()).toEqual(['/health/live', '/health/ready']);
    const problems = new Problems();
    for (const [path, files] of paths) {
      const res = await request(app.http).get(path);
      const ok = path === '/health/live' ? res.status === 200 : res.status === 200 || res.status === 503;
      problems.check(ok, files.join(', '), `GET ${path} answered ${res.status} ${JSON.stringify(res.body)}`);
    }
    // nginx and the Ingress send /agent/* to the api: the route exists and demands a token.
    const agent = await request(app.http).get('/agent/health');
    problems.check(
      agent.status === 401,
      NGINX_FILE,
      `GET /agent/health without a token answered ${agent.status}, expected 401 (the api's admin-only agent proxy)`,
    );
    expectNone(problems);
  });

  it('the built agent serves every path the manifests probe', async () => {
    const paths = probedPaths('agent');
    expect([...paths.keys()]).toEqual(['/health']);
    const agent = await startAgent({ NODE_ENV: 'production', AGENT_TOKEN: FILLED_IN, AGENT_HOST: '127.0.0.1' });
    try {
      for (const [path, files] of paths) {
        const res = await fetch(`${agent.url}${path}`);
        expect(`${files.join(', ')}: GET ${path} → ${res.status}`).toBe(`${files.join(', ')}: GET ${path} → 200`);
      }
    } finally {
      await agent.stop();
    }
  });

  it(`the migration Job's command (node ${API_MAIN} migrate) applies migrations and exits 0`, () => {
    const dataDir = mkdtempSync(join(scratch, 'migrate-'));
    const result = spawnSync(process.execPath, [API_MAIN, 'migrate'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect({ status: result.status, output: /Applied \d+ migration\(s\)/.test(result.stdout) }).toEqual({
      status: 0,
      output: true,
    });
  }, 150_000);
});
