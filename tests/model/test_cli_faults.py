# SPDX-License-Identifier: MIT
"""Faults around a feat run on one machine: a full disk, a file-size limit (with SIGXFSZ
ignored and not), the output directory removed or made read-only mid-run, input files
replaced, truncated or removed while the run reads them, inputs changed before --resume, and
100,000 inputs in one run. Each checks what the user sees (exit status, the message naming
the file), that no incomplete OUT.npy is ever in place, that the complete parts are kept and
that --resume (or a rerun) ends with the rows of an uninterrupted run. docs/security.md
describes each fault."""
import contextlib
import os
import resource
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

import cli_outputs
from cli_outputs import assert_same_output, rows_table, run_shards

ARGS = ["--taps", "layer4:gap,layer2:gmp", "--resize", "32", "--crop", "32"]
N_IMAGES = 36


def make_image(path, seed, h=40):
    cli_outputs.random_png(path, seed, h, 48)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return cli_outputs.random_pngs(tmp_path_factory.mktemp("imgs"), N_IMAGES, 0, lambda i: (40 + i, 48))


def feat_image(feat_cli, model, inputs, out, *extra, part_size=3):
    return cli_outputs.feat_image(feat_cli, model, inputs, out, [*ARGS, "--part-size", str(part_size)], *extra)


@pytest.fixture(scope="module")
def ref(feat_cli, models, images, tmp_path_factory):
    """The uninterrupted run every faulty one is compared with."""
    out = tmp_path_factory.mktemp("ref") / "ref.npy"
    r = subprocess.run(feat_image(feat_cli, models["resnet18-script"], images, out), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def complete_parts(parts):
    """The complete parts (those whose .npy is in place) as {first row: rows}, each checked to
    be a valid .npy with its table beside it."""
    found = {}
    for f in sorted(parts.glob("part-*.npy")):
        rows = np.load(f)
        lines = (parts / (f.name[:-4] + ".rows.tsv")).read_text().splitlines()
        assert lines[0] == "row\tstatus\tinput\tmessage\tstamp" and len(lines) == 1 + len(rows), f
        found[int(f.name[5:14])] = rows
    return found


def assert_parts_are_the_reference(parts, ref_npy):
    """The rows already written are kept, and they are the uninterrupted run's."""
    found = complete_parts(parts)
    assert found, "no complete part was kept"
    data = np.load(ref_npy)
    for first, rows in found.items():
        np.testing.assert_array_equal(rows, data[first:first + len(rows)])
    return found


def resume(feat_cli, model, images, out, **kw):
    r = subprocess.run(feat_image(feat_cli, model, images, out, "--resume", **kw), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


def start_and_stop(cmd, parts, count=1):
    """Starts cmd and stops it with SIGSTOP as soon as `count` parts are complete, so the test
    can change the world between two parts; returns the stopped process."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while p.poll() is None and time.time() < deadline and len(list(parts.glob("part-*.npy"))) < count:
        time.sleep(0.001)
    p.send_signal(signal.SIGSTOP)
    if p.poll() is not None:
        pytest.fail(f"the run ended before it could be stopped: {p.communicate()[1]}")
    return p


def cont(p):
    p.send_signal(signal.SIGCONT)
    err = p.communicate(timeout=300)[1]
    return p.returncode, err


@contextlib.contextmanager
def tmpfs(path, size):
    """A small filesystem of its own at path (mounted as root); skips where mounting is not
    permitted."""
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path, opts):
    r = subprocess.run(["mount", "-o", f"remount,{opts}", str(path)], capture_output=True, text=True)
    return r.returncode == 0


# ---- output on a file-size limit and a full disk -------------------------------------------

FSIZE = 16384  # one part (3 rows of 640 floats: 7,808 bytes) fits; the joined 36 rows do not


def limited(ignore_sigxfsz):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE, FSIZE))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN if ignore_sigxfsz else signal.SIG_DFL)

    return preexec


def previous_output(feat_cli, model, tmp_path, out):
    """A complete output of an earlier run (other inputs) at out, which a failed run must leave
    as it was."""
    few = tmp_path / "few"
    few.mkdir()
    for i in range(4):
        make_image(few / f"old{i}.png", 100 + i)
    r = subprocess.run(feat_image(feat_cli, model, few, out), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return np.load(out), rows_table(out)


@pytest.mark.parametrize("ignore_sigxfsz", [True, False], ids=["EFBIG", "SIGXFSZ"])
def test_file_size_limit(feat_cli, models, images, ref, tmp_path, ignore_sigxfsz):
    model = models["resnet18-script"]
    out = tmp_path / "out.npy"
    prev, prev_table = previous_output(feat_cli, model, tmp_path, out)
    r = subprocess.run(feat_image(feat_cli, model, images, out), capture_output=True, text=True,
                       preexec_fn=limited(ignore_sigxfsz))
    if ignore_sigxfsz:
        # write() fails with EFBIG at the join: said with the file's name, exit status 1.
        assert r.returncode == 1, r.stderr
        assert f"cannot write {out}.partial: File too large" in r.stderr, r.stderr
        assert "rerun with --resume to join them" in r.stderr, r.stderr
        assert not (tmp_path / "out.npy.partial").exists()
    else:
        # The default SIGXFSZ kills the process in the middle of writing the joined file.
        assert r.returncode == -signal.SIGXFSZ, (r.returncode, r.stderr)
    # The earlier output is untouched: OUT.npy in place is always complete and its table is
    # its own.
    np.testing.assert_array_equal(np.load(out), prev)
    assert rows_table(out) == prev_table
    assert len(assert_parts_are_the_reference(tmp_path / "out.parts", ref)) == N_IMAGES // 3
    r = resume(feat_cli, model, images, out)
    assert f"resuming after image {N_IMAGES} of {N_IMAGES}" in r.stderr, r.stderr
    assert_same_output(out, ref)
    assert not (tmp_path / "out.parts").exists()


def test_merge_on_a_file_size_limit(feat_cli, models, images, ref, tmp_path):
    """feat merge writes its output the same way: a failed write names the file and leaves an
    earlier output (here a stand-in) exactly as it was."""
    model = models["resnet18-script"]
    shards = run_shards(lambda out, *shard: feat_image(feat_cli, model, images, out, *shard), tmp_path)
    out = tmp_path / "merged.npy"
    earlier = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(out, earlier)
    (tmp_path / "merged.rows.tsv").write_text("an earlier table\n")
    (tmp_path / "merged.columns.tsv").write_text("an earlier map\n")
    cmd = [str(feat_cli), "merge", "-o", str(out), *shards]
    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limited(True))
    assert r.returncode == 1 and f"feat: cannot write {out}.partial: File too large" in r.stderr, r.stderr
    np.testing.assert_array_equal(np.load(out), earlier)
    assert rows_table(out) == "an earlier table\n"
    assert (tmp_path / "merged.columns.tsv").read_text() == "an earlier map\n"
    assert not list(tmp_path.glob("merged*.partial"))
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert_same_output(out, ref)
    assert (tmp_path / "merged.columns.tsv").read_text() == (ref.parent / "ref.columns.tsv").read_text()


def test_full_disk(feat_cli, models, images, ref, tmp_path):
    model = models["resnet18-script"]
    with tmpfs(tmp_path / "small", "64k") as d:
        out = d / "out.npy"
        r = subprocess.run(feat_image(feat_cli, model, images, out), capture_output=True, text=True)
        assert r.returncode == 1, r.stderr
        line = next(x for x in r.stderr.splitlines() if "No space left on device" in x)
        assert line.startswith(f"feat: cannot write {d}/out.parts/part-"), r.stderr
        assert "rerun with --resume to go on" in r.stderr, r.stderr
        assert not out.exists()
        kept = assert_parts_are_the_reference(d / "out.parts", ref)
        done = sum(len(v) for v in kept.values())
        assert 0 < done < N_IMAGES
        assert not [f for f in (d / "out.parts").iterdir() if f.name.endswith(".partial")]
        assert remount(d, "size=4m")  # space freed
        r = resume(feat_cli, model, images, out)
        assert f"resuming after image {done} of {N_IMAGES}" in r.stderr, r.stderr
        assert_same_output(out, ref)
        assert not (d / "out.parts").exists()


# ---- the output directory removed or made read-only mid-run ----------------------------------


def test_output_directory_read_only_mid_run(feat_cli, models, images, ref, tmp_path):
    model = models["resnet18-script"]
    with tmpfs(tmp_path / "fs", "8m") as d:
        out = d / "out.npy"
        p = start_and_stop(feat_image(feat_cli, model, images, out, part_size=1), d / "out.parts", 2)
        # A read-only remount waits for files open for writing; let the run go on a moment.
        for _ in range(200):
            if remount(d, "ro"):
                break
            p.send_signal(signal.SIGCONT)
            time.sleep(0.002)
            p.send_signal(signal.SIGSTOP)
        else:
            pytest.fail("could not remount read-only")
        rc, err = cont(p)
        assert rc == 1, err
        assert f"{d}/out.parts/part-" in err and "Read-only file system" in err, err
        kept = assert_parts_are_the_reference(d / "out.parts", ref)
        assert remount(d, "rw")
        r = resume(feat_cli, model, images, out, part_size=1)
        assert f"resuming after image {sum(len(v) for v in kept.values())} of" in r.stderr, r.stderr
        assert_same_output(out, ref)


def test_output_directory_removed_mid_run(feat_cli, models, images, ref, tmp_path):
    model = models["resnet18-script"]
    outdir = tmp_path / "o"
    outdir.mkdir()
    out = outdir / "out.npy"
    p = start_and_stop(feat_image(feat_cli, model, images, out, part_size=1), outdir / "out.parts")
    shutil.rmtree(outdir)
    rc, err = cont(p)
    assert rc == 1, err
    assert f"feat: cannot write {outdir}/out.parts/part-" in err and "No such file or directory" in err, err
    assert not outdir.exists()  # nothing recreated behind the user's back
    outdir.mkdir()
    resume(feat_cli, model, images, out)
    assert_same_output(out, ref)


def test_part_removed_mid_run(feat_cli, models, images, ref, tmp_path):
    """A part removed while the run goes on: the join refuses to write an output with rows
    missing, and --resume says the parts do not continue."""
    model = models["resnet18-script"]
    out = tmp_path / "out.npy"
    parts = tmp_path / "out.parts"
    p = start_and_stop(feat_image(feat_cli, model, images, out, part_size=1), parts, 2)
    (parts / "part-000000000.npy").unlink()
    rc, err = cont(p)
    assert rc == 1, err
    assert f"cannot join the parts in {parts} into {out}: {parts}/part-000000001.npy does not start at row 0" in err, err
    assert not out.exists()
    r = subprocess.run(feat_image(feat_cli, model, images, out, "--resume", part_size=1), capture_output=True,
                       text=True)
    assert r.returncode == 1 and "does not continue the earlier parts" in r.stderr, r.stderr
    shutil.rmtree(parts)
    resume(feat_cli, model, images, out)
    assert_same_output(out, ref)


# ---- inputs that change under the run ------------------------------------------------------


def test_inputs_replaced_truncated_removed_mid_run(feat_cli, models, images, ref, tmp_path):
    model = models["resnet18-script"]
    src = tmp_path / "imgs"
    shutil.copytree(images, src)
    out = tmp_path / "out.npy"
    p = start_and_stop(feat_image(feat_cli, model, src, out), tmp_path / "out.parts")
    # Stopped between parts: the images of rows 30..33 (part 10 and 11) are not read yet.
    assert len(list((tmp_path / "out.parts").glob("part-*.npy"))) < 9
    data = (src / "img30.png").read_bytes()
    (src / "img30.png").write_bytes(data[:len(data) // 2])  # truncated
    (src / "img31.png").write_bytes(b"")  # emptied
    make_image(tmp_path / "new.png", 999)  # replaced by another image, atomically
    os.replace(tmp_path / "new.png", src / "img32.png")
    (src / "img33.png").unlink()  # removed
    rc, err = cont(p)
    assert rc == 0, err
    got, want = np.load(out), np.load(ref)
    rows, ref_rows = rows_table(out).splitlines()[1:], rows_table(ref).splitlines()[1:]
    for i in (30, 31, 33):
        f = rows[i].split("\t")
        assert f[1] != "ok" and f[2] == str(src / f"img{i}.png") and f[3].startswith(f"{src}/img{i}.png: "), rows[i]
        assert np.isnan(got[i]).all()
    assert "empty file" in rows[31] and "No such file or directory" in rows[33]
    # The replaced file is read as it is when its part runs: its row is the new image's.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(src / "img32.png", alone / "img32.png")
    r = subprocess.run(feat_image(feat_cli, model, alone, tmp_path / "alone.npy"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(got[32], np.load(tmp_path / "alone.npy")[0])
    assert rows[32].split("\t")[1] == "ok"
    # Every other row is the uninterrupted run's, in place.
    other = [i for i in range(N_IMAGES) if i not in (30, 31, 32, 33)]
    np.testing.assert_array_equal(got[other], want[other])
    assert [rows[i].replace(str(src), "") for i in other] == [ref_rows[i].replace(str(images), "") for i in other]


def kill_after_parts(cmd, parts, count=1):
    p = start_and_stop(cmd, parts, count)
    p.kill()
    p.communicate()
    return sum(len(v) for v in complete_parts(parts).values())


def test_resume_checks_input_files(feat_cli, models, images, ref, tmp_path):
    """--resume compares each done input's size and modification time with the ones noted
    before it was read; an input changed since is named and the parts are refused. Inputs not
    done yet are read as they are now."""
    model = models["resnet18-script"]
    src = tmp_path / "imgs"
    shutil.copytree(images, src)
    out = tmp_path / "out.npy"
    done = kill_after_parts(feat_image(feat_cli, model, src, out), tmp_path / "out.parts")
    assert 3 <= done < 30
    victim = src / "img01.png"
    before = victim.stat()
    old = victim.read_bytes()
    make_image(victim, 1234, 41)  # another image, the same size in pixels
    r = subprocess.run(feat_image(feat_cli, model, src, out, "--resume"), capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert f"input {victim} changed since the part was written" in r.stderr and "remove" in r.stderr, r.stderr
    # The same bytes and time again: the part is taken as it is.
    victim.write_bytes(old)
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
    make_image(src / "img34.png", 4321)  # not done yet: read at its turn
    r = resume(feat_cli, model, src, out)
    assert f"resuming after image {done} of" in r.stderr, r.stderr
    got, want = np.load(out), np.load(ref)
    np.testing.assert_array_equal(got[:34], want[:34])
    np.testing.assert_array_equal(got[35], want[35])
    assert not np.array_equal(got[34], want[34])


TEXT_ARGS = ["--part-size", "4", "--max-length", "16"]


def feat_text(feat_cli, model, lines_file, out, *extra):
    return [str(feat_cli), "text", "--model", str(model), *TEXT_ARGS, *extra, "--input", str(lines_file), "-o",
            str(out)]


def test_text_input_changed_mid_run_and_before_resume(feat_cli, models, tmp_path):
    model = models["bert-tiny"]
    lines = [f"line number {i} of the input" for i in range(80)]
    f = tmp_path / "in.txt"
    f.write_text("\n".join(lines) + "\n")
    ref = tmp_path / "ref.npy"
    subprocess.run(feat_text(feat_cli, model, f, ref), check=True, capture_output=True)
    # The lines are read whole at the start: a file rewritten mid-run does not change the rows.
    out = tmp_path / "out.npy"
    p = start_and_stop(feat_text(feat_cli, model, f, out), tmp_path / "out.parts")
    f.write_text("something else entirely\n" * 3)
    rc, err = cont(p)
    assert rc == 0, err
    assert_same_output(out, ref)
    # --resume checks each done line's number and digest.
    f.write_text("\n".join(lines) + "\n")
    out2 = tmp_path / "out2.npy"
    done = kill_after_parts(feat_text(feat_cli, model, f, out2), tmp_path / "out2.parts")
    assert 4 <= done < 76
    changed = list(lines)
    changed[1] = "a changed second line"
    f.write_text("\n".join(changed) + "\n")
    r = subprocess.run(feat_text(feat_cli, model, f, out2, "--resume"), capture_output=True, text=True)
    assert r.returncode == 1 and "part-000000000.npy does not continue the earlier parts" in r.stderr, r.stderr
    changed = list(lines)
    changed[79] = "a changed last line"  # not done yet: taken as it is now
    f.write_text("\n".join(changed) + "\n")
    r = subprocess.run(feat_text(feat_cli, model, f, out2, "--resume"), capture_output=True, text=True)
    assert r.returncode == 0 and f"resuming after line {done} of 80" in r.stderr, r.stderr
    ref2 = tmp_path / "ref2.npy"
    subprocess.run(feat_text(feat_cli, model, f, ref2), check=True, capture_output=True)
    assert_same_output(out2, ref2)


# ---- many inputs ---------------------------------------------------------------------------


def fnv1a(s):
    h = 1469598103934665603
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) % 2**64
    return h


def run_lines(feat_cli, model, tmp_path, n):
    f = tmp_path / f"lines{n}.txt"
    f.write_text("".join(f"w{i}\n" for i in range(n)))
    out = tmp_path / f"out{n}.npy"
    cmd = [str(feat_cli), "text", "--model", str(model), "--max-length", "8", "--batch-size", "256", "--input",
           str(f), "-o", str(out)]
    t = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    err = p.stderr.read().decode()
    p.stderr.close()
    assert os.waitstatus_to_exitcode(status) == 0, err
    return out, usage.ru_maxrss * 1024, time.time() - t


def test_hundred_thousand_inputs(feat_cli, models, tmp_path):
    """100,000 lines in one run (391 parts): peak memory grows by little more than the lines
    themselves over a 10,000-line run, and the rows table has every line once, in order."""
    model = models["bert-tiny"]
    _, rss_small, t_small = run_lines(feat_cli, model, tmp_path, 10_000)
    out, rss_big, t_big = run_lines(feat_cli, model, tmp_path, 100_000)
    print(f"peak RSS 10,000 lines {rss_small / 2**20:.1f} MiB ({t_small:.1f} s), "
          f"100,000 lines {rss_big / 2**20:.1f} MiB ({t_big:.1f} s)")
    # The CLI keeps each line and its name (about 100 bytes an input here); nothing per input
    # may be larger, and nothing may grow with the parts.
    assert rss_big - rss_small < 90_000 * 256, (rss_small, rss_big)
    data = np.load(out)
    assert data.shape == (100_000, 64) and np.isfinite(data).all()
    lines = rows_table(out).splitlines()
    assert lines[0] == "row\tstatus\tinput\tmessage" and len(lines) == 100_001
    want = [f"{i}\tok\tline {i + 1} #{fnv1a(f'w{i}'):016x}\t" for i in range(100_000)]
    assert lines[1:] == want
    assert not (tmp_path / "out100000.parts").exists()
