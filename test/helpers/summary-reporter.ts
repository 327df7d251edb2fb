import type { SerializedError } from 'vitest';
import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints the plain closing line CI reads: `Tests: N passed, N failed, N skipped`, after the reasons
 * of the skips that have one.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
  ): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    // Skips that have a reason (ctx.skip(note), or `[skipped: why]` in a name: withSkipReason).
    const reasons = new Map<string, number>();
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') failed++;
        else {
          skipped++;
          const why =
            (result.state === 'skipped' ? result.note : undefined) ??
            /\[skipped: ([^\]]+)\]/.exec(test.fullName)?.[1];
          if (why) reasons.set(why, (reasons.get(why) ?? 0) + 1);
        }
      }
      if (module.state() === 'failed' && !module.children.size) failed++;
    }
    for (const [why, count] of reasons) process.stdout.write(`\nSkipped ${count}: ${why}`);
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
