# The sandbox escape corpus run by tests/sandbox.rs inside the sandbox: every attempt
# prints `name: ALLOWED` or `name: REFUSED <ERRNO>`, every control `name: OK` or `FAILED`.
import ctypes, errno, fcntl, os, platform, socket, subprocess, sys, tempfile, termios, threading
libc = ctypes.CDLL(None, use_errno=True)
OUT, PPID, HOME = os.environ["OUTSIDE"], os.getppid(), os.environ["REAL_HOME"]
NR = {"x86_64": dict(clone=56, bpf=321, keyctl=250, perf=298, uffd=323),
      "aarch64": dict(clone=220, bpf=280, keyctl=219, perf=241, uffd=282),
      "riscv64": dict(clone=220, bpf=280, keyctl=219, perf=241, uffd=282),
      "armv7l": dict(clone=120, bpf=386, keyctl=311, perf=364, uffd=388)}[platform.machine()]
def report(name, fn, ok="OK"):
    try:
        fn()
        print(f"{name}: {ok}", flush=True)
    except OSError as e:
        word = "FAILED" if ok == "OK" else "REFUSED"
        print(f"{name}: {word} {errno.errorcode.get(e.errno, e.errno)}", flush=True)
def attempt(name, fn): report(name, fn, "ALLOWED")
def c(r):
    if r == -1:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    return r
def read(p): open(p).read()
def write(p): open(p, "w").write("x")
def write_rm(p): write(p); os.unlink(p)
def symlink_read(target, link): os.symlink(target, link); read(link)
def clone_newuser():
    r = c(libc.syscall(NR["clone"], 0x10000000 | 17, 0, 0, 0, 0))
    if r == 0: os._exit(0)
    os.waitpid(r, 0)
def fork_wait():
    pid = os.fork()
    if pid == 0: os._exit(0)
    os.waitpid(pid, 0)
def thread():
    t = threading.Thread(target=lambda: None); t.start(); t.join()
open("moveme.txt", "w").write("m"); open("moveme2.txt", "w").write("m")
# Files: Landlock.
attempt("read_abs", lambda: read(OUT + "/secret.txt")); report("read_in", lambda: read("inside.txt"))
attempt("write_abs", lambda: write(OUT + "/new.txt")); report("write_in", lambda: write("new.txt"))
attempt("dotdot", lambda: read(os.getcwd() + "/../outside/secret.txt")); report("dotdot_in", lambda: read("sub/../inside.txt"))
attempt("symlink_out", lambda: symlink_read(OUT + "/secret.txt", "link_out")); report("symlink_in", lambda: symlink_read("inside.txt", "link_in"))
attempt("hardlink_out", lambda: os.link(OUT + "/secret.txt", "hard_out")); report("hardlink_in", lambda: os.link("inside.txt", "hard_in"))
attempt("rename_out", lambda: os.rename("moveme.txt", OUT + "/moved.txt")); report("rename_in", lambda: os.rename("moveme2.txt", "sub/moved.txt"))
attempt("proc_parent_environ", lambda: read(f"/proc/{PPID}/environ"))
attempt("proc_1_environ", lambda: read("/proc/1/environ")); attempt("proc_1_cmdline", lambda: read("/proc/1/cmdline"))
attempt("home", lambda: os.listdir(HOME))
attempt("global_tmp", lambda: write_rm(f"/tmp/hearth-escape-{os.getpid()}")); report("private_tmp", lambda: tempfile.mkstemp())
attempt("etc_hostname", lambda: read("/etc/hostname")); report("etc_passwd", lambda: read("/etc/passwd"))
# System calls: seccomp.
attempt("ptrace_traceme", lambda: c(libc.ptrace(0, 0, None, None)))
attempt("ptrace_attach_parent", lambda: c(libc.ptrace(16, PPID, None, None)))
attempt("process_vm_readv", lambda: c(libc.process_vm_readv(PPID, None, 0, None, 0, 0)))
attempt("setsid", os.setsid); attempt("setpgid", lambda: os.setpgid(0, 0))
attempt("unshare_user", lambda: c(libc.unshare(0x10000000)))
attempt("mount", lambda: c(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)))
attempt("clone_newuser", clone_newuser); attempt("clone3", lambda: c(libc.syscall(435, None, 0)))
attempt("bpf", lambda: c(libc.syscall(NR["bpf"], 0, None, 0)))
attempt("keyctl", lambda: c(libc.syscall(NR["keyctl"], 0, 0, 0, 0, 0)))
attempt("perf_event_open", lambda: c(libc.syscall(NR["perf"], None, 0, -1, -1, 0)))
attempt("userfaultfd", lambda: c(libc.syscall(NR["uffd"], 0)))
attempt("io_uring_setup", lambda: c(libc.syscall(425, 1, None)))
attempt("personality", lambda: c(libc.personality(0x0040000)))
attempt("kill_parent", lambda: os.kill(PPID, 0)); attempt("kill_everyone", lambda: os.kill(-1, 0))
attempt("tiocsti", lambda: fcntl.ioctl(0, termios.TIOCSTI, b"x"))
attempt("socket_inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("socket_inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
attempt("socket_udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
report("socket_unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
report("fork", fork_wait); report("thread", thread); report("dev_stderr", lambda: open("/dev/stderr", "w").write(""))
report("subprocess", lambda: subprocess.run(["/bin/true"], check=True))
print("done: yes", flush=True)
