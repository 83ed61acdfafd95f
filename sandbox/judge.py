"""The judge's side of a job (inside the judge sandbox; standard library only).

The tests run here, in another sandbox under another uid than the candidate, which can
neither see nor signal nor trace this process. The candidate's globals appear in the
tests' namespace as proxies: calling one sends the arguments as plain data over the
link and rebuilds the answer from data (flywheel_sandbox.wire). A value the candidate could not
send as plain data arrives as a handle, on which a test may call methods, iterate or
index, but which refuses to be compared, hashed or tested for truth, so such a test
fails with that reason instead of passing. Exceptions the candidate raised come back as
the builtin exception of that name, or as ``CandidateError``.

Results go to the host as frames on the result fd: ``program_error``, ``program_done``,
then one ``test`` record per test name.
"""

import builtins
import os
import resource
import signal
import sys
import time
import traceback

import wire

_NOT_RERAISED = {"SystemExit", "KeyboardInterrupt", "GeneratorExit"}


class CandidateError(Exception):
    """An exception the candidate raised whose type is not a builtin exception."""


class CandidateGone(BaseException):
    """The candidate's process ended or stopped answering. Not an Exception: a test cannot catch it."""


class Channel:
    def __init__(self, fd, deadline):
        self.fd, self.deadline, self.broken = fd, deadline, None

    def request(self, message):
        if self.broken:
            raise CandidateGone(self.broken)
        try:
            wire.send(self.fd, message)
            answer = wire.recv(self.fd, self.deadline)
        except OSError as error:
            self.broken = "the candidate stopped answering (%s)" % error
            raise CandidateGone(self.broken) from None
        if "raise" in answer:
            name, text = (list(answer["raise"]) + ["", ""])[:2]
            name, text = str(name), str(text)
            kind = getattr(builtins, name, None)
            rebuilt = None
            if isinstance(kind, type) and issubclass(kind, BaseException) and name not in _NOT_RERAISED:
                try:
                    rebuilt = kind(text)
                except Exception:  # noqa: BLE001 - a builtin whose constructor wants other arguments
                    rebuilt = None
            raise rebuilt if rebuilt is not None else CandidateError("%s: %s" % (name, text))
        try:
            return wire.decode(answer["value"], self.handle)
        except (KeyError, TypeError, ValueError) as error:
            raise CandidateError("the candidate sent a malformed value (%s)" % error) from None

    def handle(self, ref):
        return Remote(self, int(ref[0]), str(ref[1])[:100])


def _refuse(operation):
    def refused(self, *args):
        raise TypeError("the candidate returned a %s object, which cannot cross as plain data: %s is refused "
                        "(tests must compare numbers, strings, bytes, lists, tuples, dicts or sets)"
                        % (object.__getattribute__(self, "_kind"), operation))
    return refused


class Remote:
    """A value that lives in the candidate: callable, iterable and indexable, never comparable."""

    __slots__ = ("_channel", "_id", "_kind")

    def __init__(self, channel, ident, kind):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_id", ident)
        object.__setattr__(self, "_kind", kind)

    def _ask(self, op, **fields):
        return object.__getattribute__(self, "_channel").request(
            dict(fields, op=op, target=object.__getattribute__(self, "_id")))

    def __call__(self, *args, **kwargs):
        return self._ask("call", args=wire.encode(list(args), _ref_of), kwargs=wire.encode(kwargs, _ref_of))

    def __getattr__(self, name):
        return self._ask("getattr", name=name)

    def __iter__(self):
        return _RemoteIterator(self._ask("iter"))

    def __len__(self):
        return self._ask("len")

    def __getitem__(self, key):
        return self._ask("getitem", key=wire.encode(key, _ref_of))

    def __repr__(self):
        return "<candidate %s object>" % object.__getattribute__(self, "_kind")

    __eq__ = _refuse("comparison")
    __ne__ = _refuse("comparison")
    __lt__ = _refuse("comparison")
    __le__ = _refuse("comparison")
    __gt__ = _refuse("comparison")
    __ge__ = _refuse("comparison")
    __hash__ = _refuse("hashing")
    __bool__ = _refuse("a truth test")
    __contains__ = _refuse("membership")
    __int__ = _refuse("conversion")
    __float__ = _refuse("conversion")
    __index__ = _refuse("conversion")
    __setattr__ = _refuse("assignment")


class _RemoteIterator:
    def __init__(self, remote):
        self.remote = remote

    def __iter__(self):
        return self

    def __next__(self):
        if not isinstance(self.remote, Remote):
            raise TypeError("the candidate's iterator is not an iterator")
        return self.remote._ask("next")


def _ref_of(value):
    if isinstance(value, Remote):
        return [object.__getattribute__(value, "_id"), object.__getattribute__(value, "_kind")]
    raise wire.Unplain("an argument of type %s cannot be sent to the candidate" % type(value).__name__)


def main(header, fds):
    tests_fd, link_fd, result_fd = fds
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setsid()
    sys.set_int_max_str_digits(0)  # big answers cross as decimal text (wire caps it at 100k digits)
    limits = header["limits"]
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    source = wire.read_all(tests_fd).decode("utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # what tests print is not the candidate's output
    channel = Channel(link_fd, time.monotonic() + header["wall_seconds"])
    run_tests(channel, source, header["names"], lambda record: wire.send(result_fd, record))
    return 0


def run_tests(channel, source, names, emit):
    try:
        hello = wire.recv(channel.fd, channel.deadline)
    except OSError as error:
        emit({"kind": "program_error", "error": "the program ended before it was loaded (%s)" % error})
        return
    if "program_error" in hello:
        emit({"kind": "program_error", "error": str(hello["program_error"])[:2000]})
        return
    namespace = {"__name__": "__tests__", "__builtins__": builtins}
    try:
        for name, data in dict(hello.get("names", {})).items():
            namespace[str(name)] = wire.decode(data, channel.handle)
    except (TypeError, ValueError) as error:
        emit({"kind": "program_error", "error": "the program's globals could not be read (%s)" % error})
        return
    emit({"kind": "program_done"})
    try:
        exec(compile(source, "tests.py", "exec"), namespace)
    except BaseException as error:  # noqa: BLE001
        emit({"kind": "program_error", "error": "tests failed to load: %s" % _text(error)})
        return
    for name in names:
        try:
            namespace[name]()
            passed, error_text = channel.broken is None, channel.broken or ""
        except BaseException as error:  # noqa: BLE001 - a test's failure, whatever it raised
            passed, error_text = False, channel.broken or _text(error)
        emit({"kind": "test", "name": name, "passed": passed, "error": error_text[:2000]})


def _text(error):
    return "".join(traceback.format_exception_only(type(error), error)).strip()


if __name__ == "__main__":
    sys.exit("judge.py runs inside the sandbox's zygote")
