/** The `strace -c` summary parser, on a table strace 6.1 printed (blank usecs/call and errors cells). */
import { describe, expect, it } from 'vitest';
import { MAX_ROWS, parseStraceSummary } from '../../src/monitor/syscallTrace.js';

const TABLE = `strace: Process 31746 attached
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 65.69    0.181047        1040       174        87 wait4
  9.97    0.027466           3      8962           read
  9.86    0.027169           3      8961           write
  3.89    0.010715           3      3135      1392 openat
  0.00    0.000000           0         1           getpid
------ ----------- ----------- --------- --------- ----------------
100.00    0.247397          11     21233      1479 total
`;

describe('parseStraceSummary', () => {
  it('reads every row, blank cells as 0 errors, most called first, and the total line', () => {
    const s = parseStraceSummary(TABLE)!;
    expect(s.rows.map((r) => r.syscall)).toEqual(['read', 'write', 'openat', 'wait4', 'getpid']);
    expect(s.rows[0]).toEqual({ syscall: 'read', calls: 8962, errors: 0, seconds: 0.027466 });
    expect(s.rows.find((r) => r.syscall === 'openat')).toEqual({ syscall: 'openat', calls: 3135, errors: 1392, seconds: 0.010715 });
    expect(s.total_calls).toBe(21233);
    expect(s.total_seconds).toBe(0.247397);
  });

  it('no table: undefined (the caller decides whether that is "no syscalls" or a failure); rows are capped', () => {
    expect(parseStraceSummary('strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n')).toBeUndefined();
    const many = ['% time     seconds  usecs/call     calls    errors syscall', '------ ----------- ----------- --------- --------- ----------------'];
    for (let i = 0; i < 100; i++) many.push(`  1.00    0.000100           1       ${String(100 + i).padStart(3)}           sys${i}`);
    const s = parseStraceSummary(many.join('\n'))!;
    expect(s.rows).toHaveLength(MAX_ROWS);
    expect(s.rows[0]!.syscall).toBe('sys99');
    expect(s.total_calls).toBe(Array.from({ length: 100 }, (_, i) => 100 + i).reduce((a, b) => a + b, 0));
  });
});
