"""Each candidate's compile caches are its own (gpu_harness/compile_cache.py): warm across evaluations
of the same file, out of reach of every other candidate, apart from the judge's temporary files."""

import os
import shutil

import pytest
from conftest import CANDIDATES, KERNELS, smoke

from gpu_harness import compile_cache, confine

HAS_LANDLOCK = confine.landlock_abi() > 0
VECTORADD = KERNELS / "vectoradd"
PROBE = CANDIDATES / "probes" / "compile_caches.py"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(confine.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def confined_live():
    """A live folder as a ready child's candidate process leaves it once confined and warm."""
    live = compile_cache.live_folder()
    compile_cache.mark_ready(live)
    return live


def test_a_claim_moves_the_store_into_the_live_folder_and_the_folder_into_the_stores_place(cache, tmp_path):
    candidate = tmp_path / "kernel.py"
    store = compile_cache.store_of(candidate)
    (store / "triton").mkdir(parents=True)
    (store / "triton" / "entry").write_text("compiled")
    live = confined_live()
    (live / "triton").mkdir()  # what the candidate's confinement created, empty
    inode = os.stat(live).st_ino
    claim = compile_cache.claim(candidate, live)
    assert claim.path == store and os.stat(store).st_ino == inode and not live.exists()
    assert (store / "triton" / "entry").read_text() == "compiled"
    claim.release()
    assert (store / "triton" / "entry").exists()  # the store stays for the next evaluation


def test_a_store_in_use_is_not_claimed_twice_and_the_second_runs_cold(cache, tmp_path):
    candidate = tmp_path / "kernel.py"
    first = compile_cache.claim(candidate, confined_live())
    (first.path / "entry").write_text("x")
    live = confined_live()
    second = compile_cache.claim(candidate, live)
    assert second.path == live and second.lock_fd is None and not (live / "entry").exists()
    second.release()
    assert not live.exists()  # an unclaimed folder goes with its evaluation
    first.release()
    third = compile_cache.claim(candidate, confined_live())
    assert (third.path / "entry").exists()
    third.release()


def test_a_folder_is_not_moved_before_its_process_is_confined_to_it_and_warm(cache, tmp_path):
    """Landlock holds the folder by its inode from the moment the process confines itself: moved before,
    the process would make the path anew and be held to that one, and could not write its store; and a
    warm-up writing Triton's driver module there would lose it."""
    live = compile_cache.live_folder()
    claim = compile_cache.claim(tmp_path / "kernel.py", live, alive=lambda: False)  # it died first
    assert claim.path == live and claim.lock_fd is None and live.exists()
    assert not compile_cache.store_of(tmp_path / "kernel.py").exists()


def test_the_live_folders_of_a_worker_that_is_gone_are_swept_and_no_others(cache):
    gone = compile_cache.live_folder()
    dead_pid = 2**22 + 12345  # above the kernel's pid limit: no process has it
    orphan = gone.with_name(gone.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
    gone.rename(orphan)
    elsewhere = orphan.with_name(f"{compile_cache.LIVE_PREFIX}another_node-{dead_pid}-x")
    elsewhere.mkdir()
    compile_cache._SWEPT.clear()  # a new worker: it sweeps once, as it makes its first folder
    mine = compile_cache.live_folder()
    assert not orphan.exists() and elsewhere.exists() and mine.exists()


def test_what_the_warm_up_wrote_is_merged_with_the_store_and_seeds_the_next_folders(cache, tmp_path):
    """On the H100 (2026-12-07) Triton's driver module, built as a ready child's process warmed up, sat in
    the live folder's triton/ when the claim came: the store's triton/ could not be renamed over it, the
    claim failed, and every evaluation compiled its kernels again (+0.35 s) while the store lost what
    had been moved. Now the two are merged, and the warm-up's output seeds every later folder."""
    candidate = tmp_path / "kernel.py"
    store = compile_cache.store_of(candidate)
    (store / "triton" / "kernel-key").mkdir(parents=True)
    (store / "triton" / "kernel-key" / "kernel.cubin").write_text("compiled kernel")
    (store / "triton" / "driver-key").mkdir()
    (store / "triton" / "driver-key" / "cuda_utils.so").write_text("old driver")
    (store / "inductor").mkdir()
    live = compile_cache.live_folder()
    (live / "triton" / "driver-key").mkdir(parents=True)
    (live / "triton" / "driver-key" / "cuda_utils.so").write_text("driver")  # the warm-up's
    compile_cache.mark_ready(live)
    claim = compile_cache.claim(candidate, live)
    assert claim.path == store and claim.lock_fd is not None
    assert (store / "triton" / "kernel-key" / "kernel.cubin").read_text() == "compiled kernel"
    assert (store / "triton" / "driver-key" / "cuda_utils.so").read_text() == "driver"
    assert (store / "inductor").is_dir()
    claim.release()
    fresh = compile_cache.live_folder()
    assert (fresh / "triton" / "driver-key" / "cuda_utils.so").read_text() == "driver"  # seeded
    assert not (fresh / "triton" / "kernel-key").exists()  # nothing of a candidate's


def test_the_stores_used_longest_ago_go_first_beyond_the_cap_and_none_in_use(cache, tmp_path):
    stores = {}
    for age, name in enumerate(("newest", "middle", "oldest", "busy")):
        claim = compile_cache.claim(tmp_path / f"{name}.py", confined_live())
        (claim.path / "entry").write_bytes(b"x" * 1000)
        if name != "busy":
            claim.release()
        lock = claim.path.with_name(claim.path.name + ".lock")
        os.utime(lock, (1e9 - age * 1000, 1e9 - age * 1000))
        stores[name] = claim
    parent = stores["newest"].path.parent
    removed = compile_cache.prune_stores(parent, cap_bytes=2000)
    assert removed == [stores["oldest"].path.name, stores["middle"].path.name]  # then it fits
    assert not stores["oldest"].path.exists() and not stores["middle"].path.exists()
    assert stores["newest"].path.exists() and stores["busy"].path.exists()  # in use: never removed
    stores["busy"].release()


def test_a_worker_weighs_the_stores_as_it_starts_at_most_once_a_day(cache, tmp_path, monkeypatch):
    monkeypatch.setenv(compile_cache.STORES_CAP_ENV, "0")  # every store over the cap
    claim = compile_cache.claim(tmp_path / "old.py", confined_live())
    (claim.path / "entry").write_text("compiled")
    claim.release()
    stamp = claim.path.parent / compile_cache.PRUNED_STAMP  # the first folder's weighing made it
    os.utime(stamp, (stamp.stat().st_mtime - 2 * compile_cache.PRUNE_EVERY_S,) * 2)
    compile_cache._SWEPT.clear()  # a worker starts two days on: weighed, the store goes
    compile_cache.live_folder()
    assert not claim.path.exists()
    again = compile_cache.claim(tmp_path / "old.py", confined_live())
    (again.path / "entry").write_text("compiled")
    again.release()
    compile_cache._SWEPT.clear()  # another start the same day: not weighed again
    compile_cache.live_folder()
    assert again.path.exists()


def test_two_files_have_two_stores(cache, tmp_path):
    assert compile_cache.store_of(tmp_path / "a.py") != compile_cache.store_of(tmp_path / "b.py")
    (tmp_path / "link.py").symlink_to(tmp_path / "a.py")
    assert compile_cache.store_of(tmp_path / "link.py") == compile_cache.store_of(tmp_path / "a.py")


def test_a_candidates_caches_are_warm_across_evaluations_and_out_of_every_other_ones_reach(tmp_path):
    """Red team, 2026-12-07: all candidates shared one cache folder, so one could plant a binary under a
    rival's key (Triton's key is a hash of the rival's source, which it can read) and have it fail or
    lose; and the judge's compilers kept their temporary files in the candidate's scratch folder."""
    probe = tmp_path / "probe.py"
    shutil.copy(PROBE, probe)
    first = smoke(VECTORADD, probe, "test")
    second = smoke(VECTORADD, probe, "test")
    assert first.passed and second.passed, (first.error, second.error)
    assert "own is its store: True" in first.stdout_tail, first.stdout_tail
    assert "own held: -" in first.stdout_tail, first.stdout_tail
    assert "own held: marker" in second.stdout_tail, second.stdout_tail  # warm
    if HAS_LANDLOCK:  # the report names the folder where it is, not where it was made
        assert str(compile_cache.store_of(probe)) in second.isolation["writable"], second.isolation
    if HAS_LANDLOCK:
        for who in ("rival", "stores", "judge tmp"):
            assert f"{who}: Permission denied" in second.stdout_tail, second.stdout_tail
    assert not (compile_cache.store_of(tmp_path / "rival.py") / "triton" / "planted").exists()
