# SPDX-License-Identifier: MIT
"""The cost of `feat finetune` (make bench, --only finetune): time per epoch and the peak
resident memory of the process, with the activation cache of the untrained prefix on and off
(`--cache on|off`), for EfficientNet-Lite0 on digits and all-MiniLM-L6-v2 on fortunes, each
training its default module (the last block) and head. docs/performance.md records a run."""
import os
import re
import subprocess
import sys
import time

from run_bench import BUILD, MINILM_DIR, PY, ROOT, cpu_name, export_model

EPOCHS = 3
EPOCH_DONE = re.compile(rb"epoch (\d+) done")


def timed_finetune(cmd, env):
    """Runs one `feat finetune`; returns (whole wall s, whole CPU s, wall s per epoch, CPU s
    per epoch, peak RSS MiB).

    An epoch's time is the gap between two "epoch N done" progress lines as they arrive, so
    it leaves out the load, tokenizing or decoding, the cache's fill and the save; the mean
    over epochs 2 .. EPOCHS. The CPU time (user + system, all threads, from /proc/PID/stat at
    the same moments) is what a shared machine's other jobs change least. os.wait4 gives this
    child's own peak RSS and CPU time (RUSAGE_CHILDREN would be the largest of all children
    so far)."""
    t0 = time.perf_counter()
    p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    seen, done, err = b"", {}, b""
    while chunk := os.read(p.stderr.fileno(), 65536):
        now = (time.perf_counter(), cpu_seconds(p.pid))
        err = (err + chunk)[-4000:]
        seen = seen[-200:] + chunk
        for m in EPOCH_DONE.finditer(seen):
            done.setdefault(int(m.group(1)), now)
    p.stderr.close()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode != 0 or sorted(done) != list(range(1, EPOCHS + 1)):
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} failed ({p.returncode}):\n{err.decode(errors='replace')}")
    wall_epoch, cpu_epoch = ((done[EPOCHS][i] - done[1][i]) / (EPOCHS - 1) for i in (0, 1))
    return wall, usage.ru_utime + usage.ru_stime, wall_epoch, cpu_epoch, usage.ru_maxrss / 1024


def cpu_seconds(pid):
    """User + system time of a running process, all its threads (fields 14 and 15 of stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_data():
    """100 digits (10 per class, 32x32 PNGs) and 120 fortunes (20 per category), in the build."""
    digits = BUILD / "bench-ft-digits"
    if not digits.exists():
        subprocess.run([PY, ROOT / "examples" / "digits_to_pngs.py", digits, "--per-class", "10", "--size", "32"],
                       check=True, capture_output=True)
    sys.path.insert(0, str(ROOT / "tools"))
    from fortunes_to_lines import records
    lines = []
    for c in ("computers", "science", "politics", "love", "food", "sports"):
        lines += [f"{c}\t{r}\n" for r, _ in zip(records(f"/usr/share/games/fortunes/{c}"), range(20))]
    fortunes = BUILD / "bench-ft-fortunes.tsv"
    fortunes.write_text("".join(lines), encoding="utf-8")
    return digits, fortunes


def finetune_cost(args, env, results):
    """Cache on against off on the same data and options, one run each."""
    digits, fortunes = bench_data()
    feat = BUILD / "tools" / "feat" / "feat"
    tasks = (("EfficientNet-Lite0, 100 digits (32x32 PNGs)", export_model("efficientnet-lite0", "efficientnet_lite0"),
              digits),
             ("all-MiniLM-L6-v2, 120 fortunes", export_model("minilm", "bert", "--hf", str(MINILM_DIR)), fortunes))
    cpu = cpu_name()
    print(f"\nfinetune cost: 'feat finetune' (default --train: the last block; {EPOCHS} epochs, batch 16), per epoch "
          f"(mean of epochs 2..{EPOCHS}) and whole process, wall and CPU (user + system) time, peak RSS, --cache on / "
          f"off; {cpu}, {args.threads} threads, load average {os.getloadavg()[0]:.1f} at the start")
    out = {}
    for label, model, data in tasks:
        rows = {}
        for cache in ("on", "off"):
            cmd = [feat, "finetune", "--model", model, "--data", data, "--epochs", EPOCHS, "--cache", cache,
                   "--threads", args.threads, "-o", BUILD / f"bench-ft-{cache}.pt"]
            wall, cpu, wall_epoch, cpu_epoch, rss = timed_finetune(cmd, env)
            rows[cache] = dict(epoch_s=wall_epoch, epoch_cpu_s=cpu_epoch, wall_s=wall, cpu_s=cpu, rss_mb=rss)
            print(f"  {label:44s} cache {cache:3s}  per epoch {wall_epoch:7.2f} s ({cpu_epoch:7.2f} s CPU)  "
                  f"whole {wall:7.2f} s ({cpu:7.2f} s CPU)  peak RSS {rss:6.0f} MB")
        print(f"  {'':44s} cache speed-up per epoch {rows['off']['epoch_s'] / rows['on']['epoch_s']:.1f}x wall, "
              f"{rows['off']['epoch_cpu_s'] / rows['on']['epoch_cpu_s']:.1f}x CPU")
        out[label] = rows
    results["finetune_cost"] = dict(out, cpu=cpu, epochs=EPOCHS)
