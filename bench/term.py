"""A real terminal for benchmarks: a command in a pseudo-terminal of a given size, its
output read by a thread that only timestamps the bytes, and a pyte screen that replays
them, so a benchmark can ask "when did the screen first show X?" to the millisecond.

The timestamp of a screen state is when its last byte arrived from the pty, not when
pyte got round to parsing it, so pyte's own speed does not enter the figures."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import sys
import termios
import threading
import time
from typing import Callable

import pyte

Predicate = Callable[["Terminal"], bool]


class Terminal:
    """One command in its own pty (session leader, so its worker processes share its
    process group and end with it)."""

    def __init__(self, argv: list[str], *, cols: int = 120, rows: int = 40,
                 env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.cols, self.rows = cols, rows
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self._chunks: list[tuple[float, bytes]] = []
        self._fed = 0
        self._cond = threading.Condition()
        self._closed = False
        self.bytes = 0
        child_env = dict(os.environ if env is None else env)
        child_env.update({"TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
        for key in ("COLUMNS", "LINES", "TMUX", "TEXTUAL"):
            child_env.pop(key, None)
        self.started = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once (no Python-level work after fork)
            try:
                fcntl.ioctl(sys.stdout.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                if cwd:
                    os.chdir(cwd)
                os.execvpe(argv[0], argv, child_env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self._reader = threading.Thread(target=self._read, name=f"pty-{pid}", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------ output

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:
                data = b""
            now = time.perf_counter()
            with self._cond:
                if not data:
                    self._closed = True
                    self._cond.notify_all()
                    return
                self._chunks.append((now, data))
                self.bytes += len(data)
                self._cond.notify_all()

    def _feed_next(self, deadline: float) -> float | None:
        """Replay the next chunk into the screen; its arrival time (None on timeout/EOF)."""
        with self._cond:
            while self._fed >= len(self._chunks):
                left = deadline - time.perf_counter()
                if self._closed or left <= 0:
                    return None
                self._cond.wait(left)
            stamp, data = self._chunks[self._fed]
            self._fed += 1
        self.stream.feed(data)
        return stamp

    def wait_for(self, predicate: Predicate, timeout: float = 30.0) -> float:
        """perf_counter() time at which the screen first satisfied predicate."""
        deadline = time.perf_counter() + timeout
        if predicate(self):
            return time.perf_counter()
        while True:
            stamp = self._feed_next(deadline)
            if stamp is None:
                raise TimeoutError(f"screen never matched within {timeout:g} s:\n{self.text()}")
            if predicate(self):
                return stamp

    def drain(self, quiet: float = 0.2, timeout: float = 10.0) -> None:
        """Replay output until none has arrived for `quiet` seconds."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self._feed_next(min(deadline, time.perf_counter() + quiet)) is None:
                return

    def discard(self) -> None:
        """Replay everything received so far (keeps the screen current, cheaply enough)."""
        with self._cond:
            pending = self._chunks[self._fed:]
            self._fed = len(self._chunks)
        for _, data in pending:
            self.stream.feed(data)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def contains(self, *needles: str) -> bool:
        display = self.screen.display
        return all(any(n in line for line in display) for n in needles)

    def row_background(self, y: int) -> str:
        """The background colour most cells of row y carry (pyte's name or hex)."""
        counts: dict[str, int] = {}
        line = self.screen.buffer[y]
        for x in range(self.cols):
            bg = line[x].bg
            counts[bg] = counts.get(bg, 0) + 1
        return max(counts, key=counts.get)

    # ------------------------------------------------------------ input and end

    def send(self, data: str | bytes) -> float:
        """Write keys to the program; returns the perf_counter() time of the write."""
        raw = data.encode() if isinstance(data, str) else data
        stamp = time.perf_counter()
        os.write(self.fd, raw)
        return stamp

    def close(self, quit_keys: str | None = "q", grace: float = 5.0) -> int | None:
        """Quit with quit_keys, then end the whole process group if it lingers."""
        status = None
        if quit_keys:
            try:
                self.send(quit_keys)
            except OSError:
                pass
            deadline = time.perf_counter() + grace
            while time.perf_counter() < deadline:
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.02)
            else:
                status = None
        if status is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                status = None
        try:
            os.close(self.fd)
        except OSError:
            pass
        return None if status is None else os.waitstatus_to_exitcode(status)


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process from /proc/<pid>/stat, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds of every live process in a process group (the app and its workers)."""
    total = 0.0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (/proc/<pid>/statm)."""
    with open(f"/proc/{pid}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
