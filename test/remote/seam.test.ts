/**
 * The Mode B seam: a command that does not declare it works connected is refused on a connected
 * clone before it touches anything; `agent suspend|reinstate` connected follows the server's rule
 * (a server admin), not the local one.
 */
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliSession, repoAction } from '../../src/cli/action.js';
import { createBufferedIO } from '../../src/cli/io.js';
import { output } from '../../src/cli/output.js';
import { GitSwarmError } from '../../src/errors.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

describe('the seam', () => {
  let server: TestServer;
  let world: ModeBWorld;
  let clone: TestClone;

  beforeAll(async () => {
    server = await startTestServer('sqlite', { roles: { admins: ['alice'] } });
    world = new ModeBWorld();
    clone = world.clone();
    expect((await clone.run(['init', '--server', server.url])).code).toBe(0);
    expect((await clone.run(['agent', 'register', 'alice'])).code).toBe(0);
    expect((await clone.run(['agent', 'register', 'bob'])).code).toBe(0);
  });
  afterAll(async () => {
    world?.close();
    await server?.close();
  });

  /** A one-command program whose handler records whether it ran. */
  function probe(remote: boolean): { program: Command; ran: () => boolean } {
    let ran = false;
    const io = createBufferedIO({ cwd: clone.dir, env: clone.env });
    const session: CliSession = { io, json: true, exitCode: 0 };
    const program = new Command('gitswarm').option('--json').option('--as <agent>').exitOverride();
    program.option('--server <url>').option('--api-key <key>');
    program.command('probe').action(
      repoAction(
        session,
        async (deps) => {
          ran = true;
          return output({ connected: deps.remote !== undefined }, () => '');
        },
        { remote },
      ),
    );
    return { program, ran: () => ran };
  }

  it('refuses a command that does not declare it works connected, before it runs', async () => {
    const local = probe(false);
    const error = await local.program.parseAsync(['probe'], { from: 'user' }).catch((caught) => caught);
    expect(error).toBeInstanceOf(GitSwarmError);
    expect((error as GitSwarmError).code).toBe('invalid_state');
    expect((error as GitSwarmError).message).toContain('gitswarm probe does not work on a clone connected');
    expect(local.ran()).toBe(false);
    const connected = probe(true);
    await connected.program.parseAsync(['probe'], { from: 'user' });
    expect(connected.ran()).toBe(true);
  });

  it('agent suspend/reinstate connected: the server’s admins decide', async () => {
    const refused = await clone.run(['agent', 'suspend', 'alice', '--as', 'bob', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('forbidden');
    const suspended = await clone.run(['agent', 'suspend', 'bob', '--as', 'alice', '--json']);
    expect(suspended.code, suspended.stdout).toBe(0);
    expect(suspended.json<{ agent: { name: string; status: string } }>().agent).toMatchObject({
      name: 'bob',
      status: 'suspended',
    });
    const blocked = await clone.run(['task', 'create', 'x', '--as', 'bob', '--json']);
    expect(blocked.code).toBe(1);
    expect(blocked.json<{ error: { code: string } }>().error.code).toBe('agent_suspended');
    const back = await clone.run(['agent', 'reinstate', 'bob', '--as', 'alice']);
    expect(back.code).toBe(0);
    expect(back.stdout).toContain('Agent bob is active.');
  });
});
