"""The production stack of docker-compose.yml on one machine, without Docker (``deploy/local-stack.sh``).

docker-compose.yml is the one source of truth. Every service's command, environment and start
order is read from it, and so is the instance's home from deploy/Dockerfile. The only changes
are the ones a machine without containers needs, all made in ``localise``:

- a container path becomes a folder on this machine:
  - ``/opt/flywheel`` (the image's copy of the repository) becomes the repository;
  - ``/opt/dagster`` (DAGSTER_HOME) becomes ``<stack>/dagster``, holding deploy/dagster.yaml and
    deploy/workspace.yaml, copied byte for byte;
  - a named volume becomes ``<stack>/volumes/<name>``;
- a service name, and ``0.0.0.0``, become ``127.0.0.1``;
- the container ports 5432, 4000 and 3000 become the ports chosen here, in arguments and in
  the environment alike.

Postgres is Debian's package, not the ``postgres:16`` image. It runs as the ``postgres`` system
user when this runs as root (as the current user otherwise), with its data in
``<stack>/volumes/postgres-data``. The image's POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB
create the role and database, and its healthcheck decides when it is ready.

Every process is started in a session of its own. Its pid and start time go to
``<stack>/pids/<service>.json``. ``down`` stops exactly those processes, with their process
groups and descendants, and nothing else.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BIN = Path(sys.executable).parent
LOCALHOST = "127.0.0.1"
HEALTH_TIMEOUT_SECONDS = 240


@dataclass(frozen=True)
class Ports:
    web: int = 3000
    code: int = 4000
    postgres: int = 15432  # not 5432, so a system Postgres on its default port does not clash

    def mapping(self) -> dict[str, str]:
        """Container port -> local port (the compose file's own numbers)."""
        return {"3000": str(self.web), "4000": str(self.code), "5432": str(self.postgres)}


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    depends_on: list[str] = field(default_factory=list)
    postgres: bool = False  # Debian's postgres in place of the postgres image
    run_as_postgres: bool = False  # as the postgres system user (when this runs as root)
    health: list[str] | None = None  # a command that exits 0 once the service is ready


@dataclass
class Stack:
    dir: Path
    ports: Ports = Ports()
    config: Path | None = None  # FLYWHEEL_CONFIG for the code location, instead of the compose file's

    @property
    def dagster_home(self) -> Path:
        return self.dir / "dagster"

    def volume(self, name: str) -> Path:
        return self.dir / "volumes" / name

    @property
    def pgdata(self) -> Path:
        return self.volume(_postgres_volume(read_compose()))

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.ports.web}"


def load_stack(folder: Path, *, web=None, code=None, postgres=None, config=None) -> Stack:
    """The stack in ``folder``: the ports and config given, else those of its first ``up`` (kept in
    stack.json, so a restart after a crash serves the same thing), else the defaults."""
    saved = json.loads((folder / "stack.json").read_text()) if (folder / "stack.json").exists() else {}
    defaults = Ports()
    ports = Ports(web or saved.get("web", defaults.web), code or saved.get("code", defaults.code),
                  postgres or saved.get("postgres", defaults.postgres))
    config = config or (Path(saved["config"]) if saved.get("config") else None)
    return Stack(folder, ports, config)


def save_stack(stack: Stack) -> None:
    settings = {"web": stack.ports.web, "code": stack.ports.code, "postgres": stack.ports.postgres,
                "config": str(stack.config) if stack.config else None}
    (stack.dir / "stack.json").write_text(json.dumps(settings, indent=1) + "\n")


def read_compose(path: Path = COMPOSE_FILE) -> dict:
    return yaml.safe_load(path.read_text())


def image_dagster_home(dockerfile: Path = DOCKERFILE) -> str:
    match = re.search(r"^ENV\s+DAGSTER_HOME=(\S+)", dockerfile.read_text(), re.MULTILINE)
    if not match:
        raise SystemExit(f"{dockerfile}: no 'ENV DAGSTER_HOME=...' line; the local stack takes the instance home from it")
    return match.group(1)


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's ``${NAME}`` and ``${NAME:-default}``, from the caller's environment."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: environ.get(m.group(1)) or (m.group(2) or ""), value)


def container_paths(stack: Stack, compose: dict) -> dict[str, Path]:
    paths = {"/opt/flywheel": ROOT, image_dagster_home(): stack.dagster_home}
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            name, _, target = volume.partition(":")
            if name in (compose.get("volumes") or {}):
                paths[target] = stack.volume(name)
    return paths


def localise(value: str, stack: Stack, compose: dict, paths: dict[str, Path] | None = None) -> str:
    """One compose value as it reads on this machine (the module docstring lists every rule).
    ``paths``: container_paths(stack, compose), when the caller already has it."""
    if value in compose["services"] or value == "0.0.0.0":
        return LOCALHOST
    if value in stack.ports.mapping():
        return stack.ports.mapping()[value]
    for container, local in sorted((paths or container_paths(stack, compose)).items(), key=lambda kv: -len(kv[0])):
        if value == container or value.startswith(container + "/"):
            return str(local) + value[len(container):]
    return value


def plan(stack: Stack, environ: dict[str, str] | None = None, compose: dict | None = None) -> dict[str, Service]:
    """Every compose service as a local process, in start order."""
    environ = dict(os.environ if environ is None else environ)
    compose = compose or read_compose()
    paths = container_paths(stack, compose)  # reads the Dockerfile: once, not once per value

    def local(value) -> str:
        return localise(interpolate(str(value), environ), stack, compose, paths)

    services: dict[str, Service] = {}
    for name, spec in compose["services"].items():
        env = {key: local(value) for key, value in (spec.get("environment") or {}).items()}
        depends = list(spec.get("depends_on") or [])
        if str(spec.get("image", "")).startswith("postgres:"):
            services[name] = _postgres_service(name, spec, stack, env)
            continue
        argv = list(spec.get("entrypoint") or []) + list(spec.get("command") or [])
        if not argv:
            raise SystemExit(f"{COMPOSE_FILE}: the local stack cannot run service {name!r}: it has no command or "
                             f"entrypoint and is not the postgres image; teach deploy/local_stack.py to run it")
        argv = [local(arg) for arg in argv]
        argv[0] = str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0]
        env["DAGSTER_HOME"] = str(stack.dagster_home)
        if name == "code-location" and stack.config is not None:
            env["FLYWHEEL_CONFIG"] = str(stack.config)
        services[name] = Service(name, argv, env, depends)
    return {name: services[name] for name in _start_order(services)}


def _postgres_volume(compose: dict) -> str:
    for spec in compose["services"].values():
        if str(spec.get("image", "")).startswith("postgres:"):
            return spec["volumes"][0].partition(":")[0]
    raise SystemExit(f"{COMPOSE_FILE}: no postgres service")


def _postgres_service(name: str, spec: dict, stack: Stack, env: dict[str, str]) -> Service:
    pgdata = stack.pgdata
    argv = [str(_postgres_bin("postgres")), "-D", str(pgdata), "-p", str(stack.ports.postgres),
            "-c", f"listen_addresses={LOCALHOST}", "-c", f"unix_socket_directories={pgdata}"]
    # The image's healthcheck (pg_isready and its arguments), pointed at this machine's port.
    test = spec["healthcheck"]["test"]
    check = (test[1] if test[0] == "CMD-SHELL" else " ".join(test[1:])).split()
    health = [str(_postgres_bin(check[0])), *check[1:], "-h", LOCALHOST, "-p", str(stack.ports.postgres)]
    return Service(name, argv, env, postgres=True, run_as_postgres=os.geteuid() == 0, health=health)


def _postgres_bin(program: str) -> Path:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1])
    if shutil.which(program):
        return Path(shutil.which(program))
    raise SystemExit(f"local stack: PostgreSQL's {program} is missing: apt-get install postgresql "
                     "(scripts/setup.sh installs it)")


def _start_order(services: dict[str, Service]) -> list[str]:
    order: list[str] = []

    def visit(name: str, seen: tuple = ()) -> None:
        if name in order:
            return
        if name in seen:
            raise SystemExit(f"{COMPOSE_FILE}: depends_on cycle through {name}")
        for dependency in services[name].depends_on:
            visit(dependency, (*seen, name))
        order.append(name)

    for name in services:
        visit(name)
    return order


# ---- processes -------------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def recorded(stack: Stack, name: str) -> dict | None:
    """The service's recorded process, if it is still that process (pids are reused)."""
    path = stack.dir / "pids" / f"{name}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    same = _start_time(record["pid"]) == record["start"] and "(Z" not in _state(record["pid"])
    return record if same else None


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _group(pgid: int) -> set[int]:
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                members.add(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return members


def _signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists() and "(Z" not in _state(pid)}


def _state(pid: int) -> str:
    try:
        return "(" + Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "(X"


def stop(stack: Stack, name: str, *, kill: bool = False, timeout: float = 60.0) -> bool:
    """Stop the service's recorded process with its group and descendants; ``kill`` is a crash (SIGKILL)."""
    record = recorded(stack, name)
    (stack.dir / "pids" / f"{name}.json").unlink(missing_ok=True)
    if record is None:
        return False
    pid = record["pid"]
    tree = {pid} | _group(pid) | _descendants(pid)
    if kill:
        _signal_all(tree, signal.SIGKILL)
    else:
        # Postgres: SIGINT is its fast shutdown, sent to the postmaster alone; Dagster's servers take SIGTERM.
        _signal_all({pid} if record.get("postgres") else tree, signal.SIGINT if record.get("postgres") else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _alive(tree | _group(pid))
    _signal_all(left, signal.SIGKILL)
    deadline = time.monotonic() + 10  # SIGKILL cannot be blocked, but dying takes a moment: "stopped" means gone
    while _alive(left) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def _spawn(stack: Stack, service: Service) -> None:
    (stack.dir / "logs").mkdir(parents=True, exist_ok=True)
    (stack.dir / "pids").mkdir(parents=True, exist_ok=True)
    extra = {"user": "postgres", "group": "postgres", "extra_groups": []} if service.run_as_postgres else {}
    with open(stack.dir / "logs" / f"{service.name}.log", "ab") as log:  # the child keeps its own copy
        process = subprocess.Popen(service.argv, env={**_base_env(), **service.env}, cwd=ROOT,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, **extra)
    record = {"pid": process.pid, "start": _start_time(process.pid), "argv": service.argv,
              "postgres": service.postgres}
    (stack.dir / "pids" / f"{service.name}.json").write_text(json.dumps(record))


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "FLYWHEEL_", "POSTGRES_"))}
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


# ---- health ------------------------------------------------------------------------------------


def healthy(stack: Stack, service: Service) -> bool:
    if service.name == "webserver":
        try:
            with urllib.request.urlopen(f"{stack.url}/server_info", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False
    if service.health:
        return _quiet(service.health, service)
    if service.name == "code-location":
        return _quiet([str(BIN / "dagster"), "api", "grpc-health-check", "-h", LOCALHOST,
                       "-p", str(stack.ports.code)], service)
    if service.argv[0].endswith("dagster-daemon"):
        return _quiet([str(BIN / "dagster-daemon"), "liveness-check"], service)
    return recorded(stack, service.name) is not None


def _quiet(argv: list[str], service: Service) -> bool:
    try:
        return subprocess.run(argv, env={**_base_env(), **service.env}, capture_output=True, timeout=60).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _wait_healthy(stack: Stack, service: Service) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if recorded(stack, service.name) is None:
            raise SystemExit(f"local stack: {service.name} exited during start-up; its log ends:\n{_tail(stack, service.name)}")
        if healthy(stack, service):
            return
        time.sleep(1)
    raise SystemExit(f"local stack: {service.name} not healthy after {HEALTH_TIMEOUT_SECONDS} s; its log ends:\n"
                     f"{_tail(stack, service.name)}")


def _tail(stack: Stack, name: str, lines: int = 30) -> str:
    path = stack.dir / "logs" / f"{name}.log"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


# ---- postgres's first start --------------------------------------------------------------------


def _init_postgres(stack: Stack, service: Service) -> None:
    if (stack.pgdata / "PG_VERSION").exists():
        return
    stack.pgdata.mkdir(parents=True, exist_ok=True)
    extra = {}
    if service.run_as_postgres:
        _check_reachable_by_postgres(stack.pgdata)
        shutil.chown(stack.pgdata, "postgres", "postgres")
        extra = {"user": "postgres", "group": "postgres", "extra_groups": []}
    stack.pgdata.chmod(0o700)
    password_file = stack.dir / "initdb-password"
    password_file.write_text(service.env["POSTGRES_PASSWORD"] + "\n")
    password_file.chmod(0o600)
    if service.run_as_postgres:
        shutil.chown(password_file, "postgres", "postgres")
    try:
        subprocess.run([str(_postgres_bin("initdb")), "-D", str(stack.pgdata), "-U", service.env["POSTGRES_USER"],
                        "--auth=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8"],
                       check=True, capture_output=True, **extra)
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"local stack: initdb failed:\n{error.stderr.decode(errors='replace')}") from None
    finally:
        password_file.unlink(missing_ok=True)


def _create_database(stack: Stack, service: Service) -> None:
    env = {**_base_env(), "PGPASSWORD": service.env["POSTGRES_PASSWORD"]}
    where = ["-h", LOCALHOST, "-p", str(stack.ports.postgres), "-U", service.env["POSTGRES_USER"]]
    exists = subprocess.run([str(_postgres_bin("psql")), *where, "-d", "postgres", "-tAc",
                             f"SELECT 1 FROM pg_database WHERE datname = '{service.env['POSTGRES_DB']}'"],
                            env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not exists:
        subprocess.run([str(_postgres_bin("createdb")), *where, service.env["POSTGRES_DB"]], env=env, check=True)


def _check_reachable_by_postgres(path: Path) -> None:
    for parent in path.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            raise SystemExit(f"local stack: the postgres user cannot enter {parent} (mode "
                             f"{oct(parent.stat().st_mode & 0o777)}): pick a stack folder every user can reach "
                             "with --dir, or chmod o+x it")


# ---- commands ----------------------------------------------------------------------------------


def up(stack: Stack) -> None:
    stack.dir.mkdir(parents=True, exist_ok=True)
    stack.dir.chmod(0o755)
    save_stack(stack)
    stack.dagster_home.mkdir(parents=True, exist_ok=True)
    for name in ("dagster.yaml", "workspace.yaml"):  # the image's COPY deploy/dagster.yaml deploy/workspace.yaml
        shutil.copyfile(ROOT / "deploy" / name, stack.dagster_home / name)
    services = plan(stack)
    for service in services.values():
        if recorded(stack, service.name) is not None:
            print(f"{service.name:<14} already running (pid {recorded(stack, service.name)['pid']})")
            continue
        if service.postgres:
            _init_postgres(stack, service)
        _spawn(stack, service)
        _wait_healthy(stack, service)
        if service.postgres:
            _create_database(stack, service)
        print(f"{service.name:<14} healthy (pid {recorded(stack, service.name)['pid']})", flush=True)
    print(f"Dagster UI: {stack.url}")


def down(stack: Stack) -> None:
    for name in reversed(list(plan(stack))):
        if stop(stack, name):
            print(f"{name:<14} stopped")


def status(stack: Stack) -> int:
    missing = 0
    for name, service in plan(stack).items():
        record = recorded(stack, name)
        state = "stopped" if record is None else ("healthy" if healthy(stack, service) else "unhealthy")
        missing += state != "healthy"
        print(f"{name:<14} {state:<10} {'pid ' + str(record['pid']) if record else ''}")
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/local-stack.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "kill", "restart"])
    parser.add_argument("service", nargs="?", help="kill: the service to crash (SIGKILL, as a dying container); "
                                                   "restart: the service to stop and start again")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("FLYWHEEL_STACK_DIR", ROOT / ".stack")))
    parser.add_argument("--web-port", type=int, help="default 3000")
    parser.add_argument("--code-port", type=int, help="default 4000")
    parser.add_argument("--postgres-port", type=int, help="default 15432")
    parser.add_argument("--config", type=Path, help="the round config the code location serves "
                        "(default: the compose file's FLYWHEEL_CONFIG)")
    args = parser.parse_args(argv)
    stack = load_stack(args.dir.resolve(), web=args.web_port, code=args.code_port, postgres=args.postgres_port,
                       config=args.config.resolve() if args.config else None)
    if args.command == "up":
        up(stack)
    elif args.command == "down":
        down(stack)
    elif args.command == "status":
        return status(stack)
    else:
        if args.service not in plan(stack):
            parser.error(f"{args.command}: no service {args.service!r}; the services are {', '.join(plan(stack))}")
        stopped = stop(stack, args.service, kill=args.command == "kill")
        print(f"{args.service} {('killed' if args.command == 'kill' else 'stopped') if stopped else 'was not running'}")
        if args.command == "restart":
            up(stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
