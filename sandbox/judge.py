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
import inspect
import os
import resource
import signal
import sys
import threading
import time
import traceback
import types

import wire

_NOT_RERAISED = {"SystemExit", "KeyboardInterrupt", "GeneratorExit"}
# Control-flow exceptions mean something only for the request that may end with them: a StopIteration
# from a plain call would end a test's map()/zip()/all() loop early and let it pass.
_CONTROL_FLOW = {"StopIteration": "next", "StopAsyncIteration": None}  # no request is an async iteration
MAX_CALLBACK_DEPTH = 32
# Judge-side callables a test may hand to the candidate (a key function, a predicate): the tests' own
# functions and lambdas, and builtins that only compute. Never eval/exec/open/getattr and the like: a
# callback runs here, beside the tests, with arguments the candidate chose.
_PURE_BUILTINS = {abs, all, any, ascii, bin, bool, bytes, chr, complex, dict, divmod, float, frozenset, hash, hex,
                  int, len, list, max, min, oct, ord, pow, range, repr, reversed, round, set, sorted, str, sum,
                  tuple, zip, enumerate, filter, map}
_PLAIN_TYPES = (str, bytes, int, float, complex, list, tuple, dict, set, frozenset, bool)


class CandidateError(Exception):
    """An exception the candidate raised whose type is not a builtin exception, or that would read as control flow."""


class CandidateGone(BaseException):
    """The candidate's process ended or stopped answering. Not an Exception: a test cannot catch it."""


def _rebuild(name, text, op):
    """The exception the candidate raised, rebuilt from its name: a builtin, or CandidateError."""
    kind = getattr(builtins, name, None)
    if name in _CONTROL_FLOW and _CONTROL_FLOW[name] != op:
        return CandidateError("%s: %s (raised by a %s, where it is not control flow)" % (name, text, op))
    if isinstance(kind, type) and issubclass(kind, BaseException) and name not in _NOT_RERAISED:
        try:
            return kind(text)
        except Exception:  # noqa: BLE001 - a builtin whose constructor wants other arguments
            pass
    return CandidateError("%s: %s" % (name, text))


# str.format and format_map walk attributes and items of their arguments ("{0.__class__.__init__.__globals__}"):
# handed to the candidate, they would read the tests' namespace through a handle. Never a callback.
_ATTRIBUTE_WALKERS = {"format", "format_map"}


def _allowed_callback(value):
    if getattr(value, "__name__", None) in _ATTRIBUTE_WALKERS:
        return False
    if isinstance(value, types.FunctionType):
        return value.__code__.co_filename == "tests.py"  # defined by the tests, lambdas included
    if isinstance(value, (types.BuiltinFunctionType, types.MethodDescriptorType, types.WrapperDescriptorType,
                          types.ClassMethodDescriptorType)):
        owner = getattr(value, "__objclass__", None) or getattr(value, "__self__", None)
        if isinstance(owner, type) and owner in _PLAIN_TYPES:
            return True  # str.lower, dict.get, int.__add__
        return value in _PURE_BUILTINS or getattr(value, "__module__", None) in ("math", "operator", "_operator")
    return isinstance(value, type) and value in _PURE_BUILTINS


def _update_in_place(original, new):
    """Make the tests' own argument hold what the candidate left in its copy (lists, dicts, sets; nested too)."""
    if type(original) is list and type(new) is list:
        if len(original) == len(new):
            for index, item in enumerate(new):
                if not _update_in_place(original[index], item):
                    original[index] = item
        else:
            original[:] = new
        return True
    if type(original) is dict and type(new) is dict:
        original.clear()
        original.update(new)
        return True
    if type(original) is set and type(new) is set:
        original.clear()
        original.update(new)
        return True
    return False


class Channel:
    """The judge's end of the link. One call at a time (a lock: tests may call the candidate from several threads
    or from asyncio.to_thread), each request numbered and its answer required to carry the same number; a call
    abandoned halfway by any exception (a test's SIGALRM timeout, interrupt_main) breaks the link for good, since
    its late answer would otherwise be read as the next call's."""

    def __init__(self, fd, deadline):
        self.fd, self.deadline, self.broken = fd, deadline, None
        self.callbacks, self.depth = [], 0
        self.lock, self.last_request = threading.RLock(), 0  # reentrant: a callback into the tests may call back

    def exchange(self, message):
        """Send one request and return its answer, serving the candidate's callbacks into the tests meanwhile."""
        with self.lock:
            if self.broken:
                raise CandidateGone(self.broken)
            self.last_request += 1
            number = self.last_request
            try:
                wire.send(self.fd, dict(message, id=number))
                while True:
                    answer = wire.recv(self.fd, self.deadline)
                    if "callback" not in answer:
                        break
                    self._serve_callback(answer)
            except OSError as error:
                self.broken = self.broken or "the candidate stopped answering (%s)" % error
                raise CandidateGone(self.broken) from None
            except BaseException as error:
                self.broken = self.broken or ("a call to the candidate was abandoned by %s; its answer can no longer "
                                              "be told from the next call's" % type(error).__name__)
                raise
            if answer.get("id") != number:
                self.broken = "the candidate answered request %r where request %d was asked" % (answer.get("id"), number)
                raise CandidateGone(self.broken)
        if "raise" in answer:
            name, text = (list(answer["raise"]) + ["", ""])[:2]
            raise _rebuild(str(name)[:100], str(text), message.get("op"))
        return answer

    def request(self, message):
        return self.value_of(self.exchange(message))

    def value_of(self, answer):
        try:
            return wire.decode(answer["value"], self.handle)
        except (KeyError, TypeError, ValueError) as error:
            raise CandidateError("the candidate sent a malformed value (%s)" % error) from None

    def _serve_callback(self, message):
        """The candidate called a function the tests passed it: run it here on plain data, answer, go on waiting."""
        try:
            if self.depth >= MAX_CALLBACK_DEPTH:
                raise RecursionError("callbacks nested more than %d deep" % MAX_CALLBACK_DEPTH)
            function = self.callbacks[int(message["callback"])]
            args = wire.decode(message.get("args", []), self.handle)
            kwargs = wire.decode(message.get("kwargs", {"d": []}), self.handle)
            if type(args) is not list or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
                raise TypeError("malformed callback arguments")
            self.depth += 1
            try:
                value = function(*args, **kwargs)
            finally:
                self.depth -= 1
            reply = {"value": wire.encode(value, self.ref_of)}
        except CandidateGone:
            raise
        except BaseException as error:  # noqa: BLE001 - the callback's failure goes back to the candidate
            reply = {"raise": [type(error).__name__, str(error)[:2000]]}
        wire.send(self.fd, reply)

    def handle(self, ref):
        return Remote(self, int(ref[0]), str(ref[1])[:100])

    def ref_of(self, value):
        """How a non-plain value of the tests crosses: the candidate's own handle, or a callback into the tests."""
        if isinstance(value, Remote):
            return ["c", object.__getattribute__(value, "_id")]
        if callable(value) and _allowed_callback(value):
            self.callbacks.append(value)
            return ["j", len(self.callbacks) - 1]
        raise wire.Unplain("an argument of type %s cannot be sent to the candidate (plain data, the tests' own "
                           "functions and pure builtins can)" % type(value).__name__)


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
        channel = object.__getattribute__(self, "_channel")
        answer = channel.exchange({"op": "call", "target": object.__getattribute__(self, "_id"),
                                   "args": wire.encode(list(args), channel.ref_of),
                                   "kwargs": wire.encode(kwargs, channel.ref_of)})
        # Arguments the candidate changed in place come back as values, applied to the tests' own objects.
        for where, key, data in answer.get("mutated", [])[:len(args) + len(kwargs)]:
            original = args[key] if where == "a" and type(key) is int and 0 <= key < len(args) else kwargs.get(key) \
                if where == "k" and type(key) is str else None
            if original is not None:
                _update_in_place(original, channel.value_of({"value": data}))
        return channel.value_of(answer)

    def __getattr__(self, name):
        return self._ask("getattr", name=name)

    def __iter__(self):
        return _RemoteIterator(self._ask("iter"))

    def __len__(self):
        return self._ask("len")

    def __getitem__(self, key):
        return self._ask("getitem", key=wire.encode(key, object.__getattribute__(self, "_channel").ref_of))

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


def new_session():
    """A session of the job's own; a container's PID 1 already leads one (setsid is then EPERM, and not needed)."""
    try:
        os.setsid()
    except PermissionError:
        pass


def main(header, fds):
    tests_fd, link_fd, result_fd = fds
    signal.signal(signal.SIGINT, signal.default_int_handler)
    new_session()
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


def _names_used(code):
    """Every name the tests' code objects look up (globals and attributes alike: a superset of their globals)."""
    names, pending = set(), [code]
    while pending:
        current = pending.pop()
        names.update(current.co_names)
        pending.extend(const for const in current.co_consts if isinstance(const, types.CodeType))
    return names


def run_tests(channel, source, names, emit):
    try:
        hello = wire.recv(channel.fd, channel.deadline)
    except OSError as error:
        emit({"kind": "program_error", "error": "the program ended before it was loaded (%s)" % error})
        return
    if "program_error" in hello:
        emit({"kind": "program_error", "error": str(hello["program_error"])[:2000]})
        return
    try:
        code = compile(source, "tests.py", "exec")  # once; its code objects also name what the tests look up
    except SyntaxError as error:
        emit({"kind": "program_error", "error": "tests failed to load: %s" % _text(error)})
        return
    # The tests' namespace is the judge's own: a candidate's global is visible only under a name the tests
    # use, never as a dunder, and never in place of a builtin (a candidate's `range` or `abs` cannot take
    # over the tests' loops and comparisons). Where the tests define a name too, theirs wins: they run after.
    used = _names_used(code)
    namespace = {"__name__": "__tests__", "__builtins__": builtins}
    try:
        for name, data in dict(hello.get("names", {})).items():
            name = str(name)
            if name in used and not name.startswith("__") and not hasattr(builtins, name):
                namespace[name] = wire.decode(data, channel.handle)
    except (TypeError, ValueError) as error:
        emit({"kind": "program_error", "error": "the program's globals could not be read (%s)" % error})
        return
    asserted = [0]  # the asserts a checker's split case ran: counted here, on the judge's side of the link

    def count_assert():
        asserted[0] += 1

    namespace["__fw_count__"] = count_assert
    emit({"kind": "program_done"})
    try:
        exec(code, namespace)
    except AssertionError as error:  # HumanEval's check(...) at the top level: the program is wrong
        emit({"kind": "tests_failed_loading", "error": channel.broken or _text(error)})
        return
    except BaseException as error:  # noqa: BLE001
        emit({"kind": "program_error", "error": "tests failed to load: %s" % _text(error)})
        return
    for name in names:
        asserted[0] = 0
        try:
            _run_one(namespace[name])
            passed, error_text = channel.broken is None, channel.broken or ""
        except BaseException as error:  # noqa: BLE001 - a test's failure, whatever it raised
            passed, error_text = False, channel.broken or _text(error)
        emit({"kind": "test", "name": name, "passed": passed, "error": error_text[:2000], "asserted": asserted[0]})


def _run_one(test):
    """Run one test function to its end: a coroutine is run by asyncio; a generator's body would never run."""
    if inspect.isgeneratorfunction(test) or inspect.isasyncgenfunction(test):
        raise TypeError("a generator test function is not run (its body would never execute); write a plain "
                        "function")
    outcome = test()
    if inspect.iscoroutine(outcome):
        import asyncio

        asyncio.run(outcome)
    elif inspect.isgenerator(outcome):
        raise TypeError("the test returned a generator, whose body never ran")


def _text(error):
    return "".join(traceback.format_exception_only(type(error), error)).strip()


if __name__ == "__main__":
    sys.exit("judge.py runs inside the sandbox's zygote")
