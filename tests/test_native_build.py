"""How engine/_native.py builds, caches and loads the C kernels: one build however many threads ask at once,
a cache key that changes with the CPU and the compiler, only private files loaded, bad ones rebuilt, the
library's interface checked, PLW_NATIVE validated, and one warning (then torch's results) wherever the C
path is off.

Most tests use fake compilers: shell scripts that answer the compiler probes (``--version`` and the
``-###`` dry run) as $FAKE_VERSION and $FAKE_CPU say, log every build, and build, with the real compiler,
a stub library in a few milliseconds that reports a chosen interface. One test builds the real kernels.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
import torch

from pinn_landscape_widget.engine import _native as native
from pinn_landscape_widget.engine.mlp import MLP

REAL_CC = shutil.which("cc") or shutil.which("gcc")

STUB = """
#include <stdint.h>
#ifndef NO_ABI_FUNCTION
int64_t plw_abi_version(void) { return ABI; }
#endif
int64_t plw_max_input_dim(void) { return MAX_INPUT_DIM; }
int64_t plw_plan_fields(void) { return PLAN_FIELDS; }
int64_t plw_train_plan_fields(void) { return TRAIN_PLAN_FIELDS; }
int64_t plw_max_shares(void) { return MAX_SHARES; }
int plw_hardware_fma(void) { return 1; }
int plw_tanh_mlp(void) { return -2; }
int plw_tanh_mlp_jet(void) { return -2; }
int plw_tanh_mlp_grad(void) { return -2; }
int plw_rop_setup_forward(void) { return -1; }
int plw_rop_setup_backward(void) { return -1; }
int plw_rop_setup_gradient(void) { return -1; }
int plw_rop_forward(void) { return -1; }
int plw_rop_backward(void) { return -1; }
int plw_rop_product(void) { return -1; }
int plw_train_forward(void) { return -1; }
int plw_train_gradient(void) { return -1; }
"""


def stub_defines(**changes) -> list[str]:
    """-D flags for STUB: the interface _native expects, with changes (a value, or None: no such function)."""
    values = dict(
        ABI=native.ABI_VERSION,
        MAX_INPUT_DIM=native.MAX_INPUT_DIM,
        PLAN_FIELDS=native.PLAN_FIELDS,
        TRAIN_PLAN_FIELDS=native.TRAIN_PLAN_FIELDS,
        MAX_SHARES=native.MAX_SHARES,
    )
    values.update(changes)
    return [f"-D{k}={v}" if v is not None else f"-DNO_{k}_FUNCTION" for k, v in values.items()]


class FakeCompiler:
    """A C compiler script in tmp_path: probes answered from $FAKE_CPU and $FAKE_VERSION, each call logged,
    builds (calls with -o) logged and turned into a stub library that reports the interface in defines;
    openmp=False: -fopenmp fails; broken: building the kernels' sources fails."""

    def __init__(self, tmp_path, name="fakecc", *, defines=None, openmp=True, delay=0.0, broken=False):
        self.path = tmp_path / name
        self.calls = tmp_path / f"{name}.calls"
        self.builds = tmp_path / f"{name}.builds"
        stub = tmp_path / f"{name}-stub.c"
        stub.write_text(STUB)
        lines = [
            "#!/bin/sh",
            f'echo "$*" >> "{self.calls}"',
            'for a in "$@"; do',
            '  case "$a" in',
            '    --version) echo "fakecc ${FAKE_VERSION:-1.0}"; exit 0;;',
            "    '-###') echo \" cc1 -E -march=${FAKE_CPU:-cpu-a} -mtune=${FAKE_CPU:-cpu-a}\" >&2; exit 0;;",
            "  esac",
            "done",
        ]
        if not openmp:  # as Apple clang says it
            lines.append(
                "case \" $* \" in *' -fopenmp '*) echo \"error: unsupported option '-fopenmp'\" >&2; exit 1;; esac"
            )
        lines += [
            'out=; prev=; for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done',
            f'echo build >> "{self.builds}"',
        ]
        if broken:  # the kernels do not build (and, like ld, it removes its output)
            lines.append('case "$*" in *jets.c*) rm -f "$out"; echo "jets.c:1:1: error: broken" >&2; exit 1;; esac')
        lines += [
            f"sleep {delay}",
            f'exec {REAL_CC} -shared -fPIC {" ".join(stub_defines(**(defines or {})))} "{stub}" -o "$out"',
        ]
        self.path.write_text("\n".join(lines) + "\n")
        self.path.chmod(0o755)

    def n_builds(self) -> int:
        return len(self.builds.read_text().splitlines()) if self.builds.exists() else 0

    def n_calls(self) -> int:
        return len(self.calls.read_text().splitlines()) if self.calls.exists() else 0


def fresh(monkeypatch):
    """A process that has not asked for the library yet (the state restored after the test)."""
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_TRIED", False)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A fresh state on a tested platform, PLW_NATIVE unset, an empty cache under tmp_path/cache."""
    fresh(monkeypatch)
    monkeypatch.setattr(native, "_host", lambda: ("Linux", "x86_64"))
    monkeypatch.delenv("PLW_NATIVE", raising=False)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return monkeypatch


def use(monkeypatch, cc: FakeCompiler):
    monkeypatch.setenv("CC", str(cc.path))


def cached_files():
    d = native.kernel_dir()
    return sorted(d.glob("plw-*.so")) if d.exists() else []


def load_recording_warnings():
    """library() with every warning recorded (none hidden by the once-per-location registry)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib = native.library()
    return lib, [w for w in caught if issubclass(w.category, native.NativeKernelsWarning)]


# --- the first load ---------------------------------------------------------------------------------------


def test_concurrent_first_calls_wait_for_the_one_build(env, tmp_path):
    """Threads that ask while the library is being built wait for it: all get the same library, and the
    compiler builds once (one grid's chunks never mix C and torch)."""
    cc = FakeCompiler(tmp_path, delay=1.0)
    use(env, cc)
    n = 16
    barrier, got, errors = threading.Barrier(n), [None] * n, []

    def ask(i):
        try:
            barrier.wait()
            got[i] = native.library()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got[0] is not None and all(lib is got[0] for lib in got)
    assert cc.n_builds() == 1


# --- the cache key ----------------------------------------------------------------------------------------


def test_the_cache_key_changes_with_every_input_it_depends_on():
    """Another CPU (what -march=native resolves to, or the OS's description), another compiler version,
    other flags or other sources give another key; the same inputs the same key."""
    identity, target = native._compiler_facts(REAL_CC, native.FLAGS)
    # the CPU the dry run resolved -march=native to (gcc: -march=..., clang: -target-cpu ...)
    cpus = {a or b for a, b in re.findall(r'-march=([\w.+-]+)|"-target-cpu" "([^"]+)"', target)} - {"native"}
    assert cpus, target
    another_cpu = target
    for name in cpus:
        another_cpu = another_cpu.replace(name, "neoverse-n1")
    sources, cpu = native._sources(), native._cpu_description()
    base = native._build_key(identity, target, native.FLAGS, sources, cpu)
    assert base == native._build_key(identity, target, list(native.FLAGS), dict(sources), cpu)
    other_sources = {**sources, "rop.c": sources["rop.c"] + b"\n"}
    others = [
        (identity, another_cpu, native.FLAGS, sources, cpu),
        (identity, target + " -mno-avx512f", native.FLAGS, sources, cpu),
        (identity, target, native.FLAGS, sources, cpu.replace("flags", "flags: avx512_fp16", 1) + "\nx"),
        (identity + "\ncc (GCC) 13.1.0", target, native.FLAGS, sources, cpu),  # another version
        (identity.replace(os.path.realpath(REAL_CC), "/opt/cc"), target, native.FLAGS, sources, cpu),
        (identity, target, [*native.FLAGS, "-mno-fma"], sources, cpu),
        (identity, target, [f for f in native.FLAGS if f != "-ffp-contract=off"], sources, cpu),
        (identity, target, native.FLAGS, other_sources, cpu),
    ]
    keys = [native._build_key(*args) for args in others]
    assert base not in keys and len(set(keys)) == len(keys)


def test_another_cpu_or_compiler_version_gets_its_own_build(env, tmp_path):
    """A shared cache holds one build per CPU and compiler: what the compiler says -march=native means,
    and its version, select the file; a machine finds its own build again."""
    cc = FakeCompiler(tmp_path)
    use(env, cc)
    for cpu, version, builds in [("cpu-a", "1.0", 1), ("cpu-b", "1.0", 2), ("cpu-a", "2.0", 3), ("cpu-a", "1.0", 3)]:
        fresh(env)
        env.setenv("FAKE_CPU", cpu)
        env.setenv("FAKE_VERSION", version)
        assert native.library() is not None
        assert cc.n_builds() == builds, (cpu, version)
    assert len(cached_files()) == 3


# --- what may be loaded -----------------------------------------------------------------------------------


def test_the_cache_directory_is_created_private(env, tmp_path):
    use(env, FakeCompiler(tmp_path))
    assert native.library() is not None
    (path,) = cached_files()
    assert stat.S_IMODE(os.stat(native.kernel_dir()).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


def _make_bad(path, how):
    if how == "writable by others":
        path.chmod(0o666)
    elif how == "another user's":
        if os.geteuid() != 0:
            pytest.skip("only root can give a file to another user")
        os.chown(path, 65534, 65534)
    elif how == "a symlink":
        target = path.with_name("elsewhere.so")
        path.rename(target)
        path.symlink_to(target)


@pytest.mark.parametrize("how", ["writable by others", "another user's", "a symlink"])
def test_a_cached_file_that_is_not_private_is_rebuilt_not_loaded(env, tmp_path, how):
    cc = FakeCompiler(tmp_path)
    use(env, cc)
    assert native.library() is not None
    (path,) = cached_files()
    _make_bad(path, how)
    fresh(env)
    assert native.library() is not None
    assert cc.n_builds() == 2
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o022 == 0


@pytest.mark.parametrize("how", ["group-writable", "world-writable", "another user's"])
def test_a_cache_directory_others_can_write_is_not_used(env, tmp_path, how):
    """Nothing is loaded from, or written to, such a directory: the build goes to a private temporary
    directory (warned, once), and the library still works."""
    cc = FakeCompiler(tmp_path)
    use(env, cc)
    assert native.library() is not None
    d = native.kernel_dir()
    if how == "another user's":
        if os.geteuid() != 0:
            pytest.skip("only root can give a directory to another user")
        os.chown(d, 65534, 65534)
    else:
        d.chmod(0o770 if how == "group-writable" else 0o777)
    before = {p.name: os.stat(p).st_ino for p in d.iterdir()}
    fresh(env)
    lib, warned = load_recording_warnings()
    assert lib is not None
    assert cc.n_builds() == 2  # the cached build was not loaded
    assert {p.name: os.stat(p).st_ino for p in d.iterdir()} == before
    assert len(warned) == 1 and str(d) in str(warned[0].message)
    assert ("user id 65534" if how == "another user's" else "writable by other users") in str(warned[0].message)


@pytest.mark.integration  # rebuilds the kernels with the real compiler
def test_a_corrupt_cached_library_is_rebuilt_and_works(lib_results, env):  # the session library first
    """Garbage in the cached file: the next load rebuilds it (with the real compiler) and the kernels give
    the same bits as the session's library."""
    path = native._cached_path(REAL_CC)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(b"not a shared library\n" * 100)
    path.chmod(0o700)
    assert native.library() is not None
    assert path.read_bytes()[:4] == b"\x7fELF"
    params, x, layers, want = lib_results
    assert torch.equal(native.tanh_mlp(params, x, 2, layers), want)


@pytest.fixture
def lib_results():
    """A network's jet from the session's library (built in the user's cache like any first use)."""
    assert native.library() is not None, "the fused C kernels did not build"
    net = MLP(2, 13, 2, "tanh")
    gen = torch.Generator().manual_seed(5)
    params = torch.randn(3, net.n_params, generator=gen)
    x = torch.rand(100, 2, generator=gen)
    return params, x, net.param_slices(), native.tanh_mlp(params, x, 2, net.param_slices())


# --- the interface ----------------------------------------------------------------------------------------

INTERFACE_CHANGES = [
    dict(ABI=native.ABI_VERSION + 1),
    dict(ABI=None),  # an old library: no plw_abi_version at all
    dict(PLAN_FIELDS=native.PLAN_FIELDS + 1),
    dict(TRAIN_PLAN_FIELDS=native.TRAIN_PLAN_FIELDS + 1),
    dict(MAX_SHARES=native.MAX_SHARES * 2),
    dict(MAX_INPUT_DIM=native.MAX_INPUT_DIM - 1),
]


@pytest.mark.parametrize("change", INTERFACE_CHANGES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_a_build_with_another_interface_is_not_used(env, tmp_path, change):
    """A build that reports another interface is not used, nor cached; one warning says what differs."""
    cc = FakeCompiler(tmp_path, defines=change)
    use(env, cc)
    lib, warned = load_recording_warnings()
    assert lib is None and cc.n_builds() == 1 and not cached_files()
    functions = dict(
        ABI="plw_abi_version",
        PLAN_FIELDS="plw_plan_fields",
        TRAIN_PLAN_FIELDS="plw_train_plan_fields",
        MAX_SHARES="plw_max_shares",
    )
    name = functions.get(next(iter(change)), "plw_max_input_dim")
    assert len(warned) == 1 and name in str(warned[0].message)
    assert not native.applies("tanh", "cpu", torch.float32, 1, 2)


def _plant_stale(path, **change):
    """A library reporting another interface at the cache's name (an older version's, or tampered with)."""
    stub = path.with_name("stale.c")
    stub.write_text(STUB)
    subprocess.run([REAL_CC, "-shared", "-fPIC", *stub_defines(**change), str(stub), "-o", str(path)], check=True)
    path.chmod(0o700)


@pytest.mark.parametrize("loader", ["by open file", "by path"])
def test_a_stale_cached_library_is_rebuilt_once(env, tmp_path, loader):
    """A cached library with another interface is replaced by a fresh build; when that build disagrees
    too, the compiler has run once more, and torch's kernels run (one warning). Also where the dynamic
    loader opens libraries by path (not Linux), which keeps the stale one under the cached name."""
    if loader == "by path":
        env.setattr(native, "_loader_name", lambda fd, path: str(path))
    good = FakeCompiler(tmp_path)
    use(env, good)
    assert native.library() is not None
    (path,) = cached_files()
    _plant_stale(path, ABI=native.ABI_VERSION + 1)
    fresh(env)
    lib = native.library()
    assert lib is not None and lib.plw_abi_version() == native.ABI_VERSION and good.n_builds() == 2

    bad = FakeCompiler(tmp_path, "badcc", defines=dict(ABI=native.ABI_VERSION + 1))
    use(env, bad)
    _plant_stale(native._cached_path(str(bad.path)), ABI=native.ABI_VERSION + 1)
    fresh(env)
    lib, warned = load_recording_warnings()
    assert lib is None and bad.n_builds() == 1 and len(warned) == 1
    assert f"plw_abi_version() = {native.ABI_VERSION + 1}, expected {native.ABI_VERSION}" in str(warned[0].message)


# --- PLW_NATIVE and the platforms where the C path is off -------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "2", "true", "on", " 1", "01", "-1"])
def test_an_invalid_plw_native_is_an_error_naming_what_is_allowed(env, tmp_path, value):
    cc = FakeCompiler(tmp_path)
    use(env, cc)
    env.setenv("PLW_NATIVE", value)
    for _ in range(2):  # every call, until it is fixed
        with pytest.raises(ValueError, match=f"PLW_NATIVE={value!r} is not allowed: use PLW_NATIVE=1 .* PLW_NATIVE=0"):
            native.library()
    assert cc.n_calls() == 0
    env.setenv("PLW_NATIVE", "0")
    assert native.library() is None


def _torch_jet():
    net = MLP(1, 12, 2, "tanh")
    params = torch.stack([net.init(seed=s) for s in range(2)])
    with torch.no_grad():
        jet = net.jets(params, torch.linspace(-1, 1, 50)[:, None], 2)
    return torch.stack([jet.value(), jet.first(0), jet.second(jet.spec.second[0])])


def _assert_quietly_torch(warned, *fragments):
    """After the first load's warnings: more calls (threads, kernel checks, a network's jets) warn no more,
    and the jets are torch's."""
    more = []

    def again():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert native.library() is None
        more.extend(caught)

    threads = [threading.Thread(target=again) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not native.applies("tanh", "cpu", torch.float32, 1, 2)
        got = _torch_jet()
    more += [w for w in caught if issubclass(w.category, native.NativeKernelsWarning)]
    assert len(warned) == 1 and not more, [str(w.message) for w in warned + more]
    message = str(warned[0].message)
    assert "fast CPU path (fused C kernels) is off" in message and "same results" in message
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message
    with pytest.MonkeyPatch.context() as mp:  # what torch's path gives
        mp.setattr(native, "_LIB", None)
        mp.setattr(native, "_TRIED", True)
        assert torch.equal(got, _torch_jet())


@pytest.mark.parametrize("host", [("Darwin", "arm64"), ("Windows", "AMD64"), ("Linux", "aarch64")])
def test_an_untested_platform_skips_the_c_path_with_one_warning(env, tmp_path, host):
    cc = FakeCompiler(tmp_path)
    use(env, cc)
    env.setattr(native, "_host", lambda: host)
    lib, warned = load_recording_warnings()
    assert lib is None and cc.n_calls() == 0
    _assert_quietly_torch(warned, " ".join(host), "PLW_NATIVE=1")


def test_plw_native_1_tries_an_untested_platform(env, tmp_path):
    cc = FakeCompiler(tmp_path)
    use(env, cc)
    env.setattr(native, "_host", lambda: ("Linux", "riscv64"))
    env.setenv("PLW_NATIVE", "1")
    lib, warned = load_recording_warnings()
    assert lib is not None and not warned and cc.n_builds() == 1


def test_plw_native_0_is_silent_and_runs_no_compiler(env, tmp_path):
    cc = FakeCompiler(tmp_path)
    use(env, cc)
    env.setenv("PLW_NATIVE", "0")
    lib, warned = load_recording_warnings()
    assert lib is None and not warned and cc.n_calls() == 0


def test_no_compiler_skips_the_c_path_with_one_warning(env, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env.setenv("PATH", str(empty))
    lib, warned = load_recording_warnings()
    assert lib is None
    _assert_quietly_torch(warned, "no C compiler found")


def test_a_compiler_without_openmp_skips_the_c_path_with_one_warning(env, tmp_path):
    """Apple clang, or clang without libomp: -fopenmp fails, so torch's kernels run; nothing is cached."""
    cc = FakeCompiler(tmp_path, openmp=False)
    use(env, cc)
    lib, warned = load_recording_warnings()
    assert lib is None and not cached_files()
    _assert_quietly_torch(warned, "has no OpenMP", str(cc.path))


@pytest.mark.integration  # a fresh interpreter
def test_a_new_process_warns_once(tmp_path):
    """The same in a fresh interpreter, with every warning shown: first use from several threads, kernel
    checks and two networks' jets give one warning line in all."""
    cc = FakeCompiler(tmp_path, openmp=False)
    script = (
        "import threading, torch\n"
        "from pinn_landscape_widget.engine import _native as native\n"
        "from pinn_landscape_widget.engine.mlp import MLP\n"
        "ts = [threading.Thread(target=native.library) for _ in range(4)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "net = MLP(1, 12, 2, 'tanh')\n"
        "for _ in range(2):\n"
        "    with torch.no_grad():\n"
        "        net.jets(net.init()[None], torch.rand(20, 1), 2)\n"
        "print(native.library(), native.applies('tanh', 'cpu', torch.float32, 1, 2))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PLW_NATIVE"}
    root = str(Path(__file__).resolve().parents[1])
    env.update(CC=str(cc.path), XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=root)
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["None", "False"]
    assert proc.stderr.count("fast CPU path (fused C kernels) is off") == 1, proc.stderr


def test_a_failed_build_skips_the_c_path_with_the_compilers_message(env, tmp_path):
    cc = FakeCompiler(tmp_path, broken=True)
    use(env, cc)
    lib, warned = load_recording_warnings()
    assert lib is None and not list(native.kernel_dir().iterdir())  # nothing cached, no temporary left
    _assert_quietly_torch(warned, f"building them with {cc.path} failed: jets.c:1:1: error: broken")
