# SPDX-License-Identifier: MIT
"""A Spark standalone cluster on 127.0.0.1 for tests and benchmarks: one master, N workers.

Every JVM is started with setsid (its own session, out of the test runner's process group,
so a Ctrl-C or a runner's group kill does not reach it half-way) and stopped by PID: each
worker's session holds its executor JVMs and their Python workers, and processes orphaned by a
killed executor keep the session id, so stop() finds them all. Ports are chosen free before
the start (port 0 is not accepted by every component), and nothing binds beyond 127.0.0.1.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.request

HOST = "127.0.0.1"
# What the cluster's JVMs must not inherit from the test process: the executors are to get the
# library, the interpreter and the package through the documented settings only.
STRIPPED_ENV = ("FEAT_LIBRARY", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYTHONPATH", "SPARK_CONF_DIR")


def spark_home():
    import pyspark

    return str(pathlib.Path(pyspark.__file__).parent)


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _stat(pid):
    """(ppid, session id) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[1]), int(rest[3])
    except (OSError, IndexError, ValueError):
        return None


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def session_pids(sid):
    """Every live process of session ``sid`` (the setsid leader's PID)."""
    out = []
    for pid in _pids():
        st = _stat(pid)
        if st is not None and st[1] == sid:
            out.append(pid)
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def rss_kib(pid):
    """VmRSS of a process in KiB (None when it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Standalone:
    def __init__(self, root, workers=2, cores=1, memory="2g", start_timeout=120):
        self.root = pathlib.Path(root)
        self.n_workers, self.cores, self.memory = workers, cores, memory
        self.start_timeout = start_timeout
        self.procs = {}  # name -> Popen (each the leader of its own session)
        self.master_url = None

    def _env(self, name):
        env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
        local = self.root / name / "local"
        local.mkdir(parents=True, exist_ok=True)
        env.update(SPARK_HOME=spark_home(), SPARK_LOCAL_IP=HOST, SPARK_LOCAL_DIRS=str(local))
        return env

    def _spawn(self, name, args):
        log = open(self.root / name / "out.log", "wb")
        cmd = [os.path.join(spark_home(), "bin", "spark-class"), *args]
        try:
            self.procs[name] = subprocess.Popen(cmd, env=self._env(name), stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()

    def start(self):
        ports = free_ports(2 + 2 * self.n_workers)
        self.master_port, self.master_ui = ports[0], ports[1]
        self.master_url = "spark://%s:%d" % (HOST, self.master_port)
        try:
            (self.root / "master").mkdir(parents=True, exist_ok=True)
            self._spawn("master", ["org.apache.spark.deploy.master.Master", "--host", HOST, "--port",
                                   str(self.master_port), "--webui-port", str(self.master_ui)])
            self._wait(lambda: self._master_state() is not None, "the master to answer")
            for i in range(self.n_workers):
                name = "worker%d" % i
                work = self.root / name / "work"
                work.mkdir(parents=True, exist_ok=True)
                self._spawn(name, ["org.apache.spark.deploy.worker.Worker", self.master_url, "--host", HOST,
                                   "--port", str(ports[2 + 2 * i]), "--webui-port", str(ports[3 + 2 * i]),
                                   "--cores", str(self.cores), "--memory", self.memory, "--work-dir", str(work)])
            self._wait(lambda: self.alive_workers() == self.n_workers, "%d workers to register" % self.n_workers)
        except BaseException:
            self.stop()
            raise
        return self

    def _master_state(self):
        try:
            with urllib.request.urlopen("http://%s:%d/json/" % (HOST, self.master_ui), timeout=2) as r:
                return json.load(r)
        except (OSError, ValueError):
            return None

    def alive_workers(self):
        st = self._master_state()
        return None if st is None else st.get("aliveworkers")

    def _wait(self, cond, what):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError("%s exited with %s while waiting for %s\n%s" % (name, p.returncode, what,
                                                                                       self.logs()))
            if cond():
                return
            time.sleep(0.25)
        raise TimeoutError("timed out after %d s waiting for %s\n%s" % (self.start_timeout, what, self.logs()))

    def executors(self, worker):
        """PIDs of the executor JVMs of ``worker`` (index)."""
        p = self.procs.get("worker%d" % worker)
        if p is None:
            return []
        return [pid for pid in session_pids(p.pid) if "CoarseGrainedExecutorBackend" in cmdline(pid)]

    def kill_worker(self, worker, sig=signal.SIGKILL):
        """Kills a worker JVM and its executor JVMs with ``sig``; returns the PIDs killed."""
        p = self.procs["worker%d" % worker]
        victims = [p.pid] + self.executors(worker)
        for pid in victims:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        p.wait(timeout=30)
        return victims

    def stop(self, timeout=20):
        """Stops every process of every session this cluster started, by PID (TERM, then KILL)."""
        sids = [p.pid for p in self.procs.values()]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for sid in sids:
                for pid in session_pids(sid):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for p in self.procs.values():
                    p.poll()  # reap our direct children
                if not any(session_pids(sid) for sid in sids):
                    return
                time.sleep(0.2)

    def leftover(self):
        return [pid for p in self.procs.values() for pid in session_pids(p.pid)]

    def logs(self, tail=60):
        """The last lines of every log of the cluster: the daemons' and the executors' stderr."""
        out = []
        files = sorted(self.root.glob("*/out.log")) + sorted(self.root.glob("*/work/app-*/*/stderr"))
        for f in files:
            try:
                lines = f.read_text(errors="replace").splitlines()
            except OSError:
                continue
            out.append("==== %s (last %d of %d lines)" % (f, min(tail, len(lines)), len(lines)))
            out.extend(lines[-tail:])
        return "\n".join(out)
