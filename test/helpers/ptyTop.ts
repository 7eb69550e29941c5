/**
 * `mzt top` on a real pseudo-terminal (python3's pty module relays it): send keys, read frames.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, waitFor } from './conductorProcess.js';

/**
 * Runs argv on the slave side of a new pty (ROWS x COLS); copies our stdin to the master and the
 * master to our stdout; exits with the child's status.
 */
const PTY_RELAY = `
import os, pty, sys, select, struct, fcntl, termios
rows, cols = int(sys.argv[1]), int(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp(sys.argv[3], sys.argv[3:])
stdin_open = True
while True:
    r, _, _ = select.select([fd] + ([0] if stdin_open else []), [], [])
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            break
        os.write(1, data)
    if stdin_open and 0 in r:
        data = os.read(0, 1024)
        if data:
            os.write(fd, data)
        else:
            stdin_open = False
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) & 0xff)
`;

/** The shell line run in the pty: terminal settings before and after `mzt top`, and its exit code. */
const WRAP = 'echo "STTY_BEFORE=$(stty -g)"; "$0" "$@"; echo "TOP_EXIT=$?"; echo "STTY_AFTER=$(stty -g)"';


export interface PtyTop {
  proc: ChildProcess;
  output(): string;
  send(keys: string): void;
  /** The last complete frame, escape sequences removed. */
  frame(): string;
  waitFrame(pred: (frame: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
}

export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

export function ptyTop(home: string, args: string[], ROWS = 40, COLS = 200): PtyTop {
  const proc = spawn('python3', ['-c', PTY_RELAY, String(ROWS), String(COLS), 'sh', '-c', WRAP, process.execPath, CLI, 'top', ...args], {
    env: { ...process.env, MZT_HOME: home, TERM: 'xterm' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  const frame = () => {
    // A frame starts at cursor-home and is complete once the rest of the screen is cleared.
    const frames = out.split('\x1b[H').filter((f) => f.includes('\x1b[J'));
    const last = frames[frames.length - 1];
    return last === undefined ? '' : stripAnsi(last.slice(0, last.indexOf('\x1b[J')));
  };
  return {
    proc,
    output: () => out,
    send: (keys) => proc.stdin!.write(keys),
    frame,
    async waitFrame(pred, what, timeoutMs = 15_000) {
      try {
        return await waitFor(() => {
          const f = frame();
          return f && pred(f) ? f : '';
        }, timeoutMs, what);
      } catch (err) {
        throw new Error(`${(err as Error).message}; the last frame:\n${frame()}\nthe output's end:\n${JSON.stringify(out.slice(-500))}`);
      }
    },
    exited,
  };
}

