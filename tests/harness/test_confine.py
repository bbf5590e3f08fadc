"""gpu_harness.confine on its own: process trees, Landlock, seccomp, the persisting-L2 reset.

Confinement cannot be undone, so each scenario runs in a fresh Python (a script that prints JSON);
nothing here confines or reaps the pytest process.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import CANDIDATES, REPO, gpu

from gpu_harness import confine

HAS_LANDLOCK = confine.landlock_abi() > 0


def run_script(body: str, **env: str) -> dict:
    script = "import json, os, sys, time\nfrom gpu_harness import confine, reaper\n" + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(REPO), **env),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# detach(): the stray of the jail tests' candidate that leaves one at import (a double fork + setsid that
# sleeps), run here on its own; its pid is read from the line the candidate prints.
DETACH = f"""
import re, runpy
from tests.support.procs import alive

def detach():
    r, w = os.pipe()
    stdout = os.dup(1)
    os.dup2(w, 1)
    try:
        runpy.run_path({str(CANDIDATES / "jail" / "stray_then_hang.py")!r})
    finally:
        os.dup2(stdout, 1)
        os.close(stdout)
        os.close(w)
    return int(re.search(rb"stray pid (\\d+)", os.read(r, 64)).group(1))
"""


def test_a_subreaper_finds_and_kills_a_double_forked_setsid_grandchild():
    result = run_script(
        DETACH
        + """
reaper.become_subreaper()
pid = detach()
found = pid in reaper.descendants()
sweep = reaper.kill_descendants()
print(json.dumps({"found": found, "killed": sweep.killed, "survivors": sweep.survivors, "alive": alive(pid)}))
"""
    )
    assert result == {"found": True, "killed": 1, "survivors": 0, "alive": False}


def test_without_a_subreaper_the_grandchild_escapes_the_tree():
    """Why become_subreaper exists: a detached grandchild's parent becomes init (or an outer subreaper)."""
    result = run_script(
        DETACH
        + """
pid = detach()
found = pid in reaper.descendants()
os.kill(pid, 9)
print(json.dumps({"found": found}))
"""
    )
    assert result == {"found": False}


def test_kill_descendants_spares_the_excluded_and_their_children():
    result = run_script(
        DETACH
        + """
reaper.become_subreaper()
keep = os.fork()
if keep == 0:
    time.sleep(600)
    os._exit(0)
stray = detach()
sweep = reaper.kill_descendants(exclude=[keep])
print(json.dumps({"keep": alive(keep), "stray": alive(stray), "killed": sweep.killed}))
os.kill(keep, 9)
"""
    )
    assert result == {"keep": True, "stray": False, "killed": 1}


WRITES = """
import socket, tempfile
scratch = tempfile.mkdtemp()
iso = confine.confine_candidate(scratch)
def write(path):
    try:
        open(path, "w").write("x")
        return "written"
    except OSError as exc:
        return exc.strerror
def sock(family):
    try:
        socket.socket(family, socket.SOCK_STREAM).close()
        return "opened"
    except OSError as exc:
        return exc.strerror
print(json.dumps({"iso": iso.to_json(), "scratch": write(os.path.join(scratch, "f")),
                  "tmpdir": os.environ["TMPDIR"] == scratch and tempfile.gettempdir() == scratch,
                  "outside": write(os.path.join(sys.argv[1] if len(sys.argv) > 1 else os.getcwd(), "JAIL_UNIT_PROBE")),
                  "devnull": write("/dev/null"),
                  "inet": sock(socket.AF_INET), "inet6": sock(socket.AF_INET6), "unix": sock(socket.AF_UNIX)}))
"""


def test_a_confined_process_writes_only_its_scratch_folder_and_opens_no_inet_socket():
    probe = REPO / "JAIL_UNIT_PROBE"
    try:
        result = run_script(WRITES)
    finally:
        written = probe.exists()
        probe.unlink(missing_ok=True)
    iso = result["iso"]
    assert result["scratch"] == "written" and result["devnull"] == "written" and result["tmpdir"]
    assert result["inet"] != "opened" and result["inet6"] != "opened" and result["unix"] == "opened", result
    assert iso["network_blocked"] and "seccomp" in iso["network_how"], iso
    if not HAS_LANDLOCK:
        assert iso["landlock_abi"] == 0 and any("Landlock" in why for why in iso["why"]), iso
        pytest.skip("this kernel has no Landlock: the record says so (checked)")
    assert result["outside"] == "Permission denied" and not written, result
    assert iso["landlock_abi"] >= 1 and not any("Landlock" in why for why in iso["why"]), iso


MPS_CLIENT = """
import tempfile
pipe = os.path.join(os.environ["CUDA_MPS_PIPE_DIRECTORY"], "control")
reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # the daemon's end
iso = confine.confine_candidate(tempfile.mkdtemp())
try:
    os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
    opened = "opened"
except OSError as exc:
    opened = exc.strerror
print(json.dumps({"iso": iso.to_json(), "control": opened}))
"""


@pytest.mark.skipif(not HAS_LANDLOCK, reason="this kernel has no Landlock: nothing refuses the writes")
def test_a_confined_process_can_reach_the_cuda_mps_daemons_pipes(tmp_path):
    """Where the host runs CUDA MPS, every CUDA client writes to the daemon's named pipes; refused,
    CUDA would not start in the candidate's process or the judge."""
    pipes = tmp_path / "nvidia-mps"
    pipes.mkdir()
    os.mkfifo(pipes / "control")
    result = run_script(MPS_CLIENT, CUDA_MPS_PIPE_DIRECTORY=str(pipes))
    assert result["control"] == "opened", result
    assert str(pipes) in result["iso"]["writable"], result["iso"]


MPS_PLANTED = """
import tempfile
planted = os.environ["CUDA_MPS_PIPE_DIRECTORY"]
iso = confine.confine_candidate(tempfile.mkdtemp())
try:
    with open(os.path.join(planted, "probe"), "w") as f:
        f.write("x")
    wrote = "written"
except OSError as exc:
    wrote = exc.strerror
print(json.dumps({"iso": iso.to_json(), "wrote": wrote}))
"""


@pytest.mark.skipif(not HAS_LANDLOCK, reason="this kernel has no Landlock: nothing refuses the writes")
@pytest.mark.parametrize("planted_as", ["link", "strangers"])
def test_an_mps_folder_planted_by_another_user_is_not_made_writable(tmp_path, planted_as):
    """In a shared /tmp another user can create /tmp/nvidia-mps first: as a link to our workspace, or as
    a folder of theirs. Neither becomes writable for the candidate."""
    victim = tmp_path / "workspace"
    victim.mkdir()
    if planted_as == "link":
        planted = tmp_path / "nvidia-mps"
        planted.symlink_to(victim)
    else:
        if os.geteuid() != 0:
            pytest.skip("handing a folder to another user needs root (CI runs as root)")
        planted = victim
        os.chown(planted, 65534, 65534)  # nobody's
        planted.chmod(0o777)
    result = run_script(MPS_PLANTED, CUDA_MPS_PIPE_DIRECTORY=str(planted))
    assert str(planted) not in result["iso"]["writable"], result["iso"]
    assert result["wrote"] == "Permission denied", result


def test_the_host_can_turn_confinement_off_and_the_record_says_so():
    probe = REPO / "JAIL_UNIT_PROBE"
    try:
        result = run_script(WRITES, GPU_HARNESS_CONFINE="0")
    finally:
        probe.unlink(missing_ok=True)
    iso = result["iso"]
    assert result["outside"] == "written" and result["inet"] == "opened"
    assert iso["landlock_abi"] == 0 and not iso["network_blocked"]
    assert any("GPU_HARNESS_CONFINE=0" in why for why in iso["why"]), iso


PRUNE_ROUNDS = 15
PRUNE_PROCESSES = 8
NAMES_THREADS = f"""
ROUNDS = {PRUNE_ROUNDS}
import json, os, sys, tempfile, threading
from gpu_harness import confine


def name_a_thread():
    seen = []

    def name():
        try:
            with open(f"/proc/self/task/{{threading.get_native_id()}}/comm", "w") as comm:
                comm.write("cuda-like")
            seen.append("named")
        except OSError as exc:
            seen.append(exc.strerror)

    thread = threading.Thread(target=name)
    thread.start()
    thread.join()
    return seen[0]


confine.confine_candidate(tempfile.mkdtemp())
seen = [name_a_thread()]
for _ in range(ROUNDS):
    print("ready", flush=True)
    sys.stdin.readline()  # the test has dropped the kernel's cached folder entries meanwhile
    seen.append(name_a_thread())
print(json.dumps(seen))
"""


@pytest.mark.skipif(not HAS_LANDLOCK, reason="this kernel has no Landlock: nothing refuses the writes")
@pytest.mark.skipif(
    os.geteuid() != 0, reason="dropping the kernel's dentry cache needs root (CI runs as root)"
)
def test_a_confined_process_still_names_new_threads_after_the_kernel_prunes_procs_cache():
    """The rule that lets CUDA name its threads names /proc/<pid>/task's inode; procfs makes a new one
    when its cached entry is pruned (memory pressure on a busy GPU host), and then every later thread
    of CUDA's was refused (EACCES, then error 304) until the harness kept that entry pinned. Whether a
    drop prunes a given process's entry is chance (about half of them within the rounds here), so
    several processes go through the rounds side by side."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", NAMES_THREADS],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        for _ in range(PRUNE_PROCESSES)
    ]
    try:
        for _ in range(PRUNE_ROUNDS):
            for proc in procs:
                assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            with open("/proc/sys/vm/drop_caches", "w") as caches:
                caches.write("2")  # reclaimable dentries and inodes: what memory pressure prunes
            time.sleep(0.05)  # the pruned entries are freed after an RCU grace period
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
        seen = [json.loads(proc.stdout.readline()) for proc in procs if proc.stdout is not None]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert seen == [["named"] * (PRUNE_ROUNDS + 1)] * PRUNE_PROCESSES, seen


def test_a_confined_process_cannot_use_ptrace_at_all():
    """Reading or writing another process's memory (ptrace, process_vm_*) is refused by the seccomp
    filter, whether or not Landlock (which refuses ptrace out of its domain) is there. PTRACE_TRACEME
    is the one request nothing else refuses."""
    result = run_script("""
import ctypes, tempfile
libc = ctypes.CDLL(None, use_errno=True)
confine.confine_candidate(tempfile.mkdtemp())
PTRACE_TRACEME = 0
rc = libc.ptrace(PTRACE_TRACEME, 0, None, None)
print(json.dumps({"rc": rc, "errno": ctypes.get_errno()}))
""")
    assert result["rc"] == -1 and result["errno"] == 1, result  # EPERM


def test_caches_go_to_the_candidates_own_folder_and_temporary_files_to_scratch(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "hosts-triton"))
    own = tmp_path / "live"
    env = confine.candidate_environment(tmp_path / "scratch", caches=own)
    judge = confine.candidate_environment(tmp_path / "judge-scratch", judge=True)
    assert env["TMPDIR"] == str(tmp_path / "scratch") and judge["TMPDIR"] == str(tmp_path / "judge-scratch")
    for name in confine.CACHE_VARS:
        where = tmp_path / "scratch" if name == confine.CUDA_CACHE_VAR else own  # read as CUDA starts
        assert env[name].startswith(str(where)), env
        assert judge[name] != env[name] and not judge[name].startswith(
            str(confine.cache_root() / "candidates")
        )
    assert judge["TRITON_CACHE_DIR"] == str(tmp_path / "hosts-triton")  # the host's choice, the judge's only
    assert confine.candidate_environment(tmp_path / "s")["TRITON_CACHE_DIR"].startswith(str(tmp_path / "s"))
    moved = confine.candidate_cache_environment(tmp_path / "store")
    assert (
        moved["TRITON_CACHE_DIR"] == str(tmp_path / "store" / "triton")
        and confine.CUDA_CACHE_VAR not in moved
    )


JUDGE_CACHE_WRITE = """
import tempfile
judges = confine.candidate_environment(tempfile.mkdtemp(), judge=True)["TRITON_CACHE_DIR"]
os.makedirs(judges, exist_ok=True)
iso = confine.confine_candidate(tempfile.mkdtemp())
results = {}
for name, value in {"judge": judges, "own": os.environ["TRITON_CACHE_DIR"]}.items():
    try:
        with open(os.path.join(value, "planted.json"), "w") as f:
            f.write("{}")
        results[name] = "written"
    except OSError as exc:
        results[name] = exc.strerror
print(json.dumps(results))
"""


@pytest.mark.skipif(not HAS_LANDLOCK, reason="this kernel has no Landlock: nothing refuses the writes")
def test_a_candidate_cannot_plant_an_entry_in_the_judges_compile_caches(tmp_path):
    """Red team, 2026-12-07: the judge and its candidates shared one Inductor and Triton cache; an entry a
    candidate planted would be code the judge runs for the reference."""
    result = run_script(JUDGE_CACHE_WRITE, GPU_HARNESS_CACHE=str(tmp_path / "cache"), TRITON_CACHE_DIR="")
    assert result["judge"] == "Permission denied", result
    assert result["own"] == "written", result


def test_a_cache_that_cannot_be_created_moves_into_scratch():
    result = run_script(
        """
import tempfile
scratch = tempfile.mkdtemp()
folders = confine.apply_environment(confine.candidate_environment(scratch, judge=True))
print(json.dumps({"triton": os.environ["TRITON_CACHE_DIR"], "scratch": scratch, "folders": folders}))
""",
        GPU_HARNESS_CACHE="/proc/no-such-cache",
        TRITON_CACHE_DIR="",
    )
    assert result["triton"] == os.path.join(result["scratch"], "triton_cache_dir"), result
    assert result["triton"] in result["folders"]


def test_the_seccomp_program_is_whole_instructions():
    for numbers in confine._SYSCALLS.values():
        program = confine._seccomp_program(numbers)
        assert len(program) % 8 == 0 and len(program) // 8 < 64


@gpu
def test_reset_persisting_l2_undoes_a_carve_out_and_a_stream_window():
    result = run_script("""
import ctypes, torch
from gpu_harness import persisting_l2
torch.ones(1, device="cuda")
rt = persisting_l2._cudart()
props = torch.cuda.get_device_properties(0)
size = int(getattr(props, "persisting_l2_cache_max_size", 0) or props.L2_cache_size // 2)
rt.cudaDeviceSetLimit(ctypes.c_int(persisting_l2.CUDA_LIMIT_PERSISTING_L2), ctypes.c_size_t(size))
x = torch.empty(1 << 20, device="cuda")
value = persisting_l2._StreamAttrValue()
value.accessPolicyWindow = persisting_l2._AccessPolicyWindow(x.data_ptr(), x.nbytes, 1.0, 2, 1)
stream = torch.cuda.current_stream().cuda_stream
rt.cudaStreamSetAttribute(ctypes.c_void_p(stream), ctypes.c_int(1), ctypes.byref(value))
before = ctypes.c_size_t(0)
rt.cudaDeviceGetLimit(ctypes.byref(before), ctypes.c_int(persisting_l2.CUDA_LIMIT_PERSISTING_L2))
ok = persisting_l2.reset_persisting_l2(stream)
after = ctypes.c_size_t(0)
rt.cudaDeviceGetLimit(ctypes.byref(after), ctypes.c_int(persisting_l2.CUDA_LIMIT_PERSISTING_L2))
window = persisting_l2._StreamAttrValue()
rt.cudaStreamGetAttribute(ctypes.c_void_p(stream), ctypes.c_int(1), ctypes.byref(window))
torch.add(x, x)                        # no error left behind for torch to find
torch.cuda.synchronize()
print(json.dumps({"ok": ok, "before": before.value, "after": after.value,
                  "window": window.accessPolicyWindow.num_bytes}))
""")
    assert result["ok"] and result["before"] > 0, result
    assert result["after"] == 0 and result["window"] == 0, result
