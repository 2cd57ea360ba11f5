"""The HTTP gateway on a real Kafka + Redis: intake and event-stream delivery, side by side
with the raw kafka-python produce rate, in one run.

Reproduce (starts its own Kafka + Redis with ``engine.devstack`` in a temp dir, or uses
``DISPATCH_KAFKA_BOOTSTRAP`` + ``DISPATCH_REDIS_URL`` when both are set)::

    .venv/bin/python -m benchmarks.gateway [--rates 100,250,500] [--duration 10]
        [--stream-rate 200] [--no-report]

Writes ``benchmarks/results/gateway.json`` and its section of ``benchmarks/RESULTS.md``.

Measurements (fresh topic and Redis prefixes; topics ``default_topic_specs(partitions=6)``:
12 partitions for tickets.events and dispatch.assignments, 6 for sla.events)
- raw produce: kafka-python (``KafkaEventLog``, the gateway's producer settings) sends N
  ``ticket.created`` records of the intake's size, then flushes: records/s; and one record at
  a time, each waited for (``publish``, what the intake does per request): p50/p99.
- intake: one gateway process (uvicorn, one worker; ``KafkaEventLog`` publisher, Redis store
  and tokens, ``start_streams`` hub), ``POST /v1/tickets`` at a fixed offered load (open
  loop: request i is due at i/rate, over up to 64 keep-alive connections; latency from the
  due time to the whole response, so queueing counts), then a closed loop of 32 concurrent
  clients for the saturation rate.
- stream delivery: a wallboard (``GET /v1/stream``) connected to the same process; decisions
  produced to dispatch.assignments at a fixed rate; latency from the producer's ``send`` to
  the event parsed by the SSE client (same process, one clock). A group-less consumer in the
  driver reads the same records: the raw Kafka produce -> fetch latency beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bench_report import KEEP_MARKER
from benchmarks.bench_stack import loadavg, machine, proc_hwm_kb, revision, stack, versions

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
COMMAND = ".venv/bin/python -m benchmarks.gateway"
BEGIN = "<!-- begin gateway (benchmarks/gateway.py) -->"
END = "<!-- end gateway -->"
TENANT = "bench"
PARTITIONS = 6
CONNECTIONS = 64
SATURATION_CLIENTS = 32
SATURATION_REQUESTS = 4_000
RAW_RECORDS = 20_000
RAW_ACKED = 500
READY_TIMEOUT_S = 180.0
IDLE_S = 5.0
DRAIN_TIMEOUT_S = 60.0
PAD = 50


# ---------------------------------------------------------------------------- helpers
def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99/max (nearest rank) of ``values`` in milliseconds (given in seconds)."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))] * 1e3

    return {"p50": rank(0.5), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1] * 1e3}


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process used so far (``/proc/PID/stat``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ticket_fields(i: int, run: str) -> dict[str, Any]:
    """A ``POST /v1/tickets`` body (~250 bytes as an event: the throughput benchmark's)."""
    return {
        "id": f"g-{run}-{i:07d}",
        "channel": "chat",
        "priority": 3,
        "tier": "standard",
        "skills": {"general": 1},
        "region": "eu-west",
        "language": "en",
        "customer_id": f"c-{i % 50_000:05d}",
        "attributes": {"source": "bench", "pad": "x" * PAD},
    }


def http_request(port: int, token: str, body: bytes) -> bytes:
    return (
        b"POST /v1/tickets HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (port, token.encode(), len(body), body)
    )


def parse_head(head: bytes) -> tuple[int, int]:
    """Status and Content-Length of an HTTP/1.1 response head."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, length


# ------------------------------------------------------------------------ the server
def serve(argv: list[str]) -> int:
    """``_serve PORT``: one gateway process, configured from DISPATCH_* (the driver's)."""
    import uvicorn

    from consumers.gateway_streams import start_streams, streams_router
    from engine.adapters.kafka import KafkaEventLog
    from engine.adapters.redis import RedisAgentStore, client_from_url
    from engine.adapters.redis.tokens import RedisTokenStore
    from engine.clock import WallClock
    from engine.config import Settings
    from engine.gateway.app import create_app
    from engine.gateway.deps import Gateway
    from engine.policy_file import load_policy

    settings = Settings.from_env(os.environ, dev_env=None)
    client = client_from_url(settings.redis_url)
    hub, stop_streams = start_streams(settings)
    publisher = KafkaEventLog(settings.kafka)
    publisher.connect()
    gateway = Gateway(
        publisher=publisher,
        store=RedisAgentStore(client, prefix=settings.redis_prefix),
        tokens=RedisTokenStore(client, settings.redis_prefix),
        policy=load_policy(None),
        clock=WallClock(),
        topic=settings.topic,
    )
    gateway.extras.setdefault("routers", []).append(streams_router(hub))
    app = create_app(gateway, ready=lambda: hub.live)
    try:
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=int(argv[0]),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    finally:
        stop_streams()
        publisher.close()
    return 0


class Server:
    def __init__(self, env: dict[str, str]) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.gateway", "_serve", str(self.port)],
            cwd=ROOT,
            env={**os.environ, **env},
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> float:
        started = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            if time.monotonic() - started > READY_TIMEOUT_S:
                raise RuntimeError("gateway not ready")
            time.sleep(0.2)

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid) or 0.0

    def stop(self) -> int | None:
        hwm = proc_hwm_kb(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return hwm


# ---------------------------------------------------------------------- raw produce
def measure_raw(s: Any, run: str) -> dict[str, Any]:
    from engine import codec
    from engine.adapters.kafka import KafkaEventLog

    topic = s.topic("tickets.events")

    def record(i: int, tag: str) -> tuple[str, bytes, bytes]:
        ev = {"v": 1, "type": "ticket.created", "tenant": TENANT, "ts": int(time.time() * 1000)}
        ev.update(ticket_fields(i, f"{run}{tag}"))
        return topic, codec.key_of(ev), codec.encode_valid(ev)

    records = [record(i, "r") for i in range(RAW_RECORDS)]
    acked = [record(i, "a") for i in range(RAW_ACKED)]
    with KafkaEventLog(s.kafka) as log_:
        log_.connect()
        log_.publish([record(0, "w")], 10.0)  # warm: metadata, connections
        started, cpu = time.perf_counter(), time.process_time()
        for t, key, value in records:
            log_.send(t, key, value)
        log_.flush()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        latencies = []
        for rec in acked:
            t0 = time.perf_counter()
            log_.publish([rec], 10.0)
            latencies.append(time.perf_counter() - t0)
    return {
        "records": RAW_RECORDS,
        "bytes": len(records[0][2]),
        "rate": RAW_RECORDS / elapsed,
        "cpu_ms_per_record": 1e3 * cpu / RAW_RECORDS,
        "acked_one_at_a_time": {"n": RAW_ACKED, **percentiles(latencies)},
    }


# ---------------------------------------------------------------------------- intake
class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, length = parse_head(head)
        if length:
            await self.reader.readexactly(length)
        return status


async def _connections(port: int, n: int) -> list[Conn]:
    out = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        out.append(Conn(reader, writer))
    return out


def _summary(rows: list[tuple[float, float, float, int]], wall: float, n: int) -> dict[str, Any]:
    ok = [r for r in rows if r[3] == 202]
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[str(r[3])] = statuses.get(str(r[3]), 0) + 1
    return {
        "requests": n,
        "completed": len(rows),
        "statuses": statuses,
        "achieved": len(ok) / wall if wall > 0 else 0.0,
        "latency": percentiles([done - due for due, _, done, _ in ok]),
        "service": percentiles([done - sent for _, sent, done, _ in ok]),
    }


async def _open_loop(port: int, token: str, rate: float, duration: float, run: str) -> Any:
    n = int(rate * duration)
    bodies = [
        http_request(port, token, json.dumps(ticket_fields(i, run)).encode()) for i in range(n)
    ]
    conns = await _connections(port, CONNECTIONS)
    free: asyncio.Queue[Conn] = asyncio.Queue()
    for c in conns:
        free.put_nowait(c)
    rows: list[tuple[float, float, float, int]] = []

    async def one(i: int, due: float) -> None:
        conn = await free.get()
        sent = time.perf_counter()
        status = await conn.request(bodies[i])
        rows.append((due, sent, time.perf_counter(), status))
        free.put_nowait(conn)

    t0 = time.perf_counter() + 0.1
    tasks = []
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.wait(tasks, timeout=duration + DRAIN_TIMEOUT_S)
    wall = max((r[2] for r in rows), default=t0) - t0
    for c in conns:
        c.writer.close()
    return _summary(rows, wall, n)


async def _closed_loop(port: int, token: str, run: str) -> Any:
    bodies = [
        http_request(port, token, json.dumps(ticket_fields(i, run)).encode())
        for i in range(SATURATION_REQUESTS)
    ]
    conns = await _connections(port, SATURATION_CLIENTS)
    rows: list[tuple[float, float, float, int]] = []
    next_i = iter(range(SATURATION_REQUESTS))

    async def client(conn: Conn) -> None:
        for i in next_i:
            sent = time.perf_counter()
            status = await conn.request(bodies[i])
            rows.append((sent, sent, time.perf_counter(), status))

    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(client(c) for c in conns)), timeout=DRAIN_TIMEOUT_S * 3)
    wall = time.perf_counter() - t0
    for c in conns:
        c.writer.close()
    out = _summary(rows, wall, SATURATION_REQUESTS)
    out["clients"] = SATURATION_CLIENTS
    return out


# ---------------------------------------------------------------------------- streams
class SseClient(threading.Thread):
    """A wallboard: ``GET /v1/stream`` over a plain socket (HTTP/1.1 chunked); the receive
    time of every event, by ticket id. ``close()`` ends it at once."""

    def __init__(self, port: int, token: str) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.sendall(
            b"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            b"Authorization: Bearer %s\r\n\r\n" % token.encode()
        )
        self.received: dict[str, float] = {}
        self.connected = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        buf, text = b"", ""
        try:
            while b"\r\n\r\n" not in buf:
                buf += self._recv()
            head, buf = buf.split(b"\r\n\r\n", 1)
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(head.decode(errors="replace"))
            self.connected.set()
            while True:
                # chunked transfer coding: "<hex size>\r\n<data>\r\n"
                while b"\r\n" not in buf:
                    buf += self._recv()
                size_line, buf = buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    return
                while len(buf) < size + 2:
                    buf += self._recv()
                text += buf[:size].decode()
                buf = buf[size + 2 :]
                now = time.perf_counter()
                *lines, text = text.split("\n")
                for line in lines:
                    if line.startswith("data: "):
                        self.received[json.loads(line[6:])["id"]] = now
        except (OSError, EOFError) as exc:
            self.error = exc
        except BaseException as exc:  # reported by the driver
            self.error = exc
            self.connected.set()

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the stream ended")
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.join(10)
        self.sock.close()


class RawFetch(threading.Thread):
    """A group-less consumer of dispatch.assignments: when each record is fetched."""

    def __init__(self, s: Any) -> None:
        from engine.adapters.kafka import KafkaTail

        super().__init__(daemon=True)
        self.tail = KafkaTail(s.kafka, [s.topic("dispatch.assignments")], since_ms=None)
        self.tail.start()
        self.received: dict[bytes, float] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                for r in self.tail.poll(500, 50):
                    self.received[r.key or b""] = time.perf_counter()
        finally:
            self.tail.close()


def measure_stream(s: Any, port: int, token: str, rate: float, duration: float) -> Any:
    from engine import codec
    from engine.adapters.kafka import KafkaEventLog
    from engine.core.model import Decision

    n = int(rate * duration)
    run = uuid.uuid4().hex[:6]
    now = int(time.time() * 1000)
    records = []
    for i in range(n):
        d = Decision(
            kind="assigned",
            ticket_id=f"d-{run}-{i:06d}",
            tenant=TENANT,
            ts=now,
            queue="general",
            agent=f"agent-{i % 50:03d}",
            strategy="round_robin",
            channel="chat",
            priority=3,
            ticket_ts=now,
            candidates=50,
            step="initial",
            seq=1,
            load=1,
            capacity=10,
        )
        ev = d.to_event()
        records.append((d.ticket_id, codec.key_of(ev), codec.encode_valid(ev)))
    topic = s.topic("dispatch.assignments")
    wallboard, raw = SseClient(port, token), RawFetch(s)
    wallboard.start()
    raw.start()
    if not wallboard.connected.wait(30) or wallboard.error is not None:
        raise RuntimeError(f"SSE client did not connect: {wallboard.error}")
    sent: dict[str, float] = {}
    with KafkaEventLog(s.kafka) as log_:
        log_.connect()
        t0 = time.perf_counter() + 0.1
        for i, (ident, key, value) in enumerate(records):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[ident] = time.perf_counter()
            log_.send(topic, key, value)
        log_.flush()
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while len(wallboard.received) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    wallboard.close()
    raw.halt.set()
    raw.join(10)
    keys = {ident: key for ident, key, _ in records}
    delivery = [wallboard.received[k] - t for k, t in sent.items() if k in wallboard.received]
    fetch = [raw.received[keys[k]] - t for k, t in sent.items() if keys[k] in raw.received]
    return {
        "offered": rate,
        "decisions": n,
        "received": len(delivery),
        "delivery": percentiles(delivery),
        "raw_fetch": {"received": len(fetch), **percentiles(fetch)},
    }


# ------------------------------------------------------------------------------- report
def _ms(x: Any, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def section(r: dict[str, Any]) -> str:
    m, v = r["machine"], r["versions"]
    raw = r["raw_produce"]
    ack = raw["acked_one_at_a_time"]
    sat = r["saturation"]
    low = r["intake"][0]
    lines = [
        f"## HTTP gateway: intake and event streams ({r['started'][:10]})",
        "",
        "Generated by `benchmarks/gateway.py`; raw JSON `benchmarks/results/gateway.json`.",
        "",
        "```bash",
        "# starts its own Kafka + Redis (engine.devstack, temp dir) unless both of",
        "# DISPATCH_KAFKA_BOOTSTRAP and DISPATCH_REDIS_URL are set",
        f"{COMMAND} {r['args']}".rstrip(),
        "```",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Linux {m['kernel']};"
        f" load average {r['load_before']} before, {r['load_after']} after (shared machine:"
        " broker, Redis, the gateway and the load generator share the 2 cores)",
        f"- Python {v['python']}, kafka-python {v['kafka-python']}, Kafka {v['kafka_broker']},"
        f" Redis {v['redis_server']}; uvicorn {r['uvicorn']} (h11, asyncio loop: neither"
        " httptools nor uvloop is installed), one worker; commit "
        f"`{r['revision']['commit'][:10]}`",
        f"- Topics `default_topic_specs(partitions={PARTITIONS})`; the gateway process:"
        " `KafkaEventLog` publisher (acks=all, idempotent, linger 5 ms), Redis store and tokens"
        " (each request reads its token and the ticket from Redis), the stream hub fed by"
        f" `start_streams`; ready in {r['ready_s']:.1f} s; idle it uses"
        f" {r.get('idle_cpu_pct', 0):.1f} % of a core; peak RSS"
        f" {(r['server_hwm_kb'] or 0) / 1024:.0f} MiB.",
        "",
        "### POST /v1/tickets (202 after the Kafka acknowledgement)",
        "",
        "Open loop: request *i* is due at *i*/rate over up to"
        f" {CONNECTIONS} keep-alive connections; latency from the due time to the whole"
        " response (queueing included), service = from the send.",
        "",
        "| offered/s | requests | achieved/s | 202 | p50 ms | p95 ms | p99 ms | max ms |"
        " service p50 / p99 ms | gateway CPU ms/request | load avg |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in r["intake"]:
        lat, svc = row["latency"], row["service"]
        lines.append(
            f"| {row['offered']:,.0f} | {row['requests']:,} | {row['achieved']:,.0f} |"
            f" {row['statuses'].get('202', 0):,} | {_ms(lat['p50'])} | {_ms(lat['p95'])} |"
            f" {_ms(lat['p99'])} | {_ms(lat['max'])} | {_ms(svc['p50'])} / {_ms(svc['p99'])} |"
            f" {_ms(row.get('server_cpu_ms'))} | {row.get('load', '')} |"
        )
    slat = sat["latency"]
    lines += [
        f"| closed loop, {sat['clients']} clients | {sat['requests']:,} | {sat['achieved']:,.0f} |"
        f" {sat['statuses'].get('202', 0):,} | {_ms(slat['p50'])} | {_ms(slat['p95'])} |"
        f" {_ms(slat['p99'])} | {_ms(slat['max'])} | |"
        f" {_ms(sat.get('server_cpu_ms'))} | {sat.get('load', '')} |",
        "",
        "Raw kafka-python in the same run (same producer settings, same record size,"
        f" {raw['bytes']} bytes):",
        "",
        f"- produce rate: {raw['rate']:,.0f} records/s ({raw['records']:,} sent, then flushed;"
        f" {_ms(raw.get('cpu_ms_per_record'), 3)} CPU ms per record in the producing process)",
        f"- one record at a time, each waited for (what one intake request does):"
        f" p50 {_ms(ack['p50'])} ms, p99 {_ms(ack['p99'])} ms",
        f"- ratios: gateway saturation / raw produce rate = {sat['achieved'] / raw['rate']:.3f};"
        f" intake p50 at {low['offered']:,.0f}/s / raw acked p50 ="
        f" {low['service']['p50'] / ack['p50']:.2f} (service time)",
        "",
        "### Stream delivery (decision produced -> event received by an SSE client)",
        "",
        "A wallboard on `GET /v1/stream` of the same gateway process; decisions sent to"
        " dispatch.assignments at a fixed rate (`KafkaEventLog.send`, linger 5 ms); latency from"
        " the `send` call to the event parsed by the client. Raw fetch: a group-less"
        " kafka-python consumer in the driver, same records.",
        "",
        "| offered/s | decisions | received | p50 ms | p95 ms | p99 ms | max ms |"
        " raw fetch p50 / p99 ms | gateway CPU ms/decision | load avg |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in r["streams"]:
        d, f = row["delivery"], row["raw_fetch"]
        lines.append(
            f"| {row['offered']:,.0f} | {row['decisions']:,} | {row['received']:,} |"
            f" {_ms(d['p50'])} | {_ms(d['p95'])} | {_ms(d['p99'])} | {_ms(d['max'])} |"
            f" {_ms(f['p50'])} / {_ms(f['p99'])} | {_ms(row.get('server_cpu_ms'), 2)} |"
            f" {row.get('load', '')} |"
        )
    return "\n".join(lines) + "\n"


def write_section(r: dict[str, Any], path: Path) -> None:
    """Replace this benchmark's section in ``path`` (between BEGIN and END), or add it after
    the throughput page's keep marker (which survives re-rendering that page)."""
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n\n{section(r).rstrip()}\n\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        if KEEP_MARKER not in text:
            text = text.rstrip("\n") + f"\n\n{KEEP_MARKER}\n"
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


# ---------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_serve"]:
        return serve(argv[1:])
    p = argparse.ArgumentParser(prog="benchmarks.gateway", description=__doc__.split("\n")[0])
    p.add_argument("--rates", default="100,250,500", help="intake offered loads, requests/s")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per offered load")
    p.add_argument("--stream-rate", default="200,500", help="decisions/s for stream delivery")
    p.add_argument("--keep", action="store_true", help="keep the devstack's data directory")
    p.add_argument("--no-report", action="store_true", help="do not touch RESULTS.md")
    args = p.parse_args(argv)
    rates = [float(x) for x in args.rates.split(",")]
    stream_rates = [float(x) for x in args.stream_rate.split(",")]
    shown = " ".join(a for a in argv if a != "--no-report")
    import uvicorn

    from engine.adapters.kafka import create_topics, default_topic_specs
    from engine.adapters.redis import client_from_url
    from engine.adapters.redis.tokens import RedisTokenStore
    from engine.config import Settings
    from engine.gateway.tokens import mint
    from engine.ports import TokenInfo

    started = datetime.now(UTC).isoformat(timespec="seconds")
    with stack(args.keep) as (bootstrap, redis_url, where):
        run = uuid.uuid4().hex[:6]
        base = Settings.from_env(
            {"DISPATCH_KAFKA_BOOTSTRAP": bootstrap, "DISPATCH_REDIS_URL": redis_url},
            dev_env=None,
        )
        s = replace(base, topic_prefix=f"bench-gw-{run}.", redis_prefix=f"bench-gw-{run}")
        create_topics(s, default_topic_specs(s, partitions=PARTITIONS))
        tokens = RedisTokenStore(client_from_url(redis_url), s.redis_prefix)
        minted = {}
        for role in ("producer", "supervisor"):
            token, digest, token_id = mint()
            tokens.add(digest, TokenInfo(token_id, TENANT, role, None, f"bench-{role}"))
            minted[role] = token
        result: dict[str, Any] = {
            "started": started,
            "args": shown,
            "stack": where,
            "machine": machine(),
            "versions": versions(redis_url, bootstrap),
            "uvicorn": uvicorn.__version__,
            "revision": revision(),
            "load_before": loadavg(),
        }
        print("raw produce ...", file=sys.stderr)
        result["raw_produce"] = measure_raw(s, run)
        env = {
            "DISPATCH_KAFKA_BOOTSTRAP": bootstrap,
            "DISPATCH_REDIS_URL": redis_url,
            "DISPATCH_TOPIC_PREFIX": s.topic_prefix,
            "DISPATCH_REDIS_PREFIX": s.redis_prefix,
            "DISPATCH_LOG_LEVEL": "WARNING",
        }
        server = Server(env)
        try:
            result["ready_s"] = server.wait_ready()
            cpu, t0 = server.cpu_s(), time.monotonic()
            time.sleep(IDLE_S)
            result["idle_cpu_pct"] = 100 * (server.cpu_s() - cpu) / (time.monotonic() - t0)
            result["intake"] = []
            for rate in rates:
                print(f"intake at {rate:g}/s ...", file=sys.stderr)
                cpu = server.cpu_s()
                row = asyncio.run(
                    _open_loop(
                        server.port, minted["producer"], rate, args.duration, f"{run}{rate:g}"
                    )
                )
                row["server_cpu_ms"] = 1e3 * (server.cpu_s() - cpu) / max(1, row["completed"])
                row["offered"] = rate
                row["load"] = loadavg()
                result["intake"].append(row)
            print("intake saturation ...", file=sys.stderr)
            cpu = server.cpu_s()
            sat = asyncio.run(_closed_loop(server.port, minted["producer"], run))
            sat["server_cpu_ms"] = 1e3 * (server.cpu_s() - cpu) / max(1, sat["completed"])
            sat["load"] = loadavg()
            result["saturation"] = sat
            result["streams"] = []
            for rate in stream_rates:
                print(f"stream delivery at {rate:g}/s ...", file=sys.stderr)
                cpu = server.cpu_s()
                row = measure_stream(s, server.port, minted["supervisor"], rate, args.duration)
                row["server_cpu_ms"] = 1e3 * (server.cpu_s() - cpu) / max(1, row["decisions"])
                row["load"] = loadavg()
                result["streams"].append(row)
        finally:
            result["server_hwm_kb"] = server.stop()
        result["load_after"] = loadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "gateway.json").write_text(json.dumps(result, indent=2) + "\n")
    text = section(result)
    print(text)
    if not args.no_report:
        write_section(result, ROOT / "benchmarks" / "RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
