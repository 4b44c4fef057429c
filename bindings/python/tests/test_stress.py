# SPDX-License-Identifier: MIT
"""8 threads extracting concurrently (each with its own clone) give the serial results bit for
bit; 10,000 extractor open/close cycles do not grow memory. Measurements are appended to
$FEAT_TEST_DATA/measurements.txt."""
import contextlib
import os
import threading
import time

import numpy as np

import libfeat

THREADS = 8
ROUNDS = int(os.environ.get("FEAT_STRESS_ROUNDS", "3"))
CYCLES = int(os.environ.get("FEAT_MEMORY_CYCLES", "10000"))
WARMUP = 500
GROWTH_BOUND_MB = 10.0  # 1 KB per cycle: a leaked result row (256 B), clone or encoding would show


def note(data, line):
    with open(data / "measurements.txt", "a") as f:
        f.write("python: " + line + "\n")


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


@contextlib.contextmanager
def one_core():
    """One inference core per extractor (the usual setting with a thread per worker). The
    serial reference runs under the same budget: for text models the BLAS thread count
    changes the summation order, hence the last bits."""
    saved = libfeat.threads()
    libfeat.set_threads(1)
    try:
        yield
    finally:
        libfeat.set_threads(saved)


def run_concurrently(base, work):
    """Runs work(clone) on THREADS threads at once, ROUNDS times each; returns all outputs."""
    clones = [base.clone() for _ in range(THREADS)]
    outs = [[] for _ in range(THREADS)]
    errors = []
    barrier = threading.Barrier(THREADS)

    def body(i):
        try:
            barrier.wait()
            for _ in range(ROUNDS):
                outs[i].append(work(clones[i]))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    ts = [threading.Thread(target=body, args=(i,)) for i in range(THREADS)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for c in clones:
        c.close()
    assert not errors, errors
    return outs, time.monotonic() - t0


def test_threads_text_identical_to_serial(env, data):
    lines = (data / "lines.txt").read_bytes().split(b"\n")[:-1]
    with one_core(), libfeat.TextExtractor(env["FEAT_TEST_TEXT_MODEL"], taps=env["FEAT_TEST_TEXT_TAPS"]) as ex:
        serial = ex.extract(lines)
        outs, secs = run_concurrently(ex, lambda c: c.extract(lines))
    for per_thread in outs:
        for r in per_thread:
            assert np.array_equal(r.features, serial.features, equal_nan=True)
            assert np.array_equal(r.statuses, serial.statuses)
    note(data, f"{THREADS} threads x {ROUNDS} rounds x {len(lines)} texts (MiniLM) identical to serial, {secs:.1f} s")


def test_threads_image_identical_to_serial(env, data):
    files = (data / "files.txt").read_text().splitlines()
    with one_core(), libfeat.ImageExtractor(env["FEAT_TEST_IMAGE_MODEL"], taps=env["FEAT_TEST_IMAGE_TAPS"]) as ex:
        serial = ex.extract_files(files)
        outs, secs = run_concurrently(ex, lambda c: c.extract_files(files))
    for per_thread in outs:
        for r in per_thread:
            assert np.array_equal(r.features, serial.features, equal_nan=True)
            assert np.array_equal(r.statuses, serial.statuses)
    note(data, f"{THREADS} threads x {ROUNDS} rounds x {len(files)} images (ResNet18) identical to serial, {secs:.1f} s")


def test_open_close_cycles_do_not_grow_memory(env, data):
    """Each cycle: clone (open) an extractor of a small model (bert-tiny), extract a batch with
    one good and one failing item, read the result, encode with the tokenizer, close."""
    with libfeat.TextExtractor(env["FEAT_TEST_TINY_MODEL"]) as ex:
        tok = ex.tokenizer

        def cycle():
            with ex.clone() as c:
                r = c.extract(["the quick brown fox", b"\xff"])
                assert r.n_failed == 1 and r.features.shape == (2, 64)
            tok.encode("jumps over the lazy dog")

        for _ in range(WARMUP):
            cycle()
        before = rss_mb()
        t0 = time.monotonic()
        for _ in range(CYCLES):
            cycle()
        secs = time.monotonic() - t0
        after = rss_mb()
    growth = after - before
    note(data, f"{CYCLES} clone/extract/close cycles (bert-tiny): RSS {before:.1f} -> {after:.1f} MB "
               f"(growth {growth:+.2f} MB, bound {GROWTH_BOUND_MB} MB), {secs:.1f} s")
    assert growth < GROWTH_BOUND_MB
