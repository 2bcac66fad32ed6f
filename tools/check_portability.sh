#!/usr/bin/env bash
# fastnn's portability check, on one Linux x86-64 machine.  Each part says what it proves.
#
#   bash tools/check_portability.sh            every part; a part whose tools are missing is SKIPPED
#   bash tools/check_portability.sh --ci       the same, but part 5 runs the avx2 suite only where it
#                                              adds something, and a skipped part fails
#   bash tools/check_portability.sh --install  first apt-get installs what the parts need (root)
#   bash tools/check_portability.sh --parts 1,2,3   only these parts
#
# Parts 4 and 5 use the `python` on PATH, which must have fastnn's test dependencies
# installed (`pip install ".[test]"`); FASTNN_DATA is passed on to the tests.
# Needs (Debian): gcc, clang, gcc-mingw-w64-x86-64, gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross, qemu-user, and wine (wine64) for the Windows run.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ci=0
parts=1,2,3,4,5
while [ $# -gt 0 ]; do
    arg=$1; shift
    case "$arg" in
        --ci) ci=1 ;;
        --parts) parts=${1:?--parts needs a list such as 1,2,3}; shift ;;
        --install)
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang \
                gcc-mingw-w64-x86-64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user wine64 >/dev/null
            ;;
        *) echo "usage: $0 [--ci] [--install]" >&2; exit 2 ;;
    esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
summary=()

# every C file of csrc/ plus the C test of the platform layer and the thread team
SOURCES=(csrc/cpu.c csrc/platform.c csrc/team.c csrc/kernels.c csrc/gemm.c csrc/gemm_avx2.c)
TEST=tests/c/test_platform.c
WARN=(-std=c11 -O2 -ffp-contract=off -Wall -Wextra -Werror=implicit-function-declaration -Werror)   # as setup.py

part() {            # part NUMBER "what it proves" function
    local number=$1 what=$2 fn=$3 start status
    case ",$parts," in *",$number,"*) ;; *) return 0 ;; esac
    echo
    echo "== part $number: $what"
    start=$(date +%s)
    "$fn"
    status=$?
    local seconds=$(( $(date +%s) - start ))
    case $status in
        0) summary+=("part $number: PASS (${seconds} s) $what") ;;
        77) if [ $ci = 1 ]; then       # in CI every tool is installed (--install): a skip is a failure
                summary+=("part $number: FAIL, skipped (${seconds} s) $what"); failed=1
            else
                summary+=("part $number: SKIPPED (${seconds} s) $what")
            fi ;;
        *) summary+=("part $number: FAIL (${seconds} s) $what"); failed=1 ;;
    esac
}

need() {            # need TOOL...: 0 if all are on PATH, else says which is missing
    local tool
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null; then
            echo "SKIP: $tool is not installed (bash $0 --install)"
            return 1
        fi
    done
}

no_cpu_model() {    # no_cpu_model NM OBJECT...: no object refers to libgcc's __cpu_model
    local nm=$1; shift
    if "$nm" "$@" | grep -q "__cpu_model\|__cpu_indicator_init"; then
        echo "an object refers to libgcc's __cpu_model:"; "$nm" -A "$@" | grep "__cpu_model\|__cpu_indicator"
        return 1
    fi
    echo "no object refers to __cpu_model"
}

# ---- 1. csrc/ compiles without warnings with GCC and with Clang ----
part_1() {
    need gcc clang || return 77
    local cc src ok=0
    for cc in gcc clang; do
        "$cc" --version | head -1
        for src in "${SOURCES[@]}" "$TEST"; do
            "$cc" "${WARN[@]}" -Icsrc -c "$src" -o "$work/$cc-$(basename "$src" .c).o" || ok=1
        done
        no_cpu_model nm "$work"/"$cc"-*.o || ok=1
        "$cc" "$work"/"$cc"-*.o -lm -pthread -o "$work/test-$cc" || ok=1
        "$work/test-$cc" | sed 's/^/    /' || ok=1
    done
    return $ok
}

# ---- 2. Windows: mingw-w64 cross-compiles, the objects use the Win32 thread API, and the
#         C test of the thread team runs under wine ----
part_2() {
    need x86_64-w64-mingw32-gcc || return 77
    local cc=x86_64-w64-mingw32-gcc nm=x86_64-w64-mingw32-nm src ok=0
    "$cc" --version | head -1
    for src in "${SOURCES[@]}" "$TEST"; do
        "$cc" "${WARN[@]}" -Icsrc -c "$src" -o "$work/win-$(basename "$src" .c).o" || ok=1
    done
    if "$nm" -u "$work"/win-*.o | grep -q "pthread_"; then
        echo "the Windows objects refer to POSIX threads:"; "$nm" -A -u "$work"/win-*.o | grep pthread_; ok=1
    else
        echo "no Windows object refers to pthread_*"
    fi
    for symbol in CreateThread WaitForSingleObject FlsAlloc SwitchToThread; do
        "$nm" -u "$work/win-platform.o" | grep -q "$symbol" || { echo "platform.o does not call $symbol"; ok=1; }
    done
    echo "platform.o starts threads with CreateThread and keeps its thread-local value with FlsAlloc"
    no_cpu_model "$nm" "$work"/win-*.o || ok=1
    "$cc" "$work"/win-*.o -static -o "$work/test.exe" || ok=1
    local wine_cmd
    wine_cmd=$(command -v wine64 || command -v wine || true)
    if [ -z "$wine_cmd" ]; then
        echo "SKIP the run: wine is not installed (bash $0 --install)"
        [ $ok = 0 ] && return 77 || return $ok
    fi
    WINEDEBUG=-all WINEPREFIX="$work/wine" "$wine_cmd" "$work/test.exe" 2>/dev/null | tr -d '\r' | sed 's/^/    /'
    [ "${PIPESTATUS[0]}" = 0 ] || ok=1
    return $ok
}

# ---- 3. Linux on ARM: aarch64 cross-compiles (the non-x86 branches) and the C test runs
#         under qemu-aarch64 ----
part_3() {
    need aarch64-linux-gnu-gcc qemu-aarch64 || return 77
    local cc=aarch64-linux-gnu-gcc src ok=0
    "$cc" --version | head -1
    for src in "${SOURCES[@]}" "$TEST"; do
        "$cc" "${WARN[@]}" -Icsrc -c "$src" -o "$work/arm-$(basename "$src" .c).o" || ok=1
    done
    "$cc" "$work"/arm-*.o -lm -pthread -o "$work/test-arm" || ok=1
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/test-arm" | sed 's/^/    /'
    [ "${PIPESTATUS[0]}" = 0 ] || ok=1
    return $ok
}

# pytest's own script, not `python -m pytest`, which would put the unbuilt source folder first
run_tests() {       # run_tests DESCRIPTION [ENV=VALUE...]: the test suite with the installed fastnn
    echo "pytest ($1)"
    shift
    (cd "$root" && env "$@" pytest -q -p no:cacheprovider -x 2>&1 | tail -3)
    return "${PIPESTATUS[0]}"
}

# ---- 4. the whole package builds with Clang and its test suite passes on that build ----
part_4() {
    need clang || return 77
    # (from another folder: in the repository root the unbuilt source folder would be imported)
    (cd /tmp && python -c "import pytest, fastnn") 2>/dev/null || { echo "SKIP: python has no pytest or fastnn"; return 77; }
    local ok=0 wheel
    # from a copy without build/ and compiled modules, so that nothing GCC built is reused
    mkdir -p "$work/src"
    tar -C "$root" --exclude=./build --exclude='./.venv*' --exclude='*.so' --exclude='*.o' -cf - . \
        | tar -C "$work/src" -xf - || return 1
    (cd "$work/src" && CC=clang CXX=clang++ python -m pip wheel --no-deps -q -w "$work/wheel" .) \
        >/dev/null || return 1
    wheel=$(ls "$work"/wheel/fastnn-*.whl)
    python -m zipfile -e "$wheel" "$work/clang-build" || return 1
    for so in "$work"/clang-build/fastnn/_kernels/*.so; do
        readelf -p .comment "$so" | grep -q "clang version" || { echo "$so was not built by clang"; ok=1; }
    done
    nm -D "$work"/clang-build/fastnn/_kernels/*.so | grep -q __cpu_model && { echo "a module needs __cpu_model"; ok=1; }
    echo "every compiled module was built by $(clang --version | head -1)"
    # the tests import the Clang build: it comes first on the path
    (cd /tmp && PYTHONPATH="$work/clang-build" python -c \
        "import fastnn, sys; assert fastnn.__file__.startswith(sys.argv[1]), fastnn.__file__" "$work/clang-build") || return 1
    run_tests "the Clang build" PYTHONPATH="$work/clang-build" || ok=1
    return $ok
}

# ---- 5. the test suite passes with FASTNN_CPU=generic and with FASTNN_CPU=avx2, so the
#         BLAS-only and the AVX2 paths are run on a machine that has more ----
part_5() {
    # (from another folder: in the repository root the unbuilt source folder would be imported)
    (cd /tmp && python -c "import pytest, fastnn") 2>/dev/null || { echo "SKIP: python has no pytest or fastnn"; return 77; }
    local best ok=0
    best=$(cd /tmp && python -c "from fastnn._kernels import _blas; print(_blas.cpu_isa()[0])")
    echo "this CPU: $best"
    run_tests "FASTNN_CPU=generic" FASTNN_CPU=generic || ok=1
    if [ "$best" = avx2 ] && [ $ci = 1 ]; then
        echo "FASTNN_CPU=avx2: this CPU's best is avx2, so the plain test run is that run"
    elif [ "$best" = generic ]; then
        echo "FASTNN_CPU=avx2: this CPU has no AVX2 (fastnn falls back to generic, with a warning)"
    else
        run_tests "FASTNN_CPU=avx2" FASTNN_CPU=avx2 || ok=1
    fi
    return $ok
}

part 1 "csrc/ compiles with GCC and Clang (-Wall -Wextra -Werror), no __cpu_model, C tests pass" part_1
part 2 "Windows (mingw-w64): compiles, Win32 threads not pthread_*, C tests under wine" part_2
part 3 "Linux aarch64: cross-compiles, C tests under qemu-aarch64" part_3
part 4 "the package built with Clang passes its test suite" part_4
part 5 "the test suite passes with FASTNN_CPU=generic and FASTNN_CPU=avx2" part_5

echo
printf '%s\n' "${summary[@]}"
exit $failed
