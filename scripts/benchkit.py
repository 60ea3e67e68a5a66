"""What scripts/loadbench, script-replay and detection-eval share: free ports, a redis-server of
their own and a small RESP client for it, and floodgate started on a store. Everything binds 127.0.0.1."""
import os
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
WEBHOOK_PATH = "/openim/callbackBeforeSendSingleMsgCommand"


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class Connection:
    """Just enough RESP2 for replies of scripts and INFO."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise SystemExit("redis closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"*":
            return None if int(rest) < 0 else [self.read() for _ in range(int(rest))]
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            value, self.buf = self.buf[:n], self.buf[n + 2:]
            return value
        if kind == b":":
            return int(rest)
        if kind == b"-":
            return ("error", rest)
        return rest

    def call(self, *args):
        self.sock.sendall(encode(args))
        return self.read()


_handed_out = set()


def free_port(below=65536):
    """A port free right now, never the same one twice in a run, and under `below`."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out and port < below:
            _handed_out.add(port)
            return port


def wait_for_port(port, proc=None, what="", timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"{what}: nothing listens on {port}")


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout


def parse_commandstats(info):
    """`INFO commandstats` as {command: {field: text}}, e.g. stats["evalsha"]["usec"]."""
    stats = {}
    for line in info.splitlines():
        if line.startswith("cmdstat_"):
            name, fields = line[len("cmdstat_"):].split(":", 1)
            stats[name] = dict(kv.split("=") for kv in fields.split(","))
    return stats


def start_redis(*extra, attempts=5, below=65536):
    """A redis-server on a free port; another port if that one was taken in the meantime."""
    port = free_port(below)
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir, *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, "redis-server")
    except SystemExit:
        proc.kill()
        if attempts <= 1:
            raise
        return start_redis(*extra, attempts=attempts - 1, below=below)
    return proc, port


def process_cpu_seconds(pid):
    """User plus system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_floodgate(redis_ports=(), cluster=False, extra_env=None, binary=None):
    """floodgate from target/release (or `binary`) on free ports: the embedded store without
    `redis_ports`, else that Redis (or those cluster nodes). Returns the process, webhook and
    admin ports."""
    port, admin = free_port(), free_port()
    env = {"FLOODGATE_LISTEN": f"127.0.0.1:{port}", "FLOODGATE_ADMIN_LISTEN": f"127.0.0.1:{admin}",
           "FLOODGATE_LOG": "warn", "PATH": os.environ.get("PATH", "")}
    if redis_ports:
        env["FLOODGATE_REDIS_URL"] = ",".join(f"redis://127.0.0.1:{p}" for p in redis_ports)
    if cluster:
        env["FLOODGATE_REDIS_CLUSTER"] = "true"
    env.update(extra_env or {})
    proc = subprocess.Popen([binary or os.path.join(RELEASE, "floodgate")], env=env)
    wait_for_port(port, proc, "floodgate")
    return proc, port, admin


def start_cluster():
    """A 3-node Redis Cluster of fresh redis-servers on free ports: [(process, port)]."""
    # A node's cluster bus listens on its port + 10000, which must be a port too.
    nodes = [start_redis("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", below=55536)
             for _ in range(3)]
    subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for _, p in nodes],
                    "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True)
    deadline = time.time() + 30
    while not all("cluster_state:ok" in cli(p, "CLUSTER", "INFO") for _, p in nodes):
        if time.time() > deadline:
            raise SystemExit("cluster did not become ok")
        time.sleep(0.1)
    return nodes
