"""Intake throughput over HTTP: Open311 POST and the JSON API, next to the framework ceiling.

    .venv/bin/python bench/cases_intake.py                      # SQLite: a temporary database file
    DATABASE_URL=postgres://…/scratch .venv/bin/python bench/cases_intake.py   # PostgreSQL
    .venv/bin/python bench/cases_intake.py --seconds 3           # a quicker look

Prepares a database (SQLite in a temporary directory unless ``DATABASE_URL`` is set;
``jiedao migrate`` and ``jiedao demo``), issues an Open311 api_key (``jiedao open311 key``)
and an API token for the community worker ``shequ`` (``jiedao token issue``), starts
``jiedao serve`` (granian, WSGI) on 127.0.0.1 on a free port, and then drives it with C
concurrent keep-alive clients (``http.client``, threads spread over a few processes so the
client's own GIL is not the bottleneck) for a fixed time per endpoint:

- ``GET /healthz``                    — no database: the framework ceiling of this server;
- ``POST /open311/v2/requests.json``  — a form-encoded Open311 request, api_key checked;
- ``POST /api/cases/``                — the JSON API's create, bearer token checked.

Every intake is the real path: ``services.case_create`` with its tracking code, search
document, timeline event, sealed audit event and queued SMS, in one transaction. Prints a
Markdown table (requests/s of successful answers, p50 and p99 latency, errors, and the CPU
per request of the server, its task worker, the clients and — on PostgreSQL — the database
server's processes) and stops
the server itself. Talks only to 127.0.0.1. Static files are collected once into
``$TMPDIR/jiedao-intake-static`` and reused by later runs. The PostgreSQL database must be a scratch one
(the bench's cases and audit rows stay there).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from benchdb import machine

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STATIC_CACHE = Path(tempfile.gettempdir()) / "jiedao-intake-static"
STREET = "360103012"  # 朝农街道 of the demo
COMMUNITIES = ["兰宫路社区", "十里江山社区", "泰江来社区"]
OPEN311_SERVICES = ["part-facilities", "event-street-order", "svc-housekeeping", "demand-general"]
API_CATEGORIES = ["part-facilities", "event-cityscape", "demand-general"]
CLI = [sys.executable, "-c", "from jiedao.cli import main; main()"]  # = .venv/bin/jiedao
TEXTS = ["楼道灯不亮", "井盖破损", "广场舞噪音扰民", "垃圾清运不及时", "消防通道堵塞", "小区停车难"]


# --- the server ---------------------------------------------------------------------------------

def jiedao(env: dict[str, str], *args: str, check: bool = True) -> str | None:
    """Run a ``jiedao`` management command; return its stdout (None if it failed and not ``check``)."""
    result = subprocess.run([*CLI, *args],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        if not check:
            print(f"jiedao {' '.join(args)} failed:\n{result.stderr[-2000:]}", file=sys.stderr)
            return None
        sys.exit(f"jiedao {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


PERSONAS_ONLY = """
from jiedao.audit.trail import Actor
from jiedao.demo.organisation import load_organisation, load_personas
by = Actor.system("demo")
load_personas(by, load_organisation(by))
"""


# How the intakes were grouped into transactions: the messages one transaction queues share one
# created_at (messaging.queue_many), and every bench intake queues one SMS.
BATCH_STATS = """
from django.db.models import Count
from jiedao.cases.models import Case, OutboundMessage
sizes = list(OutboundMessage.objects.filter(channel="sms").values("created_at").annotate(n=Count("id"))
             .values_list("n", flat=True))
print(Case.objects.count(), len(sizes), sum(sizes), max(sizes, default=0))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def prepare(env: dict[str, str]) -> tuple[str, str]:
    jiedao(env, "migrate", "--verbosity", "0")
    if jiedao(env, "demo", check=False) is None:  # another app's sample is broken: the org suffices
        print("falling back to the demo organisation and personas only", file=sys.stderr)
        jiedao(env, "shell", "-c", PERSONAS_ONLY)
    name = f"bench-{int(time.time())}"
    key = jiedao(env, "open311", "key", name, "--street", STREET).strip()
    token = jiedao(env, "token", "issue", "shequ", name).strip()
    return key, token


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    log = open(Path(env["JIEDAO_VAR_DIR"]) / "server.log", "w")  # noqa: SIM115 — closed with the server
    process = subprocess.Popen(
        [*CLI, "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"jiedao serve exited ({process.returncode}); see {log.name}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.2)
    stop_server(process)
    sys.exit("jiedao serve did not answer /healthz within 60 s")


def stop_server(process: subprocess.Popen) -> None:
    """Stop the server we started (it replaced itself with granian: same pid, own session), and
    whatever else is left in its process group (the task worker)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:  # the task worker and anything else left in the server's process group
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if process.poll() is None:
        process.wait()


# --- the clients --------------------------------------------------------------------------------

def make_request(target: str, key: str, token: str, n: int) -> tuple[str, str, bytes, dict[str, str]]:
    text = f"{TEXTS[n % len(TEXTS)]}(压测 {n})"
    if target == "healthz":
        return "GET", "/healthz", b"", {}
    if target == "open311":
        body = urlencode({
            "api_key": key, "jurisdiction_id": STREET,
            "service_code": OPEN311_SERVICES[n % len(OPEN311_SERVICES)],
            "address_string": f"{COMMUNITIES[n % 3]}{n % 40 + 1}栋", "description": text,
            "last_name": "张", "first_name": "三", "phone": f"138{n % 100000000:08d}",
        }).encode()
        return "POST", "/open311/v2/requests.json", body, {
            "Content-Type": "application/x-www-form-urlencoded"}
    body = json.dumps({
        "title": text, "category": API_CATEGORIES[n % len(API_CATEGORIES)], "channel": "phone",
        "org_unit_code": f"{STREET}001{n % 4:03d}".removesuffix("000"), "address": f"{n % 40 + 1}栋",
        "requester_name": "李四", "requester_phone": f"139{n % 100000000:08d}",
    }, ensure_ascii=False).encode()
    return "POST", "/api/cases/", body, {"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"}


EXPECTED = {"healthz": 200, "open311": 201, "api": 201}


class Connection:
    """A lean keep-alive HTTP/1.1 client: the request written as bytes, the response read with
    one header parse. ``http.client`` costs about 0.4 ms of CPU per request, which on a 2-core
    machine shared with the server is taken from the server; this costs a tenth of that."""

    def __init__(self, port: int):
        self.sock = socket.create_connection((HOST, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}",
                *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._more()
        header, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4:]
        lines = header.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _sep, v in (line.partition(":") for line in lines[1:])}
        if "content-length" in fields:
            self._skip(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            while True:
                while (eol := self.buffer.find(b"\r\n")) < 0:
                    self._more()
                size = int(self.buffer[:eol].split(b";")[0], 16)
                self.buffer = self.buffer[eol + 2:]
                self._skip(size + 2)
                if size == 0:
                    break
        return status

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buffer += data

    def _skip(self, size: int) -> None:
        while len(self.buffer) < size:
            self._more()
        self.buffer = self.buffer[size:]


def client_thread(port: int, target: str, key: str, token: str, start: float, stop: float, seed: int,
                  stride: int, latencies: list[float], errors: dict[str, int]) -> None:
    conn = Connection(port)
    n = seed
    while time.monotonic() < start:
        time.sleep(0.001)
    while True:
        began = time.monotonic()
        if began >= stop:
            break
        method, path, body, headers = make_request(target, key, token, n)
        n += stride
        try:
            status = conn.request(method, path, body, headers)
        except (OSError, ValueError, IndexError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            conn.close()
            conn = Connection(port)
            continue
        finished = time.monotonic()
        if status == EXPECTED[target]:
            if finished <= stop:
                latencies.append(finished - began)
        else:
            errors[str(status)] = errors.get(str(status), 0) + 1
    conn.close()


def client_process(port, target, key, token, start, stop, first, threads, stride, queue) -> None:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    workers = [threading.Thread(target=client_thread, args=(port, target, key, token, start, stop,
                                                           first + i, stride, latencies, errors))
               for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((latencies, errors))


def group_cpu_seconds(pgid: int) -> dict[str, float]:
    """CPU time (user + system) of the live processes of a process group — the server's workers
    and its task worker — by kind of process. Linux only (/proc)."""
    total: dict[str, float] = {"server": 0.0, "task worker": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state ppid pgrp … utime(11) stime(12)
            kind = "task worker" if b"db_worker" in cmdline else "server"
            total[kind] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def postgres_cpu_seconds() -> float:
    """CPU time of this machine's PostgreSQL server processes (0 if none): on two cores the
    database's work competes with the server's. Any other PostgreSQL running here is counted too;
    on SQLite nothing is (another job's PostgreSQL is not this bench's database)."""
    if not os.environ.get("DATABASE_URL"):
        return 0.0
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        if name == "postgres":
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(port: int, target: str, key: str, token: str, clients: int, procs: int, seconds: float,
            offset: int, server_pgid: int) -> dict:
    """C clients (spread over ``procs`` processes) for ``seconds``; ``offset`` keeps texts unique.
    Also the CPU time the server and the clients used per successful request: unlike requests/s,
    that does not depend on what else runs on the machine."""
    server_cpu, client_cpu = group_cpu_seconds(server_pgid), children_cpu_seconds()
    database_cpu = postgres_cpu_seconds()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    start = time.monotonic() + 0.5
    stop = start + seconds
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    processes, first = [], offset
    for count in per:
        processes.append(ctx.Process(target=client_process, args=(port, target, key, token, start, stop,
                                                                  first, count, clients, queue)))
        first += count
    for process in processes:
        process.start()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    for _process in processes:
        lat, err = queue.get()
        latencies += lat
        for name, count in err.items():
            errors[name] = errors.get(name, 0) + count
    for process in processes:
        process.join()
    after = group_cpu_seconds(server_pgid)
    server_cpu = {kind: after[kind] - server_cpu.get(kind, 0.0) for kind in after}
    client_cpu = children_cpu_seconds() - client_cpu
    database_cpu = postgres_cpu_seconds() - database_cpu
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    ok = max(len(latencies), 1)
    return {"ok": len(latencies), "rps": len(latencies) / seconds, "p50": pct(0.50), "p99": pct(0.99),
            "mean": statistics.fmean(latencies) * 1000 if latencies else float("nan"), "errors": errors,
            "server_ms": server_cpu["server"] / ok * 1000, "worker_ms": server_cpu["task worker"] / ok * 1000,
            "client_ms": client_cpu / ok * 1000, "database_ms": database_cpu / ok * 1000,
            "load": os.getloadavg()[0]}


LABELS = {"healthz": "GET /healthz (ceiling)", "open311": "POST /open311/v2/requests.json",
          "api": "POST /api/cases/"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="measuring time per endpoint (10)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--procs", type=int, default=2, help="client processes the clients are spread over")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("JIEDAO_WORKERS", "2")),
                        help="server worker processes (JIEDAO_WORKERS, 2)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("JIEDAO_THREADS", "16")),
                        help="request threads per server worker (JIEDAO_THREADS, 16)")
    parser.add_argument("--targets", default="healthz,open311,api",
                        help="which endpoints, comma-separated: healthz,open311,api")
    args = parser.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if unknown := set(targets) - set(LABELS):
        sys.exit(f"unknown target(s): {', '.join(sorted(unknown))}")

    tmp = tempfile.mkdtemp(prefix="jiedao-intake-")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "jiedao.settings", "JIEDAO_LOG_LEVEL": "WARNING",
           "JIEDAO_VAR_DIR": tmp, "JIEDAO_THREADS": str(args.threads),
           # Collected once and kept between runs (serve collects them when stale).
           "JIEDAO_STATIC_ROOT": os.environ.get("JIEDAO_STATIC_ROOT", str(STATIC_CACHE)),
           "PYTHONPATH": str(ROOT)}
    database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    if database == "SQLite":
        env["JIEDAO_SQLITE_PATH"] = str(Path(tmp) / "bench.sqlite3")
    server = None
    try:
        print(f"preparing {database} database in {tmp} (migrate, demo, api key, token) …", file=sys.stderr)
        key, token = prepare(env)
        port = free_port()
        server = start_server(env, port, args.workers)
        print(f"jiedao serve on {HOST}:{port} ({args.workers} workers)", file=sys.stderr)
        rows = []
        for i, target in enumerate(targets):
            make_warm = measure(port, target, key, token, args.clients, args.procs, 1.0,
                                offset=(2 * i + 1) * 10_000_000, server_pgid=server.pid)
            del make_warm
            result = measure(port, target, key, token, args.clients, args.procs, args.seconds,
                             offset=(2 * i + 2) * 10_000_000, server_pgid=server.pid)
            rows.append((target, result))
            print(f"  {LABELS[target]}: {result['rps']:.0f}/s", file=sys.stderr)
        stats = jiedao(env, "shell", "-c", BATCH_STATS, check=False)
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{database}, {args.workers} server workers × {args.threads} threads, "
          f"{args.clients} keep-alive clients, {args.seconds:g} s each; "
          f"{machine()}; {time.strftime('%Y-%m-%d')}\n")
    if stats:
        cases, tasks, messages, largest = (int(x) for x in stats.split()[-4:])
        print(f"Intakes were stored in transactions of {messages / max(tasks, 1):.1f} cases on average "
              f"(largest {largest}; {messages:,} SMS queued by {tasks:,} transactions; {cases:,} cases "
              f"in the database).\n")
    print("| endpoint | requests/s | p50 ms | p99 ms | ok | errors | CPU ms/request: server "
          "| task worker | clients | PostgreSQL | load (1 min) |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for target, r in rows:
        errors = ", ".join(f"{k}×{v}" for k, v in sorted(r["errors"].items())) or "0"
        print(f"| {LABELS[target]} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['ok']} "
              f"| {errors} | {r['server_ms']:.2f} | {r['worker_ms']:.2f} | {r['client_ms']:.2f} "
              f"| {r['database_ms']:.2f} "
              f"| {r['load']:.1f} |")


if __name__ == "__main__":
    main()
