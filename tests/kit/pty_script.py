"""Drives a terminal program in a pseudo-terminal by a script, as a person would: waits for
each prompt (a regular expression over the screen text without ANSI codes), then types the
step's keys, or POSTs a JSON body somewhere (to make a peer act while the program waits).
A step marked optional is skipped when the next step's prompt shows up first.

Usage: pty_script.py SCRIPT.json -- PROGRAM ARGS...
SCRIPT: {"timeout": seconds per step, "steps": [{"expect": REGEX, "send": KEYS,
"post": [URL, BODY], "optional": bool}, ...]}; KEYS may hold "\\r", arrow escapes, etc.
Exits 0 when every step matched and the program exited 0; otherwise prints the reason and
the screen's tail and exits 1. Always prints the whole screen text at the end."""
import json
import os
import pty
import re
import select
import struct
import sys
import termios
import fcntl
import time
import urllib.request

ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def main():
    script = json.load(open(sys.argv[1]))
    argv = sys.argv[sys.argv.index("--") + 1 :]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    out = bytearray()
    done = [False]

    def pump(seconds):
        end = time.time() + seconds
        while time.time() < end and not done[0]:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    done[0] = True
                    return
                if not data:
                    done[0] = True
                    return
                out.extend(data)

    def text():
        return ANSI.sub(b"", bytes(out)).decode("utf-8", "replace")

    def fail(why):
        print("FAIL:", why)
        print(text()[-4000:])
        try:
            os.kill(pid, 9)
        except OSError:
            pass
        sys.exit(1)

    seen = 0
    steps = script["steps"]
    per_step = script.get("timeout", 30)
    i = 0
    while i < len(steps):
        step = steps[i]
        pat = re.compile(step["expect"])
        nxt = re.compile(steps[i + 1]["expect"]) if i + 1 < len(steps) else None
        deadline = time.time() + per_step
        matched = None
        while time.time() < deadline:
            t = text()
            m = pat.search(t, seen)
            if m:
                matched = m
                break
            if step.get("optional") and nxt and nxt.search(t, seen):
                break
            if done[0]:
                break
            pump(0.1)
        if matched is None:
            if step.get("optional"):
                i += 1
                continue
            fail("no %r on the screen after %ss" % (step["expect"], per_step))
        seen = matched.end()
        pump(0.2)
        if "post" in step:
            url, body = step["post"]
            req = urllib.request.Request(
                url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            urllib.request.urlopen(req, timeout=10).read()
        if "send" in step:
            # One key at a time; an escape sequence (an arrow key) is one key.
            for key in re.findall(r"\x1b\[[0-9;]*[A-Za-z~]|.", step["send"], re.S):
                os.write(fd, key.encode())
                time.sleep(0.03)
        i += 1
    end = time.time() + per_step
    while not done[0] and time.time() < end:
        pump(0.1)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    print(text())
    if code != 0:
        print("FAIL: exit status", code)
        sys.exit(1)
    print("OK")


main()
