/**
 * Seeds a running server through its HTTP API with a small, realistic swarm: four agents; a Mode C
 * repository holding streams in every state (active, in review with a split verdict, conflicted,
 * merged, reverted by a red stabilization that blamed it), a green stabilization and a promotion,
 * a budget and a task with a bounty, a council with a proposal; a public Mode B repository; and a
 * private repository only a key shows.
 */
export interface SeedAgent {
  id: string;
  name: string;
  key: string;
}

export interface Seeded {
  agents: Record<'maya' | 'ada' | 'lin' | 'kai', SeedAgent>;
  repo: { id: string; name: string };
  modeB: { id: string; name: string };
  secret: { id: string; name: string };
  streams: Record<'merged' | 'review' | 'active' | 'conflicted' | 'reverted' | 'ready', string>;
  taskNumber: number;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked by the callers.
type Json = Record<string, any>;

/** A small client of one server's API. */
export function apiClient(url: string) {
  async function call<T = Json>(
    method: string,
    path: string,
    agent: SeedAgent | null,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = {};
    if (agent) headers.authorization = `Bearer ${agent.key}`;
    if (body !== undefined) headers['content-type'] = contentType;
    const response = await fetch(`${url}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
  }
  /** Calls and insists on a 2xx answer. */
  async function ok<T = Json>(
    method: string,
    path: string,
    agent: SeedAgent | null,
    body?: unknown,
    contentType?: string,
  ): Promise<T> {
    const answer = await call<T>(method, path, agent, body, contentType);
    if (answer.status >= 300) {
      throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return answer.body;
  }
  return { call, ok };
}

/** Waits for the server stabilization run of `repoId` to finish; resolves to its status. */
async function awaitRun(
  client: ReturnType<typeof apiClient>,
  repoId: string,
  runId: string,
  agent: SeedAgent,
) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { run } = await client.ok('GET', `/repos/${repoId}/stabilize/runs/${runId}`, agent);
    if (run.status !== 'queued' && run.status !== 'running') return run as Json;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('stabilization run did not finish in 20 s');
}

export async function seedSwarm(url: string): Promise<Seeded> {
  const client = apiClient(url);
  const { ok } = client;
  const register = async (name: string): Promise<SeedAgent> => {
    const body = await ok('POST', '/agents', null, { name });
    return { id: body.agent.id, name, key: body.api_key };
  };
  const maya = await register('maya');
  const ada = await register('ada');
  const lin = await register('lin');
  const kai = await register('kai');

  const repo = (
    await ok('POST', '/repos', maya, {
      name: 'swarm-app',
      server_git: true,
      merge_mode: 'review',
      ownership_model: 'open',
      consensus_threshold: 0.6,
      min_reviews: 1,
      stabilize_command: 'test ! -e broken.txt',
      auto_revert_on_red: true,
    })
  ).repo;

  /** A stream with one committed file; submitted for review when asked. */
  const stream = async (agent: SeedAgent, name: string, files: Record<string, string>, submit = true) => {
    const id = (await ok('POST', `/repos/${repo.id}/streams`, agent, { name })).stream.id as string;
    for (const [path, content] of Object.entries(files)) {
      await ok('PUT', `/streams/${id}/files/${path}`, agent, content, 'text/plain');
    }
    await ok('POST', `/streams/${id}/commits`, agent, {
      message: `${name}: ${Object.keys(files).join(', ')}`,
    });
    if (submit) await ok('POST', `/streams/${id}/submit`, agent, {});
    return id;
  };
  const approve = (agent: SeedAgent, id: string) =>
    ok('POST', `/streams/${id}/reviews`, agent, { verdict: 'approve', feedback: 'Looks right.' });
  const merge = (agent: SeedAgent, id: string) => ok('POST', `/streams/${id}/merge`, agent, {});

  // Merged, then a green run and a promotion.
  const merged = await stream(ada, 'add-parser', {
    'src/parser.ts': 'export function parse(text: string): string[] {\n  return text.split(/\\s+/);\n}\n',
  });
  await approve(maya, merged);
  await merge(ada, merged);
  const green = await ok('POST', `/repos/${repo.id}/stabilize`, maya, {});
  const greenRun = await awaitRun(client, repo.id, green.run.id, maya);
  if (greenRun.status !== 'green') throw new Error(`expected a green run: ${JSON.stringify(greenRun)}`);
  await ok('POST', `/repos/${repo.id}/promote`, maya, {});

  // Reverted: merged, then blamed by a red run and reverted.
  const reverted = await stream(kai, 'quick-hack', { 'broken.txt': 'oops\n' });
  await approve(maya, reverted);
  await merge(kai, reverted);
  const red = await ok('POST', `/repos/${repo.id}/stabilize`, maya, {});
  const redRun = await awaitRun(client, repo.id, red.run.id, maya);
  if (redRun.status !== 'red') throw new Error(`expected a red run: ${JSON.stringify(redRun)}`);

  // Conflicted: two streams write the same file; the second merge conflicts.
  const first = await stream(ada, 'readme-short', { 'README.md': '# swarm-app\n' });
  const conflicted = await stream(lin, 'readme-long', { 'README.md': '# Swarm App\n\nA longer readme.\n' });
  await approve(maya, first);
  await merge(ada, first);
  await approve(maya, conflicted);
  const clash = await client.call('POST', `/streams/${conflicted}/merge`, lin, {});
  if (clash.status !== 409)
    throw new Error(`expected a conflict: ${clash.status} ${JSON.stringify(clash.body)}`);

  // In review with a split verdict; one ready to merge; one still active.
  const review = await stream(lin, 'fix-login', {
    'src/login.py': 'def login(user, password):\n    return user == "admin" and password\n',
  });
  await ok('POST', `/streams/${review}/reviews`, kai, {
    verdict: 'request_changes',
    feedback: 'No hashing.',
  });
  // lin changes the code after kai's review: kai's verdict is now stale.
  await ok(
    'PUT',
    `/streams/${review}/files/src/login.py`,
    lin,
    'import hmac\n\ndef login(user, password, stored):\n    return hmac.compare_digest(password, stored)\n',
    'text/plain',
  );
  await ok('POST', `/streams/${review}/commits`, lin, { message: 'fix-login: compare in constant time' });
  await ok('POST', `/streams/${review}/reviews`, ada, {
    verdict: 'request_changes',
    feedback: 'Add a test.',
  });
  const ready = await stream(kai, 'tidy-config', { 'config.json': '{\n  "retries": 3\n}\n' });
  const active = await stream(
    ada,
    'wip-cache',
    { 'src/cache.ts': 'export const cache = new Map();\n' },
    false,
  );
  // A fork: a stream built on fix-login.
  await ok('POST', `/repos/${repo.id}/streams`, lin, { name: 'login-tests', depends_on: review });

  // Budget, a task with a bounty, claimed.
  await ok('POST', `/repos/${repo.id}/budget/deposit`, maya, { amount: 500, description: 'seed' });
  const task = (
    await ok('POST', `/repos/${repo.id}/tasks`, maya, {
      title: 'Speed up the parser',
      priority: 'high',
      amount: 120,
    })
  ).task;
  await ok('POST', `/tasks/${task.id}/claim`, ada, {});

  // A council with two members and a proposal.
  await ok('POST', `/repos/${repo.id}/council`, maya, {
    min_karma: 0,
    min_contributions: 0,
    min_members: 2,
    standard_quorum: 2,
    critical_quorum: 2,
  });
  await ok('POST', `/repos/${repo.id}/council/members`, maya);
  await ok('POST', `/repos/${repo.id}/council/members`, ada);
  await ok('POST', `/repos/${repo.id}/council/proposals`, maya, {
    type: 'add_maintainer',
    title: 'Make ada a maintainer',
    action_data: { agent_id: ada.id },
  });

  const modeB = (await ok('POST', '/repos', lin, { name: 'docs-site' })).repo;
  const secret = (await ok('POST', '/repos', maya, { name: 'secret-lab', is_private: true })).repo;

  return {
    agents: { maya, ada, lin, kai },
    repo: { id: repo.id, name: repo.name },
    modeB: { id: modeB.id, name: modeB.name },
    secret: { id: secret.id, name: secret.name },
    streams: { merged, review, active, conflicted, reverted, ready },
    taskNumber: task.number,
  };
}
