/**
 * The waiter: a tiny process per sheet (live_restore only) that outlives the conductor. It is
 * started in its own session; it forks the sheet into the sheet's own process group, copies
 * the sheet's stdout and stderr into spool files, and writes the sheet's exit status to a file
 * atomically (tmp + rename) when the sheet ends. A conductor — this one or the next — tails
 * the spool into the job log from a durable cursor and watches for the status file.
 *
 * Why Perl: it must tell an exit code from a signal (`$? & 127` vs `$? >> 8`); `sh`'s `wait`
 * reports 128+N for both a signal N and `exit 128+N`. Measured here (VmRSS / private anon):
 * `sh` waiting on a child 1.8 MB / 0.45 MB, this Perl 5.0 MB / 0.44 MB (libperl is shared), a
 * Node waiter 40 MB / 6.3 MB. Perl ships in every Debian/Ubuntu install (perl-base is
 * Essential); the conductor refuses to start with live_restore when `perl` is not found.
 *
 * Signals: cancel and timeout signal the sheet's group (-pid); the waiter is not in it (own
 * session), and ignores TERM/INT/HUP after the fork (before it, the sheet would inherit the
 * ignored dispositions), so it survives to record the status. Pause SIGSTOPs the sheet's
 * group, then its escaped processes by pid (escapedPauser). The waiter carries no MZT_SHEET_ID
 * (it is set in the child just before exec), so the escaped-process scans never take it.
 *
 * Spool: records `<o|e><u32 length><bytes>` (stdout and stderr kept apart, in the order the
 * waiter read them) in segments `spool.<n>` of SEGMENT_BYTES; the reader deletes a segment it
 * consumed. The waiter does not start segment n while segment n-MAX_SEGMENTS still exists: with
 * no conductor reading, at most MAX_SEGMENTS+1 segments pile up, then the sheet blocks on its
 * full pipe until a conductor drains them — disk use stays bounded.
 *
 * The sheet's main process ending: the waiter keeps reading its pipes until they close, for
 * 2–3 s at most (what a stray descendant holds open is cut, as in sheetProcess.ts), then
 * writes `status` ({exit_code, signal_num, cut}). A spool write that fails (a full disk) drops
 * that piece of output, cut back to the record's start so the framing holds, and the sheet
 * runs on — as the job log does without live_restore. An exec failure (ENOENT, EACCES) is reported
 * through a close-on-exec pipe as {spawn_error}. If the waiter itself is SIGKILLed, the sheet's
 * next write gets SIGPIPE and its status is lost: the conductor records it as unknown.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SEGMENT_BYTES = 1024 * 1024;
export const MAX_SEGMENTS = 8;
export const STATUS_FILE = 'status';
export const PID_FILE = 'pid';
export const spoolFile = (dir: string, seg: number) => path.join(dir, `spool.${seg}`);

// argv: <dir> <marker or ""> <program> <args...>
const SCRIPT = `
my ($dir, $marker, @argv) = @ARGV;
my ($SEG, $MAX) = (${SEGMENT_BYTES}, ${MAX_SEGMENTS});
pipe(my $or, my $ow) or die "pipe: $!"; pipe(my $er, my $ew) or die "pipe: $!"; pipe(my $xr, my $xw) or die "pipe: $!";
my $pid = fork; defined $pid or die "fork: $!";
if ($pid == 0) {
  setpgrp(0, 0); close $or; close $er; close $xr;
  open(STDOUT, '>&', $ow) or die; open(STDERR, '>&', $ew) or die; close $ow; close $ew;
  $ENV{MZT_SHEET_ID} = $marker if length $marker;
  exec { $argv[0] } @argv;
  print $xw "$!"; close $xw; exit 127;
}
setpgrp($pid, $pid); close $ow; close $ew; close $xw;
$0 = "mzt-waiter $pid $dir";
$SIG{$_} = 'IGNORE' for qw(TERM INT HUP PIPE);
sub put { my ($name, $text) = @_; open(my $f, '>', "$dir/$name.tmp") or return; print $f $text; close $f; rename "$dir/$name.tmp", "$dir/$name"; }
my $xerr = do { local $/; <$xr> }; close $xr;
if (length $xerr) { waitpid($pid, 0); $xerr =~ s/["\\\\]/ /g; put('status', qq({"spawn_error":"$xerr"})); exit 0; }
put('pid', "$pid\\n");
my ($seg, $out) = (0, undef);
sub seg_open { undef $out unless open($out, '>>', "$dir/spool.$seg"); binmode $out if $out; }
seg_open();
sub record { my ($s, $buf) = @_;
  if ($out && -s $out >= $SEG) { close $out; $seg++; select(undef, undef, undef, 0.1) while -e "$dir/spool." . ($seg - $MAX); undef $out; }
  seg_open() unless $out; return unless $out;
  my $r = $s . pack('N', length $buf) . $buf; my ($off, $start) = (0, -s $out);
  while ($off < length $r) { my $n = syswrite($out, $r, length($r) - $off, $off);
    if (!defined $n) { truncate($out, $start); return; } $off += $n; } }
my %open = (o => $or, e => $er); my ($status, $cut_at, $cut);
while (%open) {
  my $rin = ''; vec($rin, fileno($open{$_}), 1) = 1 for keys %open;
  my $n = select(my $rout = $rin, undef, undef, 0.2);
  if ($n > 0) { for my $s (sort keys %open) { next unless vec($rout, fileno($open{$s}), 1);
    my $got = sysread($open{$s}, my $buf, 65536);
    if ($got) { record($s, $buf) } else { close $open{$s}; delete $open{$s} } } }
  if (!defined $status && waitpid($pid, 1) == $pid) { $status = $?; $cut_at = time + 3; }
  if (defined $cut_at && time >= $cut_at && %open) { $cut = 1; close $_ for values %open; %open = (); }
}
if (!defined $status) { waitpid($pid, 0); $status = $?; }
close $out;
my ($code, $sig) = ($status & 127) ? ('null', $status & 127) : ($status >> 8, 'null');
put('status', qq({"exit_code":$code,"signal_num":$sig,"cut":) . ($cut ? 'true' : 'false') . "}");
`;

/** What the waiter wrote when the sheet ended. */
export interface WaiterStatus {
  exit_code: number | null;
  signal: string | null;
  /** Pipes still held open by descendants were cut after the grace period. */
  cut: boolean;
  spawn_error?: string;
  /** Set when the status file could not be understood (the exit status is then unknown). */
  error?: string;
  /** When the status was written (file mtime, epoch ms). */
  ended_at_ms: number;
}

/** The status file, or undefined while the sheet runs. */
export function readStatus(dir: string): WaiterStatus | undefined {
  const file = path.join(dir, STATUS_FILE);
  let text: string;
  let mtime: number;
  try {
    text = fs.readFileSync(file, 'utf8');
    mtime = fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
  let raw: { exit_code?: number | null; signal_num?: number | null; cut?: boolean; spawn_error?: string };
  try {
    raw = JSON.parse(text) as typeof raw;
  } catch {
    return { exit_code: null, signal: null, cut: false, error: `exit status unknown: ${file} is not JSON`, ended_at_ms: mtime };
  }
  if (typeof raw.spawn_error === 'string') return { exit_code: null, signal: null, cut: false, spawn_error: raw.spawn_error, ended_at_ms: mtime };
  return { exit_code: raw.exit_code ?? null, signal: signalName(raw.signal_num ?? null), cut: raw.cut === true, ended_at_ms: mtime };
}

function signalName(num: number | null): string | null {
  if (num === null) return null;
  const name = Object.entries(os.constants.signals).find(([, n]) => n === num)?.[0];
  return name ?? `SIG${num}`;
}

/** The sheet's pid once the waiter has forked and exec'd it, or undefined. */
export function readSheetPid(dir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(dir, PID_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

let perlChecked: string | undefined;
/** The perl the waiter needs, or an error saying what to do. */
export function findPerl(): string {
  if (perlChecked) return perlChecked;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = path.join(dir || '.', 'perl');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      perlChecked = candidate;
      return candidate;
    } catch {
      /* next */
    }
  }
  throw new Error('live_restore needs perl on PATH for its per-sheet waiter (apt-get install perl-base); set live_restore: false to run without it');
}

export interface WaiterStart {
  dir: string;
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  marker?: string;
}

/**
 * Start the waiter (own session, nothing inherited but the environment). Resolves with its pid,
 * or rejects with the spawn error (a bad cwd, a missing perl).
 */
export function startWaiter(w: WaiterStart): Promise<number> {
  // Checked here: a bad cwd would otherwise read as "spawn perl ENOENT".
  let cwdOk = false;
  try {
    cwdOk = fs.statSync(w.cwd).isDirectory();
  } catch {
    /* missing */
  }
  if (!cwdOk) return Promise.reject(new Error(`cwd ${JSON.stringify(w.cwd)} is not a directory`));
  fs.mkdirSync(w.dir, { recursive: true, mode: 0o700 });
  const child = spawn(findPerl(), ['-e', SCRIPT, '--', w.dir, w.marker ?? '', ...w.argv], {
    cwd: w.cwd,
    env: w.env,
    detached: true,
    stdio: 'ignore',
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => {
      // The conductor does not wait for it: a later conductor may be the one that sees it end.
      child.unref();
      resolve(child.pid!);
    });
  });
}
