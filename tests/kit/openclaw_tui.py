"""Drives OpenClaw's real TUI (`openclaw tui`) in a pseudo-terminal against a gateway: waits
until its status line says it is connected, types a message and Enter, and waits for the
expected reply text on the screen. Prints OK and the screen's last lines, or the reason and
the screen's last lines with exit status 1.

Usage: openclaw_tui.py NODE ENTRY URL TOKEN HOME MESSAGE EXPECT
(HOME: an empty directory for OpenClaw's state; the TUI writes its device key there.)"""
import json
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import fcntl
import time

ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def main():
    node, entry, url, token, home, message, expect = sys.argv[1:8]
    state = os.path.join(home, "state")
    os.makedirs(state, exist_ok=True)
    config = os.path.join(state, "openclaw.json")
    with open(config, "w") as f:
        json.dump({}, f)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    env.update(
        HOME=home,
        OPENCLAW_STATE_DIR=state,
        OPENCLAW_CONFIG_PATH=config,
        # No downloads (it fetches `fd` from GitHub otherwise) and no self re-exec.
        OPENCLAW_OFFLINE="1",
        OPENCLAW_NO_RESPAWN="1",
        TERM="xterm-256color",
        NO_COLOR="1",
    )
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(node, [node, entry, "tui", "--url", url, "--token", token], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    out = bytearray()

    def text():
        return ANSI.sub(b"", bytes(out)).decode("utf-8", "replace")

    def pump(seconds):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return False
                if not chunk:
                    return False
                out.extend(chunk)
        return True

    def wait_for(needle, seconds, since=0):
        end = time.time() + seconds
        while time.time() < end:
            if needle in text()[since:]:
                return True
            if not pump(0.2):
                return needle in text()[since:]
        return False

    def finish(ok, why):
        tail = "\n".join(l.rstrip() for l in text().splitlines()[-25:] if l.strip())
        print(("OK " if ok else "FAILED: " + why + "\n") + tail)
        try:
            os.write(fd, b"\x03")
            pump(0.3)
            os.write(fd, b"\x03")
            pump(0.5)
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        sys.exit(0 if ok else 1)

    if not wait_for("gateway connected", 60):
        finish(False, "the TUI never said `gateway connected`")
    mark = len(text())
    os.write(fd, message.encode())
    pump(0.3)
    os.write(fd, b"\r")
    if not wait_for(expect, 60, since=mark):
        finish(False, f"no reply {expect!r} on the screen")
    finish(True, "")


if __name__ == "__main__":
    main()
