"""The candidate's side of a job (inside the candidate sandbox; standard library only).

The child forked by the zygote applies the job's rlimits, reads the program from a
memfd, and runs it as ``__main__``. In ``tests`` mode it then answers the judge's calls on
the link (fd passed by the host): call, getattr, iter, next, len, getitem on its globals
and on values it handed out before. Every answer is plain data or a handle
(flywheel_sandbox.wire): the judge never receives a live object, so nothing here can forge a
test result, whatever this process's code is patched to do. In ``run`` mode (no tests;
stdin/stdout tasks) it just runs the program with the given stdin.
"""

import builtins
import ctypes
import os
import resource
import signal
import sys
import traceback
import types

import wire

_LIBC = ctypes.CDLL(None)  # opened once in the zygote: a job's child only calls it
HELLO_NODES = 100_000  # nodes of one global sent as data when the program has loaded
ANSWER_NODES = 2_000_000  # nodes of one answer (a DAG that shares a list grows exponentially as data)

_RLIMITS = (("RLIMIT_AS", "memory_bytes"), ("RLIMIT_FSIZE", "file_bytes"), ("RLIMIT_NOFILE", "open_files"),
            ("RLIMIT_NPROC", "processes"))


def apply_limits(limits):
    for name, key in _RLIMITS:
        resource.setrlimit(getattr(resource, name), (limits[key], limits[key]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))


def exception_text(error):
    return "".join(traceback.format_exception_only(type(error), error)).strip()[:2000]


def new_session():
    """A session of the job's own; a container's PID 1 already leads one (setsid is then EPERM, and not needed)."""
    try:
        os.setsid()
    except PermissionError:
        pass


def main(header, fds):
    program_fd, out_fd, err_fd, link_fd = fds[:4]
    stdin_fd = fds[4] if len(fds) > 4 else os.open(os.devnull, os.O_RDONLY)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    new_session()
    # The zygote is not dumpable; its children inherit that. The job may read its own /proc/self/*
    # (seccomp still refuses ptrace), while the zygote stays closed to it.
    _LIBC.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
    sys.set_int_max_str_digits(0)  # big answers cross as decimal text (wire caps it at 100k digits)
    program = wire.read_all(program_fd).decode("utf-8", errors="replace")
    os.dup2(stdin_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    for fd in {stdin_fd, out_fd, err_fd}:
        if fd > 2:
            os.close(fd)
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    apply_limits(header["limits"])
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(compile(program, "program.py", "exec"), namespace)
    except SystemExit as request:
        if header["mode"] == "run":
            code = request.code
            if code is not None and not isinstance(code, int):
                print(code, file=sys.stderr)
            return code if isinstance(code, int) else (0 if code is None else 1)
        return _hello_error(link_fd, "the program exited while loading (SystemExit: %s)" % (request.code,))
    except BaseException as error:  # noqa: BLE001 - everything the program raised is reported
        if header["mode"] == "run":
            traceback.print_exc()
            return 1
        return _hello_error(link_fd, exception_text(error))
    finally:
        try:
            sys.stdout.flush()
        except BaseException:  # noqa: BLE001
            pass
    if header["mode"] == "run":
        return 0
    return serve(link_fd, namespace)


def _hello_error(link_fd, text):
    try:
        wire.send(link_fd, {"program_error": text})
    except OSError:
        pass
    return 1


class _JudgeFunction:
    """A function of the tests, passed as an argument: calling it asks the judge to run it on plain data."""

    __slots__ = ("_ident", "_server")

    def __init__(self, ident, server):
        self._ident, self._server = ident, server

    def __call__(self, *args, **kwargs):
        return self._server.call_back(self._ident, args, kwargs)

    def __repr__(self):
        return "<function of the tests>"


class _Server:
    """Answers the judge's requests on the link; while a callback into the tests runs, it answers nested ones."""

    def __init__(self, link_fd):
        self.link_fd, self.handles = link_fd, []

    def handle_of(self, value):
        self.handles.append(value)
        return [len(self.handles) - 1, type(value).__name__]

    def from_judge(self, ref):
        side, ident = ref[0], int(ref[1])
        if side == "j":
            return _JudgeFunction(ident, self)
        if side != "c":
            raise ValueError("not a handle")
        return self.handles[ident]

    def call_back(self, ident, args, kwargs):
        wire.send(self.link_fd, {"callback": ident, "args": wire.encode(list(args), self.handle_of),
                                 "kwargs": wire.encode(dict(kwargs), self.handle_of)})
        while True:
            message = wire.recv(self.link_fd)
            if "op" in message:  # the callback called one of ours
                self.answer(message)
                continue
            if "raise" in message:
                name, text = (list(message["raise"]) + ["", ""])[:2]
                kind = getattr(builtins, str(name), None)
                if isinstance(kind, type) and issubclass(kind, Exception):
                    raise kind(str(text))
                raise RuntimeError("%s: %s" % (name, text))
            return wire.decode(message["value"], self.from_judge)

    def answer(self, request):
        try:
            target = self.handles[request["target"]]
            op = request["op"]
            mutated = []
            if op == "call":
                args = wire.decode(request["args"], self.from_judge)
                kwargs = wire.decode(request["kwargs"], self.from_judge)
                value = target(*args, **kwargs)
                # Containers changed in place go back as their new values (the judge updates its own).
                sent_args = request["args"]  # the judge's encodings, to compare with the values after the call
                sent_kwargs = {pair[0]: pair[1] for pair in request["kwargs"]["d"]}
                given = [("a", i, item, sent_args[i] if i < len(sent_args) else None) for i, item in enumerate(args)]
                given += [("k", key, item, sent_kwargs.get(key)) for key, item in kwargs.items()]
                for where, key, item, sent in given:
                    if type(item) in (list, dict, set):
                        after = wire.encode(item, self.handle_of)
                        if after != sent:
                            mutated.append([where, key, after])
            elif op == "getattr":
                value = getattr(target, request["name"])
            elif op == "iter":
                value = iter(target)
            elif op == "next":
                value = next(target)
            elif op == "len":
                value = len(target)
            elif op == "getitem":
                value = target[wire.decode(request["key"], self.from_judge)]
            else:
                raise ValueError("unknown operation %r" % op)
            answer = {"value": wire.encode(value, self.handle_of, budget=[ANSWER_NODES])}
            if mutated:
                answer["mutated"] = mutated
        except BaseException as error:  # noqa: BLE001 - the judge re-raises it as a plain exception
            answer = {"raise": [type(error).__name__, str(error)[:2000]]}
        answer["id"] = request.get("id")  # the judge matches each answer to its request by this number
        try:
            sys.stdout.flush()
        except BaseException:  # noqa: BLE001
            pass
        try:
            wire.send(self.link_fd, answer)
        except wire.FrameError as error:  # too large to send: say so instead
            wire.send(self.link_fd, {"raise": ["ValueError", "the answer could not be sent: %s" % error],
                                     "id": request.get("id")})


def serve(link_fd, namespace):
    server = _Server(link_fd)
    names = {}
    for name, value in list(namespace.items()):
        if name.startswith("__") or isinstance(value, types.ModuleType):
            continue
        try:  # plain data crosses as data; a cyclic, very deep or huge global as a handle (it still loads)
            names[name] = wire.encode(value, server.handle_of, budget=[HELLO_NODES])
        except (wire.Unplain, RecursionError):
            names[name] = {"h": server.handle_of(value)}
    wire.send(link_fd, {"names": names})
    while True:
        try:
            request = wire.recv(link_fd)
        except OSError:
            return 0  # the judge is done (or gone): this job is over
        server.answer(request)
