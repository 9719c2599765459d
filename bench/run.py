#!/usr/bin/env python3
"""`make bench`: the gateway path against a direct upstream and a one-hop proxy, in one run.

Starts its own PostgreSQL, Redis and NATS under .run-bench on free ports, the fake upstream
(bench/upstream), nginx as a plain reverse proxy, and Switchyard's seven services (release builds,
logging at `info` as in production; realtime, ingestion and orchestrator idle beside the load, as
they run in production), then drives the same load at each target
in turn: wrk with bench/wrk/chat.lua for c1, c16, c64; bench/stream_client.py for 64
concurrent streams and a soak of up to 2000 held streams. Writes bench/results/<date>-<host>.md
and a .tsv beside it.

Settings (environment): BENCH_SECONDS (10) per case, BENCH_SOAK_STREAMS (2000), BENCH_CASES
(comma list, all by default), BENCH_TARGETS (direct,one-hop,switchyard), PROFILE=1 for a perf
profile of BENCH_PROFILE_SERVICES (gateway,router; any of gateway, router, nats, redis, billing,
analytics, postgres) under the load of the case BENCH_PROFILE_CASE (c64; any of c1, c16, c64, s64).
BENCH_CONCURRENCY_LIMIT=0 leaves the tenant without a limit of concurrent requests (every other
limit and the budget stay): a call holding a concurrency slot settles its quotas before it
answers, any other call after.
"""
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run-bench"
RESULTS = ROOT / "bench" / "results"
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
SOAK_STREAMS = int(os.environ.get("BENCH_SOAK_STREAMS", "2000"))
CASES = [c for c in os.environ.get("BENCH_CASES", "c1,c16,c64,s64,soak").split(",") if c]
TARGETS = [t for t in os.environ.get("BENCH_TARGETS", "direct,one-hop,switchyard").split(",") if t]
PROFILE = os.environ.get("PROFILE", "0") == "1"
PROFILE_CASE = os.environ.get("BENCH_PROFILE_CASE", "c64")
CONCURRENCY_LIMIT = os.environ.get("BENCH_CONCURRENCY_LIMIT", "1") != "0"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"bench: {what} did not open port {port}")


# --- Processes and their cost -------------------------------------------------------------

def cpu_seconds(pid):
    """User + system CPU of a process (all its threads), or 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError):
        return 0.0


def rss_mb(pid):
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB / 1024
    except (OSError, IndexError):
        return 0.0


def children(pid):
    """The process and every descendant (nginx's workers, PostgreSQL's backends)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                pass
    found, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found.add(child)
                frontier.append(child)
    return sorted(found)


def machine_busy_seconds():
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICKS


class Group:
    """Named processes whose CPU and peak memory a case measures."""

    def __init__(self, name, pids_of):
        self.name = name
        self.pids_of = pids_of  # called at each sample: nginx and PostgreSQL fork

    def pids(self):
        return self.pids_of()

    def cpu(self):
        return sum(cpu_seconds(pid) for pid in self.pids())

    def rss(self):
        return sum(rss_mb(pid) for pid in self.pids())

    def private_mb(self):
        """Anonymous resident memory (RssAnon): what the processes hold beyond mapped files."""
        total = 0.0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total += next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("RssAnon:")), 0.0)
        return total


class Sampler(threading.Thread):
    """Samples each group's memory every 100 ms while a case runs, keeping the peak."""

    def __init__(self, groups):
        super().__init__(daemon=True)
        self.groups = groups
        self.peak = {g.name: 0.0 for g in groups}
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            for group in self.groups:
                self.peak[group.name] = max(self.peak[group.name], group.rss())
            self.stopping.wait(0.1)

    def stop(self):
        self.stopping.set()
        self.join()
        return self.peak


def run_load(command, env=None):
    """Runs a load generator to its end; returns its output and its own CPU seconds."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        log(f"{command[0]} exited {process.returncode}: {output[-500:]}")
    return output, usage.ru_utime + usage.ru_stime


def bench_line(output):
    for line in output.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise SystemExit(f"bench: the load generator printed no result:\n{output[-2000:]}")


# --- The platform under test --------------------------------------------------------------

class Platform:
    def __init__(self):
        self.processes = {}
        self.env = dict(os.environ)
        self.bin = None

    def start(self, name, command, log_name=None, env=None):
        logs = RUN / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        handle = open(logs / f"{log_name or name}.log", "ab")
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env or self.env,
                                   start_new_session=True)
        self.processes[name] = process
        return process

    def stop_all(self):
        for name, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        subprocess.run(["bash", "scripts/infra.sh", "down", str(RUN)], cwd=ROOT, check=False)

    def build(self):
        log("building release binaries (the first release build takes several minutes)")
        subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL if not os.environ.get("BENCH_VERBOSE") else None)
        self.bin = Path(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout.strip())

    def infrastructure(self):
        env = dict(os.environ, SWITCHYARD_PICK_FREE_PORTS="1", SWITCHYARD_PG_FAST="1",
                   SWITCHYARD_PG_PORT="57432", SWITCHYARD_REDIS_PORT="57379", SWITCHYARD_NATS_PORT="57422")
        # From nothing every run: a stream and tables left by the last run would be caught up
        # on (a new consumer starts at the stream's first event) and grow from run to run.
        subprocess.run(["bash", "scripts/infra.sh", "down", str(RUN)], cwd=ROOT, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(RUN, ignore_errors=True)
        subprocess.run(["bash", "scripts/infra.sh", "up", str(RUN)], cwd=ROOT, check=True, env=env)
        for line in (RUN / "infra.env").read_text().splitlines():
            key, _, value = line.partition("=")
            if key:
                self.env[key] = value
        subprocess.run([str(self.bin / "switchyard"), "migrate"], check=True, env=self.env, stdout=subprocess.DEVNULL)

    def upstream(self):
        self.upstream_port = free_port()
        self.start("upstream", [str(self.bin / "bench-upstream"), str(self.upstream_port)])
        wait_for_port(self.upstream_port, "the fake upstream")

    def nginx(self):
        self.nginx_port = free_port()
        directory = RUN / "nginx"
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "nginx.conf"
        config.write_text(f"""
worker_processes auto;
worker_rlimit_nofile 65536;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    upstream fake {{ server 127.0.0.1:{self.upstream_port}; keepalive 512; }}
    server {{
        listen 127.0.0.1:{self.nginx_port} backlog=4096;
        location / {{
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
""")
        self.start("nginx", ["nginx", "-c", str(config), "-p", str(directory)])
        wait_for_port(self.nginx_port, "nginx")

    def switchyard(self):
        catalog = RUN / "catalog.yaml"
        deployment = """
    deployments:
      - name: bench/{model}
        provider: openai
        upstream_model: {model}
        base_url: http://127.0.0.1:{port}/v1
        price:
          input_micros_per_million: 500000
          output_micros_per_million: 1500000
        context_window: 32768
        capabilities: [chat, streaming]
"""
        catalog.write_text("models:\n" + "".join(
            f"  {model}:" + deployment.format(model=model, port=self.upstream_port) for model in ("bench-chat", "bench-soak")))
        self.gateway_port = free_port()
        self.env.update({
            "SWITCHYARD_CATALOG": str(catalog), "SWITCHYARD_LOG_LEVEL": "info",
            "SWITCHYARD_GATEWAY_PORT": str(self.gateway_port),
            "SWITCHYARD_GATEWAY_OPS_PORT": str(free_port()), "SWITCHYARD_ROUTER_OPS_PORT": str(free_port()),
            "SWITCHYARD_BILLING_OPS_PORT": str(free_port()), "SWITCHYARD_ANALYTICS_OPS_PORT": str(free_port()),
            "SWITCHYARD_REALTIME_OPS_PORT": str(free_port()), "SWITCHYARD_INGESTION_OPS_PORT": str(free_port()),
            "SWITCHYARD_ORCHESTRATOR_OPS_PORT": str(free_port()), "SWITCHYARD_REALTIME_PORT": str(free_port()),
            "SWITCHYARD_REALTIME_CURSOR_SECRET": "bench-cursor-secret-" + "b" * 32,
        })
        for service in SERVICES:
            self.start(service, [str(self.bin / service)])
        wait_for_port(self.gateway_port, "the gateway")

        cli = str(self.bin / "switchyard")

        def run_cli(*arguments):
            return subprocess.run([cli, *arguments], check=True, env=self.env, capture_output=True, text=True).stdout.strip()

        tenant = run_cli("tenant", "create", "--name", "bench")
        self.key = run_cli("key", "create", "--tenant", tenant, "--name", "bench", "--role", "developer")
        # Limits and a budget far above what the bench spends: every check runs, none refuses.
        run_cli("limits", "set", "--tenant", tenant, "--requests-per-minute", "100000000", "--requests-per-day", "1000000000",
                "--tokens-per-minute", "10000000000", "--tokens-per-month", "1000000000000",
                *(["--concurrent-requests", "100000"] if CONCURRENCY_LIMIT else []))
        run_cli("budget", "set", "--tenant", tenant, "--amount-micros", "1000000000000000", "--policy", "block")
        # The first call fills the key and price caches and seeds the budget counter.
        for _ in range(100):
            probe = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {self.key}",
                                    "-H", "Content-Type: application/json", "-d",
                                    '{"model":"bench-chat","messages":[{"role":"user","content":"hi"}]}',
                                    f"http://127.0.0.1:{self.gateway_port}/v1/chat/completions"], capture_output=True, text=True)
            if probe.stdout == "200":
                return
            time.sleep(0.2)
        raise SystemExit("bench: the gateway never answered a chat completion; see .run-bench/logs")

    def pid_file(self, path):
        """The pid on a pid file's first line (PostgreSQL's postmaster.pid has more lines)."""
        try:
            return int(Path(path).read_text().split("\n", 1)[0].strip())
        except (OSError, ValueError):
            return None

    def groups(self):
        """What each target's path runs through, and the rest of the platform."""
        pid = lambda name: [self.processes[name].pid] if name in self.processes else []
        nats = lambda: [p for p in [self.pid_file(RUN / "pids" / "nats.pid")] if p]
        redis = lambda: [p for p in [self.pid_file(RUN / "pids" / "redis.pid")] if p]
        postgres = lambda: children(p) if (p := self.pid_file(RUN / "postgres" / "postmaster.pid")) else []
        nginx = lambda: children(self.processes["nginx"].pid) if "nginx" in self.processes else []
        return {
            "upstream": Group("upstream", lambda: pid("upstream")),
            "nginx": Group("nginx", nginx),
            "gateway": Group("gateway", lambda: pid("gateway")),
            "router": Group("router", lambda: pid("router")),
            "nats": Group("nats", nats),
            "redis": Group("redis", redis),
            "billing": Group("billing", lambda: pid("billing")),
            "analytics": Group("analytics", lambda: pid("analytics")),
            "realtime": Group("realtime", lambda: pid("realtime")),
            "ingestion": Group("ingestion", lambda: pid("ingestion")),
            "orchestrator": Group("orchestrator", lambda: pid("orchestrator")),
            "postgres": Group("postgres", postgres),
        }


# --- Cases ----------------------------------------------------------------------------------

# Started in this order: the gateway last, once what it calls listens.
SERVICES = ("billing", "analytics", "realtime", "ingestion", "orchestrator", "router", "gateway")
PATHS = {"direct": [], "one-hop": ["nginx"], "switchyard": ["gateway", "router", "nats", "redis"]}
OFF_PATH = {"switchyard": ["billing", "analytics", "postgres"]}


def drive_load(case, url, key):
    """Runs one case's load against `url`: wrk for cN (N connections), the stream client for s64
    and soak. Returns the load generator's output and the CPU seconds it used."""
    if case.startswith("c"):
        connections = int(case[1:])
        return run_load(["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{int(SECONDS)}s", "--latency",
                         "-s", str(ROOT / "bench" / "wrk" / "chat.lua"), url],
                        env=dict(os.environ, BENCH_KEY=key, BENCH_MODEL="bench-chat"))
    client = [sys.executable, str(ROOT / "bench" / "stream_client.py")]
    if case == "s64":
        return run_load(client + ["burst", url + "/v1", key, "bench-chat", "64", str(SECONDS)])
    return run_load(client + ["soak", url + "/v1", key, "bench-soak", str(SOAK_STREAMS), "500"])


def measure(platform, target, case, url):
    groups = platform.groups()
    watched = [groups[name] for name in ["upstream", *PATHS[target], *OFF_PATH.get(target, [])]]
    sampler = Sampler(watched)
    before = {g.name: g.cpu() for g in watched}
    busy_before, started = machine_busy_seconds(), time.time()
    sampler.start()
    key = platform.key if target == "switchyard" else "none"
    output, load_cpu = drive_load(case, url, key)
    result = bench_line(output)
    if case.startswith("c"):
        requests = result["requests"]
        seconds = result["duration_us"] / 1e6
        row = {"requests_per_s": requests / seconds, "p50_ms": result["p50_us"] / 1000, "p90_ms": result["p90_us"] / 1000,
               "p99_ms": result["p99_us"] / 1000, "errors": result["non2xx"] + result["socket_errors"]}
    else:
        requests = result["completed"]
        seconds = result["seconds"]
        row = {"requests_per_s": result["streams_per_s"], "p50_ms": result["ttft_p50_ms"], "p90_ms": result["ttft_p90_ms"],
               "p99_ms": result["ttft_p99_ms"], "errors": result["errors"], "chunks_per_s": result["chunks_per_s"],
               "completed": result["completed"], "most_open": result.get("most_open", "")}
    wall = time.time() - started
    peak = sampler.stop()
    spent = {g.name: g.cpu() - before[g.name] for g in watched}
    busy = machine_busy_seconds() - busy_before
    path_cpu = sum(spent[name] for name in PATHS[target])
    other = max(0.0, busy - sum(spent.values()) - load_cpu)
    per_request = lambda seconds_spent: seconds_spent * 1000 / requests if requests else 0.0
    row.update({
        "target": target, "case": case, "requests": requests,
        "path_cpu_ms_per_req": per_request(path_cpu),
        "off_path_cpu_ms_per_req": per_request(sum(spent[n] for n in OFF_PATH.get(target, []))),
        "upstream_cpu_ms_per_req": per_request(spent["upstream"]),
        "load_generator_cores": load_cpu / wall, "other_load_cores": other / wall,
        "cpu_ms_per_req": {name: round(per_request(value), 3) for name, value in spent.items()},
        "peak_rss_mb": {name: round(value, 1) for name, value in peak.items()},
    })
    return row


def profile(platform):
    """perf on the software clock (hardware counters are not available here) of
    BENCH_PROFILE_SERVICES (gateway,router) under the load of BENCH_PROFILE_CASE (c64)."""
    if shutil.which("perf") is None:
        return "perf is not installed"
    data = RUN / "perf.data"
    services = os.environ.get("BENCH_PROFILE_SERVICES", "gateway,router").split(",")
    groups = platform.groups()
    pids = ",".join(str(pid) for name in services for pid in groups[name].pids())
    recorder = subprocess.Popen(["perf", "record", "-F", "499", "-e", "cpu-clock", "-g", "-p", pids, "-o", str(data)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    drive_load(PROFILE_CASE, f"http://127.0.0.1:{platform.gateway_port}", platform.key)
    recorder.send_signal(signal.SIGINT)
    recorder.wait()
    def top(*options, count):
        report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "-g", "none", "--percent-limit", "0.5", *options],
                                capture_output=True, text=True).stdout
        if shutil.which("swift-demangle"):
            report = subprocess.run(["swift-demangle", "--simplified"], input=report, capture_output=True, text=True).stdout
        lines = [re.sub(r"\s+", " ", line).strip().removesuffix(" - -") for line in report.splitlines()
                 if line.strip() and not line.startswith("#")]
        return [line[:200] for line in lines[:count]]

    by_process = top("--no-children", "--sort", "comm", count=12)
    by_library = top("--no-children", "--sort", "dso", count=12)
    self_time = top("--no-children", "--sort", "dso,symbol", count=30)
    inclusive = top("--children", "--sort", "symbol", count=40)
    return "\n".join(["Self time by thread name:", *by_process, "", "Self time by library:", *by_library, "",
                      "Self time by function:", *self_time, "", "Time including callees, by function:", *inclusive])


# --- Results --------------------------------------------------------------------------------

COLUMNS = ["target", "case", "requests", "requests_per_s", "p50_ms", "p90_ms", "p99_ms", "errors", "chunks_per_s",
           "completed", "most_open", "path_cpu_ms_per_req", "off_path_cpu_ms_per_req", "upstream_cpu_ms_per_req",
           "load_generator_cores", "other_load_cores", "cpu_ms_per_req", "peak_rss_mb"]


def cell(value):
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def ratios(rows):
    find = lambda target, case: next((r for r in rows if r["target"] == target and r["case"] == case), None)
    lines = []
    sy, direct, hop = find("switchyard", "c1"), find("direct", "c1"), find("one-hop", "c1")
    if sy and direct and hop:
        for name, base in (("direct", direct), ("one-hop", hop)):
            lines.append(f"- c1 added latency over {name}: p50 +{sy['p50_ms'] - base['p50_ms']:.3f} ms, "
                         f"p99 +{sy['p99_ms'] - base['p99_ms']:.3f} ms")
    for case in ("c16", "c64"):
        sy, hop = find("switchyard", case), find("one-hop", case)
        if sy and hop and hop["requests_per_s"]:
            lines.append(f"- {case} throughput: switchyard {sy['requests_per_s']:.0f} req/s = "
                         f"{sy['requests_per_s'] / hop['requests_per_s']:.3f} of one-hop ({hop['requests_per_s']:.0f} req/s)")
    sy = find("switchyard", "c64")
    if sy:
        lines.append(f"- c64 CPU per request on the path (gateway, router, nats-server, redis): {sy['path_cpu_ms_per_req']:.3f} ms; "
                     f"off the path (billing, analytics, PostgreSQL): {sy['off_path_cpu_ms_per_req']:.3f} ms")
    relative = [f"{row['case']} path {row['path_cpu_ms_per_req'] / row['upstream_cpu_ms_per_req']:.1f}×, "
                f"off path {row['off_path_cpu_ms_per_req'] / row['upstream_cpu_ms_per_req']:.1f}×"
                for row in rows if row["target"] == "switchyard" and row.get("upstream_cpu_ms_per_req")]
    if relative:
        lines.append("- Switchyard's CPU per request in units of the upstream's own (the same work in every run, so this "
                     "moves less with the machine's speed than milliseconds do): " + "; ".join(relative))
    soak = find("switchyard", "soak")
    if soak:
        lines.append(f"- soak: {soak['completed']} of {soak['requests'] + soak['errors']} streams completed, "
                     f"{soak['most_open']} open at once, {soak['errors']} errors")
    return lines


def write_results(rows, idle_rss, profile_text):
    RESULTS.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y-%m-%dT%H%M")
    base = RESULTS / f"{stamp}-{socket.gethostname()}"
    if base.with_suffix(".md").exists():  # a second run within the minute keeps the first's files
        stamp = now.strftime("%Y-%m-%dT%H%M%S")
        base = RESULTS / f"{stamp}-{socket.gethostname()}"
    with open(base.with_suffix(".tsv"), "w") as tsv:
        tsv.write("\t".join(COLUMNS) + "\n")
        for row in rows:
            tsv.write("\t".join(cell(row.get(c, "")) for c in COLUMNS) + "\n")
    cpus = os.cpu_count()
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    text = [f"# Switchyard bench, {stamp} UTC on {socket.gethostname()}", "",
            f"{cpus} × {model}; {SECONDS:.0f} s per case; everything (load generators included) shares the machine.",
            "Latency columns are per request for c1/c16/c64 and time to first token for s64/soak; "
            "requests_per_s counts completed streams for s64/soak.",
            "CPU per request: `path` is every process between client and upstream (direct: none; one-hop: nginx; "
            "switchyard: gateway, router, nats-server, redis); `off_path` is billing, analytics and PostgreSQL recording the usage and projecting the events. "
            "`other_load_cores` is CPU the rest of the machine used during the case: a high value marks a disturbed row.",
            "The tenant's limits: requests per minute and per day, tokens per minute and per month, "
            + ("concurrent requests" if CONCURRENCY_LIMIT else "no limit of concurrent requests (BENCH_CONCURRENCY_LIMIT=0)")
            + " and a budget, all far above what the bench spends.", "",
            "## Summary", "", *ratios(rows), "",
            "Idle RSS after the first call, before the load (MB): " + ", ".join(f"{k} {v[0]:.1f}" for k, v in idle_rss.items())
            + "; of which private (anonymous) memory: " + ", ".join(f"{k} {v[1]:.1f}" for k, v in idle_rss.items())
            + ". The rest is the pages of the executable and shared libraries in use.", "",
            "## Results", "",
            "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        text.append("| " + " | ".join(cell(row.get(c, "")) for c in COLUMNS) + " |")
    if profile_text:
        services = os.environ.get("BENCH_PROFILE_SERVICES", "gateway,router").replace(",", ", ")
        text += ["", f"## Profile ({services} under {PROFILE_CASE}, perf on cpu-clock)", "", "```", profile_text, "```"]
    base.with_suffix(".md").write_text("\n".join(text) + "\n")
    return base.with_suffix(".md")


def main():
    os.chdir(ROOT)
    platform = Platform()
    try:
        platform.build()
        platform.infrastructure()
        platform.upstream()
        platform.nginx()
        platform.switchyard()
        time.sleep(2)
        groups = platform.groups()
        idle_rss = {name: (groups[name].rss(), groups[name].private_mb()) for name in (*reversed(SERVICES), "upstream")}
        urls = {"direct": f"http://127.0.0.1:{platform.upstream_port}", "one-hop": f"http://127.0.0.1:{platform.nginx_port}",
                "switchyard": f"http://127.0.0.1:{platform.gateway_port}"}
        rows = []
        for case in CASES:
            for target in TARGETS:
                log(f"{case} → {target}")
                row = measure(platform, target, case, urls[target])
                log("  " + ", ".join(f"{k}={cell(row[k])}" for k in ("requests_per_s", "p50_ms", "p99_ms", "errors",
                                                                       "path_cpu_ms_per_req", "other_load_cores", "cpu_ms_per_req")))
                rows.append(row)
                time.sleep(1)
        profile_text = profile(platform) if PROFILE else ""
        path = write_results(rows, idle_rss, profile_text)
        print(path.read_text())
        log(f"results in {path.relative_to(ROOT)} and {path.with_suffix('.tsv').relative_to(ROOT)}")
    finally:
        platform.stop_all()


if __name__ == "__main__":
    main()
