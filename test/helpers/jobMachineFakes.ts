/**
 * The job machine with its side effects replaced by fakes, for tests that drive it directly:
 * each sheet run is a promise the test settles (`finish`), and stop/pause/resume and recorded
 * events are kept in arrays to assert on.
 */
import { fromPromise } from 'xstate';
import { jobMachine } from '../../src/actors/jobMachine.js';
import type { SheetOutcome } from '../../src/actors/sheetProcess.js';
import type { NewEvent } from '../../src/events/types.js';

type SheetInput = { jobId: string; sheetNum: number; attempt: number };

/** `describeRun` names a run in `calls` (tests differ in whether the attempt matters to them). */
export function fakeJobMachine(describeRun: (input: SheetInput) => string) {
  const calls: string[] = [];
  const recorded: NewEvent[] = [];
  const finish: Array<(o: SheetOutcome) => void> = [];
  const machine = jobMachine.provide({
    actions: {
      record: (_, e: NewEvent) => void recorded.push(e),
      stopSheet: () => void calls.push('stop'),
      pauseSheet: () => void calls.push('pause'),
      resumeSheet: () => void calls.push('resume'),
    },
    actors: {
      runSheet: fromPromise<SheetOutcome, SheetInput>(({ input }) => {
        calls.push(describeRun(input));
        return new Promise((r) => finish.push(r));
      }),
    },
  });
  return { machine, calls, recorded, finish };
}
